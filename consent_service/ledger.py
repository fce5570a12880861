"""Pure Merkle-ledger core: canonical event bytes, RFC 6962 hashing, proofs.

This module owns the maths of the consent ledger and nothing else: how an event
becomes bytes, how leaves and nodes are hashed (RFC 6962 / RFC 9162 section 2.1),
how the sealer keeps a running root without the whole tree (``CompactRange``),
how the server builds inclusion and consistency proofs, and how anyone verifies
them. It imports no Flask and no database code so the offline verifier can ship
it alone and the tests need no app.

Every hash here is SHA-256 and 32 bytes long; leaf hashes, not raw events, are
what the tree functions take.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import rfc8785

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MerkleTree",
    "ProofError",
    "SubtreeHasher",
    "canonical_event_bytes",
    "consistency_proof",
    "consistency_proof_from",
    "event_leaf_hash",
    "inclusion_proof",
    "inclusion_proof_from",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every leaf, node and root hash (SHA-256)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""Root of the empty tree, MTH({}) = SHA-256() (RFC 6962 section 2.1)."""

SubtreeHasher = Callable[[int, int], bytes]
"""``get_subtree_hash(start, end)`` returning MTH(D[start:end]) of the log.

Proof builders only ask for nodes of the tree being proved: ``start`` is a
multiple of the largest power of two not above ``end - start``, and the range
is either a perfect subtree or ends at the tree size. A server can answer from
stored node hashes instead of loading every leaf.
"""


class ProofError(ValueError):
    """A proof, size or root did not check out; the claim must not be trusted."""


# --------------------------------------------------------------------------- hashing


def leaf_hash(data: bytes) -> bytes:
    """Hash a leaf with the 0x00 prefix so it can never pass for an inner node."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two children with the 0x01 prefix (RFC 6962 second-preimage guard)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


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
    return rfc8785.dumps(dict(event))


def event_leaf_hash(event: Mapping[str, Any]) -> bytes:
    """Leaf hash of an event: the value a sealer appends to the tree."""
    return leaf_hash(canonical_event_bytes(event))


def _check_hashes(hashes: Iterable[bytes], what: str) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ValueError(f"every {what} must be {HASH_SIZE} bytes")


def _fold_level(level: Sequence[bytes]) -> list[bytes]:
    """Hash adjacent pairs once; an odd last node is carried up unchanged.

    Carrying the odd node up level by level yields exactly RFC 6962's MTH,
    which splits at the largest power of two below n, without recursion.
    """
    it = iter(level)
    sha, prefix = _sha256, _NODE_PREFIX
    parents = [sha(prefix + left + right).digest() for left, right in zip(it, it, strict=False)]
    if len(level) & 1:
        parents.append(level[-1])
    return parents


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (RFC 6962 section 2.1), bottom-up in O(n).

    The offline verifier recomputes the whole tree with this, so it hashes
    each node exactly once and keeps at most one level in memory.
    """
    _check_hashes(leaf_hashes, "leaf hash")
    if not leaf_hashes:
        return EMPTY_ROOT
    level = leaf_hashes
    while len(level) > 1:
        level = _fold_level(level)
    return level[0]


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2): RFC 6962's k."""
    return 1 << ((n - 1).bit_length() - 1)


# ----------------------------------------------------------------------- compact range


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
        _check_hashes(hashes, "subtree hash")
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


# ------------------------------------------------------------------ proof generation


def _inclusion_nodes(index: int, tree_size: int) -> list[tuple[int, int]]:
    """Ranges whose hashes form PATH(index, D[0:tree_size]), bottom first."""
    if not 0 <= index < tree_size:
        raise ValueError(f"need 0 <= index < tree_size, got {index}, {tree_size}")
    nodes: list[tuple[int, int]] = []
    start, end = 0, tree_size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            nodes.append((mid, end))
            end = mid
        else:
            nodes.append((start, mid))
            start = mid
    nodes.reverse()
    return nodes


