"""The ledger's Ed25519 signing key: loading it, signing, and publishing public keys.

The key comes from `LEDGER_SIGNING_KEY` (base64 of the 32-byte seed, or a PEM private key);
the embedded default generates one in the instance folder (mode 0600). A public key is
published in `ledger_keys` when it is made (`ledger keygen` with a database at hand) or at the
first request of a process using it, and stays there, so checkpoints signed before a rotation
still verify.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from consent_service.canonical import canonical_json
from consent_service.extensions import db
from consent_service.ledger.trust import key_id_for, verify_signature
from consent_service.models import LedgerKey

log = logging.getLogger(__name__)

ALGORITHM = "Ed25519"


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private_key: Ed25519PrivateKey
    public_raw: bytes

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public_raw).decode()

    def sign(self, message: dict[str, Any]) -> str:
        """Base64 Ed25519 signature over the RFC 8785 canonical JSON of `message`."""
        return base64.b64encode(self.private_key.sign(canonical_json(message))).decode()


def parse_private_key(value: str) -> Ed25519PrivateKey:
    value = value.strip()
    if value.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(value.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("LEDGER_SIGNING_KEY must be an Ed25519 key")
        return key
    seed = base64.b64decode(value)
    if len(seed) != 32:
        raise ValueError("LEDGER_SIGNING_KEY must be 32 bytes, base64-encoded, or a PEM key")
    return Ed25519PrivateKey.from_private_bytes(seed)


def new_private_key_b64() -> str:
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode()


@lru_cache(maxsize=8)
def load_key(value: str) -> SigningKey:
    private_key = parse_private_key(value)
    public_raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return SigningKey(key_id_for(public_raw), private_key, public_raw)


def current_key() -> SigningKey:
    return load_key(current_app.config["LEDGER_SIGNING_KEY"])


def register_current_key() -> SigningKey:
    """Make sure the current public key is published (no commit: the caller's transaction)."""
    key = current_key()
    if db.session.get(LedgerKey, key.key_id) is None:
        db.session.add(LedgerKey(key_id=key.key_id, public_key=key.public_b64))
    return key


def publish_key(public_raw: bytes) -> str:
    """Publish a public key now (committed), so that it is listed before it signs anything."""
    key_id = key_id_for(public_raw)
    if db.session.get(LedgerKey, key_id) is None:
        db.session.add(LedgerKey(key_id=key_id, public_key=base64.b64encode(public_raw).decode()))
        try:
            db.session.commit()
        except IntegrityError:  # another process published it first
            db.session.rollback()
    return key_id


def publish_on_first_request(app: Flask) -> None:
    """At a process's first request, publish its signing key if it is not yet listed: a key is
    published when it starts being used, not when it first seals a checkpoint."""
    done = False

    def publish() -> None:
        nonlocal done
        if done:
            return
        done = True
        try:
            publish_key(current_key().public_raw)
        except Exception as exc:  # a database not yet migrated: sealing publishes it later
            db.session.rollback()
            log.warning("ledger signing key not published yet: %s", exc.__class__.__name__)

    app.before_request(publish)


def published_keys() -> Sequence[LedgerKey]:
    return db.session.scalars(select(LedgerKey).order_by(LedgerKey.created_at)).all()


def public_key_document(keys: Sequence[LedgerKey]) -> dict[str, Any]:
    return {
        "keys": [
            {
                "key_id": key.key_id,
                "algorithm": ALGORITHM,
                "public_key": key.public_key,
                "created_at": key.created_at.isoformat(),
            }
            for key in keys
        ]
    }


__all__ = ["SigningKey", "current_key", "key_id_for", "verify_signature"]
