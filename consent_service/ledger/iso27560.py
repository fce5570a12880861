"""ISO/IEC TS 27560 consent records in the W3C DPV community group's `dpv-27560` record profile
(`dct:conformsTo: dpv-27560:record-2`, spec: github.com/coolharsh55/dpv-consent-record,
`spec_record.md`).

One record per visitor and purpose (category): its whole event history (given, refused,
withdrawn, expired) as consent states, filled from the site's settings (controller, the
category's services as recipients, storage locations, retention, jurisdiction, the way to
withdraw) with the banner and policy versions as notices. Necessary categories are recorded
with their own legal basis and no consent state. Every state carries the ledger event it comes
from (leaf fields, `seq`, `leaf_hash`), so each one still verifies against a checkpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from consent_service.ledger.records import LEAF_V2_FIELDS, RECORD_FIELDS, utc_timestamp

CONFORMS_TO = "dpv-27560:record-2"
LEAF_FIELDS = (*RECORD_FIELDS, *LEAF_V2_FIELDS)
RECORD_NAMESPACE = uuid.UUID("6f1d7c43-9a0e-5b7e-8d1c-2c7e1b0a5e27")
TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"
# Strictly necessary storage is exempt from consent (ePrivacy Directive art. 5(3)); processing
# rests on the controller's legitimate interest in a working, secure site (GDPR art. 6(1)(f)).
NECESSARY_BASIS = ["dpv:LegitimateInterest", "eu-gdpr:A6-1-f"]
CONSENT_BASIS = ["dpv:ExpressedConsent", "eu-gdpr:A6-1-a"]


@dataclass(frozen=True)
class Recipient:
    key: str
    name: str
    provider: str
    storage_location: str
    third_party: bool
    cross_border: bool
    privacy_policy_url: str | None
    cookies: tuple[str, ...]


@dataclass(frozen=True)
class Purpose:
    slug: str
    name: str
    necessary: bool
    recipients: tuple[Recipient, ...]


@dataclass(frozen=True)
class SiteProfile:
    """What a record needs from the site's settings, read once per export."""

    site_key: str
    name: str
    origins: tuple[str, ...]
    lifetime_days: int
    regime: str  # opt_in / opt_out
    purposes: dict[str, Purpose]
    policies: dict[str, dict[str, Any]]  # label -> {url, sha256, effective_at}

    @property
    def controller(self) -> str:
        return f"controller:{self.site_key}"

    @property
    def retention(self) -> dict[str, Any]:
        return {"@type": ["dpv:TemporalDuration"], "rdf:value": f"P{self.lifetime_days}D"}


def entities(profile: SiteProfile) -> dict[str, Any]:
    found: dict[str, Any] = {
        profile.controller: {
            "@type": ["dpv:Organisation", "dpv:DataController"],
            "dpv:hasName": profile.name,
            "dpv:hasContact": {"schema:url": list(profile.origins)},
        }
    }
    for purpose in profile.purposes.values():
        for recipient in purpose.recipients:
            kind = "dpv:ThirdParty" if recipient.third_party else "dpv:DataProcessor"
            entity: dict[str, Any] = {
                "@type": ["dpv:Organisation", "dpv:Recipient", kind],
                "dpv:hasName": recipient.provider or recipient.name,
                "dpv:hasLocation": recipient.storage_location or None,
            }
            if recipient.privacy_policy_url:
                entity["dpv:hasContact"] = {"schema:url": recipient.privacy_policy_url}
            found[recipient.key] = {k: v for k, v in entity.items() if v is not None}
    return found


def _language(tag: str) -> str:
    """ISO 639-1 two letters, as the profile requires (`zh-CN` -> `zh`)."""
    return (tag.split("-")[0] or "en")[:2].lower()


def _notice(row: dict[str, Any], profile: SiteProfile) -> dict[str, Any]:
    policy = profile.policies.get(row["policy_version"], {})
    notice: dict[str, Any] = {
        "@type": ["dpv:ConsentNotice"],
        "dpv:hasIdentifier": row["banner_version"],
        "dct:language": row["language"],
        "dpv:hasPrivacyNotice": {
            "@type": ["dpv:PrivacyNotice"],
            "dpv:hasIdentifier": row["policy_version"],
            "consent-service:sha256": policy.get("sha256"),
        },
    }
    if policy.get("url"):
        notice["dpv:hasPrivacyNotice"]["dpv:hasLocation"] = policy["url"]
    return notice


def _state(kind: str, at: str, row: dict[str, Any], profile: SiteProfile) -> dict[str, Any]:
    state: dict[str, Any] = {
        "@type": [kind, "dpv:ExpressedConsent"],
        "dpv:isIndicatedAtTime": at,
        "dpv:isIndicatedBy": "dpv:DataSubject",
        "dpv:hasNotice": _notice(row, profile),
        "consent-service:event": {
            **{name: row[name] for name in LEAF_FIELDS if name in row},
            "seq": row["seq"],
            "leaf_hash": row["leaf_hash"],
        },
    }
    if kind == "dpv:ConsentGiven":
        state["dpv:hasDuration"] = profile.retention
    if kind == "dpv:ConsentExpired":
        state["@type"] = [kind]
        state.pop("dpv:isIndicatedBy")
    return state


