"""Verification: checking an export bundle offline (rows, leaf hashes, the root, signatures
against keys the auditor trusts, consistency with an older checkpoint, the wording, policies
and disclosures the bundle carries) and the live ledger.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consent_service.consents.tombstones import ERASED_EVENT_FIELDS
from consent_service.ledger import bundle_checks
from consent_service.ledger.evidence import erasure_failures, evidence_failures
from consent_service.ledger.exports import ERASED, ExportFilters, event_fields, export_rows
from consent_service.ledger.merkle import ProofError, canonical_event_bytes, leaf_hash, root_hash
from consent_service.ledger.merkle_proofs import MerkleTree, verify_consistency, verify_inclusion
from consent_service.ledger.notices import notice_failures
from consent_service.ledger.proofs import checkpoint_document
from consent_service.ledger.records import max_merge_delay
from consent_service.ledger.sealing import CHECKPOINT_FIELDS, late_seals, latest_checkpoint
from consent_service.ledger.trust import TrustedKeys, TrustError, from_document, verify_signature

MANIFEST_SIGNATURE = "manifest_signature"


@dataclass
class Verdict:
    """Every check passed or failed; `authenticated` is False when no trusted key was given,
    in which case nothing here proves who wrote the bundle."""

    checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    authenticated: bool = True

    @property
    def ok(self) -> bool:
        return not self.failures and self.authenticated

    @property
    def word(self) -> str:
        """Without a trusted key nothing is verified, whatever else passed or failed."""
        if not self.authenticated:
            return "UNAUTHENTICATED"
        return "NOT VERIFIED" if self.failures else "VERIFIED"

    def check(self, passed: bool, what: str) -> bool:
        (self.checks if passed else self.failures).append(what)
        return passed


def verify_checkpoint_signature(
    checkpoint: dict[str, Any], keys: TrustedKeys, verdict: Verdict, label: str
) -> None:
    if checkpoint.get("tree_size", 0) == 0 and checkpoint.get("signature") is None:
        verdict.check(checkpoint["root_hash"] == root_hash([]).hex(), f"{label}: empty log")
        return
    message = {name: checkpoint.get(name) for name in CHECKPOINT_FIELDS}
    public = keys.get(checkpoint.get("key_id"))
    verdict.check(public is not None, f"{label}: signing key {checkpoint.get('key_id')} is trusted")
    if public is not None:
        verdict.check(
            verify_signature(public, message, str(checkpoint.get("signature"))),
            f"{label}: signature valid",
        )


def verify_previous(
    previous: dict[str, Any], checkpoint: dict[str, Any], keys: TrustedKeys, verdict: Verdict
) -> bool:
    """The checkpoint an auditor kept: signed by a trusted key, same log, not newer."""
    verify_checkpoint_signature(previous, keys, verdict, "previous checkpoint")
    verdict.check(previous.get("site") == checkpoint.get("site"), "previous checkpoint: same site")
    old, new = int(previous.get("tree_size", 0)), int(checkpoint.get("tree_size", 0))
    return verdict.check(
        old <= new, f"previous checkpoint size {old} is covered by the bundle's {new}"
    )


def erased_row_ok(row: dict[str, Any]) -> bool:
    """An erased row names an integer tombstone and carries none of the erased values; its
    leaf (with the commitment, for format 2) is checked like any other."""
    marker = row.get(ERASED)
    return (
        isinstance(marker, dict)
        and isinstance(marker.get("tombstone"), int)
        and not isinstance(marker.get("tombstone"), bool)
        and all(row.get(name) is None for name in ERASED_EVENT_FIELDS)
    )


def verify_rows(
    rows: Iterable[dict[str, Any]],
    checkpoint: dict[str, Any],
    previous: dict[str, Any] | None,
    full: bool,
    verdict: Verdict,
    all_leaves: list[bytes] | None = None,
) -> int:
    """Recompute every leaf from its fields; then the whole tree (full) or each proof.

    A filtered export checks each row's inclusion proof and, given every leaf hash of the tree
    (`all_leaves`), that the row sits at its `seq` there, that those leaves make the root, and
    that their first N make the root of the previous checkpoint.
    Rows are consumed as they come and only leaf hashes are kept; returns how many rows."""
    leaves: list[bytes] = []
    position = -1
    last_seq = -1
    unmatched = 0  # rows whose fields do not give their leaf hash (full: no leaf to place)
    size = int(checkpoint["tree_size"])
    for position, row in enumerate(rows):
        label = f"row {position + 1} (seq {row.get('seq')}, event {row.get('event_id')})"
        try:
            leaf = leaf_hash(canonical_event_bytes(event_fields(row)))
        except (KeyError, ValueError, TypeError):
            verdict.check(False, f"{label}: fields missing or malformed")
            unmatched += 1
            continue
        verdict.check(row.get("site") == checkpoint.get("site"), f"{label}: site of the log")
        if ERASED in row:
            verdict.check(erased_row_ok(row), f"{label}: erased: names its tombstone, no evidence")
        if not verdict.check(leaf.hex() == row.get("leaf_hash"), f"{label}: leaf hash") and full:
            unmatched += 1
            continue
        leaves.append(leaf)
        if full:
            verdict.check(row.get("seq") == position, f"{label}: sequence number {position}")
            continue
        seq = row.get("seq")
        if not verdict.check(
            isinstance(seq, int) and last_seq < seq < size, f"{label}: seq in order, in the tree"
        ):
            continue
        assert isinstance(seq, int)
        last_seq = seq
        if all_leaves is not None and len(all_leaves) == size:
            verdict.check(all_leaves[seq] == leaf, f"{label}: is leaf {seq} of the tree")
        try:
            verify_inclusion(
                leaf,
                seq,
                size,
                [bytes.fromhex(node) for node in row.get("proof", [])],
                bytes.fromhex(checkpoint["root_hash"]),
            )
            verdict.check(True, f"{label}: inclusion proof")
        except (ProofError, ValueError, KeyError, TypeError):
            verdict.check(False, f"{label}: inclusion proof")
    if not full:
        if all_leaves is not None:
            _check_tree(all_leaves, checkpoint, previous, verdict, "leaf hashes")
        return position + 1
    if unmatched:
        # The tree cannot be rebuilt without those leaves; say so instead of a count that
        # leaves them out ("count 5 equals tree size 6" of a bundle of 6 rows).
        verdict.check(
            False,
            f"rows: {position + 1} rows, {unmatched} "
            f"{'does' if unmatched == 1 else 'do'} not match {'its' if unmatched == 1 else 'their'}"
            " leaf hash, so the tree and its root cannot be checked",
        )
        return position + 1
    _check_tree(leaves, checkpoint, previous, verdict, "rows")
    return position + 1


def _check_tree(
    leaves: list[bytes],
    checkpoint: dict[str, Any],
    previous: dict[str, Any] | None,
    verdict: Verdict,
    what: str,
) -> None:
    size = int(checkpoint["tree_size"])
    if verdict.check(len(leaves) == size, f"{what}: count {len(leaves)} equals tree size {size}"):
        verdict.check(
            root_hash(leaves).hex() == checkpoint["root_hash"], f"root hash of all {what}"
        )
    if previous is not None:
        old = int(previous["tree_size"])
        if verdict.check(old <= len(leaves), f"previous checkpoint size {old} is covered"):
            verdict.check(
                root_hash(leaves[:old]).hex() == previous["root_hash"],
                "nothing in the previous checkpoint is gone or changed (consistency)",
            )


def _checkpoint_shape(checkpoint: dict[str, Any]) -> bool:
    size, root = checkpoint.get("tree_size"), checkpoint.get("root_hash")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(root, str):
        return False
    try:
        return len(bytes.fromhex(root)) == 32
    except ValueError:
        return False


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def verify_bundle(
    bundle: Path, keys: TrustedKeys | None, previous_file: Path | None = None
) -> Verdict:
    """Check a bundle offline: no database, no network.

    Without `keys` every check still runs against the bundle's own public_keys.json, but the
    verdict is UNAUTHENTICATED: a bundle's author chooses the keys in it."""
    verdict = Verdict()
    try:
        manifest = _read_json(bundle / "manifest.json")
        checkpoint = _read_json(bundle / "checkpoint.json")
        previous = _read_json(previous_file) if previous_file is not None else None
        if keys is None:
            verdict.authenticated = False
            keys = from_document(_read_json(bundle / "public_keys.json"), "the bundle")
    except (OSError, ValueError, TrustError) as exc:
        verdict.check(False, f"bundle readable: {exc}")
        return verdict
    if not all(isinstance(value, dict) for value in (manifest, checkpoint, previous or {})):
        verdict.check(False, "manifest and checkpoints are JSON objects")
        return verdict
    if not _checkpoint_shape(checkpoint) or (previous and not _checkpoint_shape(previous)):
        verdict.check(False, "checkpoints have a tree_size and a hex root_hash")
        return verdict
    verdict.notes.extend(keys.notes)
    verdict.check(manifest.get("checkpoint") == checkpoint, "manifest names this checkpoint")
    verdict.check(manifest.get("site") == checkpoint.get("site"), "manifest and checkpoint site")
    signed = {k: v for k, v in manifest.items() if k != MANIFEST_SIGNATURE}
    public = keys.get(manifest.get("manifest_key_id"))
    verdict.check(
        public is not None
        and verify_signature(public, signed, str(manifest.get(MANIFEST_SIGNATURE))),
        f"manifest signature valid, by trusted key {manifest.get('manifest_key_id')}",
    )
    verify_checkpoint_signature(checkpoint, keys, verdict, "checkpoint")
    if previous is not None and not verify_previous(previous, checkpoint, keys, verdict):
        previous = None
    full = not any((manifest.get("filters") or {}).values())
    all_leaves = None
    if not full:
        all_leaves = bundle_checks.read_leaves(bundle, manifest.get("leaves"), verdict)
        verdict.notes.append(
            "a filtered bundle proves that its rows are in the log, not that no matching row "
            "was left out"
        )
    try:
        data = (bundle / "events.jsonl").open("rb")
    except OSError as exc:
        verdict.check(False, f"bundle readable: {exc}")
        return verdict
    digest = hashlib.sha256()
    banners: set[str] = set()
    policies: set[str] = set()
    erasures: set[int] = set()

    def rows() -> Iterator[dict[str, Any]]:
        for line in data:
            digest.update(line)
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"a line is not a JSON object: {line[:80]!r}")
                banners.add(str(row.get("banner_version")))
                policies.add(str(row.get("policy_version")))
                if isinstance(row.get(ERASED), dict):
                    erasures.add(row[ERASED].get("tombstone"))
                yield row

    with data:
        try:
            count = verify_rows(rows(), checkpoint, previous, full, verdict, all_leaves)
        except (UnicodeDecodeError, ValueError) as exc:
            verdict.check(False, f"events.jsonl is JSON Lines: {exc}")
            return verdict
    verdict.check(digest.hexdigest() == manifest.get("data_sha256"), "data matches manifest")
    verdict.check(count == manifest.get("row_count"), "row count matches manifest")
    bundle_checks.verify_banner_versions(bundle, manifest.get("banner_versions"), banners, verdict)
    verdict.notes.extend(
        bundle_checks.verify_policies(bundle, manifest.get("policies"), policies, verdict)
    )
    bundle_checks.verify_disclosures(bundle, manifest.get("disclosures"), verdict)
    bundle_checks.verify_captures(bundle, manifest.get("captures"), verdict)
    bundle_checks.verify_erasures(bundle, manifest.get("erasures"), erasures, verdict)
    return verdict


