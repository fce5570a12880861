"""Checkpoints as C2SP signed notes (`tlog-checkpoint` over `signed-note`), so that standard
transparency-log tools and witnesses can check them. Pure: no Flask, no database.

A checkpoint note is three lines, the origin, the tree size in decimal and the root hash in
standard base64, then a blank line and one signature line
`— <key name> <base64(key hash (4 bytes) || Ed25519 signature)>`. The key name is the origin;
the key hash is the first four bytes of SHA-256(name || 0x0A || 0x01 || public key), as in
golang.org/x/mod/sumdb/note. The signature is over the note text, its final newline included.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = b"\x01"
SIGNATURE_PREFIX = "— "


class NoteError(ValueError):
    """A note that is malformed or whose signature does not check out."""


def origin_for(host: str, site_key: str) -> str:
    """One log per site: `<host>/consent-ledger/<site key>` (no scheme, no spaces, no '+')."""
    origin = f"{host}/consent-ledger/{site_key}"
    if not origin or any(char.isspace() or char == "+" for char in origin):
        raise ValueError(f"not a valid note origin: {origin!r}")
    return origin


def key_hash(name: str, public_raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ALG_ED25519 + public_raw).digest()[:4]


def verifier_key(name: str, public_raw: bytes) -> str:
    """The `name+hash+key` string note verifiers take (Go: note.NewVerifier)."""
    encoded = base64.b64encode(ALG_ED25519 + public_raw).decode()
    return f"{name}+{key_hash(name, public_raw).hex()}+{encoded}"


def checkpoint_text(origin: str, tree_size: int, root_hex: str) -> str:
    root = base64.b64encode(bytes.fromhex(root_hex)).decode()
    return f"{origin}\n{tree_size}\n{root}\n"


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey, public_raw: bytes) -> str:
    if not text.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    signature = private_key.sign(text.encode())
    encoded = base64.b64encode(key_hash(name, public_raw) + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


@dataclass(frozen=True)
class NoteCheckpoint:
    origin: str
    tree_size: int
    root_hex: str


def open_checkpoint_note(note: str, name: str, public_raw: bytes) -> NoteCheckpoint:
    """Check a checkpoint note's signature by (name, key) and parse its body."""
    text, separator, signatures = note.rpartition("\n\n")
    if not separator:
        raise NoteError("no signature block")
    text += "\n"
    wanted = key_hash(name, public_raw)
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("malformed signature line")
        signer, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise NoteError("signature is not base64") from exc
        if signer != name or raw[:4] != wanted:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public_raw).verify(raw[4:], text.encode())
        except InvalidSignature as exc:
            raise NoteError("signature does not verify") from exc
        lines = text.split("\n")
        try:
            return NoteCheckpoint(lines[0], int(lines[1]), base64.b64decode(lines[2]).hex())
        except (IndexError, ValueError) as exc:
            raise NoteError("not a checkpoint body") from exc
    raise NoteError(f"no signature by {name}")
