"""The words a visitor saw, as evidence: the banner and wording versions and the policy versions
that ledger rows name, exactly as they were hashed, for bundles and for auditors' reads; and
the site's settings a consent record names (controller, purposes, recipients, retention).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select

from consent_service.canonical import sha256_hex
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.ledger import iso27560
from consent_service.ledger.records import utc_timestamp
from consent_service.models import BannerVersion, PolicyVersion, Site

CHUNK = 500


def banner_version_record(version: BannerVersion) -> dict[str, Any]:
    """`document` is the exact string whose UTF-8 bytes were hashed into `sha256`."""
    return {
        "sha256": version.sha256,
        "kind": version.kind,
        "created_at": utc_timestamp(version.created_at),
        "document": version.canonical_json,
    }


def policy_record(policy: PolicyVersion) -> dict[str, Any]:
    """`sha256` is the SHA-256 of the UTF-8 `text` when the service holds it, otherwise the
    hash the site owner gave for the document published at `url`."""
    return {
        "label": policy.label,
        "sha256": policy.sha256,
        "text": policy.text,
        "url": policy.url,
        "effective_at": utc_timestamp(policy.effective_at),
        "material": policy.material,
    }


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def banner_version_records(site_id: int, digests: Iterable[str]) -> Iterator[dict[str, Any]]:
    for chunk in _chunks(digests):
        for version in db.session.scalars(
            select(BannerVersion)
            .where(BannerVersion.site_id == site_id, BannerVersion.sha256.in_(chunk))
            .order_by(BannerVersion.sha256)
        ):
            yield banner_version_record(version)


def policy_records(site_id: int, labels: Iterable[str]) -> Iterator[dict[str, Any]]:
    for chunk in _chunks(labels):
        for policy in db.session.scalars(
            select(PolicyVersion)
            .where(PolicyVersion.site_id == site_id, PolicyVersion.label.in_(chunk))
            .order_by(PolicyVersion.label)
        ):
            yield policy_record(policy)


def notice_failures(site_id: int) -> Iterator[str]:
    """Stored banner, wording and policy versions whose content no longer hashes to their id."""
    for version in db.session.scalars(
        select(BannerVersion).where(BannerVersion.site_id == site_id)
    ):
        if sha256_hex(version.canonical_json) != version.sha256:
            yield f"banner version {version.sha256[:16]}: its document no longer hashes to it"
    for policy in db.session.scalars(
        select(PolicyVersion).where(
            PolicyVersion.site_id == site_id, PolicyVersion.text.is_not(None)
        )
    ):
        if sha256_hex(policy.text or "") != policy.sha256:
            yield f"policy {policy.label!r}: its text no longer hashes to its sha256"


def banner_version(site_id: int, digest: str) -> dict[str, Any]:
    """One banner or wording version of the site, for admins and auditors."""
    version = db.session.scalar(
        select(BannerVersion).where(
            BannerVersion.site_id == site_id, BannerVersion.sha256 == digest.lower()
        )
    )
    if version is None:
        raise ApiError(404, "No such banner version.", error="not_found")
    return banner_version_record(version)


def site_profile(site_id: int) -> iso27560.SiteProfile:
    """The settings a 27560 record names: controller, purposes and their services, policies."""
    site = db.session.get(Site, site_id)
    assert site is not None
    locale = site.default_locale

    def label(texts: dict[str, Any], key: str, fallback: str) -> str:
        chosen: dict[str, Any] = (
            texts.get(locale) or texts.get("en") or next(iter(texts.values()), {})
        )
        return str(chosen.get(key) or fallback)

    purposes = {
        category.slug: iso27560.Purpose(
            slug=category.slug,
            name=label(category.texts, "name", category.slug),
            necessary=category.necessary,
            recipients=tuple(
                iso27560.Recipient(
                    key=f"recipient:{service.slug}",
                    name=service.name,
                    provider=service.provider,
                    storage_location=service.storage_location,
                    third_party=service.third_party,
                    cross_border=service.cross_border,
                    privacy_policy_url=service.privacy_policy_url,
                    cookies=tuple(str(cookie.get("name")) for cookie in service.cookies),
                )
                for service in site.services
                if service.category_id == category.id
            ),
        )
        for category in sorted(site.categories, key=lambda category: category.position)
    }
    policies = {
        policy.label: {"url": policy.url, "sha256": policy.sha256}
        for policy in db.session.scalars(
            select(PolicyVersion).where(PolicyVersion.site_id == site_id)
        )
    }
    return iso27560.SiteProfile(
        site_key=site.site_key,
        name=site.name,
        origins=tuple(site.allowed_origins),
        lifetime_days=site.lifetime_days,
        regime=site.jurisdiction,
        purposes=purposes,
        policies=policies,
    )
