"""Verification: checking an export bundle offline (rows, leaf hashes, the root, the checkpoint
signature, consistency with an older checkpoint, the disclosures file) and the live ledger.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consent_service.ledger.exports import (
    DISCLOSURES_FILE,
    ExportFilters,
    event_fields,
    export_rows,
)
from consent_service.ledger.merkle import ProofError, canonical_event_bytes, leaf_hash, root_hash
from consent_service.ledger.merkle_proofs import MerkleTree, verify_consistency, verify_inclusion
from consent_service.ledger.proofs import checkpoint_document
from consent_service.ledger.sealing import CHECKPOINT_FIELDS, latest_checkpoint
from consent_service.ledger.signing import (
    public_key_document,
    published_keys,
    verify_signature,
)


def _verify_disclosures(bundle: Path, expected: dict[str, Any], verdict: Verdict) -> None:
    digest = hashlib.sha256()
    count = 0
    try:
        with (bundle / DISCLOSURES_FILE).open("rb") as handle:
            for line in handle:
                digest.update(line)
                count += 1 if line.strip() else 0
    except OSError as exc:
        verdict.check(False, f"disclosures readable: {exc}")
        return
    verdict.check(
        digest.hexdigest() == expected.get("sha256") and count == expected.get("row_count"),
        "disclosure records match manifest",
    )


def _verify_captures(bundle: Path, expected: dict[str, Any], verdict: Verdict) -> None:
    """captures.jsonl (the scanner's banner captures by hash) against the signed manifest."""
    digest = hashlib.sha256()
    count = 0
    try:
        with (bundle / Path(str(expected.get("file", ""))).name).open("rb") as handle:
            for line in handle:
                digest.update(line)
                count += 1 if line.strip() else 0
    except OSError as exc:
        verdict.check(False, f"captures readable: {exc}")
        return
    verdict.check(
        digest.hexdigest() == expected.get("sha256") and count == expected.get("row_count"),
        "banner captures match manifest",
    )


@dataclass
class Verdict:
    checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def check(self, passed: bool, what: str) -> bool:
        (self.checks if passed else self.failures).append(what)
        return passed


def _public_keys(document: dict[str, Any]) -> dict[str, str]:
    return {key["key_id"]: key["public_key"] for key in document.get("keys", [])}


def verify_checkpoint_signature(
    checkpoint: dict[str, Any], keys: dict[str, str], verdict: Verdict, label: str
) -> None:
    if checkpoint.get("tree_size", 0) == 0 and checkpoint.get("signature") is None:
        verdict.check(checkpoint["root_hash"] == root_hash([]).hex(), f"{label}: empty log")
        return
    message = {name: checkpoint.get(name) for name in CHECKPOINT_FIELDS}
    public = keys.get(str(checkpoint.get("key_id")))
    verdict.check(public is not None, f"{label}: signing key {checkpoint.get('key_id')} known")
    if public is not None:
        verdict.check(
            verify_signature(public, message, str(checkpoint.get("signature"))),
            f"{label}: signature valid",
        )


def verify_rows(
    rows: Iterable[dict[str, Any]],
    checkpoint: dict[str, Any],
    previous: dict[str, Any] | None,
    full: bool,
    verdict: Verdict,
) -> int:
    """Recompute every leaf from its fields; then the whole tree (full) or each proof.

    Rows are consumed as they come and only leaf hashes are kept; returns how many rows."""
    leaves: list[bytes] = []
    position = -1
    for position, row in enumerate(rows):
        label = f"row {position + 1} (seq {row.get('seq')}, event {row.get('event_id')})"
        try:
            leaf = leaf_hash(canonical_event_bytes(event_fields(row)))
        except (KeyError, ValueError, TypeError):
            verdict.check(False, f"{label}: fields missing or malformed")
            continue
        if not verdict.check(leaf.hex() == row.get("leaf_hash"), f"{label}: leaf hash") and full:
            continue
        leaves.append(leaf)
        if full:
            verdict.check(row.get("seq") == position, f"{label}: sequence number {position}")
        else:
            try:
                verify_inclusion(
                    leaf,
                    int(row["seq"]),
                    int(checkpoint["tree_size"]),
                    [bytes.fromhex(node) for node in row.get("proof", [])],
                    bytes.fromhex(checkpoint["root_hash"]),
                )
                verdict.check(True, f"{label}: inclusion proof")
            except (ProofError, ValueError, KeyError):
                verdict.check(False, f"{label}: inclusion proof")
    if not full:
        return position + 1
    size = int(checkpoint["tree_size"])
    if verdict.check(len(leaves) == size, f"row count {len(leaves)} equals tree size {size}"):
        verdict.check(root_hash(leaves).hex() == checkpoint["root_hash"], "root hash of all rows")
    if previous is not None:
        old = int(previous["tree_size"])
        if verdict.check(old <= len(leaves), f"previous checkpoint size {old} is covered"):
            verdict.check(
                root_hash(leaves[:old]).hex() == previous["root_hash"],
                "nothing in the previous checkpoint is gone or changed (consistency)",
            )
    return position + 1


def verify_bundle(
    bundle: Path, previous_file: Path | None = None, public_key_file: Path | None = None
) -> Verdict:
    """Check a bundle offline: no database, no network."""
    verdict = Verdict()
    try:
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
        checkpoint = json.loads((bundle / "checkpoint.json").read_text(encoding="utf-8"))
        keys_file = public_key_file or bundle / "public_keys.json"
        keys = _public_keys(json.loads(keys_file.read_text(encoding="utf-8")))
        data = (bundle / "events.jsonl").open("rb")
    except (OSError, ValueError) as exc:
        verdict.check(False, f"bundle readable: {exc}")
        return verdict
    verdict.check(manifest.get("checkpoint") == checkpoint, "manifest names this checkpoint")
    signed = {k: v for k, v in manifest.items() if not k.startswith("manifest_")}
    public = keys.get(str(manifest.get("manifest_key_id")))
    verdict.check(
        public is not None
        and verify_signature(public, signed, str(manifest.get("manifest_signature"))),
        "manifest signature valid",
    )
    verify_checkpoint_signature(checkpoint, keys, verdict, "checkpoint")
    previous = None
    if previous_file is not None:
        previous = json.loads(previous_file.read_text(encoding="utf-8"))
        verify_checkpoint_signature(previous, keys, verdict, "previous checkpoint")
    digest = hashlib.sha256()

    def rows() -> Iterator[dict[str, Any]]:
        for line in data:
            digest.update(line)
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"a line is not a JSON object: {line[:80]!r}")
                yield row

    full = not any((manifest.get("filters") or {}).values())
    with data:
        try:
            count = verify_rows(rows(), checkpoint, previous, full, verdict)
        except (UnicodeDecodeError, ValueError) as exc:
            verdict.check(False, f"events.jsonl is JSON Lines: {exc}")
            return verdict
    verdict.check(digest.hexdigest() == manifest.get("data_sha256"), "data matches manifest")
    verdict.check(count == manifest.get("row_count"), "row count matches manifest")
    if isinstance(manifest.get("disclosures"), dict):
        _verify_disclosures(bundle, manifest["disclosures"], verdict)
    if isinstance(manifest.get("captures"), dict):
        _verify_captures(bundle, manifest["captures"], verdict)
    return verdict


def verify_live(site_id: int, site_key: str, trusted: dict[str, Any] | None = None) -> Verdict:
    """Check the database: every sealed event against the latest checkpoint, each stored
    checkpoint's signature, and, if given, a checkpoint kept elsewhere (the one that counts
    against someone able to rewrite the database)."""
    verdict = Verdict()
    keys = _public_keys(public_key_document(published_keys()))
    latest = checkpoint_document(site_key, latest_checkpoint(site_id))
    verify_checkpoint_signature(latest, keys, verdict, "latest checkpoint")
    rows = list(export_rows(site_id, site_key, None, ExportFilters()))
    sealed = [row for row in rows if row["seq"] < int(latest["tree_size"])]
    verify_rows(sealed, latest, trusted, True, verdict)
    if trusted is not None:
        verify_checkpoint_signature(trusted, keys, verdict, "trusted checkpoint")
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
