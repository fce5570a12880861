"""The plan of a settings change, as infrastructure tools print one before they act: what
changes, whether the banner gets a new version, and whether visitors will be asked again.

Pure: it compares two settings documents and two banner version hashes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from consent_service.sites.regions import region_rules, rule_set_for

KEYED_LISTS = ("categories", "services", "forms")


@dataclass
class Change:
    op: str  # "add", "remove" or "change"
    path: str  # a JSON Pointer into the new (or, for remove, the old) document
    summary: str


@dataclass
class Plan:
    site_key: str | None
    creates_site: bool
    settings_hash_before: str | None
    settings_hash_after: str
    banner_version_before: str | None
    banner_version_after: str
    changes: list[Change] = field(default_factory=list)
    asks_again: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    applied: bool = False
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return self.creates_site or self.settings_hash_before != self.settings_hash_after

    @property
    def new_banner_version(self) -> bool:
        return self.banner_version_before != self.banner_version_after

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["changed"] = self.changed
        body["new_banner_version"] = self.new_banner_version
        body["visitors_asked_again"] = bool(self.asks_again)
        return body


def diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[Change]:
    """What differs, field by field; list entries with a slug are matched by slug."""
    if before is None:
        return [Change("add", "", f"new site {after['name']!r}")]
    changes: list[Change] = []
    for key in after.keys() | before.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in KEYED_LISTS:
            changes.extend(diff_keyed(key, old or [], new or []))
        else:
            changes.extend(diff_values((key,), old, new))
    return sorted(changes, key=lambda change: change.path)


def diff_values(at: tuple[str, ...], old: Any, new: Any) -> list[Change]:
    """Objects compared key by key (texts.en.title), anything else as a whole."""
    if (isinstance(old, dict) or isinstance(new, dict)) and (old is None or new is None):
        old, new = old or {}, new or {}  # an object added or removed: its keys one by one
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            change
            for sub in sorted(old.keys() | new.keys())
            if old.get(sub) != new.get(sub)
            for change in diff_values((*at, sub), old.get(sub), new.get(sub))
        ]
    op = "add" if old is None else "remove" if new is None else "change"
    name = ".".join(at)
    return [Change(op, "/" + "/".join(at), f"~ {name}: {short(old)} -> {short(new)}")]


def diff_keyed(key: str, old: list[dict], new: list[dict]) -> list[Change]:
    kind = key.rstrip("s") if key != "categories" else "category"
    old_by_slug = {item["slug"]: item for item in old}
    new_index = {item["slug"]: index for index, item in enumerate(new)}
    changes = []
    for slug, index in new_index.items():
        item = new[index]
        if slug not in old_by_slug:
            changes.append(Change("add", f"/{key}/{index}", f"+ {kind} {slug}"))
            continue
        fields = sorted(
            name
            for name in item.keys() | old_by_slug[slug].keys()
            if item.get(name) != old_by_slug[slug].get(name)
        )
        if fields:
            changes.append(
                Change("change", f"/{key}/{index}", f"~ {kind} {slug}: {', '.join(fields)}")
            )
    for index, item in enumerate(old):
        if item["slug"] not in new_index:
            changes.append(Change("remove", f"/{key}/{index}", f"- {kind} {item['slug']}"))
    if [item["slug"] for item in old if item["slug"] in new_index] != [
        slug for slug in new_index if slug in old_by_slug
    ]:
        changes.append(Change("change", f"/{key}", f"~ {key}: order"))
    return changes


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def reasons_to_ask_again(
    before: dict[str, Any] | None, after: dict[str, Any], old_slugs: set[str], new_slugs: set[str]
) -> list[str]:
    """Why visitors who already chose will see the banner again (empty: they will not).

    A category they never saw needs their choice; a new consent cookie name or domain loses
    the choice their browser holds; a shorter lifetime ends older choices sooner; a region
    put under other consent rules asks its visitors again (`regions_asked_again`).
    """
    if before is None:
        return []
    reasons = [f"new category {slug!r}" for slug in sorted(new_slugs - old_slugs)]
    if before["cookie"] != after["cookie"]:
        reasons.append("the consent cookie's name or domain changes")
    if after["lifetime_days"] < before["lifetime_days"]:
        reasons.append(f"choices older than {after['lifetime_days']} days expire")
    return reasons + regions_asked_again(before.get("regions"), after.get("regions"))


def regions_asked_again(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """The regions whose visitors the banner asks again because their rule set changed.

    As the banner does it (`state.js`, `voided`): a choice remembers the rules it was made
    under, and one made under other rules does not count where consent is asked for. So a
    region moved to `opt_in` or `opt_in_separate` from any other rule set is asked again
    (a notice closed under `notice_only` or `opt_out` is no consent; a consent without the
    separate one is not the PIPL's); a region moved to `opt_out` or `notice_only` keeps the
    choices made. Subdivisions not named follow their country, others the fallback.
    """
    moved: dict[tuple[str, str], list[str]] = {}
    for code in sorted(region_rules(before).keys() | region_rules(after).keys()):
        country, region = (code.split("-")[0], code) if "-" in code else (code, None)
        old, new = rule_set_for(before, country, region), rule_set_for(after, country, region)
        if old != new and new.startswith("opt_in"):
            moved.setdefault((old, new), []).append(code)
    old, new = rule_set_for(before, None, None), rule_set_for(after, None, None)
    if old != new and new.startswith("opt_in"):
        moved.setdefault((old, new), []).append("the rest of the world")
    return [
        f"visitors from {', '.join(codes)} now under {new} (were {old})"
        for (old, new), codes in sorted(moved.items())
    ]


def render(plan: Plan) -> str:
    """The plan for a terminal."""
    lines = []
    target = "new site" if plan.creates_site else f"site {plan.site_key}"
    if not plan.changed:
        lines.append(f"{target}: no changes")
    else:
        lines.append(f"{target}: {len(plan.changes)} change(s)")
        lines.extend(f"  {change.summary}" for change in plan.changes)
    if plan.new_banner_version:
        lines.append(f"banner version: {plan.banner_version_after} (new)")
    else:
        lines.append(f"banner version: {plan.banner_version_after} (unchanged)")
    if plan.asks_again:
        lines.append("visitors asked again: yes (" + "; ".join(plan.asks_again) + ")")
    else:
        lines.append("visitors asked again: no")
    for finding in plan.findings:
        lines.append(
            f"{finding['severity']}: {finding['rule']} at {finding['pointer'] or '/'}: "
            f"{finding['message']} [{finding['source']}]"
        )
    if plan.dry_run and plan.changed:
        lines.append("dry run: nothing applied")
    return "\n".join(lines)