def _consistency_nodes(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Ranges whose hashes form PROOF(old_size, D[0:new_size]), bottom first."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"need 0 < old_size <= new_size, got {old_size}, {new_size}")
    nodes: list[tuple[int, int]] = []
    if old_size == new_size:
        return nodes
    start, end = 0, new_size
    whole = True  # SUBPROOF's b: is the old tree still the whole of [start, end)?
    while old_size != end:
        mid = start + _split(end - start)
        if old_size <= mid:
            nodes.append((mid, end))
            end = mid
        else:
            nodes.append((start, mid))
            start = mid
            whole = False
    if not whole:
        nodes.append((start, end))
    nodes.reverse()
    return nodes


def inclusion_proof_from(
    get_subtree_hash: SubtreeHasher, index: int, tree_size: int
) -> list[bytes]:
    """Audit path for leaf ``index`` in the first ``tree_size`` leaves.

    Asks ``get_subtree_hash`` for O(log n) nodes, so the cost is whatever
    those lookups cost. Raises ValueError unless 0 <= index < tree_size.
    """
    return [get_subtree_hash(s, e) for s, e in _inclusion_nodes(index, tree_size)]


def consistency_proof_from(
    get_subtree_hash: SubtreeHasher, old_size: int, new_size: int
) -> list[bytes]:
    """Consistency proof between tree sizes (RFC 6962 PROOF), via node lookups.

    Empty when the sizes are equal. Raises ValueError unless
    0 < old_size <= new_size: RFC 9162 defines no proof from the empty tree and
    ``verify_consistency`` rejects one.
    """
    nodes = _consistency_nodes(old_size, new_size)
    return [get_subtree_hash(s, e) for s, e in nodes]


def _slice_hasher(leaf_hashes: Sequence[bytes], tree_size: int) -> SubtreeHasher:
    if tree_size > len(leaf_hashes):
        raise ValueError(f"tree_size {tree_size} exceeds {len(leaf_hashes)} leaves")

    def get_subtree_hash(start: int, end: int) -> bytes:
        return root_hash(leaf_hashes[start:end])

    return get_subtree_hash


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """Audit path from a plain list of leaf hashes, in O(tree_size) hashes.

    The sibling subtrees are disjoint, so each leaf is hashed into at most one
    of them: one proof costs about as much as one root. For many proofs over
    the same leaves build a ``MerkleTree`` once instead.
    """
    return inclusion_proof_from(_slice_hasher(leaf_hashes, tree_size), index, tree_size)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """Consistency proof from a plain list of leaf hashes, O(new_size) hashes."""
    return consistency_proof_from(_slice_hasher(leaf_hashes, new_size), old_size, new_size)


class MerkleTree:
    """Every level of a tree built once, so each later proof is O(log n).

    Meant for a server or verifier answering many proofs over one snapshot of
    leaves. Memory is about twice that of the leaf list. Proofs and roots for
    any earlier size are available too, since perfect subtrees never change.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        """Hash every complete pair on every level; odd tails wait for a partner."""
        _check_hashes(leaf_hashes, "leaf hash")
        level = list(leaf_hashes)  # a private copy: later edits must not skew proofs
        levels = [level]
        sha, prefix = _sha256, _NODE_PREFIX
        while len(level) > 1:
            it = iter(level)
            level = [sha(prefix + a + b).digest() for a, b in zip(it, it, strict=False)]
            levels.append(level)
        self._levels = levels

    @property
    def size(self) -> int:
        """Number of leaves in the snapshot."""
        return len(self._levels[0])

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]); O(log n) for tree nodes, as proofs need.

        Aligned perfect subtrees are read from the stored levels; any other
        range is split the RFC 6962 way, so arbitrary ranges stay correct.
        """
        if not 0 <= start <= end <= self.size:
            raise ValueError(f"bad range [{start}, {end}) for size {self.size}")
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            level = n.bit_length() - 1
            return self._levels[level][start >> level]
        mid = start + _split(n)
        return node_hash(self.subtree_hash(start, mid), self.subtree_hash(mid, end))

    def root(self, tree_size: int | None = None) -> bytes:
        """Root of the first ``tree_size`` leaves (all of them by default)."""
        return self.subtree_hash(0, self.size if tree_size is None else tree_size)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """Audit path for ``index`` in the first ``tree_size`` leaves."""
        size = self.size if tree_size is None else tree_size
        if size > self.size:
            raise ValueError(f"tree_size {size} exceeds {self.size} leaves")
        return inclusion_proof_from(self.subtree_hash, index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Consistency proof from ``old_size`` to ``new_size`` (default: all)."""
        size = self.size if new_size is None else new_size
        if size > self.size:
            raise ValueError(f"new_size {size} exceeds {self.size} leaves")
        return consistency_proof_from(self.subtree_hash, old_size, size)


# ---------------------------------------------------------------------- verification


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    if any(len(h) != HASH_SIZE for h in proof):
        raise ProofError(f"every proof hash must be {HASH_SIZE} bytes")


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` is at ``index`` of the tree with ``root`` and size.

    RFC 9162 section 2.1.3.2, step for step. Returns None on success and raises
    ProofError on any failure, including index >= tree_size (so always for an
    empty tree), a proof of the wrong length, or hashes of the wrong size.
    """
    if index < 0 or tree_size < 0:
        raise ProofError("index and tree_size must be non-negative")
    if index >= tree_size:
        raise ProofError(f"index {index} is not below tree_size {tree_size}")
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash must be {HASH_SIZE} bytes")
    _check_proof_hashes(proof)
    fn, sn = index, tree_size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:  # skip levels where we have no sibling
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if not _same(r, root):
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree with ``new_root`` extends the one with ``old_root``.

    RFC 9162 section 2.1.4.2 for 0 < old_size < new_size. Equal sizes need an
    empty proof and equal roots. ``old_size == 0`` is rejected, as in the
    reference vectors: every tree extends the empty one, so such a "proof"
    shows nothing, and a caller starting from nothing must trust ``new_root``
    on other grounds. Raises ProofError on any failure.
    """
    if old_size < 0 or new_size < 0:
        raise ProofError("tree sizes must be non-negative")
    if old_size > new_size:
        raise ProofError(f"old_size {old_size} is larger than new_size {new_size}")
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if old_size == new_size:
        if proof:
            raise ProofError("equal sizes need an empty consistency proof")
        if not _same(old_root, new_root):
            raise ProofError("equal sizes but different roots")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    _check_proof_hashes(proof)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:  # skip levels where we have no sibling
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if not _same(fr, old_root):
        raise ProofError("consistency proof does not lead to the old root")
    if not _same(sr, new_root):
        raise ProofError("consistency proof does not lead to the new root")
