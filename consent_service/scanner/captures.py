"""The banner as a scan photographed it, kept as evidence by the banner version it showed.

A capture is stored only when the page's script carried a banner version this site has: a
photo of some other version (a stale cache, another site's key) proves nothing about this one,
and the report says so instead. Admins and auditors list and read them by version; ledger
export bundles name them by hash (`capture_records`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import BannerVersion, Site
from consent_service.models.scan import BannerCapture
from consent_service.scanner.crawl import Shot


def summary(capture: BannerCapture, banner_version: str) -> dict[str, Any]:
    return {
        "id": capture.id,
        "banner_version": banner_version,
        "kind": capture.kind,
        "locale": capture.locale,
        "width": capture.width,
        "height": capture.height,
        "sha256": capture.sha256,
        "page_url": capture.page_url,
        "captured_at": capture.captured_at.isoformat(),
    }


def _version(site_id: int, sha256: str) -> BannerVersion | None:
    return db.session.scalar(
        select(BannerVersion).where(
            BannerVersion.site_id == site_id,
            BannerVersion.sha256 == sha256,
            BannerVersion.kind == "banner",
        )
    )


def store_captures(site: Site, shots: list[Shot]) -> list[dict[str, Any]]:
    """Keep every shot whose banner version is this site's; one transaction."""
    results = []
    versions: dict[str, BannerVersion | None] = {}
    stored: list[BannerCapture] = []
    for shot in shots:
        digest = hashlib.sha256(shot.png).hexdigest()
        entry = {
            "kind": shot.kind,
            "locale": shot.locale,
            "width": shot.width,
            "height": shot.height,
            "sha256": digest,
            "banner_version": shot.banner_version,
            "captured_at": shot.captured_at.isoformat(),
            "stored": False,
        }
        if shot.banner_version and shot.banner_version not in versions:
            versions[shot.banner_version] = _version(site.id, shot.banner_version)
        version = versions.get(shot.banner_version or "")
        if version is None:
            entry["note"] = "the page showed no banner version of this site; not stored"
        else:
            capture = BannerCapture(
                site_id=site.id,
                banner_version_id=version.id,
                kind=shot.kind,
                locale=shot.locale,
                width=shot.width,
                height=shot.height,
                png=shot.png,
                sha256=digest,
                page_url=shot.page,
                captured_at=shot.captured_at,
            )
            db.session.add(capture)
            stored.append(capture)
            entry["stored"] = True
        results.append(entry)
    db.session.commit()
    ids = iter(capture.id for capture in stored)
    for entry in results:
        if entry["stored"]:
            entry["id"] = next(ids)
    return results


def _captures_of(site_id: int, version_hash: str) -> tuple[BannerVersion, list[BannerCapture]]:
    version = _version(site_id, version_hash)
    if version is None:
        raise ApiError(404, "No such banner version.", error="not_found")
    captures = db.session.scalars(
        select(BannerCapture)
        .where(BannerCapture.banner_version_id == version.id)
        .order_by(BannerCapture.id)
    )
    return version, list(captures)


def list_captures(site_id: int, version_hash: str) -> list[dict[str, Any]]:
    version, captures = _captures_of(site_id, version_hash)
    return [summary(capture, version.sha256) for capture in captures]


def capture_png(site_id: int, version_hash: str, capture_id: int) -> bytes:
    version = _version(site_id, version_hash)
    capture = db.session.get(BannerCapture, capture_id)
    if version is None or capture is None or capture.banner_version_id != version.id:
        raise ApiError(404, "No such capture.", error="not_found")
    return capture.png


def capture_records(site_id: int) -> Iterator[dict[str, Any]]:
    """What an export bundle lists: each capture by the hash of its PNG, with its version."""
    rows = db.session.execute(
        select(BannerCapture, BannerVersion.sha256)
        .join(BannerVersion, BannerCapture.banner_version_id == BannerVersion.id)
        .where(BannerCapture.site_id == site_id)
        .order_by(BannerCapture.id)
    )
    for capture, version in rows:
        yield {
            "sha256": capture.sha256,
            "banner_version": version,
            "kind": capture.kind,
            "width": capture.width,
            "locale": capture.locale,
            "captured_at": capture.captured_at.isoformat(),
        }
