"""Immutable publications of what a visitor is shown: policy versions and banner versions,
the latter content-addressed by the SHA-256 of the canonical banner document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent_service.canonical import canonical_json, sha256_hex
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import (
    BannerVersion,
    PolicyVersion,
    Site,
)
from consent_service.models.types import utcnow
from consent_service.outbound import UrlRefused, check_link
from consent_service.safe_text import check_label
from consent_service.sites.regions import RULE_SETS


def banner_document(site: Site) -> dict[str, Any]:
    """What the site's banner shows now, in every locale: its current banner version's
    canonical document, exactly as it was hashed."""
    version = find_banner_version(site.id, site.banner_version_hash or "")
    if version is None:
        raise ApiError(409, "This site has no banner version yet.", error="no_banner")
    return dict(json.loads(version.canonical_json))


def record_banner_version(site: Site, document: dict[str, Any]) -> BannerVersion:
    """Make `document` the site's banner (no commit).

    Content-addressed: an unchanged banner keeps its hash; any change to what it shows yields
    a new immutable version while the old ones stay readable.
    """
    version = store_banner_version(site, document, None)
    # What a visitor is shown also depends on the rules of their region: each rule set's
    # banner is a version of its own, so a record names the rules it was given under.
    for rule_set in RULE_SETS:
        store_banner_version(site, rule_banner(document, rule_set), rule_set)
    site.banner_version_hash = version.sha256
    return version


def rule_banner(document: dict[str, Any], rule_set: str) -> dict[str, Any]:
    """The banner document as shown under one rule set (what that script's version hashes)."""
    return {**document, "rule_set": rule_set}


def rule_banner_hash(document: dict[str, Any], rule_set: str) -> str:
    return sha256_hex(canonical_json(rule_banner(document, rule_set)))


def store_banner_version(
    site: Site, document: dict[str, Any], rule_set: str | None
) -> BannerVersion:
    canonical = canonical_json(document)
    digest = sha256_hex(canonical)
    version = find_banner_version(site.id, digest)
    if version is None:
        version = BannerVersion(
            site_id=site.id, sha256=digest, canonical_json=canonical.decode(), rule_set=rule_set
        )
        db.session.add(version)
    return version


def find_banner_version(site_id: int, digest: str) -> BannerVersion | None:
    """A banner this site has shown (not a form's wording, which has its own kind)."""
    return db.session.scalar(
        select(BannerVersion).where(
            BannerVersion.site_id == site_id,
            BannerVersion.sha256 == digest,
            BannerVersion.kind == "banner",
        )
    )


def publish_policy(
    site: Site,
    label: str,
    *,
    text: str | None = None,
    url: str | None = None,
    sha256: str | None = None,
    effective_at: datetime | None = None,
    material: bool = False,
) -> PolicyVersion:
    """Publish a new, immutable policy version.

    The hash is of the text when the text is given; for a policy kept only at a URL the caller
    supplies the SHA-256 of the document published there.
    """
    check_label(label, "policy label")  # it reaches CSV exports: no formula, ever
    if text is None and url is None:
        raise ValueError("a policy needs its text or its URL")
    if url is not None:
        try:
            url = check_link(url)  # shown as a link in the banner: never javascript: or data:
        except UrlRefused as exc:
            raise ValueError(f"the policy URL: {exc}") from exc
    if text is not None:
        sha256 = sha256_hex(text)
    if not sha256 or len(sha256) != 64:
        raise ValueError("a policy published by URL needs the SHA-256 of its document")
    if find_policy(site.id, label) is not None:
        raise ApiError(409, f"Policy version {label!r} is already published.", error="conflict")
    policy = PolicyVersion(
        site_id=site.id,
        label=label,
        text=text,
        url=url,
        sha256=sha256.lower(),
        effective_at=effective_at or utcnow(),
        material=material,
    )
    db.session.add(policy)
    db.session.commit()
    return policy


def policy_versions(site: Site) -> Sequence[PolicyVersion]:
    return db.session.scalars(
        select(PolicyVersion)
        .where(PolicyVersion.site_id == site.id)
        .order_by(PolicyVersion.effective_at, PolicyVersion.id)
    ).all()


def current_policy(site: Site, now: datetime | None = None) -> PolicyVersion | None:
    """The newest version already in effect (a future-dated version waits for its date)."""
    now = now or utcnow()
    return db.session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.site_id == site.id, PolicyVersion.effective_at <= now)
        .order_by(PolicyVersion.effective_at.desc(), PolicyVersion.id.desc())
        .limit(1)
    )


def find_policy(site_id: int, label: str) -> PolicyVersion | None:
    return db.session.scalar(
        select(PolicyVersion).where(PolicyVersion.site_id == site_id, PolicyVersion.label == label)
    )


def policy_summary(policy: PolicyVersion | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    return {
        "label": policy.label,
        "url": policy.url,
        "sha256": policy.sha256,
        "effective_at": policy.effective_at.isoformat(),
        "material": policy.material,
    }


def policy_text(site_id: int, label: str) -> PolicyVersion:
    """A published policy whose exact text the service holds (the bytes its `sha256` is of)."""
    policy = find_policy(site_id, label)
    if policy is None or policy.text is None:
        raise ApiError(404, "No policy text of that version is held here.", error="not_found")
    return policy
