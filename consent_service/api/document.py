"""The error answers of the OpenAPI document, added to every operation in one place.

Every error has the one JSON shape (`Error`); which statuses an operation can answer follows
from what it is: anything may meet a malformed request (400), an unknown site or id (404) or a
database that is away (503, Retry-After); an operation with a bearer token adds 401 and 403; a
public one 403 (a foreign origin); a body adds 409, 413 and 415; a consent write or a
subscription request may be over its client's limit (429, Retry-After).
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Api

ERROR = {"$ref": "#/components/responses/DEFAULT_ERROR"}
DESCRIPTIONS = {
    "400": "Malformed request (bad JSON, nested too deeply).",
    "401": "Missing or invalid bearer token.",
    "403": "The token's role, or the calling origin, is not allowed.",
    "404": "No such site or resource.",
    "409": "Conflicts with what is recorded.",
    "412": "If-Match does not match the current ETag (someone changed it since).",
    "413": "Body over 16 KiB.",
    "415": "The body is not application/json.",
    "422": "Validation failed; `errors` says which field.",
    "428": "A write without If-Match.",
    "429": "Over the client's limit; see Retry-After.",
    "503": "The database is unavailable; see Retry-After.",
}
RATE_LIMITED = ("/consents", "/subscriptions", "/requests")


def json_answer(
    description: str, required: tuple[str, ...] = (), content_type: str = "application/json"
) -> dict[str, Any]:
    """The documented 200 of a read answering one JSON object (its fields in docs/)."""
    schema: dict[str, Any] = {"type": "object"}
    if required:
        schema["required"] = list(required)
    return {
        "responses": {
            "200": {"description": description, "content": {content_type: {"schema": schema}}}
        }
    }


def error(status: str) -> dict[str, Any]:
    retry = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    answer = {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status in ("429", "503"):
        answer["headers"] = retry
    return answer


def statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    found = ["400", "404", "422", "503"]
    found += ["401", "403"] if operation.get("security") else ["403"]
    if method in ("post", "put", "patch"):
        found += ["409", "413", "415"]
    if method == "put":
        found += ["412", "428"]  # replacing a document takes If-Match
    if method == "post" and path.endswith(RATE_LIMITED):
        found.append("429")
    return found


def document_errors(api: Api) -> None:
    """Add the error answers each operation can give (after every blueprint is registered)."""
    paths: dict[str, dict[str, Any]] = api.spec._paths  # apispec's registered operations
    for path, operations in paths.items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status in statuses(path, method, operation):
                responses.setdefault(status, error(status))
