"""A client for NeoCRM's REST API: OAuth2 password grant, create and delete a lead, and the
XOQL query used to find a lead whose creation timed out.

    POST {auth_url}/oauth2/token            form: grant_type=password, client_id, client_secret,
                                            username, password -> {"access_token", "instance_uri"}
    POST {instance}/rest/data/v2.0/xobjects/lead         {"data": {...}} -> {"code": 200,
                                                          "data": {"id": ...}}
    DELETE {instance}/rest/data/v2.0/xobjects/lead/{id}
    POST {instance}/rest/data/v2.0/query/xoql             form: xoql=select id from lead where ...

Errors are sorted by what the caller should do: `CrmUnavailable` (try again later),
`CrmOutcomeUnknown` (the request went out and no answer came: the lead may exist),
`CrmRejected` (the CRM refused the request as it is; retrying the same will not help).
Tokens are kept per process and renewed once on a 401.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context

from consent_service.outbound import UrlRefused, open_checked

LEAD_PATH = "/rest/data/v2.0/xobjects/lead"
XOQL_PATH = "/rest/data/v2.0/query/xoql"
TOKEN_PATH = "/oauth2/token"


class CrmError(Exception):
    """Something went wrong talking to the CRM."""


class CrmUnavailable(CrmError):
    """Not reached, 5xx, or a refused token: nothing was done, try again later."""


class CrmOutcomeUnknown(CrmError):
    """The request was sent and the answer never came (time-out, connection dropped)."""


class CrmRejected(CrmError):
    """A 4xx other than 401: the request itself is wrong (field mapping, permissions)."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


Transport = Callable[[str, str, bytes | None, dict[str, str], float], HttpAnswer]


def http_transport(
    method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float
) -> HttpAnswer:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    allow_local = has_app_context() and bool(current_app.config.get("WEBHOOK_ALLOW_HTTP"))
    try:
        with open_checked(request, timeout, allow_local) as response:
            return HttpAnswer(int(response.status), response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpAnswer(int(exc.code), exc.read())
    except UrlRefused as exc:
        raise CrmUnavailable(f"refused endpoint: {exc}") from exc
    except urllib.error.URLError as exc:
        # urllib wraps what fails while connecting and sending: the request never arrived whole.
        host = urllib.parse.urlsplit(url).netloc
        raise CrmUnavailable(f"cannot reach {host}: {exc.reason}") from exc
    except TimeoutError as exc:  # sent, and the answer did not come in time
        raise CrmOutcomeUnknown(f"no answer within {timeout:g} s") from exc
    except (http.client.HTTPException, ConnectionError, OSError) as exc:
        raise CrmOutcomeUnknown(f"the connection broke before the answer: {exc}") from exc


@dataclass(frozen=True)
class NeoCrmSettings:
    auth_url: str
    instance_url: str
    client_id: str
    client_secret: str
    username: str
    password: str
    timeout: float = 30.0

    @property
    def cache_key(self) -> tuple[str, str, str]:
        return (self.auth_url, self.client_id, self.username)


_tokens: dict[tuple[str, str, str], str] = {}
_tokens_lock = threading.Lock()


class NeoCrmClient:
    def __init__(self, settings: NeoCrmSettings, transport: Transport = http_transport) -> None:
        self.settings = settings
        self.transport = transport

    def token(self, renew: bool = False) -> str:
        key = self.settings.cache_key
        with _tokens_lock:
            if not renew and key in _tokens:
                return _tokens[key]
        form = urllib.parse.urlencode(
            {
                "grant_type": "password",
                "client_id": self.settings.client_id,
                "client_secret": self.settings.client_secret,
                "username": self.settings.username,
                "password": self.settings.password,
            }
        ).encode()
        try:
            answer = self.transport(
                "POST",
                self.settings.auth_url.rstrip("/") + TOKEN_PATH,
                form,
                {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                self.settings.timeout,
            )
        except CrmOutcomeUnknown as exc:  # asking for a token changes nothing: just retry
            raise CrmUnavailable(f"token: {exc}") from exc
        document = answer.json()
        token = document.get("access_token") if isinstance(document, dict) else None
        if answer.status != 200 or not isinstance(token, str) or not token:
            detail = document.get("error") if isinstance(document, dict) else None
            raise CrmUnavailable(
                f"NeoCRM gave no token (HTTP {answer.status}{', ' + str(detail) if detail else ''})"
            )
        with _tokens_lock:
            _tokens[key] = token
        return token

    def _call(
        self, method: str, path: str, body: bytes | None, content_type: str | None
    ) -> HttpAnswer:
        """One API call with the cached token, and once more with a new one after a 401."""
        url = self.settings.instance_url.rstrip("/") + path
        for renew in (False, True):
            headers = {"Authorization": f"Bearer {self.token(renew)}", "Accept": "application/json"}
            if content_type:
                headers["Content-Type"] = content_type
            answer = self.transport(method, url, body, headers, self.settings.timeout)
            if answer.status != 401:
                return answer
        raise CrmUnavailable("NeoCRM refused a fresh token (HTTP 401)")

    def create_lead(self, data: dict[str, Any]) -> str:
        """Create one lead; its NeoCRM id."""
        body = json.dumps({"data": data}, ensure_ascii=False).encode("utf-8")
        answer = self._call("POST", LEAD_PATH, body, "application/json; charset=utf-8")
        return str(self._result(answer, "create")["id"])

    def delete_lead(self, crm_id: str) -> bool:
        """Delete a lead; False when NeoCRM no longer has it (deleted there already)."""
        answer = self._call("DELETE", f"{LEAD_PATH}/{urllib.parse.quote(crm_id)}", None, None)
        if answer.status == 404:
            return False
        self._result(answer, "delete")
        return True

    def find_leads(self, field: str, value: str) -> list[str]:
        """Ids of the leads whose `field` equals `value` (XOQL)."""
        if not field.replace("_", "").isalnum():
            raise CrmRejected(f"not a field name: {field!r}")
        quoted = value.replace("\\", "\\\\").replace("'", "\\'")
        xoql = f"select id from lead where {field} = '{quoted}'"
        body = urllib.parse.urlencode({"xoql": xoql}).encode()
        answer = self._call("POST", XOQL_PATH, body, "application/x-www-form-urlencoded")
        records = self._result(answer, "query").get("records") or []
        return [str(record["id"]) for record in records if isinstance(record, dict)]

    @staticmethod
    def _result(answer: HttpAnswer, what: str) -> dict[str, Any]:
        document = answer.json()
        code = document.get("code") if isinstance(document, dict) else None
        message = document.get("msg") if isinstance(document, dict) else None
        if answer.status >= 500 or answer.status == 429:
            raise CrmUnavailable(f"{what}: HTTP {answer.status}")
        if answer.status != 200 or str(code) != "200":
            raise CrmRejected(f"{what}: HTTP {answer.status}, code {code}: {message or ''}"[:400])
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict) or (what == "create" and "id" not in data):
            raise CrmRejected(f"{what}: the answer has no data")
        return data


def forget_tokens() -> None:
    with _tokens_lock:
        _tokens.clear()
