"""The per-process snapshot of a site: what the hot paths (consent writes, config and script
GETs) need, loaded once and refreshed after `SITE_CACHE_SECONDS`, so they run without queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from consent_service.canonical import sha256_hex
from consent_service.extensions import db
from consent_service.models import (
    BannerVersion,
)
from consent_service.sites.forms import forms_of
from consent_service.sites.public_config import (
    forms_script_config,
    json_bytes,
    negotiate_locale,
    platform_categories,
    site_config,
    site_locales,
    snippet_config,
)
from consent_service.sites.registry import get_site
from consent_service.sites.snippet import PublishedScript, build_forms_script, build_script
from consent_service.sites.versions import policy_versions


@dataclass(frozen=True)
class PublishedConfig:
    body: bytes
    etag: str  # unquoted entity tag


@dataclass(frozen=True)
class CategoryRule:
    slug: str
    necessary: bool
    gpc_opt_out: bool


@dataclass(frozen=True)
class PolicyRef:
    label: str
    effective_at: datetime
    material: bool


@dataclass
class SiteSnapshot:
    """A site as the hot paths need it, read once and kept for a few seconds.

    Plain values, no ORM state: operations that take a snapshot run without a query for the
    site, its categories, policies or banner versions, and fall back to the database only when
    a version is missing (published a moment ago in another process).
    """

    site_id: int
    site_key: str
    name: str
    default_locale: str
    lifetime_days: int
    allowed_origins: frozenset[str]
    locales: list[str]
    categories: tuple[CategoryRule, ...]
    policies: dict[str, PolicyRef]
    banner_versions: frozenset[str]
    loaded_at: float
    # Categories that lead forms need: refusing one stops the visitor's leads under it.
    lead_categories: frozenset[str] = frozenset()
    # Which rule set each region gets (the site's `regions` setting).
    regions: dict[str, Any] = field(default_factory=dict)
    # The rule set each of the site's banner versions was drawn under (opt_in, opt_out, ...).
    banner_rule_sets: dict[str, str] = field(default_factory=dict)
    # The config answer per (locale, rule set).
    configs: dict[tuple[str, str], PublishedConfig] = field(default_factory=dict)
    # The banner script per (API base, gtag.js URL, rule set).
    scripts: dict[tuple[str, str | None, str], PublishedScript] = field(default_factory=dict)
    # The forms script per API base; None when the site has no forms.
    forms_scripts: dict[str, PublishedScript | None] = field(default_factory=dict)
    chosen_locales: dict[tuple[str | None, str], str] = field(default_factory=dict)
    # Per consented policy label: when the first material version after it takes effect.
    next_material: dict[str, datetime | None] = field(default_factory=dict)

    def may_stop_leads(self, choices: dict[str, bool], new_visitor: bool) -> bool:
        """Whether a decision with these choices can stop some of the visitor's leads: it
        refuses a category a lead form needs, from a visitor who may have sent one."""
        return not new_visitor and any(
            not granted and slug in self.lead_categories for slug, granted in choices.items()
        )

    def choose_locale(self, requested: str | None, accept_language: str) -> str:
        """`negotiate_locale`, remembered per (request parameter, Accept-Language header)."""
        key = (requested, accept_language)
        locale = self.chosen_locales.get(key)
        if locale is None:
            accepted = parse_accept_header(accept_language, LanguageAccept)
            locale = negotiate_locale(self.locales, requested, list(accepted.values()))
            if len(self.chosen_locales) < 1024:
                self.chosen_locales[key] = locale
        return locale

    def newer_material_policy(self, than: str, now: datetime) -> bool:
        """Has a material version taken effect after the version `than` was consented to?

        Every consent write asks (its renewal flag): the first material version after each
        label is found once per snapshot, then it is one comparison."""
        try:
            first = self.next_material[than]
        except KeyError:
            consented = self.policies.get(than)
            later = [
                policy.effective_at
                for policy in self.policies.values()
                if consented is not None
                and policy.material
                and consented.effective_at < policy.effective_at
            ]
            first = self.next_material[than] = min(later, default=None)
        return first is not None and first <= now


def load_snapshot(site_key: str, now: float) -> SiteSnapshot:
    site = get_site(site_key)
    locales = site_locales(site)
    locales.sort(key=lambda locale: locale != site.default_locale)
    policies = {
        policy.label: PolicyRef(policy.label, policy.effective_at, policy.material)
        for policy in policy_versions(site)
    }
    banners = db.session.execute(
        select(BannerVersion.sha256, BannerVersion.rule_set).where(
            BannerVersion.site_id == site.id, BannerVersion.kind == "banner"
        )
    ).all()
    return SiteSnapshot(
        site_id=site.id,
        site_key=site.site_key,
        name=site.name,
        default_locale=site.default_locale,
        lifetime_days=site.lifetime_days,
        allowed_origins=frozenset(site.allowed_origins),
        locales=locales,
        categories=tuple(
            CategoryRule(category.slug, category.necessary, category.gpc_opt_out)
            for category in site.categories
        ),
        policies=policies,
        banner_versions=frozenset(digest for digest, _ in banners),
        banner_rule_sets={digest: rule_set for digest, rule_set in banners if rule_set},
        loaded_at=now,
        lead_categories=frozenset(form.category for form in forms_of(site.id, "lead")),
        regions=dict(site.regions or {}),
    )


class SiteSnapshotCache:
    """A short-lived per-process cache of site snapshots and rendered configs.

    The banner config is read on every page view of every customer site and every consent
    write needs the site's rules; serving both without a query is what keeps them as cheap as
    a static file. Other processes see changes within `ttl` seconds, well inside the config's
    max-age; a write path that meets an unknown version checks the database itself.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._snapshots: dict[str, SiteSnapshot] = {}
        # The last script served per site, kept whatever the ttl: when the database is away,
        # pages still get their banner (the script carries everything the first layer needs).
        self._last_good: dict[tuple[str, str, str | None, str], PublishedScript] = {}
        # The region rules last read per site, whatever the ttl: with the database away, a
        # visitor still gets the script of the rule set the site gives their region.
        self._last_regions: dict[str, dict[str, Any]] = {}

    def snapshot(self, site_key: str, now: float) -> SiteSnapshot:
        snapshot = self._snapshots.get(site_key)
        if snapshot is not None and now - snapshot.loaded_at < self.ttl:
            return snapshot
        snapshot = load_snapshot(site_key, now)
        self._last_regions[site_key] = snapshot.regions
        if self.ttl > 0:
            self._snapshots[site_key] = snapshot
        return snapshot

    def config(self, snapshot: SiteSnapshot, locale: str, rule_set: str) -> PublishedConfig:
        """The config answer in one locale for visitors under one rule set."""
        published = snapshot.configs.get((locale, rule_set))
        if published is None:
            body = json_bytes(site_config(get_site(snapshot.site_key), locale, rule_set))
            published = PublishedConfig(body=body, etag=sha256_hex(body)[:32])
            snapshot.configs[(locale, rule_set)] = published
        return published

    def script(
        self,
        snapshot: SiteSnapshot,
        api_base: str,
        ga4_script_url: str | None,
        rule_set: str = "opt_in",
    ) -> PublishedScript:
        """The site's banner script under one rule set, built once per snapshot, API base URL
        and rule set."""
        key = (api_base, ga4_script_url, rule_set)
        published = snapshot.scripts.get(key)
        if published is None:
            site = get_site(snapshot.site_key)
            config = snippet_config(site, api_base, ga4_script_url, rule_set)
            forms = self.forms_script(snapshot, api_base)
            forms_src = (
                f"{api_base.rstrip('/')}/c/forms/{snapshot.site_key}.{forms.version}.js"
                if forms is not None
                else None
            )
            published = build_script(config, forms_src, platform_categories(site))
            snapshot.scripts[key] = published
        self._last_good[(snapshot.site_key, api_base, ga4_script_url, rule_set)] = published
        return published

    def forms_script(self, snapshot: SiteSnapshot, api_base: str) -> PublishedScript | None:
        """The site's forms script, built once per snapshot and API base URL (None: no forms)."""
        if api_base not in snapshot.forms_scripts:
            config = forms_script_config(get_site(snapshot.site_key), api_base)
            snapshot.forms_scripts[api_base] = (
                build_forms_script(config) if config is not None else None
            )
        return snapshot.forms_scripts[api_base]

    def last_good_script(
        self, site_key: str, api_base: str, ga4_script_url: str | None, rule_set: str = "opt_in"
    ) -> PublishedScript | None:
        """The script last served for the site, for when the database cannot be read."""
        return self._last_good.get((site_key, api_base, ga4_script_url, rule_set))

    def last_good_regions(self, site_key: str) -> dict[str, Any] | None:
        """The site's region rules as last read (None: never read in this process)."""
        return self._last_regions.get(site_key)
