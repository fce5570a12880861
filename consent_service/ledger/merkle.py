"""Pure Merkle-ledger core: canonical event bytes, RFC 6962 hashing, roots and compact ranges.

This module owns the maths of the consent ledger and nothing else: how an event becomes a leaf,
how leaves become a root (RFC 6962 section 2.1), and how a growing log keeps its right edge.
It imports no Flask and no database code, so an auditor can read and reuse it on its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from consent_service.canonical import canonical_json

HASH_SIZE = 32
"""Length in bytes of every leaf, node and root hash (SHA-256)."""


LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""Root of the empty tree, MTH({}) = SHA-256() (RFC 6962 section 2.1)."""


class ProofError(ValueError):
    """A proof, size or root did not check out; the claim must not be trusted."""


def leaf_hash(data: bytes) -> bytes:
    """Hash a leaf with the 0x00 prefix so it can never pass for an inner node."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two children with the 0x01 prefix (RFC 6962 second-preimage guard)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def canonical_event_bytes(event: Mapping[str, Any]) -> bytes:
    """Serialise an event to RFC 8785 (JCS) bytes, the only form that is hashed.

    Canonical JSON makes the hash independent of key order, whitespace and
    number spelling, so an exported event can be re-hashed by any JCS
    implementation. The caller builds the dict: values must already be plain
    JSON types (str, int, float, bool, None, list, dict with str keys), with
    datetimes rendered as ISO 8601 UTC strings with microseconds, e.g.
    ``2024-05-01T12:00:00.000000Z``. Anything else raises
    ``rfc8785.CanonicalizationError`` (a ``ValueError``), as do integers
    outside the IEEE 754 safe range.
    """
    return canonical_json(dict(event))


def event_leaf_hash(event: Mapping[str, Any]) -> bytes:
    """Leaf hash of an event: the value a sealer appends to the tree."""
    return leaf_hash(canonical_event_bytes(event))


def check_hashes(hashes: Iterable[bytes], what: str) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ValueError(f"every {what} must be {HASH_SIZE} bytes")


def _fold_level(level: Sequence[bytes]) -> list[bytes]:
    """Hash adjacent pairs once; an odd last node is carried up unchanged.

    Carrying the odd node up level by level yields exactly RFC 6962's MTH,
    which splits at the largest power of two below n, without recursion.
    """
    it = iter(level)
    sha, prefix = _sha256, NODE_PREFIX
    parents = [sha(prefix + left + right).digest() for left, right in zip(it, it, strict=False)]
    if len(level) & 1:
        parents.append(level[-1])
    return parents


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (RFC 6962 section 2.1), bottom-up in O(n).

    The offline verifier recomputes the whole tree with this, so it hashes
    each node exactly once and keeps at most one level in memory.
    """
    check_hashes(leaf_hashes, "leaf hash")
    if not leaf_hashes:
        return EMPTY_ROOT
    level = leaf_hashes
    while len(level) > 1:
        level = _fold_level(level)
    return level[0]


def split_point(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2): RFC 6962's k."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The right border of a tree of ``size`` leaves: enough to append and get roots.

    A tree of n leaves is a run of perfect subtrees, one per set bit of n,
    largest first. Keeping only their hashes (at most 64) lets a sealer append
    leaf after leaf and produce every new root without reading old leaves,
    and ``to_dict``/``from_dict`` let it persist that state in a database row
    and resume after a restart.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Start empty, or resume from a known border (validated, never trusted)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError("size must be a non-negative integer")
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"a range of size {size} needs {size.bit_count()} hashes, got {len(hashes)}"
            )
        check_hashes(hashes, "subtree hash")
        self._size = size
        self._hashes = [bytes(h) for h in hashes]

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Perfect-subtree hashes from the left (largest) to the right (smallest)."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash; merges equal-sized subtrees, O(1) amortised hashes."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes")
        node = bytes(leaf)
        carry = self._size
        hashes = self._hashes
        while carry & 1:
            node = node_hash(hashes.pop(), node)
            carry >>= 1
        hashes.append(node)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaf hashes in order."""
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """Root of the tree so far: fold the border right to left, O(log n)."""
        if not self._hashes:
            return EMPTY_ROOT
        it = reversed(self._hashes)
        node = next(it)
        for left in it:
            node = node_hash(left, node)
        return node

    def copy(self) -> CompactRange:
        """An independent copy, e.g. to try appends before committing them."""
        return CompactRange(self._size, self._hashes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state: ``{"size": n, "hashes": [lowercase hex, ...]}``."""
        return {"size": self._size, "hashes": [h.hex() for h in self._hashes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompactRange:
        """Rebuild from ``to_dict`` output; raises ValueError if it is malformed."""
        try:
            size = data["size"]
            raw = data["hashes"]
        except (KeyError, TypeError) as exc:
            raise ValueError("compact range needs 'size' and 'hashes'") from exc
        if not isinstance(raw, list) or not all(isinstance(h, str) for h in raw):
            raise ValueError("'hashes' must be a list of hex strings")
        try:
            hashes = [bytes.fromhex(h) for h in raw]
        except ValueError as exc:
            raise ValueError("'hashes' must be a list of hex strings") from exc
        return cls(size, hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"
