"""Offline checks of a bundle's side files: the wording and policies its rows name, the full
list of leaf hashes a filtered bundle carries, and the disclosures log. Pure: no Flask, no
database, only the files and the hashes the signed manifest gives for them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import rfc8785

BANNER_VERSIONS_FILE = "banner_versions.jsonl"
POLICIES_FILE = "policies.jsonl"
DISCLOSURES_FILE = "disclosures.jsonl"
CAPTURES_FILE = "captures.jsonl"
ERASURES_FILE = "erasures.jsonl"
LEAVES_FILE = "leaves.txt"


class Checks(Protocol):
    def check(self, passed: bool, what: str) -> bool: ...


def read_side_file(
    bundle: Path, expected: Any, verdict: Checks, name: str
) -> Iterator[bytes] | None:
    """The lines of a side file, once its SHA-256 and line count match the signed manifest."""
    if not isinstance(expected, dict):
        verdict.check(False, f"manifest describes {name}")
        return None
    try:
        data = (bundle / name).read_bytes()
    except OSError as exc:
        verdict.check(False, f"{name} readable: {exc}")
        return None
    lines = [line for line in data.splitlines(keepends=True) if line.strip()]
    matches = (
        hashlib.sha256(data).hexdigest() == expected.get("sha256")
        and len(lines) == expected.get("row_count")
        and expected.get("file") == name
    )
    if not verdict.check(matches, f"{name} matches manifest"):
        return None
    return iter(lines)


def verify_disclosures(bundle: Path, expected: Any, verdict: Checks) -> None:
    for _ in read_side_file(bundle, expected, verdict, DISCLOSURES_FILE) or ():
        pass


def verify_captures(bundle: Path, expected: Any, verdict: Checks) -> None:
    """captures.jsonl: the scanner's banner captures, by hash, as the manifest signed them."""
    for _ in read_side_file(bundle, expected, verdict, CAPTURES_FILE) or ():
        pass


def verify_erasures(bundle: Path, expected: Any, named: set[int], verdict: Checks) -> None:
    """Every tombstone an erased row names is in erasures.jsonl, as the manifest signed it.

    Bundles made before erasure existed have no such file; they have no erased rows either."""
    if expected is None and not named:
        return
    lines = read_side_file(bundle, expected, verdict, ERASURES_FILE)
    if lines is None:
        return
    held = {
        record.get("id")
        for record in _json_lines(lines, ERASURES_FILE, verdict)
        if isinstance(record.get("fields"), list)
    }
    missing = sorted(named - held)
    verdict.check(
        not missing, f"every tombstone an erased row names is in the bundle {missing[:3]}"
    )


def read_leaves(bundle: Path, expected: Any, verdict: Checks) -> list[bytes] | None:
    """Every leaf hash of the checkpoint's tree, in seq order (filtered bundles only)."""
    lines = read_side_file(bundle, expected, verdict, LEAVES_FILE)
    if lines is None:
        return None
    try:
        leaves = [bytes.fromhex(line.decode("ascii").strip()) for line in lines]
    except (UnicodeDecodeError, ValueError):
        verdict.check(False, f"{LEAVES_FILE} holds one hex leaf hash per line")
        return None
    if not verdict.check(all(len(leaf) == 32 for leaf in leaves), f"{LEAVES_FILE} hashes"):
        return None
    return leaves


def _json_lines(lines: Iterator[bytes], name: str, verdict: Checks) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not verdict.check(isinstance(record, dict), f"{name} line {number} is a JSON object"):
            continue
        records.append(record)
    return records


def verify_banner_versions(bundle: Path, expected: Any, named: set[str], verdict: Checks) -> None:
    """Each banner or wording version is the exact document whose SHA-256 the rows name."""
    lines = read_side_file(bundle, expected, verdict, BANNER_VERSIONS_FILE)
    if lines is None:
        return
    held: set[str] = set()
    for record in _json_lines(lines, BANNER_VERSIONS_FILE, verdict):
        digest, document = record.get("sha256"), record.get("document")
        label = f"banner version {str(digest)[:16]}"
        if not verdict.check(isinstance(document, str), f"{label}: document is a string"):
            continue
        assert isinstance(document, str)
        if not verdict.check(
            hashlib.sha256(document.encode("utf-8")).hexdigest() == digest,
            f"{label}: SHA-256 of the document",
        ):
            continue
        if record.get("kind") == "banner":
            try:
                canonical = rfc8785.dumps(json.loads(document)) == document.encode("utf-8")
            except ValueError:
                canonical = False
            verdict.check(canonical, f"{label}: document is RFC 8785 canonical JSON")
        held.add(str(digest))
    missing = sorted(named - held)
    verdict.check(not missing, f"every banner version named is in the bundle {missing[:3]}")


def verify_policies(bundle: Path, expected: Any, named: set[str], verdict: Checks) -> list[str]:
    """Each policy held as text hashes to its `sha256`; returns notes on URL-only policies."""
    lines = read_side_file(bundle, expected, verdict, POLICIES_FILE)
    notes: list[str] = []
    if lines is None:
        return notes
    held: set[str] = set()
    for record in _json_lines(lines, POLICIES_FILE, verdict):
        label, text = str(record.get("label")), record.get("text")
        held.add(label)
        if text is None:
            notes.append(
                f"policy {label!r} is held only at {record.get('url')}: compare the SHA-256 of "
                f"that document with {record.get('sha256')}"
            )
            continue
        verdict.check(
            isinstance(text, str)
            and hashlib.sha256(text.encode("utf-8")).hexdigest() == record.get("sha256"),
            f"policy {label!r}: SHA-256 of its text",
        )
    missing = sorted(named - held)
    verdict.check(not missing, f"every policy version named is in the bundle {missing[:3]}")
    return notes
