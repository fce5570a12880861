"""Pure RFC 6962 proofs: inclusion and consistency proofs, built from leaf hashes or a subtree
hasher, and their verification (RFC 9162 section 2.1.3-2.1.4). No Flask, no database.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

from consent_service.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    NODE_PREFIX,
    ProofError,
    check_hashes,
    node_hash,
    root_hash,
    split_point,
)

SubtreeHasher = Callable[[int, int], bytes]


"""``get_subtree_hash(start, end)`` returning MTH(D[start:end]) of the log.

Proof builders only ask for nodes of the tree being proved: ``start`` is a
multiple of the largest power of two not above ``end - start``, and the range
is either a perfect subtree or ends at the tree size. A server can answer from
stored node hashes instead of loading every leaf.
"""


def _inclusion_nodes(index: int, tree_size: int) -> list[tuple[int, int]]:
    """Ranges whose hashes form PATH(index, D[0:tree_size]), bottom first."""
    if not 0 <= index < tree_size:
        raise ValueError(f"need 0 <= index < tree_size, got {index}, {tree_size}")
    nodes: list[tuple[int, int]] = []
    start, end = 0, tree_size
    while end - start > 1:
        mid = start + split_point(end - start)
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
        mid = start + split_point(end - start)
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
        check_hashes(leaf_hashes, "leaf hash")
        level = list(leaf_hashes)  # a private copy: later edits must not skew proofs
        levels = [level]
        sha, prefix = hashlib.sha256, NODE_PREFIX
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
        mid = start + split_point(n)
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
