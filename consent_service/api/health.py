"""Liveness and readiness probes for load balancers and orchestrators, and the answer to the
favicon request every browser makes on every page."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from consent_service.errors import ApiError
from consent_service.extensions import db

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@blp.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """No icon (204), cached for a week: without it every console, demo and preference page
    logged a 404 and the browser asked again each time."""
    return Response(status=204, headers={"Cache-Control": "public, max-age=604800"})


@blp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready when the database takes a write, not merely answers a read: with its disk full or
    read-only every consent would fail while SELECT 1 still works. The other dependencies (SMTP,
    NeoCRM, webhooks) never make us unready: their work waits in outboxes."""
    try:
        probe_write()
    except Exception as exc:  # any driver error means "not ready": the answer, not a crash
        db.session.rollback()
        raise ApiError(
            503,
            "The database cannot take a write.",
            error="database_unreachable",
            headers={"Retry-After": "5"},
        ) from exc
    return jsonify(status="ok", database="ok")


def probe_write() -> None:
    """A write that changes nothing. PostgreSQL: in a transaction rolled back (the row is
    locked and a new version written, so a read-only or failing server refuses it). SQLite:
    committed, because SQLite touches the disk only at commit, where a full disk shows."""
    touch = text("UPDATE alembic_version SET version_num = version_num")
    with db.engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(touch)
        if connection.dialect.name == "sqlite":
            transaction.commit()
        else:
            transaction.rollback()
