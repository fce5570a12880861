"""What a page does, seen from inside the browser: every cookie written (and by which script
or response), every storage key, every request to another host and the script behind it.

An init script wraps `document.cookie` and `Storage.prototype.setItem` and reports each write
with the first script URL on the call stack; response headers give the cookies set over HTTP;
the DevTools protocol gives each request's initiator. The cookie jar then supplies domain,
path and expiry. A `Recorder` belongs to one browser context (one state of consent).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

STATES = ("no_choice", "reject_all", "accept_all")
URL_LIMIT = 300  # requests are evidence, not an archive: long beacon URLs are cut

INSTRUMENT = """
(() => {
  const report = window.__consentScanReport;
  if (!report) return;
  const script = () => {
    for (const line of (new Error().stack || "").split("\\n").slice(2)) {
      const found = line.match(/(https?:\\/\\/[^\\s()]+?):\\d+:\\d+/);
      if (found) return found[1];
    }
    return "";
  };
  const cookie = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  Object.defineProperty(Document.prototype, "cookie", {
    configurable: true,
    enumerable: cookie.enumerable,
    get() { return cookie.get.call(this); },
    set(value) {
      try { report("cookie", String(value).split("=")[0].trim(), script()); } catch (e) {}
      cookie.set.call(this, value);
    },
  });
  // Chrome names the parser as the initiator of an image a script adds: ask the script.
  const asked = (url) => {
    try { report("request", new URL(String(url), location.href).href, script()); } catch (e) {}
  };
  for (const type of [HTMLImageElement, HTMLScriptElement, HTMLIFrameElement]) {
    const src = Object.getOwnPropertyDescriptor(type.prototype, "src");
    Object.defineProperty(type.prototype, "src", {
      configurable: true,
      enumerable: src.enumerable,
      get() { return src.get.call(this); },
      set(value) { asked(value); src.set.call(this, value); },
    });
  }
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (String(name).toLowerCase() == "src") asked(value);
    return setAttribute.call(this, name, value);
  };
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    asked(input instanceof Request ? input.url : input);
    return fetch.call(this, input, init);
  };
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url) {
    asked(url);
    return open.apply(this, arguments);
  };
  const beacon = navigator.sendBeacon && navigator.sendBeacon.bind(navigator);
  if (beacon) navigator.sendBeacon = (url, data) => { asked(url); return beacon(url, data); };
  const setItem = Storage.prototype.setItem;
  Storage.prototype.setItem = function (key, value) {
    try {
      const kind = this === window.localStorage ? "local_storage" : "session_storage";
      report(kind, String(key), script());
    } catch (e) {}
    return setItem.call(this, key, value);
  };
})();
"""

STORAGE_KEYS = """() => {
  try {
    return {local_storage: Object.keys(localStorage), session_storage: Object.keys(sessionStorage)};
  } catch (e) { return {local_storage: [], session_storage: []}; }
}"""


@dataclass
class Observation:
    """One thing seen in one state on one page; findings group these."""

    state: str
    page: str
    kind: str  # cookie | local_storage | session_storage | request
    name: str  # cookie name, storage key, or the other host (host:port)
    domain: str  # cookie domain, storage origin, or the other host
    path: str = ""
    lifetime_seconds: float | None = None  # None: a session cookie (or not a cookie)
    set_by: str = ""  # http | script | "" (not seen being written)
    source: str = ""  # the script, the response, or the request's initiator
    url: str = ""  # requests: the URL requested (cut)


def initiator_url(initiator: dict[str, Any]) -> str:
    """The script behind a request: the first frame with a URL, else the parsing document."""
    stack = initiator.get("stack")
    while stack:
        for frame in stack.get("callFrames", []):
            if frame.get("url"):
                return str(frame["url"])
        stack = stack.get("parent")
    return str(initiator.get("url") or "")


def cut(url: str) -> str:
    return url if len(url) <= URL_LIMIT else url[:URL_LIMIT] + "…"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass
class Recorder:
    """Collects one context's writes and requests while `state` is set (None: not recording)."""

    site_hosts: set[str]
    state: str | None = None
    page: str = ""
    writes: list[tuple[str, str, str]] = field(default_factory=list)  # kind, name, script
    responses: list[Any] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # url, frame url
    initiators: dict[str, str] = field(default_factory=dict)  # from the DevTools protocol
    asked: dict[str, str] = field(default_factory=dict)  # from the page's own calls
    observations: list[Observation] = field(default_factory=list)
    known: set[tuple[str, str, str]] = field(default_factory=set)  # storage keys seen

    def attach(self, context: Any) -> None:
        context.expose_binding("__consentScanReport", self._on_write)
        context.add_init_script(INSTRUMENT)
        context.on("response", self._on_response)
        context.on("request", self._on_request)

    def watch(self, page: Any) -> None:
        """Request initiators come from the DevTools protocol, one session per page."""
        session = page.context.new_cdp_session(page)
        session.on("Network.requestWillBeSent", self._on_will_be_sent)
        session.send("Network.enable")

    def begin(self, state: str, page: str, current: Any = None) -> None:
        """Record from now on, for `page`. Storage keys the `current` page already holds are
        from before (another state, or an earlier page) and are not this page's doing."""
        self.state, self.page = state, page
        self.writes, self.responses, self.requests = [], [], []
        if current is not None:
            self.known |= self._storage(current)

    def _storage(self, page: Any) -> set[tuple[str, str, str]]:
        try:
            keys = page.evaluate(STORAGE_KEYS)
        except Exception:  # a page that navigated away has nothing to read
            return set()
        origin = origin_of(page.url)
        return {(kind, origin, name) for kind in keys for name in keys[kind]}

    def _on_write(self, source: Any, kind: str, name: str, script: str) -> None:
        if kind == "request":
            self.asked.setdefault(name, script)
        elif self.state is not None:
            self.writes.append((kind, name, script))

    def _on_response(self, response: Any) -> None:
        if self.state is not None:
            self.responses.append(response)

    def _on_request(self, request: Any) -> None:
        if self.state is not None and urlsplit(request.url).scheme in ("http", "https"):
            self.requests.append((request.url, request.frame.url if request.frame else ""))

    def _on_will_be_sent(self, params: dict[str, Any]) -> None:
        url = params.get("request", {}).get("url", "")
        self.initiators[url] = initiator_url(params.get("initiator", {}))

    def collect(self, page: Any) -> None:
        """Turn what happened since the last collect into observations for `self.page`."""
        if self.state is None:
            return
        state, here, now = self.state, self.page, time.time()
        header_cookies: dict[str, str] = {}
        for response in self.responses:
            try:
                values = response.header_values("set-cookie")
            except Exception:  # a response of a closed page has no headers left
                continue
            for value in values:
                for line in value.split("\n"):
                    parsed: SimpleCookie = SimpleCookie()
                    try:
                        parsed.load(line)
                    except Exception:  # an odd cookie line: keep its name
                        name = line.split("=", 1)[0].strip()
                        header_cookies.setdefault(name, response.url)
                        continue
                    for name in parsed:
                        header_cookies.setdefault(name, response.url)
        script_writes = {(kind, name): script for kind, name, script in reversed(self.writes)}
        written_cookies = {name for kind, name in script_writes if kind == "cookie"}
        for cookie in page.context.cookies():
            name = cookie["name"]
            if name in header_cookies:
                set_by, source = "http", cut(header_cookies[name])
            elif name in written_cookies:
                set_by, source = "script", cut(script_writes[("cookie", name)])
            else:
                continue  # in the jar from before: seen where it was written
            expires = cookie.get("expires", -1)
            self.observations.append(
                Observation(
                    state, here, "cookie", name, cookie.get("domain", ""), cookie.get("path", ""),
                    None if expires is None or expires < 0 else max(0.0, expires - now),
                    set_by, source,
                )
            )  # fmt: skip
        for kind, origin, name in sorted(self._storage(page)):
            script = script_writes.get((kind, name))
            if script is None and (kind, origin, name) in self.known:
                continue  # there before, and not written again here
            self.known.add((kind, origin, name))
            self.observations.append(
                Observation(
                    state, here, kind, name, origin, set_by="script" if script is not None else "",
                    source=cut(script or ""),
                )
            )  # fmt: skip
        for url, _frame in self.requests:
            host = urlsplit(url).netloc.lower()
            if host in self.site_hosts:
                continue
            self.observations.append(
                Observation(
                    state, here, "request", host, host,
                    source=cut(self.asked.get(url) or self.initiators.get(url, "")),
                    url=cut(url),
                )
            )  # fmt: skip
        self.writes, self.responses, self.requests = [], [], []
