"""`catalogue`: the service catalogue shipped in the package (no app or database needed)."""

from __future__ import annotations

import difflib
import json
from typing import Any

import click

from consent_service.sites.catalogue import (
    catalogue_document,
    catalogue_entry,
    catalogue_ids,
    text_in,
)


def summary(entry: dict[str, Any], locale: str) -> dict[str, Any]:
    return {
        "id": entry["id"],
        "name": text_in(entry["name"], locale),
        "default_category": entry["default_category"],
        "provider": text_in(entry["provider"]["legal_name"], locale),
        "storage": [location["country"] for location in entry["storage_locations"]],
        "platform_signal": entry["platform_signal"],
        "source": entry["source"],
    }


@click.group("catalogue")
def catalogue_group() -> None:
    """Known third-party services: provider, purposes, data, cookies, consent signals."""


@catalogue_group.command("list")
@click.option("--locale", default="en", show_default=True, help="Language of the names.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def catalogue_list(locale: str, as_json: bool) -> None:
    """List the entries a site's services can name with `catalogue: ID`."""
    rows = [summary(entry, locale) for id_ in catalogue_ids() if (entry := catalogue_entry(id_))]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    width = max(len(row["id"]) for row in rows)
    for row in rows:
        click.echo(
            f"{row['id']:<{width}}  {row['default_category']:<10}  "
            f"{','.join(row['storage']):<8}  {row['name']}"
        )
    click.echo(f"\nReviewed {catalogue_document()['reviewed']}; `catalogue show ID` for details.")


@catalogue_group.command("show")
@click.argument("entry_id")
@click.option("--locale", default="en", show_default=True, help="Language of the texts.")
@click.option("--json", "as_json", is_flag=True, help="Print the entry as JSON.")
def catalogue_show(entry_id: str, locale: str, as_json: bool) -> None:
    """Everything the catalogue says about one service."""
    entry = catalogue_entry(entry_id)
    if entry is None:
        close = difflib.get_close_matches(entry_id, catalogue_ids(), n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `catalogue list`"
        raise click.ClickException(f"no catalogue entry {entry_id!r}{hint}")
    if as_json:
        click.echo(json.dumps(entry, ensure_ascii=False, indent=2))
        return
    click.echo("\n".join(describe(entry, locale)))


def describe(entry: dict[str, Any], locale: str) -> list[str]:
    """The entry as a person reads it, one fact per line."""

    def tx(value: Any) -> str:
        return text_in(value, locale)

    provider = entry["provider"]
    places = entry["storage_locations"]
    lines = [
        f"{tx(entry['name'])} ({entry['id']})",
        f"  Provider:         {tx(provider['legal_name'])}",
        f"  Address:          {tx(provider['address'])}",
        f"  Contact:          {provider['contact']}",
        f"  Default category: {entry['default_category']}",
        "  Purposes:         " + "; ".join(tx(item) for item in entry["purposes"]),
        "  Data collected:   " + "; ".join(tx(item) for item in entry["data_collected"]),
        "  Stored in:        "
        + ", ".join(f"{tx(place['name'])} ({place['country']})" for place in places),
        f"  Third party:      {'yes' if entry['third_party'] else 'no'}",
        f"  Cross-border:     {'yes' if entry['cross_border'] else 'no'}",
        f"  Retention:        {tx(entry['retention'])}",
        f"  Consent signal:   {entry['platform_signal']}"
        + (f" ({', '.join(entry['consent_mode'])})" if entry["consent_mode"] else ""),
        "  Loads from:       " + (", ".join(entry["hosts"]) or "-"),
        "  Privacy policy:   "
        + ", ".join(f"{link['url']} [{link['locale']}]" for link in entry["privacy_links"]),
        f"  Source:           {entry['source']}",
        "  Cookies:" + ("" if entry["cookies"] else "          none"),
    ]
    for cookie in entry["cookies"]:
        kind = " (pattern)" if cookie["pattern"] else ""
        where = f" on {cookie['domain']}" if cookie["domain"] else ""
        lines.append(
            f"    {cookie['name']}{kind}{where}: {tx(cookie['lifetime'])}. "
            f"{tx(cookie['description'])}"
        )
    return lines
