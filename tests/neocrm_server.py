"""A local stand-in for NeoCRM's REST API, for the tests and bench/crm.py.

It speaks the protocol our client uses, as NeoCRM documents it, and can misbehave on demand:

    POST /oauth2/token                          password grant (form) -> access_token, instance_uri
    POST /rest/data/v2.0/xobjects/lead          {"data": {...}} -> {"code": 200, "data": {"id"}}
    DELETE /rest/data/v2.0/xobjects/lead/{id}   -> {"code": 200, ...}; 404 when unknown
    POST /rest/data/v2.0/query/xoql             xoql=select id from lead where FIELD = 'VALUE'

Tokens expire (after `token_ttl` by `clock`, or all at once with `expire_tokens()`) and then
get 401. `fail_next` answers the next requests with an error status; `slow_next` answers late,
after doing the work (so a client that gives up cannot know whether the lead exists).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LEAD_PATH = "/rest/data/v2.0/xobjects/lead"
XOQL_PATH = "/rest/data/v2.0/query/xoql"
XOQL = re.compile(
    r"^\s*select\s+id\s+from\s+lead\s+where\s+([A-Za-z][A-Za-z0-9_]*)\s*=\s*'((?:[^'\\]|\\.)*)'\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Recorded:
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
    next_id: int = 1740000000000001


class FakeNeoCRM:
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
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._state = _State()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeNeoCRM:
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._stopping.clear()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeNeoCRM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests read -------------------------------------------------------------------

    @property
    def leads(self) -> dict[int, dict[str, Any]]:
        return self._state.leads

    @property
    def deleted(self) -> dict[int, dict[str, Any]]:
        return self._state.deleted

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._state.requests)

    def _count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path == path)

    @property
    def token_requests(self) -> int:
        return self._count("POST", "/oauth2/token")

    @property
    def lead_creates(self) -> int:
        """Leads actually created (not requests refused with 401 or an injected fault)."""
        with self._lock:
            return self._state.next_id - 1740000000000001

    # --- what tests steer ------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503, path_prefix: str | None = None) -> None:
        with self._lock:
            self._state.failures.append(_Fault(count, path_prefix, status=status))

    def slow_next(
        self,
        count: int = 1,
        seconds: float = 2.0,
        path_prefix: str | None = None,
        before: bool = False,
    ) -> None:
        with self._lock:
            self._state.delays.append(_Fault(count, path_prefix, seconds=seconds, before=before))

    def expire_tokens(self) -> None:
        with self._lock:
            self._state.tokens.clear()

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    # --- the protocol ----------------------------------------------------------------------

    def _take(self, faults: list[_Fault], path: str) -> _Fault | None:
        with self._lock:
            for fault in faults:
                if fault.matches(path):
                    fault.count -= 1
                    return fault
        return None

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        """(status, document) for one request, after the faults asked for."""
        with self._lock:
            self._state.requests.append(Recorded(method, path, headers, body, time.monotonic()))
        failure = self._take(self._state.failures, path)
        if failure is not None:
            return failure.status, {"code": failure.status, "msg": "injected failure"}
        delay = self._take(self._state.delays, path)
        if delay is not None and delay.before:
            self._stopping.wait(delay.seconds)
        answer = self._dispatch(method, path, headers, body)
        if delay is not None and not delay.before:
            self._stopping.wait(delay.seconds)
        return answer

    def _dispatch(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/oauth2/token":
            return self._token(headers, body)
        if path in (LEAD_PATH, XOQL_PATH) or path.startswith(LEAD_PATH + "/"):
            if not self._authorised(headers):
                return 401, {"code": 401, "msg": "invalid access token"}
            if method == "POST" and path == LEAD_PATH:
                return self._create(headers, body)
            if method == "DELETE" and path.startswith(LEAD_PATH + "/"):
                return self._delete(path[len(LEAD_PATH) + 1 :])
            if method == "POST" and path == XOQL_PATH:
                return self._query(body)
        return 404, {"code": 404, "msg": "no such endpoint"}

    def _token(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return 400, {"error": "invalid_request", "error_description": "form body expected"}
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        if form.get("grant_type") != "password":
            return 400, {"error": "unsupported_grant_type", "error_description": "password only"}
        given = (form.get(k) for k in ("client_id", "client_secret", "username", "password"))
        if tuple(given) != (self.client_id, self.client_secret, self.username, self.password):
            return 400, {"error": "invalid_grant", "error_description": "bad credentials"}
        token = secrets.token_hex(16)
        with self._lock:
            self._state.tokens[token] = self.clock()
        return 200, {
            "access_token": token,
            "instance_uri": self.url,
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "id": "1001",
        }

    def _authorised(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        with self._lock:
            issued = self._state.tokens.get(token) if scheme == "Bearer" else None
        return issued is not None and self.clock() - issued < self.token_ttl

    def _create(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if not headers.get("content-type", "").startswith("application/json"):
            return 415, {"code": 415, "msg": "application/json expected"}
        try:
            document = json.loads(body)
        except ValueError:
            return 400, {"code": 400, "msg": "body is not JSON"}
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
            return 400, {"code": 400, "msg": "data.name is required"}
        with self._lock:
            lead_id = self._state.next_id
            self._state.next_id += 1
            self._state.leads[lead_id] = data
        return 200, {"code": 200, "msg": "OK", "data": {"id": lead_id}}

    def _delete(self, raw_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            lead_id = int(raw_id) if raw_id.isdigit() else -1
            data = self._state.leads.pop(lead_id, None)
            if data is None:
                return 404, {"code": 404, "msg": "not found"}
            self._state.deleted[lead_id] = data
        return 200, {"code": 200, "msg": "OK", "data": {"id": lead_id}}

    def _query(self, body: bytes) -> tuple[int, dict[str, Any]]:
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        match = XOQL.match(form.get("xoql", ""))
        if match is None:
            return 400, {"code": 400, "msg": "unsupported xoql"}
        name, value = match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))
        with self._lock:
            ids = [i for i, data in self._state.leads.items() if str(data.get(name)) == value]
        records = [{"id": lead_id} for lead_id in ids]
        return 200, {
            "code": 200,
            "msg": "OK",
            "data": {"totalSize": len(records), "count": len(records), "records": records},
        }


def _handler_for(crm: FakeNeoCRM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            path = urllib.parse.urlsplit(self.path).path
            status, document = crm.handle(self.command, path, headers, body)
            payload = json.dumps(document).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                self.close_connection = True

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
