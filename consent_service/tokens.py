"""Signed tokens (itsdangerous), one fixed salt per purpose.

Keys are `[*SECRET_KEY_FALLBACKS, SECRET_KEY]`: the last signs, all verify, so a secret can be
rotated without logging every visitor out. A bad or foreign signature means "no valid token".
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask import current_app
from itsdangerous import BadData, BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.signer import SigningAlgorithm

VISITOR_TOKEN_SALT = "consent-service.visitor-token.v1"
SUBSCRIPTION_CONFIRM_SALT = "consent-service.subscription-confirm.v1"
UNSUBSCRIBE_SALT = "consent-service.unsubscribe.v1"
REQUEST_REFERENCE_SALT = "consent-service.request-reference.v1"
REQUEST_CONFIRM_SALT = "consent-service.request-confirm.v1"


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
    """Deterministic for a given key, so a replayed request gets the very same answer.

    Every consent write signs one. itsdangerous builds a signer, derives its key and tries
    zlib on every call (a twelfth of a write); this signs with its signer's key and algorithm,
    made once per secret, and without compression (a visitor id is random hex: zlib never made
    such a payload shorter). The same bytes as `serializer(VISITOR_TOKEN_SALT).dumps(...)`
    whenever that does not compress, and read back by it in every case (tests compare both)."""
    payload = json.dumps(
        {"s": site_key, "v": visitor_id}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    value = base64_encode(payload)
    key, algorithm = _signing(tuple(signing_keys()), VISITOR_TOKEN_SALT)
    return (value + b"." + base64_encode(algorithm.get_signature(key, value))).decode()


@lru_cache(maxsize=16)
def _signing(keys: tuple[str, ...], salt: str) -> tuple[bytes, SigningAlgorithm]:
    """itsdangerous's signing key (derived from the newest secret) and algorithm, once."""
    signer = _serializer(keys, salt).make_signer()
    return signer.derive_key(), signer.algorithm


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


def issue_confirmation_token(site_key: str, subscription_id: int, nonce: str) -> str:
    """The link in a confirmation message: timed (the reader decides how old is too old) and
    bound to the subscription's nonce, which confirming consumes, so it works once."""
    return timed_serializer(SUBSCRIPTION_CONFIRM_SALT).dumps(
        {"s": site_key, "i": subscription_id, "n": nonce}
    )


def read_confirmation_token(token: str) -> tuple[str, int, str, datetime] | None:
    """(site key, subscription id, nonce, issued at) of a genuine token, or None.

    The age is not checked here: the caller compares `issued at` with its own clock, so that
    expiry can be tested without waiting.
    """
    try:
        payload, issued_at = timed_serializer(SUBSCRIPTION_CONFIRM_SALT).loads(
            token, return_timestamp=True
        )
    except BadData:
        return None
    if not isinstance(payload, dict):
        return None
    site_key, subscription_id, nonce = payload.get("s"), payload.get("i"), payload.get("n")
    if not (
        isinstance(site_key, str) and isinstance(subscription_id, int) and isinstance(nonce, str)
    ):
        return None
    return site_key, subscription_id, nonce, issued_at


def issue_unsubscribe_token(site_key: str, subscription_id: int, subject_id: str) -> str:
    """The List-Unsubscribe link: never expires (RFC 8058 links must keep working)."""
    return serializer(UNSUBSCRIBE_SALT).dumps(
        {"s": site_key, "i": subscription_id, "v": subject_id}
    )


def read_unsubscribe_token(token: str) -> tuple[str, int, str] | None:
    """(site key, subscription id, subject id) of a genuine token, or None."""
    try:
        payload: Any = serializer(UNSUBSCRIBE_SALT).loads(token)
    except BadData:
        return None
    if not isinstance(payload, dict):
        return None
    site_key, subscription_id, subject_id = payload.get("s"), payload.get("i"), payload.get("v")
    if not (
        isinstance(site_key, str)
        and isinstance(subscription_id, int)
        and isinstance(subject_id, str)
    ):
        return None
    return site_key, subscription_id, subject_id


def issue_request_reference(site_key: str, request_id: int) -> str:
    """The reference a requester keeps: it opens the request's status page, nothing more."""
    return serializer(REQUEST_REFERENCE_SALT).dumps({"s": site_key, "r": request_id})


def read_request_reference(reference: str) -> tuple[str, int] | None:
    """(site key, request id) of a genuine reference, or None."""
    try:
        payload: Any = serializer(REQUEST_REFERENCE_SALT).loads(reference)
    except BadData:
        return None
    if not isinstance(payload, dict):
        return None
    site_key, request_id = payload.get("s"), payload.get("r")
    if not (isinstance(site_key, str) and isinstance(request_id, int)):
        return None
    return site_key, request_id


def issue_request_confirmation(site_key: str, request_id: int, nonce: str) -> str:
    """The link that proves control of the address a request names; works once (the nonce)."""
    return timed_serializer(REQUEST_CONFIRM_SALT).dumps(
        {"s": site_key, "r": request_id, "n": nonce}
    )


def read_request_confirmation(token: str) -> tuple[str, int, str, datetime] | None:
    """(site key, request id, nonce, issued at) of a genuine token, or None; the caller
    checks the age with its own clock."""
    try:
        payload, issued_at = timed_serializer(REQUEST_CONFIRM_SALT).loads(
            token, return_timestamp=True
        )
    except BadData:
        return None
    if not isinstance(payload, dict):
        return None
    site_key, request_id, nonce = payload.get("s"), payload.get("r"), payload.get("n")
    if not (isinstance(site_key, str) and isinstance(request_id, int) and isinstance(nonce, str)):
        return None
    return site_key, request_id, nonce, issued_at