def verify_live(
    site_id: int, site_key: str, keys: TrustedKeys, trusted: dict[str, Any] | None = None
) -> Verdict:
    """Check the database: every sealed event against the latest checkpoint, whose signature
    must be by a trusted key, and, if given, a checkpoint kept elsewhere (the one that counts
    against someone able to rewrite the database)."""
    verdict = Verdict()
    if trusted is not None and not (isinstance(trusted, dict) and _checkpoint_shape(trusted)):
        verdict.check(False, "checkpoints have a tree_size and a hex root_hash")
        return verdict
    latest = checkpoint_document(site_key, latest_checkpoint(site_id))
    verify_checkpoint_signature(latest, keys, verdict, "latest checkpoint")
    rows = list(export_rows(site_id, site_key, None, ExportFilters()))
    sealed = [row for row in rows if row["seq"] < int(latest["tree_size"])]
    verify_rows(sealed, latest, trusted, True, verdict)
    evidence = list(evidence_failures(site_id, int(latest["tree_size"])))
    for failure in evidence:
        verdict.check(False, failure)
    verdict.check(not evidence, "stored evidence (URL, user agent, address prefix, client time)")
    erased = list(erasure_failures(site_id, int(latest["tree_size"])))
    for failure in erased:
        verdict.check(False, failure)
    verdict.check(not erased, "evidence is gone only from events a tombstone erased, and all of it")
    notices = list(notice_failures(site_id))
    for failure in notices:
        verdict.check(False, failure)
    verdict.check(not notices, "stored banner, wording and policy versions match their hashes")
    late = late_seals(site_id, max_merge_delay())
    if late:
        verdict.notes.append(f"{late} event(s) were sealed after the time their receipt promised")
    if trusted is not None:
        verify_previous(trusted, latest, keys, verdict)
        old = int(trusted["tree_size"])
        prefix = [
            leaf_hash(canonical_event_bytes(event_fields(row)))
            for row in rows[:old]
            if "seq" in row
        ]
        verdict.check(
            len(prefix) == old and [row["seq"] for row in rows[:old]] == list(range(old)),
            f"the {old} events of the trusted checkpoint are all present, in order",
        )
        verdict.check(
            root_hash(prefix).hex() == trusted["root_hash"],
            "events match the trusted checkpoint's root",
        )
        if int(latest["tree_size"]) >= old and old:
            try:
                tree = MerkleTree([bytes.fromhex(row["leaf_hash"]) for row in sealed])
                verify_consistency(
                    old,
                    int(latest["tree_size"]),
                    bytes.fromhex(trusted["root_hash"]),
                    bytes.fromhex(latest["root_hash"]),
                    tree.consistency_proof(old),
                )
                verdict.check(True, "latest checkpoint is consistent with the trusted one")
            except (ProofError, ValueError):
                verdict.check(False, "latest checkpoint is consistent with the trusted one")
        else:
            verdict.check(old == 0, "latest checkpoint is not shorter than the trusted one")
    return verdict
