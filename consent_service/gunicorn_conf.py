"""gunicorn settings: `gunicorn -c python:consent_service.gunicorn_conf consent_service.wsgi:app`.

What is logged: the access log has time, method, path (tokens in it replaced by [token]),
protocol, status, size, duration and user agent; no client address, no query string (it may
carry an address or a visitor token), no referrer. gunicorn's error log goes through the same
redaction as the service's own log: no client address, no address, no token.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from consent_service.redact import RedactingFilter, redact_path

bind = "0.0.0.0:8000"
workers = 2
# Threads, so that a worker answers others while one waits for its commit: on PostgreSQL
# concurrent commits share a WAL flush, on SQLite waiting consents share one transaction (group
# commit, consent_service/database.py). bench/api.py measured sync against gthread:4 and :8.
worker_class = "gthread"
threads = 4
accesslog = "-"
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# gunicorn itself trusts no X-Forwarded-* header from anyone (its default trusts loopback):
# the app honours them only from as many proxies as TRUSTED_PROXIES says.
forwarded_allow_ips = ""


class PrivateLogger(Logger):
    """gunicorn's logger with the request line stripped of its query and path tokens, every
    header and address atom emptied, and the error log redacted."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not any(isinstance(f, RedactingFilter) for f in self.error_log.filters):
            self.error_log.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        path = redact_path(environ.get("PATH_INFO") or "/")
        atoms.update(
            h="-", f="-", q="", U=path, r=f"{environ['REQUEST_METHOD']} {path} {atoms['H']}"
        )
        for name in [name for name in atoms if name.startswith("{")]:
            if not name.endswith("}e"):  # request and response headers: none is logged
                atoms[name] = "-"
        return atoms


logger_class = PrivateLogger
