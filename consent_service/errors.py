"""The one JSON error shape, `{"code", "status", "message", "errors"}`, for every error.

Registered on the app rather than on blueprints so that routing errors (404 for an unknown URL,
405 for a wrong method) get the same machine-readable body as errors raised in views.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError

from consent_service.redact import get_logger

log = get_logger(__name__)


class ApiError(HTTPException):
    """An error raised by an operation, carrying a machine-readable `error` code.

    Operations raise these (or their subclasses) instead of importing Flask's `abort`, so they
    stay usable from the CLI and tests; the app turns them into the shared JSON shape.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error: str | None = None,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description=message)
        self.code = status
        self.error = error
        self.errors = errors or {}
        self.extra_headers = headers or {}


class ValidationFailed(ApiError):
    """422 with field-keyed errors, the shape schema errors have too."""

    def __init__(self, errors: dict[str, Any], message: str = "Invalid request.") -> None:
        super().__init__(422, message, error="validation_failed", errors=errors)


def error_body(exc: HTTPException) -> dict[str, Any]:
    code = exc.code or 500
    message = exc.description or exc.name
    errors: dict[str, Any] = {}
    data = getattr(exc, "data", None)
    if isinstance(exc, ApiError):
        errors = exc.errors
    elif isinstance(data, dict):
        # webargs puts schema errors under "messages", keyed by location; clients want fields.
        message = data.get("message", "Invalid request." if code == 422 else message)
        raw = data.get("errors") or data.get("messages") or {}
        if isinstance(raw, dict) and set(raw) <= {"json", "query", "headers", "form"} and raw:
            merged: dict[str, Any] = {}
            for location_errors in raw.values():
                if isinstance(location_errors, dict):
                    merged.update(location_errors)
            errors = merged
        elif isinstance(raw, dict):
            errors = raw
    body: dict[str, Any] = {
        "code": code,
        "status": getattr(exc, "error", None) or exc.name.lower().replace(" ", "_"),
        "message": message,
        "errors": errors,
    }
    return body


def handle_http_exception(exc: HTTPException) -> tuple[Response, int, dict[str, str]]:
    headers: dict[str, str] = {}
    if isinstance(exc, ApiError):
        headers.update(exc.extra_headers)
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and isinstance(data.get("headers"), dict):
        headers.update(data["headers"])
    if exc.code == 405:
        response = exc.get_response()
        if "Allow" in response.headers:
            headers["Allow"] = response.headers["Allow"]
    return jsonify(error_body(exc)), exc.code or 500, headers


#: What the database raises when it is away, full, read-only or busy: not a bug in the
#: request, and worth trying again (503 with Retry-After; the banner keeps its decision).
DATABASE_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
RETRY_AFTER_SECONDS = "5"


def handle_database_unavailable(exc: Exception) -> tuple[Response, int, dict[str, str]]:
    from consent_service.extensions import db

    log.warning("Database unavailable: %s", type(exc).__name__)
    db.session.rollback()
    error = ApiError(
        503,
        "The service cannot reach its database; try again shortly.",
        error="database_unavailable",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )
    return handle_http_exception(error)


def handle_unexpected(exc: Exception) -> tuple[Response, int, dict[str, str]]:
    from consent_service.extensions import db

    log.exception("Unhandled error", exc_info=exc)
    # A failed statement leaves PostgreSQL's transaction aborted; end it here, not in the
    # next request that happens to share the session.
    db.session.rollback()
    return handle_http_exception(InternalServerError())


def end_transaction(exc: BaseException | None) -> None:
    """A request that failed, or left its transaction aborted (PostgreSQL refuses every
    statement after a failed one until a rollback), is rolled back when it ends, so it can
    never break the next request on the session (the app context, and with it the session,
    may outlive one request)."""
    from consent_service.extensions import db

    if exc is None and not db.session.registry.has():
        return  # no session was opened (a config or script GET): nothing to end
    if exc is not None or transaction_aborted(db.session()):
        db.session.rollback()


def transaction_aborted(session: Any) -> bool:
    if not session.in_transaction():
        return False
    raw = session.connection().connection.dbapi_connection
    status = getattr(getattr(raw, "info", None), "transaction_status", None)
    return getattr(status, "name", None) == "INERROR"  # psycopg's failed-transaction state


def register_error_handlers(app: Flask) -> None:
    app.teardown_request(end_transaction)
    app.register_error_handler(HTTPException, handle_http_exception)
    for database_error in DATABASE_UNAVAILABLE:
        app.register_error_handler(database_error, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
