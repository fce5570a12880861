"""An auditor's monitor: keep the last checkpoint verified, fetch the next, and prove that the
log only grew. What it catches: a checkpoint not signed by the trusted key, a log that shrank
(rollback), and a history that differs from the one already seen (fork, or split view).

It runs on the auditor's side against the service's HTTP API, with no database and no app;
the state is two files in a directory the auditor keeps: `checkpoint.json` (the last verified
checkpoint) and `history.jsonl` (every checkpoint it accepted, in order).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consent_service.ledger.merkle import ProofError
from consent_service.ledger.merkle_proofs import verify_consistency
from consent_service.ledger.sealing import CHECKPOINT_FIELDS
from consent_service.ledger.trust import TrustedKeys, verify_signature

STATE_FILE = "checkpoint.json"
HISTORY_FILE = "history.jsonl"
TIMEOUT = 30.0


class MonitorAlert(Exception):
    """Evidence of misbehaviour: `kind` is `bad_signature`, `rollback` or `fork`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind.upper()}: {message}")
        self.kind = kind


class FetchError(Exception):
    """The service could not be asked (network, HTTP error): not evidence of anything."""


@dataclass(frozen=True)
class Step:
    """What one round found: the size before (None the first time) and after."""

    previous_size: int | None
    size: int


class Client:
    def __init__(self, service: str, site_key: str, token: str | None) -> None:
        self.base = f"{service.rstrip('/')}/api/v1/sites/{urllib.parse.quote(site_key)}/ledger"
        self.token = token

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.base + path, headers={"Accept": "application/json"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise FetchError(f"{self.base + path}: HTTP {exc.code}") from exc
        except (OSError, ValueError) as exc:
            raise FetchError(f"{self.base + path}: {exc}") from exc


def check_signature(checkpoint: Any, site_key: str, keys: TrustedKeys) -> dict[str, Any]:
    if not isinstance(checkpoint, dict):
        raise MonitorAlert("bad_signature", "the checkpoint is not a JSON object")
    if checkpoint.get("site") != site_key:
        raise MonitorAlert("bad_signature", f"checkpoint of site {checkpoint.get('site')!r}")
    public = keys.get(checkpoint.get("key_id"))
    message = {name: checkpoint.get(name) for name in CHECKPOINT_FIELDS}
    if public is None or not verify_signature(public, message, str(checkpoint.get("signature"))):
        raise MonitorAlert(
            "bad_signature",
            f"checkpoint of size {checkpoint.get('tree_size')} is not signed by a trusted key "
            f"(key id {checkpoint.get('key_id')})",
        )
    return checkpoint


def check_extends(old: dict[str, Any], new: dict[str, Any], consistency: Any | None) -> None:
    """`new` must extend `old`: not smaller, same root at the same size, a valid proof."""
    old_size, new_size = int(old["tree_size"]), int(new["tree_size"])
    if new_size < old_size:
        raise MonitorAlert("rollback", f"the log shrank from {old_size} to {new_size} events")
    if new_size == old_size:
        if new["root_hash"] != old["root_hash"]:
            raise MonitorAlert("fork", f"two different roots for size {old_size}")
        return
    if old_size == 0:
        return
    if not isinstance(consistency, dict) or not isinstance(consistency.get("proof"), list):
        raise MonitorAlert("fork", "the service gave no consistency proof")
    served_old = consistency.get("from") or {}
    if served_old.get("root_hash") != old["root_hash"]:
        raise MonitorAlert(
            "fork",
            f"the service now shows a different root for size {old_size} "
            f"({served_old.get('root_hash')} instead of {old['root_hash']})",
        )
    try:
        verify_consistency(
            old_size,
            new_size,
            bytes.fromhex(old["root_hash"]),
            bytes.fromhex(new["root_hash"]),
            [bytes.fromhex(node) for node in consistency["proof"]],
        )
    except (ProofError, ValueError, TypeError) as exc:
        raise MonitorAlert(
            "fork", f"size {new_size} does not extend the size {old_size} seen before: {exc}"
        ) from exc


def load_state(state: Path) -> dict[str, Any] | None:
    path = state / STATE_FILE
    if not path.exists():
        return None
    value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return value


def save_state(state: Path, checkpoint: dict[str, Any]) -> None:
    """Write the new checkpoint atomically, and append it to the history."""
    state.mkdir(parents=True, exist_ok=True)
    temporary = state / (STATE_FILE + ".tmp")
    temporary.write_text(json.dumps(checkpoint, indent=2) + "\n", encoding="utf-8")
    with (state / HISTORY_FILE).open("a", encoding="utf-8") as history:
        history.write(json.dumps(checkpoint, separators=(",", ":")) + "\n")
    os.replace(temporary, state / STATE_FILE)


def monitor_once(client: Client, site_key: str, keys: TrustedKeys, state: Path) -> Step:
    """One round: fetch, check, and only then remember. Raises MonitorAlert or FetchError."""
    old = load_state(state)
    if old is not None:
        check_signature(old, site_key, keys)  # a state file edited behind our back
    new = check_signature(client.get("/checkpoints/latest"), site_key, keys)
    consistency = None
    if old is not None and 0 < int(old["tree_size"]) < int(new["tree_size"]):
        consistency = client.get(
            f"/consistency?from={int(old['tree_size'])}&to={int(new['tree_size'])}"
        )
    if old is not None:
        check_extends(old, new, consistency)
    if old is None or int(new["tree_size"]) > int(old["tree_size"]):
        save_state(state, new)
    return Step(None if old is None else int(old["tree_size"]), int(new["tree_size"]))
