"""Which public keys a verifier trusts, and from where: never from the bundle it checks.

A bundle's own `public_keys.json` is whatever its author put there, so a rewrite signed with any
key would carry that key. The verifier therefore takes its keys from the auditor: one key
(`--public-key`), a keys document kept from an earlier fetch (`--keys`), or the service's
`/.well-known/consent-ledger-keys` fetched over a channel the auditor trusts (`--service`).
Every key id is recomputed from its key, so a document cannot pair a real id with a foreign key.
No Flask and no database here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consent_service.canonical import canonical_json

KEYS_PATH = "/.well-known/consent-ledger-keys"
FETCH_TIMEOUT = 15.0


class TrustError(ValueError):
    """The keys given cannot be used: malformed, mismatched id, or the service unreachable."""


def key_id_for(public_raw: bytes) -> str:
    """The first 16 hex digits of SHA-256 of the raw public key: short, stable, checkable."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def decode_public_key(value: str) -> bytes:
    """Raw 32-byte Ed25519 key from standard base64 (RFC 4648 section 4, with padding)."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TrustError(f"not base64: {value[:60]!r}") from exc
    if len(raw) != 32:
        raise TrustError(f"an Ed25519 public key is 32 bytes, this one is {len(raw)}")
    return raw


@dataclass(frozen=True)
class TrustedKeys:
    """Key id -> base64 public key, and where the keys came from (said in the verdict)."""

    keys: dict[str, str]
    source: str
    notes: list[str] = field(default_factory=list)

    def get(self, key_id: object) -> str | None:
        return self.keys.get(str(key_id))


def from_public_key(value: str) -> TrustedKeys:
    raw = decode_public_key(value)
    return TrustedKeys({key_id_for(raw): base64.b64encode(raw).decode()}, "--public-key")


def from_document(document: Any, source: str) -> TrustedKeys:
    """Keys from a `consent-ledger-keys` document; a claimed id must be its key's id."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise TrustError(f'{source}: not a keys document ({{"keys": [...]}})')
    keys: dict[str, str] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("public_key"), str):
            raise TrustError(f"{source}: a key entry has no public_key")
        raw = decode_public_key(entry["public_key"])
        key_id = key_id_for(raw)
        claimed = entry.get("key_id")
        if claimed is not None and claimed != key_id:
            raise TrustError(
                f"{source}: key id {claimed} does not belong to its public key ({key_id})"
            )
        keys[key_id] = base64.b64encode(raw).decode()
    if not keys:
        raise TrustError(f"{source}: no keys")
    return TrustedKeys(keys, source)


def from_file(path: Path) -> TrustedKeys:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrustError(f"{path}: {exc}") from exc
    return from_document(document, f"--keys {path}")


def from_service(base_url: str, timeout: float = FETCH_TIMEOUT) -> TrustedKeys:
    """Fetch the service's published keys (the channel is what the auditor trusts)."""
    url = base_url.rstrip("/") + KEYS_PATH
    if not url.startswith(("https://", "http://")):
        raise TrustError(f"--service needs an http(s) URL, got {base_url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            document = json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError, urllib.error.URLError) as exc:
        raise TrustError(f"could not fetch {url}: {exc}") from exc
    trusted = from_document(document, f"--service {url}")
    note = f"keys fetched from {url}"
    if url.startswith("http://") and not url.startswith(("http://127.", "http://localhost")):
        note += " over plain HTTP: anyone on the path could have replaced them"
    return TrustedKeys(trusted.keys, trusted.source, [note])


def verify_signature(public_b64: str, message: dict[str, Any], signature_b64: str) -> bool:
    """Ed25519 over the RFC 8785 JSON of `message`; False for any malformed input."""
    try:
        public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))
        public_key.verify(base64.b64decode(signature_b64), canonical_json(message))
    except (InvalidSignature, ValueError):
        return False
    return True