def consent_history(
    rows: list[dict[str, Any]], slug: str, profile: SiteProfile, now: datetime
) -> list[dict[str, Any]]:
    """Given, refused, withdrawn (a refusal after a grant) and expired (a grant's lifetime
    passed before the next decision, or before `now`), in time order."""
    lifetime = timedelta(days=profile.lifetime_days)
    states: list[dict[str, Any]] = []
    granted_at: datetime | None = None
    last_given: dict[str, Any] | None = None
    for row in rows:
        at = datetime.strptime(row["recorded_at"], TIMESTAMP)
        if granted_at is not None and last_given is not None and at >= granted_at + lifetime:
            expired = utc_timestamp(granted_at + lifetime)
            states.append(_state("dpv:ConsentExpired", expired, last_given, profile))
            granted_at = None
        value = row["choices"].get(slug)
        if value is None:
            continue
        if value:
            kind = "dpv:ConsentGiven"
            granted_at, last_given = at, row
        else:
            kind = "dpv:ConsentWithdrawn" if granted_at is not None else "dpv:ConsentRefused"
            if row["action"] == "withdraw" and states:
                kind = "dpv:ConsentWithdrawn"
            granted_at = None
        states.append(_state(kind, row["recorded_at"], row, profile))
    if granted_at is not None and last_given is not None and now >= granted_at + lifetime:
        expired = utc_timestamp(granted_at + lifetime)
        states.append(_state("dpv:ConsentExpired", expired, last_given, profile))
    return states


def _process(
    purpose: Purpose, rows: list[dict[str, Any]], profile: SiteProfile, now: datetime
) -> dict[str, Any]:
    locations = sorted({r.storage_location for r in purpose.recipients if r.storage_location})
    process: dict[str, Any] = {
        "@type": "dpv:Process",
        "dpv:hasPurpose": [
            {
                "@type": ["dpv:Purpose"],
                "dct:identifier": purpose.slug,
                "skos:prefLabel": purpose.name,
            }
        ],
        "dpv:hasPersonalData": [
            "pd:OnlineIdentifier",
            *(
                {"@type": ["dpv:PersonalData"], "skos:prefLabel": f"cookie {cookie}"}
                for recipient in purpose.recipients
                for cookie in recipient.cookies
            ),
        ],
        "dpv:hasProcessing": ["dpv:Collect", "dpv:Store", "dpv:Use"],
        "dpv:hasDataController": [profile.controller],
        "dpv:hasDataSource": [{"@type": ["dpv:DataSubjectDataSource"]}],
        "dpv:hasRecipient": [recipient.key for recipient in purpose.recipients],
        "dpv:hasStorageCondition": [
            {"@type": ["dpv:StorageLocation"], "dpv:hasLocation": locations or ["unspecified"]},
            {"@type": ["dpv:StorageDuration"], "dpv:hasDuration": profile.retention},
        ],
        "dpv:hasJurisdiction": [
            {
                "@type": ["dpv:Jurisdiction"],
                "skos:prefLabel": "opt-in before any non-necessary processing"
                if profile.regime == "opt_in"
                else "notice with the right to opt out",
                "consent-service:regime": profile.regime,
                "dpv:hasThirdCountry": sorted(
                    {r.storage_location for r in purpose.recipients if r.cross_border}
                ),
            }
        ],
        "dpv:hasConsentControl": {
            "@type": ["dpv:ProvideConsent", "dpv:WithdrawConsent"],
            "dpv:isExercisedAt": [f"{origin}/#consent-preferences" for origin in profile.origins],
            "skos:definition": "The site's cookie preferences (banner), or "
            "consentService.showPreferences() on any page; a withdrawal is recorded at once.",
        },
    }
    if purpose.necessary:
        process["dpv:hasLegalBasis"] = NECESSARY_BASIS
        process["dpv:hasNecessity"] = "dpv:Required"
    else:
        process["dpv:hasLegalBasis"] = CONSENT_BASIS
        process["dpv:hasConsentStatus"] = consent_history(rows, purpose.slug, profile, now)
    return process


def visitor_records(
    profile: SiteProfile, visitor_id: str, rows: list[dict[str, Any]], now: datetime
) -> Iterator[dict[str, Any]]:
    """One record per purpose the visitor's events name, in the site's category order."""
    named = {slug for row in rows for slug in row["choices"]}
    for slug, purpose in profile.purposes.items():
        if slug not in named:
            continue
        notices: dict[str, dict[str, Any]] = {}
        for row in rows:
            notices.setdefault(row["banner_version"] + row["policy_version"], _notice(row, profile))
        yield {
            "dct:conformsTo": CONFORMS_TO,
            "dpv:hasIdentifier": str(
                uuid.uuid5(RECORD_NAMESPACE, f"{profile.site_key}/{visitor_id}/{slug}")
            ),
            "dpv:hasDataSubject": {
                "@type": ["dpv:DataSubject"],
                "dpv:hasIdentifier": visitor_id,
            },
            "dct:created": rows[0]["recorded_at"],
            "dct:modified": rows[-1]["recorded_at"],
            "dct:creator": profile.controller,
            "dct:language": _language(rows[-1]["language"]),
            "dpv:hasEntity": entities(profile),
            "dpv:hasNotice": list(notices.values()),
            "dpv:hasProcess": [_process(purpose, rows, profile, now)],
        }


def group_records(
    profile: SiteProfile, rows: Iterable[dict[str, Any]], now: datetime
) -> Iterator[dict[str, Any]]:
    """Rows ordered by visitor, then seq, become each visitor's records."""
    visitor: str | None = None
    batch: list[dict[str, Any]] = []
    for row in rows:
        if row["visitor_id"] != visitor and batch:
            yield from visitor_records(profile, str(visitor), batch, now)
            batch = []
        visitor = row["visitor_id"]
        batch.append(row)
    if batch:
        yield from visitor_records(profile, str(visitor), batch, now)
