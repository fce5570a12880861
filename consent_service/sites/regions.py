"""Which rules a visitor's region gets: the named rule sets, the built-in map of countries and
US states to them, and the choice for one visitor.

`opt_in` (prior consent, reject as easy as accept: EU, EEA, UK, Switzerland), `opt_out` (a
notice with "Do not sell or share", Global Privacy Control honoured at once: US states with
privacy laws), `opt_in_separate` (consent plus a separate consent for provision to third
parties and cross-border transfer: PIPL, China) and `notice_only` (a notice; nothing waits
for consent). A site's `regions.rules` override the built-in map; `regions.fallback` is for
the rest of the world. Pure: no database, no request.
"""

from __future__ import annotations

from typing import Any

RULE_SETS = ("opt_in", "opt_out", "opt_in_separate", "notice_only")

#: EU member states, the rest of the EEA, the United Kingdom and Switzerland.
EUROPE = frozenset(
    {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE"}
    | {"IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"}
    | {"IS", "LI", "NO", "GB", "CH"}
)
#: US states whose privacy laws give an opt-out of sale, sharing and targeted advertising
#: (with a binding Global Privacy Control signal in most of them).
US_OPT_OUT_STATES = frozenset(
    {"CA", "CO", "CT", "DE", "IA", "IN", "KY", "MD", "MN", "MT", "NE", "NH", "NJ", "OR"}
    | {"RI", "TN", "TX", "UT", "VA"}
)

BUILTIN_RULES: dict[str, str] = {
    **{country: "opt_in" for country in sorted(EUROPE)},
    **{f"US-{state}": "opt_out" for state in sorted(US_OPT_OUT_STATES)},
    "US": "notice_only",
    "CN": "opt_in_separate",
}
DEFAULT_FALLBACK = "opt_in"


def region_rules(regions: dict[str, Any] | None) -> dict[str, str]:
    """The map a site applies: the built-in one (unless it opted out of it) under its own."""
    regions = regions or {}
    rules = dict(BUILTIN_RULES) if regions.get("builtin", True) else {}
    rules.update(regions.get("rules") or {})
    return rules


def rule_set_for(regions: dict[str, Any] | None, country: str | None, region: str | None) -> str:
    """The rule set of a visitor: the subdivision's (`US-CA`), else the country's, else the
    site's fallback. A subdivision of another country than the one given is ignored."""
    rules = region_rules(regions)
    if region and country and region.startswith(country + "-") and region in rules:
        return rules[region]
    if country and country in rules:
        return rules[country]
    return str((regions or {}).get("fallback") or DEFAULT_FALLBACK)


def rule_sets_used(regions: dict[str, Any] | None) -> list[str]:
    """Every rule set some visitor of the site can get, in `RULE_SETS` order."""
    used = set(region_rules(regions).values()) | {
        str((regions or {}).get("fallback") or DEFAULT_FALLBACK)
    }
    return [name for name in RULE_SETS if name in used]


def codes_with(regions: dict[str, Any] | None, rule_set: str) -> list[str]:
    """The countries and subdivisions a rule set is shown to (the linter names them)."""
    return sorted(code for code, name in region_rules(regions).items() if name == rule_set)
