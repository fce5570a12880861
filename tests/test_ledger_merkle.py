"""Tests for the pure Merkle ledger core against RFC vectors and a naive model.

The reference vectors (transparency-dev/merkle, the data CT logs are checked
against) prove the verifiers agree with the rest of the world; the hypothesis
properties prove the fast tree code agrees with a literal transcription of the
RFC 6962 recursions written below.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_service.ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    canonical_event_bytes,
    event_leaf_hash,
    leaf_hash,
    node_hash,
    root_hash,
)
from consent_service.ledger.merkle_proofs import (
    MerkleTree,
    consistency_proof,
    consistency_proof_from,
    inclusion_proof,
    inclusion_proof_from,
    verify_consistency,
    verify_inclusion,
)

# ----------------------------------------------------------------- naive RFC 6962 model


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """Largest power of two strictly below n, found the slow obvious way."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962 section 2.1 over leaf hashes, recursion as written."""
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return _h(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:]))


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 section 2.1.1."""
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 6962 section 2.1.2."""
    n = len(leaves)
    if m == n:
        return [] if b else [naive_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], b), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


def naive_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m < n."""
    return naive_subproof(m, leaves, True)


def distinct_leaves(n: int, salt: int = 0) -> list[bytes]:
    """Distinct leaf hashes, so no proof can verify by a coincidence of equal leaves."""
    return [_h(b"\x00" + b"leaf %d %d" % (salt, i)) for i in range(n)]


def flip(data: bytes, bit: int) -> bytes:
    bit %= len(data) * 8
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# ------------------------------------------------------------------- reference vectors

VECTORS_README = "testdata/rfc6962-vectors"
KINDS = ("inclusion", "consistency")


def _locate_vectors() -> tuple[Path | None, str]:
    """The vector folder: $CONSENT_SHARED_DIR, else <repo>/../shared, else the copy in
    tests/data (the same files, vendored so that a lone clone tests the same)."""
    env = os.environ.get("CONSENT_SHARED_DIR")
    candidates = [Path(env) / VECTORS_README] if env else []
    candidates += [
        Path(__file__).resolve().parents[1].parent / "shared" / VECTORS_README,
        Path(__file__).resolve().parent / "data" / "rfc6962-vectors",
    ]
    for folder in candidates:
        root = folder / "testdata"
        if all((root / kind).is_dir() for kind in KINDS):
            return root, ""
    return None, f"RFC 6962 test vectors not found in any of {candidates}."


VECTORS_ROOT, VECTORS_PROBLEM = _locate_vectors()


def _vector_params(kind: str) -> list[Any]:
    if VECTORS_ROOT is None:
        return [pytest.param(None, id=f"{kind}-vectors-missing")]
    files = sorted((VECTORS_ROOT / kind).rglob("*.json"))
    if not files:
        return [pytest.param(None, id=f"{kind}-vectors-empty")]
    return [pytest.param(f, id=f.relative_to(VECTORS_ROOT).as_posix()) for f in files]


def _load(path: Path | None) -> dict[str, Any]:
    if path is None:
        pytest.fail(VECTORS_PROBLEM or "no vector files found")
    case: dict[str, Any] = json.loads(path.read_text())
    return case


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _b64_list(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


@pytest.mark.parametrize("path", _vector_params("inclusion"))
def test_inclusion_vector(path: Path | None) -> None:
    case = _load(path)
    args = (
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        _b64_list(case["proof"]),
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _vector_params("consistency"))
def test_consistency_vector(path: Path | None) -> None:
    case = _load(path)
    args = (
        case["size1"],
        case["size2"],
        _b64(case["root1"]),
        _b64(case["root2"]),
        _b64_list(case["proof"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_vectors_cover_both_outcomes() -> None:
    """Guard against a truncated copy that would make the vector tests vacuous."""
    if VECTORS_ROOT is None:
        pytest.fail(VECTORS_PROBLEM)
    for kind in KINDS:
        cases = [json.loads(p.read_text()) for p in (VECTORS_ROOT / kind).rglob("*.json")]
        accepted = sum(not c["wantErr"] for c in cases)
        assert accepted >= 5, kind
        assert len(cases) - accepted >= 50, kind


# The leaves behind the vectors' happy paths (the RFC 6962 test tree of
# transparency-dev/merkle and Certificate Transparency).
REFERENCE_INPUTS = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
REFERENCE_LEAVES = [leaf_hash(d) for d in REFERENCE_INPUTS]


def test_reference_tree_root() -> None:
    assert root_hash(REFERENCE_LEAVES).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


@pytest.mark.parametrize("folder", ["0", "1", "2", "3", "4"])
def test_generated_proofs_match_vector_happy_paths(folder: str) -> None:
    """Our proof *generation* must emit byte-for-byte the reference proofs."""
    if VECTORS_ROOT is None:
        pytest.fail(VECTORS_PROBLEM)
    inc = json.loads((VECTORS_ROOT / "inclusion" / folder / "happy-path.json").read_text())
    size, index = inc["treeSize"], inc["leafIdx"]
    assert root_hash(REFERENCE_LEAVES[:size]) == _b64(inc["root"])
    assert REFERENCE_LEAVES[index] == _b64(inc["leafHash"])
    assert inclusion_proof(REFERENCE_LEAVES, index, size) == _b64_list(inc["proof"])

    con = json.loads((VECTORS_ROOT / "consistency" / folder / "happy-path.json").read_text())
    old, new = con["size1"], con["size2"]
    assert root_hash(REFERENCE_LEAVES[:old]) == _b64(con["root1"])
    assert root_hash(REFERENCE_LEAVES[:new]) == _b64(con["root2"])
    assert consistency_proof(REFERENCE_LEAVES, old, new) == _b64_list(con["proof"])


# ------------------------------------------------------------------- hashing basics


def test_known_hashes() -> None:
    assert EMPTY_ROOT.hex() == ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert root_hash([]) == EMPTY_ROOT
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == _h(b"\x01" + a + b)
    assert node_hash(a, b) != node_hash(b, a)


def test_root_hash_rejects_raw_data() -> None:
    with pytest.raises(ValueError):
        root_hash([b"not a hash"])


def test_canonical_event_bytes() -> None:
    event = {"when": "2024-05-01T12:00:00.000000Z", "b": [1.0, None], "a": "é"}
    expected = '{"a":"é","b":[1,null],"when":"2024-05-01T12:00:00.000000Z"}'
    assert canonical_event_bytes(event) == expected.encode()
    assert canonical_event_bytes(MappingProxyType(event)) == expected.encode()
    assert event_leaf_hash(event) == _h(b"\x00" + expected.encode())


def test_canonical_event_bytes_rejects_unrendered_datetime() -> None:
    from datetime import UTC, datetime

    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_event_bytes({"when": datetime.now(UTC)})


# --------------------------------------------------------------------- property tests

leaf_lists = st.lists(st.binary(max_size=8), max_size=70).map(
    lambda items: [leaf_hash(d) for d in items]
)


@given(leaf_lists)
def test_root_hash_matches_naive(leaves: list[bytes]) -> None:
    assert root_hash(leaves) == naive_mth(leaves)
    assert MerkleTree(leaves).root() == naive_mth(leaves)


@pytest.mark.parametrize("n", [4095, 4096, 4097, 5000])
def test_root_algorithms_agree_on_larger_trees(n: int) -> None:
    leaves = distinct_leaves(n)
    cr = CompactRange()
    cr.extend(leaves)
    assert root_hash(leaves) == naive_mth(leaves) == cr.root() == MerkleTree(leaves).root()


@given(leaf_lists)
def test_compact_range_root_at_every_size(leaves: list[bytes]) -> None:
    cr = CompactRange()
    assert cr.root() == EMPTY_ROOT
    for i, leaf in enumerate(leaves, start=1):
        cr.append(leaf)
        assert cr.size == i
        assert len(cr.hashes) == i.bit_count()
        assert cr.root() == naive_mth(leaves[:i])


@given(leaf_lists, st.integers(0, 70), st.integers(0, 70))
def test_compact_range_survives_persistence(leaves: list[bytes], cut: int, extra: int) -> None:
    """A sealer that saves, restarts and resumes must reach the same roots."""
    cut = min(cut, len(leaves))
    cr = CompactRange()
    cr.extend(leaves[:cut])
    stored = json.loads(json.dumps(cr.to_dict()))
    resumed = CompactRange.from_dict(stored)
    assert resumed == cr
    resumed.extend(leaves[cut:])
    assert resumed.root() == naive_mth(leaves)
    assert resumed.size == len(leaves)


@pytest.mark.parametrize(
    "data",
    [
        {"size": 3, "hashes": ["00" * 32]},  # one hash short for size 3
        {"size": 1, "hashes": ["00" * 32, "11" * 32]},
        {"size": 1, "hashes": ["00" * 31]},
        {"size": 1, "hashes": ["zz" * 32]},
        {"size": 1, "hashes": [None]},
        {"size": -1, "hashes": []},
        {"size": True, "hashes": ["00" * 32]},
        {"size": "1", "hashes": ["00" * 32]},
        {"hashes": []},
        {"size": 0},
        {"size": 0, "hashes": "00"},
    ],
)
def test_compact_range_rejects_bad_state(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CompactRange.from_dict(data)


def test_compact_range_rejects_bad_leaf_and_copy_is_independent() -> None:
    cr = CompactRange()
    with pytest.raises(ValueError):
        cr.append(b"short")
    cr.append(leaf_hash(b"x"))
    twin = cr.copy()
    twin.append(leaf_hash(b"y"))
    assert cr.size == 1 and twin.size == 2 and cr != twin


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    n = draw(st.integers(1, 70))
    size = draw(st.integers(1, n))
    index = draw(st.integers(0, size - 1))
    return distinct_leaves(n, draw(st.integers(0, 3))), index, size


@st.composite
def tree_and_sizes(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    n = draw(st.integers(1, 70))
    new = draw(st.integers(1, n))
    old = draw(st.integers(1, new))
    return distinct_leaves(n, draw(st.integers(0, 3))), old, new


@given(tree_and_index())
def test_inclusion_proofs_match_naive_and_verify(
    case: tuple[list[bytes], int, int],
) -> None:
    leaves, index, size = case
    expected = naive_path(index, leaves[:size])
    assert inclusion_proof(leaves, index, size) == expected
    tree = MerkleTree(leaves)
    assert tree.inclusion_proof(index, size) == expected
    assert inclusion_proof_from(tree.subtree_hash, index, size) == expected
    verify_inclusion(leaves[index], index, size, expected, naive_mth(leaves[:size]))


@given(tree_and_index(), st.data())
def test_inclusion_tampering_is_rejected(
    case: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    leaves, index, size = case
    proof = inclusion_proof(leaves, index, size)
    root = root_hash(leaves[:size])
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        verify_inclusion(leaves[index], index, size, proof, flip(root, bit))
    with pytest.raises(ProofError):
        verify_inclusion(flip(leaves[index], bit), index, size, proof, root)
    if proof:
        pos = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:pos], flip(proof[pos], bit), *proof[pos + 1 :]]
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], index, size, bad, root)
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], index, size, proof[:-1], root)
    with pytest.raises(ProofError):
        verify_inclusion(leaves[index], index, size, [*proof, root], root)
    other = data.draw(st.integers(0, size))
    if other != index:
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], other, size, proof, root)


@given(tree_and_sizes())
def test_consistency_proofs_match_naive_and_verify(
    case: tuple[list[bytes], int, int],
) -> None:
    leaves, old, new = case
    expected = naive_proof(old, leaves[:new]) if old < new else []
    assert consistency_proof(leaves, old, new) == expected
    tree = MerkleTree(leaves)
    assert tree.consistency_proof(old, new) == expected
    assert consistency_proof_from(tree.subtree_hash, old, new) == expected
    old_root, new_root = naive_mth(leaves[:old]), naive_mth(leaves[:new])
    assert tree.root(old) == old_root
    verify_consistency(old, new, old_root, new_root, expected)


@given(tree_and_sizes(), st.data())
def test_consistency_tampering_is_rejected(
    case: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    leaves, old, new = case
    proof = consistency_proof(leaves, old, new)
    old_root, new_root = root_hash(leaves[:old]), root_hash(leaves[:new])
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        verify_consistency(old, new, flip(old_root, bit), new_root, proof)
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, flip(new_root, bit), proof)
    if proof:
        pos = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:pos], flip(proof[pos], bit), *proof[pos + 1 :]]
        with pytest.raises(ProofError):
            verify_consistency(old, new, old_root, new_root, bad)
        with pytest.raises(ProofError):
            verify_consistency(old, new, old_root, new_root, proof[:-1])
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, new_root, [*proof, new_root])
    if old < new:
        with pytest.raises(ProofError):
            verify_consistency(new, old, new_root, old_root, proof)
        # A proof is tied to its sizes: the previous root cannot pass as a later one.
        with pytest.raises(ProofError):
            verify_consistency(old, new, root_hash(leaves[: old - 1]), new_root, proof)


# ------------------------------------------------------------------------ edge cases


def test_generation_rejects_impossible_requests() -> None:
    leaves = distinct_leaves(4)
    for index, size in [(4, 4), (0, 0), (-1, 4), (0, 5)]:
        with pytest.raises(ValueError):
            inclusion_proof(leaves, index, size)
    for old, new in [(0, 4), (3, 2), (1, 5)]:
        with pytest.raises(ValueError):
            consistency_proof(leaves, old, new)
    tree = MerkleTree(leaves)
    with pytest.raises(ValueError):
        tree.inclusion_proof(0, 5)
    with pytest.raises(ValueError):
        tree.consistency_proof(1, 5)


def test_verification_edge_cases() -> None:
    leaves = distinct_leaves(5)
    root = root_hash(leaves)
    with pytest.raises(ProofError):
        verify_inclusion(leaves[0], 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError):
        verify_inclusion(leaves[0], -1, 5, [], root)
    verify_inclusion(leaves[0], 0, 1, [], leaves[0])
    with pytest.raises(ProofError):  # empty tree: nothing to prove from
        verify_consistency(0, 5, EMPTY_ROOT, root, [])
    verify_consistency(5, 5, root, root, [])
    with pytest.raises(ProofError):
        verify_consistency(5, 5, root, root, [root])
    with pytest.raises(ProofError):
        verify_consistency(-1, 5, root, root, [])


def test_tree_keeps_its_own_copy_of_the_leaves() -> None:
    leaves = distinct_leaves(6)
    tree = MerkleTree(leaves)
    before = tree.root()
    leaves[0] = leaves[1]
    assert tree.root() == before == naive_mth(distinct_leaves(6))


@settings(max_examples=50)
@given(st.integers(0, 40), st.integers(0, 40))
def test_subtree_hash_of_any_range(a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    leaves = distinct_leaves(40)
    assert MerkleTree(leaves).subtree_hash(start, end) == naive_mth(leaves[start:end])
