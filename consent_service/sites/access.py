"""API tokens: issue, check and revoke the bearer tokens of site backends and auditors.

Tokens are random and shown once; only their SHA-256 is stored, so a database leak does not
leak working credentials.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection

from sqlalchemy import select

from consent_service.canonical import sha256_hex
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import ApiToken, Site
from consent_service.models.token import TOKEN_ROLES
from consent_service.models.types import utcnow

TOKEN_PREFIX = "cst_"


def issue_token(site: Site, role: str, label: str = "") -> tuple[ApiToken, str]:
    """Create a token; returns the row and the secret, which is never retrievable again."""
    if role not in TOKEN_ROLES:
        raise ValueError(f"role must be one of {', '.join(TOKEN_ROLES)}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(site_id=site.id, role=role, token_hash=sha256_hex(secret), label=label)
    db.session.add(token)
    db.session.commit()
    return token, secret


def revoke_tokens(site: Site, *, label: str | None = None, token_id: int | None = None) -> int:
    """Revoke matching live tokens of a site; returns how many."""
    query = select(ApiToken).where(ApiToken.site_id == site.id, ApiToken.revoked_at.is_(None))
    if label is not None:
        query = query.where(ApiToken.label == label)
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    tokens = db.session.scalars(query).all()
    now = utcnow()
    for token in tokens:
        token.revoked_at = now
    db.session.commit()
    return len(tokens)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authorize(site_id: int, secret: str | None, roles: Collection[str]) -> ApiToken:
    """The live token of site `site_id` behind `secret`, if its role is one of `roles`.

    A missing or unknown token is 401. A valid token of another site is 404, so that a token
    holder cannot probe which site keys exist. The wrong role is 403.
    """
    if not secret:
        raise ApiError(
            401,
            "A bearer token is required.",
            error="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="consent-service"'},
        )
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(secret)))
    if token is None or token.revoked_at is not None:
        raise ApiError(
            401,
            "The bearer token is not valid.",
            error="invalid_token",
            headers={"WWW-Authenticate": 'Bearer realm="consent-service", error="invalid_token"'},
        )
    if token.site_id != site_id:
        raise ApiError(404, "No such site.", error="site_not_found")
    if token.role not in roles:
        raise ApiError(
            403, f"This needs a token with role {' or '.join(roles)}.", error="forbidden"
        )
    return token
