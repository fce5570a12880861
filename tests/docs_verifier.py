"""A bundle verifier written from docs/ledger.md alone (no consent_service import): hashlib,
an RFC 8785 library and Ed25519. It shows the docs are enough to check erased events."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

NOT_HASHED = ("seq", "leaf_hash", "proof", "erased")


def _root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1: MTH of the leaves, the split at the largest power of two < n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return hashlib.sha256(b"\x01" + _root(leaves[:split]) + _root(leaves[split:])).digest()


def verify(bundle: Path, public_key_b64: str) -> list[str]:
    """The failures (empty: verified) of a full bundle against one trusted public key."""
    failures = []
    checkpoint = json.loads((bundle / "checkpoint.json").read_text())
    message = {k: checkpoint[k] for k in ("site", "tree_size", "root_hash", "timestamp", "key_id")}
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
    try:
        key.verify(base64.b64decode(checkpoint["signature"]), rfc8785.dumps(message))
    except Exception:
        failures.append("checkpoint signature")
    tombstones = {
        json.loads(line)["id"] for line in (bundle / "erasures.jsonl").read_text().splitlines()
    }
    leaves = []
    for line in (bundle / "events.jsonl").read_text().splitlines():
        row = json.loads(line)
        fields = {name: value for name, value in row.items() if name not in NOT_HASHED}
        leaf = hashlib.sha256(b"\x00" + rfc8785.dumps(fields)).digest()
        if leaf.hex() != row["leaf_hash"]:
            failures.append(f"leaf of seq {row['seq']}")
        if "erased" in row and row["erased"].get("tombstone") not in tombstones:
            failures.append(f"tombstone of seq {row['seq']}")
        leaves.append(leaf)
    if len(leaves) != checkpoint["tree_size"] or _root(leaves).hex() != checkpoint["root_hash"]:
        failures.append("root")
    return failures
