"""Signed tokens (itsdangerous), one fixed salt per purpose.

Keys are `[*SECRET_KEY_FALLBACKS, SECRET_KEY]`: the last signs, all verify, so a secret can be
rotated without logging every visitor out. A bad or foreign signature means "no valid token".
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

VISITOR_TOKEN_SALT = "consent-service.visitor-token.v1"


def signing_keys() -> list[str]:
    config = current_app.config
    return [*config.get("SECRET_KEY_FALLBACKS", []), config["SECRET_KEY"]]


def serializer(salt: str) -> URLSafeSerializer:
    return _serializer(tuple(signing_keys()), salt)


@lru_cache(maxsize=64)
def _serializer(keys: tuple[str, ...], salt: str) -> URLSafeSerializer:
    """Built once per key set and salt: a consent write signs a token on every request."""
    return URLSafeSerializer(list(keys), salt=salt)


def timed_serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_keys(), salt=salt)


def issue_visitor_token(site_key: str, visitor_id: str) -> str:
    """Deterministic for a given key, so a replayed request gets the very same answer."""
    return serializer(VISITOR_TOKEN_SALT).dumps({"s": site_key, "v": visitor_id})


def read_visitor_token(token: str, site_key: str) -> str | None:
    """The visitor id the token was issued for on this site, or None if it is not valid here."""
    try:
        payload: Any = serializer(VISITOR_TOKEN_SALT).loads(token)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("s") != site_key:
        return None
    visitor_id = payload.get("v")
    return visitor_id if isinstance(visitor_id, str) else None
