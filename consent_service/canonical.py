"""Canonical JSON (RFC 8785) and content hashes: one definition for banners, requests and ledger."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

SAFE_INTEGER = 2**53 - 1
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes: the same document always hashes the same, whoever serialised it.

    Every consent is hashed and signed twice (its receipt, then its seal), and the pure-Python
    `rfc8785` costs more than the write's commit. For what ledger records and most documents
    hold (objects with ASCII keys, strings, safe integers, booleans, null, lists) RFC 8785 is
    exactly what the C JSON encoder writes with sorted keys, no spaces and no ASCII escaping:
    the same escapes, and ASCII keys sort alike by code point and by UTF-16 unit. Anything else
    (floats, other keys, other types) goes to `rfc8785`; tests compare the two on generated
    values.
    """
    if _plain(value):
        try:
            return _ENCODER.encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 raises its own error for it
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -SAFE_INTEGER <= value <= SAFE_INTEGER
    if kind is dict:
        return all(
            type(key) is str and key.isascii() and _plain(item) for key, item in value.items()
        )
    if kind is list:
        return all(_plain(item) for item in value)
    return False


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()
