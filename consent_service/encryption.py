"""Encryption of personal data at rest (lead fields, CRM credentials).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, keyed from configuration:
`DATA_ENCRYPTION_KEY` (a Fernet key, `consent-service crm keygen` prints one) with
`DATA_ENCRYPTION_KEY_FALLBACKS` for rotation, or, when unset, keys derived with HKDF from
`SECRET_KEY` and its fallbacks, so a deployment needs no extra secret and rotating the secret
keeps old rows readable. The first key encrypts, every key decrypts.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

HKDF_INFO = b"consent-service data at rest v1"


class DecryptionFailed(RuntimeError):
    """A stored value cannot be read with any configured key (wrong key or altered row)."""


def derive_key(secret: str) -> bytes:
    """A Fernet key from a service secret (HKDF-SHA256, fixed info, no salt: deterministic)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


def configured_keys(config: Any) -> tuple[bytes, ...]:
    """Encrypting key first, then the keys still accepted for reading."""
    explicit = config.get("DATA_ENCRYPTION_KEY")
    if explicit:
        return tuple(
            key.encode() for key in [explicit, *config.get("DATA_ENCRYPTION_KEY_FALLBACKS", [])]
        )
    secrets = [config["SECRET_KEY"], *reversed(config.get("SECRET_KEY_FALLBACKS", []))]
    return tuple(derive_key(secret) for secret in secrets)


@lru_cache(maxsize=8)
def _cipher(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def cipher() -> MultiFernet:
    return _cipher(configured_keys(current_app.config))


def new_key() -> str:
    return Fernet.generate_key().decode()


def encrypt_text(value: str) -> str:
    return cipher().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_text(token: str) -> str:
    try:
        return cipher().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise DecryptionFailed("no configured key opens this value") from exc


def encrypt_json(value: Any) -> str:
    return encrypt_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def decrypt_json(token: str) -> Any:
    return json.loads(decrypt_text(token))
