"""A local stand-in for NeoCRM's REST API, for the tests and bench/crm.py.

It speaks the part of NeoCRM's protocol that consent_service.neocrm uses, with the same status
codes and JSON shapes, and can misbehave on demand so the tests can reach the failure paths:

    POST   /oauth2/token                        password grant (form) -> access_token, instance_uri
    POST   /rest/data/v2.0/xobjects/lead        {"data": {...}} -> {"code": 200, "data": {"id"}}
    DELETE /rest/data/v2.0/xobjects/lead/{id}   -> {"code": 200, ...}; 404 when unknown
    POST   /rest/data/v2.0/query/xoql           xoql=select id from lead where FIELD = 'VALUE'

Anything else is a 404 `{"code": 404, "msg": "no such endpoint"}`.

Tokens expire (after `token_ttl` by `clock`, or all at once with `expire_tokens()`) and then get
401. `fail_next` answers the next requests with an error status without doing anything;
`slow_next` answers late, by default after doing the work (so a client that gives up cannot know
whether the lead exists). Standard library only; every public method is thread-safe.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN_PATH = "/oauth2/token"
LEAD_PATH = "/rest/data/v2.0/xobjects/lead"
XOQL_PATH = "/rest/data/v2.0/query/xoql"
FIRST_LEAD_ID = 1740000000000001
USER_ID = "1001"
XOQL = re.compile(
    r"^\s*select\s+id\s+from\s+lead\s+where\s+([A-Za-z][A-Za-z0-9_]*)\s*=\s*'((?:[^'\\]|\\.)*)'\s*$",
    re.IGNORECASE,
)

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Recorded:
    """One request as the stand-in received it (header names lower-cased; time by `clock`)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    time: float


@dataclass
class _Fault:
    count: int
    path_prefix: str | None
    status: int = 503
    seconds: float = 0.0
    before: bool = False

    def matches(self, path: str) -> bool:
        return self.count > 0 and (self.path_prefix is None or path.startswith(self.path_prefix))


