"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from consent_service.errors import ApiError
from consent_service.extensions import db

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready when the database answers; the other dependencies never make us unready."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready": the answer, not a crash
        db.session.rollback()
        raise ApiError(503, "The database is unreachable.", error="database_unreachable") from exc
    return jsonify(status="ok", database="ok")
