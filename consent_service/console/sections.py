"""The site settings as forms, one per section (general, texts, categories, services, forms),
each over its part of the one settings document.

A form field is named by the JSON Pointer of the value it edits, so that what the linter
reports (a pointer) lands next to the field it is about, and a draft is the saved document
with the posted fields written in at their pointers. Plain functions: no Flask request; the
views hand in the posted fields as a mapping of name -> list of values.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from consent_service.errors import ApiError
from consent_service.sites.defaults import TEXT_KEYS, builtin_texts

Posted = Mapping[str, Sequence[str]]
#: Where the text of a field may run over one line.
LONG_TEXTS = {"description", "opt_out_description", "notice_description", "gpc_note"}


@dataclass
class Field:
    """One control: `pointer` is both its name and where its value goes in the document."""

    pointer: str
    label: str
    kind: str  # text, textarea, number, checkbox, select, lines, words, remove
    value: Any = ""
    options: Sequence[tuple[str, str]] = ()
    hint: str = ""
    optional: bool = True  # empty means "not set" (the default or the built-in words)

    @property
    def id(self) -> str:
        return "f" + re.sub(r"[^A-Za-z0-9_-]", "_", self.pointer.replace("/", "-"))


@dataclass
class Group:
    """A fieldset: a part of the document (a locale's texts, one category, one form)."""

    pointer: str
    legend: str
    fields: list[Field] = field(default_factory=list)
    note: str = ""
    new: bool = False  # a blank item: added only when given a slug


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    groups: Callable[[dict[str, Any]], list[Group]]


def get(document: Any, at: str) -> Any:
    for part in parts_of(at):
        if isinstance(document, list):
            index = int(part)
            document = document[index] if index < len(document) else None
        elif isinstance(document, dict):
            document = document.get(part)
        if document is None:
            return None
    return document


def parts_of(at: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in at.split("/")[1:]]


def put(document: dict[str, Any], at: str, value: Any, remove: bool) -> None:
    """Set (or, with `remove`, take out) the value at `at`, making objects on the way; an
    index one past a list's end appends."""
    parts = parts_of(at)
    here: Any = document
    for part in parts[:-1]:
        if isinstance(here, list):
            index = int(part)
            if index == len(here):
                here.append({})
            here = here[index]
        else:
            if not isinstance(here.get(part), dict | list):
                if remove:
                    return
                here[part] = {}
            here = here[part]
    last = parts[-1]
    if remove:
        if isinstance(here, dict):
            here.pop(last, None)
    else:
        here[last] = value


def locales_of(document: dict[str, Any]) -> list[str]:
    default = document.get("default_locale", "en")
    locales = list(document.get("locales") or [default])
    return [default] + [locale for locale in locales if locale != default]


def choices(values: Sequence[str]) -> list[tuple[str, str]]:
    return [(value, value) for value in values]


def category_choices(document: dict[str, Any]) -> list[tuple[str, str]]:
    return choices([c["slug"] for c in document.get("categories") or [] if c.get("slug")])


def general(document: dict[str, Any]) -> list[Group]:
    return [
        Group(
            "",
            "Site",
            [
                Field("/name", "Site name", "text", optional=False),
                Field("/origins", "Origins (one per line)", "lines", optional=False),
                Field("/default_locale", "Default language", "text", optional=False),
                Field("/locales", "Languages (comma-separated)", "words"),
            ],
        ),
        Group(
            "",
            "Consent",
            [
                Field(
                    "/jurisdiction",
                    "Jurisdiction",
                    "select",
                    options=choices(("opt_in", "opt_out")),
                    optional=False,
                ),
                Field("/lifetime_days", "Consent kept for (days)", "number", optional=False),
                Field(
                    "/reask_after_reject_days",
                    "Ask again after Reject all (days)",
                    "number",
                    optional=False,
                ),
                Field("/gpc", "Honour Global Privacy Control", "checkbox"),
            ],
        ),
        Group(
            "/cookie",
            "Consent cookie",
            [
                Field("/cookie/name", "Cookie name", "text", optional=False),
                Field("/cookie/domain", "Cookie domain (empty: this host only)", "text"),
            ],
        ),
        Group(
            "/rights",
            "Data subject requests",
            [Field("/rights/due_days", "Answer a request within (days)", "number", optional=False)],
        ),
        Group(
            "/ga4",
            "Google Analytics 4",
            [
                Field("/ga4/measurement_id", "Measurement ID", "text", hint="G-XXXXXXXXXX"),
                Field("/ga4/mode", "Mode", "select", options=choices(("basic", "advanced"))),
            ],
        ),
    ]


def texts(document: dict[str, Any]) -> list[Group]:
    name = str(document.get("name", ""))
    return [
        Group(
            f"/texts/{locale}",
            f"Texts in {locale}",
            [
                Field(
                    f"/texts/{locale}/{key}",
                    key.replace("_", " ").capitalize(),
                    "textarea" if key in LONG_TEXTS else "text",
                    hint=builtin_texts(locale, name).get(key, ""),
                )
                for key in TEXT_KEYS
            ],
            note="Empty fields show the built-in words (given as hints).",
        )
        for locale in locales_of(document)
    ]


def category_fields(at: str, locales: list[str], new: bool) -> list[Field]:
    fields = [Field(f"{at}/slug", "Slug", "text", optional=False)]
    fields += [Field(f"{at}/necessary", "Strictly necessary (always on)", "checkbox")]
    fields += [Field(f"{at}/gpc_opt_out", "Off when the browser sends GPC", "checkbox")]
    for locale in locales:
        fields.append(Field(f"{at}/texts/{locale}/name", f"Name ({locale})", "text"))
        fields.append(
            Field(f"{at}/texts/{locale}/description", f"Description ({locale})", "textarea")
        )
    if not new:
        fields.append(Field(at, "Remove this category", "remove"))
    return fields


def categories(document: dict[str, Any]) -> list[Group]:
    listed = document.get("categories") or []
    locales = locales_of(document)
    groups = []
    for index in range(len(listed) + 1):
        at = f"/categories/{index}"
        new = index == len(listed)
        legend = "New category" if new else f"Category {listed[index].get('slug', index)}"
        note = "Give a slug to add it." if new else ""
        groups.append(Group(at, legend, category_fields(at, locales, new), note, new))
    return groups


def services(document: dict[str, Any]) -> list[Group]:
    categories = category_choices(document)
    groups = []
    for index, service in enumerate(document.get("services") or []):
        at = f"/services/{index}"
        entry = service.get("catalogue")
        # Only a catalogue entry has a category of its own to fall back on.
        slugs = [("", "(the catalogue's)"), *categories] if entry else categories
        groups.append(
            Group(
                at,
                f"Service {service.get('slug', index)}",
                [
                    Field(f"{at}/category", "Category", "select", options=slugs),
                    Field(at, "Remove this service", "remove"),
                ],
                note=(f"From the catalogue entry {entry}; its" if entry else "Its")
                + " other details are in the advanced editor.",
            )
        )
    return groups


def forms(document: dict[str, Any]) -> list[Group]:
    listed = document.get("forms") or []
    locales = locales_of(document)
    slugs = category_choices(document)
    groups = []
    for index in range(len(listed) + 1):
        at = f"/forms/{index}"
        new = index == len(listed)
        fields = [
            Field(f"{at}/slug", "Slug", "text", optional=False),
            Field(
                f"{at}/purpose",
                "Purpose",
                "select",
                options=choices(("lead", "subscription")),
                optional=False,
            ),
            Field(f"{at}/category", "Category", "select", options=slugs, optional=False),
            Field(f"{at}/service", "Service (slug, optional)", "text"),
            Field(f"{at}/fields", "Fields (comma-separated; * = required)", "words"),
        ]
        fields += [
            Field(f"{at}/separate_consent/{locale}", f"Separate consent ({locale})", "textarea")
            for locale in locales
        ]
        if not new:
            fields.append(Field(at, "Remove this form", "remove"))
        legend = "New form" if new else f"Form {listed[index].get('slug', index)}"
        groups.append(Group(at, legend, fields, "Give a slug to add it." if new else "", new))
    return groups


SECTIONS = {
    section.slug: section
    for section in (
        Section("general", "General", general),
        Section("texts", "Texts", texts),
        Section("categories", "Categories", categories),
        Section("services", "Services", services),
        Section("forms", "Forms", forms),
    )
}


def section(slug: str) -> Section:
    found = SECTIONS.get(slug)
    if found is None:
        raise ApiError(404, "No such settings section.", error="not_found")
    return found


def shown(value: Any, kind: str) -> Any:
    """A document value as its control shows it."""
    if kind == "checkbox":
        return bool(value)
    if kind == "lines":
        return "\n".join(value or [])
    if kind == "words":
        return ", ".join(
            item if isinstance(item, str) else item["name"] + ("*" if item.get("required") else "")
            for item in value or []
        )
    return "" if value is None else str(value)


def read(kind: str, values: Sequence[str]) -> Any:
    """A posted control as a document value ("" when empty; a number that is not one stays
    text, so the schema names the field)."""
    text = values[-1].strip() if values else ""
    if kind == "checkbox":
        return bool(values)
    if kind == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if kind == "words":
        return [item for item in re.split(r"[\s,]+", text) if item]
    if kind == "number":
        return int(text) if re.fullmatch(r"-?\d{1,9}", text) else text
    return text.replace("\r\n", "\n")


def build(
    base: dict[str, Any], slug: str, posted: Posted | None
) -> tuple[dict[str, Any], list[Group]]:
    """The draft (`base` with the posted fields of one section written in) and the section's
    groups with the values to show: the posted ones, else the document's."""
    draft = copy.deepcopy(base)
    groups = section(slug).groups(base)
    removed: list[str] = []
    new_items: list[str] = []
    for group in groups:
        for item in group.fields:
            if posted is None:
                item.value = item.kind != "remove" and shown(get(base, item.pointer), item.kind)
                continue
            if item.kind == "remove":
                item.value = item.pointer in posted
                if item.value:
                    removed.append(item.pointer)
                continue
            value = read(item.kind, posted.get(item.pointer, ()))
            item.value = shown(value, item.kind) if item.kind != "number" else str(value)
            if get(base, item.pointer) is None and value in ("", [], False):
                continue  # untouched: leave the default to the schema
            empty = item.optional and value in ("", [])
            put(draft, item.pointer, value, remove=empty)
        if group.new:
            new_items.append(group.pointer)
    for at in new_items:
        if get(draft, at) is not None and not get(draft, at + "/slug"):
            removed.append(at)
    for at in sorted(removed, key=lambda p: int(p.rsplit("/", 1)[1]), reverse=True):
        listed = get(draft, at.rsplit("/", 1)[0])
        index = int(at.rsplit("/", 1)[1])
        if isinstance(listed, list) and index < len(listed):
            del listed[index]
    drop_empty_texts(draft)
    return draft, groups


def drop_empty_texts(draft: dict[str, Any]) -> None:
    """A locale left with no words of its own is no entry (not an empty one)."""
    for holder in [draft, *(draft.get("categories") or [])]:
        words = holder.get("texts")
        if isinstance(words, dict):
            for locale in [key for key, value in words.items() if value == {}]:
                del words[locale]


def place(
    findings: list[dict[str, str]], groups: list[Group]
) -> tuple[dict[str, list[dict[str, str]]], list[dict[str, str]]]:
    """Each finding beside the field it points at (or the first field under it, or the
    nearest fieldset above it); those outside this section come back apart."""
    fields = [item.pointer for group in groups for item in group.fields if item.kind != "remove"]
    sets = [group.pointer for group in groups if group.pointer]
    by_anchor: dict[str, list[dict[str, str]]] = {}
    elsewhere = []
    for found in findings:
        at = found.get("pointer") or ""
        anchor = next((p for p in fields if p == at), None)
        anchor = anchor or next((p for p in fields if at and p.startswith(at + "/")), None)
        anchor = anchor or max(
            (p for p in fields + sets if at.startswith(p + "/") or at == p),
            key=len,
            default=None,
        )
        if anchor is None:
            elsewhere.append(found)
        else:
            by_anchor.setdefault(anchor, []).append(found)
    return by_anchor, elsewhere