@dataclass
class _State:
    leads: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)
    failures: list[_Fault] = field(default_factory=list)
    delays: list[_Fault] = field(default_factory=list)
    next_id: int = FIRST_LEAD_ID
    created: int = 0


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that can cut its open connections when it stops."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up mid-request: the tests do that on purpose."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def cut_connections(self) -> None:
        """Wake every handler blocked on a kept-alive connection; each then closes its socket."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)


class FakeNeoCRM:
    """NeoCRM's token, lead and XOQL endpoints on 127.0.0.1, with faults on demand.

    Use it as a context manager or with `start()`/`stop()`; `url` is the base URL, which is
    both the auth URL and the instance URI it hands out with each token. Tests read `leads`,
    `deleted`, `requests`, `token_requests` and `lead_creates`, and steer it with `fail_next`,
    `slow_next`, `expire_tokens` and `reset`. `leads` and `deleted` are the live dicts (a test
    may clear them to pretend someone deleted a lead in NeoCRM's UI); `requests` is a copy.
    """

    def __init__(
        self,
        *,
        client_id: str = "cid",
        client_secret: str = "csecret",
        username: str = "crm-user@example.com",
        password: str = "crm-pass",
        token_ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.password = password
        self.token_ttl = token_ttl
        self.clock = clock
        self.port = port
        self.url = ""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._state = _State()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeNeoCRM:
        """Listen on 127.0.0.1 (`port`, 0 for one the OS picks) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeNeoCRM is already running")
        self._stopping.clear()
        server = _Server(("127.0.0.1", self.port), _handler_for(self))
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving at once, waking answers that are being held back; safe to call twice."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.cut_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeNeoCRM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests read -------------------------------------------------------------------

    @property
    def leads(self) -> dict[int, dict[str, Any]]:
        """Stored leads: id -> the `data` object as received (the live dict)."""
        return self._state.leads

    @property
    def deleted(self) -> dict[int, dict[str, Any]]:
        """Leads removed through DELETE: id -> their `data` object (the live dict)."""
        return self._state.deleted

    @property
    def requests(self) -> list[Recorded]:
        """Every request received, in order (a copy)."""
        with self._lock:
            return list(self._state.requests)

    @property
    def token_requests(self) -> int:
        """Requests to the token endpoint, granted or not."""
        with self._lock:
            return sum(1 for r in self._state.requests if r.path == TOKEN_PATH)

    @property
    def lead_creates(self) -> int:
        """Leads actually created (not requests refused with 401, 400 or an injected fault)."""
        with self._lock:
            return self._state.created

    # --- what tests steer ------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503, path_prefix: str | None = None) -> None:
        """Answer the next `count` API requests (matching `path_prefix`) with `status`, idly."""
        with self._lock:
            self._state.failures.append(_Fault(count, path_prefix, status=status))

    def slow_next(
        self,
        count: int = 1,
        seconds: float = 2.0,
        path_prefix: str | None = None,
        before: bool = False,
    ) -> None:
        """Hold back the answers to the next `count` API requests (matching `path_prefix`).

        By default the work is done first and only the answer is late; `before=True` waits
        before doing anything.
        """
        with self._lock:
            self._state.delays.append(_Fault(count, path_prefix, seconds=seconds, before=before))

    def expire_tokens(self) -> None:
        """Make every token issued so far invalid (401), as if they had all expired."""
        with self._lock:
            self._state.tokens.clear()

    def reset(self) -> None:
        """Forget leads, deleted leads, tokens, pending faults and recorded requests."""
        with self._lock:
            self._state = _State()

    # --- the protocol ----------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """(status, JSON document) for one request, after any fault asked for."""
        with self._lock:
            self._state.requests.append(Recorded(method, path, headers, body, self.clock()))
        if _is_api(path):
            failure = self._take("failures", path)
            if failure is not None:
                return failure.status, {"code": failure.status, "msg": "injected failure"}
            delay = self._take("delays", path)
        else:
            delay = None
        if delay is not None and delay.before:
            self._stopping.wait(delay.seconds)
        answer = self._dispatch(method, path, headers, body)
        if delay is not None and not delay.before:
            self._stopping.wait(delay.seconds)
        return answer

    def _take(self, kind: str, path: str) -> _Fault | None:
        with self._lock:
            faults: list[_Fault] = getattr(self._state, kind)
            for fault in faults:
                if fault.matches(path):
                    fault.count -= 1
                    if fault.count <= 0:
                        faults.remove(fault)
                    return fault
        return None

    def _dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if method == "POST" and path == TOKEN_PATH:
            return self._token(headers, body)
        action: Callable[[], Answer] | None = None
        if method == "POST" and path == LEAD_PATH:
            action = lambda: self._create(headers, body)  # noqa: E731
        elif method == "POST" and path == XOQL_PATH:
            action = lambda: self._query(body)  # noqa: E731
        elif method == "DELETE" and path.startswith(LEAD_PATH + "/"):
            raw_id = path[len(LEAD_PATH) + 1 :]
            if raw_id and "/" not in raw_id:
                action = lambda: self._delete(raw_id)  # noqa: E731
        if action is None:
            return 404, {"code": 404, "msg": "no such endpoint"}
        if not self._authorised(headers):
            return 401, {"code": 401, "msg": "invalid access token"}
        return action()

    def _token(self, headers: dict[str, str], body: bytes) -> Answer:
        if _media_type(headers) != "application/x-www-form-urlencoded":
            return 400, {"error": "invalid_request", "error_description": "form body expected"}
        form = _form(body)
        if form.get("grant_type") != "password":
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "only grant_type=password is supported",
            }
        given = tuple(form.get(k) for k in ("client_id", "client_secret", "username", "password"))
        if given != (self.client_id, self.client_secret, self.username, self.password):
            return 400, {"error": "invalid_grant", "error_description": "authentication failure"}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._state.tokens[token] = self.clock()
        return 200, {
            "access_token": token,
            "instance_uri": self.url,
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "id": USER_ID,
        }

    def _authorised(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        with self._lock:
            issued = self._state.tokens.get(token.strip())
        return issued is not None and self.clock() - issued < self.token_ttl

    def _create(self, headers: dict[str, str], body: bytes) -> Answer:
        if _media_type(headers) != "application/json":
            return 415, {"code": 415, "msg": "Content-Type must be application/json"}
        try:
            document = json.loads(body)
        except ValueError:
            return 400, {"code": 400, "msg": "body is not JSON"}
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict):
            return 400, {"code": 400, "msg": "data object is required"}
        name = data.get("name")
        if not isinstance(name, str) or not name:
            return 400, {"code": 400, "msg": "data.name is required"}
        if "@" in name:  # as CRMs do, the refusal echoes the record it refused
            return 400, {"code": 400, "msg": f"data.name may not be an address: {data}"}
        with self._lock:
            lead_id = self._state.next_id
            self._state.next_id += 1
            self._state.created += 1
            self._state.leads[lead_id] = data
        return 200, {"code": 200, "msg": "OK", "data": {"id": lead_id}}

    def _delete(self, raw_id: str) -> Answer:
        lead_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() else None
        with self._lock:
            data = self._state.leads.pop(lead_id, None) if lead_id is not None else None
            if lead_id is None or data is None:
                return 404, {"code": 404, "msg": "not found"}
            self._state.deleted[lead_id] = data
        return 200, {"code": 200, "msg": "OK", "data": {"id": lead_id}}

    def _query(self, body: bytes) -> Answer:
        match = XOQL.match(_form(body).get("xoql", ""))
        if match is None:
            return 400, {"code": 400, "msg": "unsupported xoql"}
        name, value = match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))
        with self._lock:
            ids = [i for i, data in self._state.leads.items() if _equals(data.get(name), value)]
        records = [{"id": lead_id} for lead_id in ids]
        return 200, {
            "code": 200,
            "msg": "OK",
            "data": {"totalSize": len(records), "count": len(records), "records": records},
        }


def _is_api(path: str) -> bool:
    return path in (TOKEN_PATH, LEAD_PATH, XOQL_PATH) or path.startswith(LEAD_PATH + "/")


def _media_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _form(body: bytes) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _equals(stored: object, value: str) -> bool:
    if isinstance(stored, str):
        return stored == value
    if isinstance(stored, bool) or stored is None or isinstance(stored, dict | list):
        return False
    return str(stored) == value  # numbers compare as XOQL literals do


def _handler_for(crm: FakeNeoCRM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                status, document = 400, {"code": 400, "msg": "bad Content-Length"}
                body = b""
            else:
                body = self.rfile.read(length) if length else b""
                headers = {key.lower(): value for key, value in self.headers.items()}
                path = urllib.parse.urlsplit(self.path).path
                status, document = crm.handle(self.command, path, headers, body)
            payload = json.dumps(document).encode()
            if length < 0 or crm._stopping.is_set():
                self.close_connection = True
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
            except OSError:  # the client gave up waiting, or stop() cut the connection
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
