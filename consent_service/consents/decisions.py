"""Recording consent decisions and reading a visitor's current consent state."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from blinker import signal
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError

from consent_service import errors as errors_module
from consent_service.canonical import sha256_hex
from consent_service.consents.limits import count_write
from consent_service.database import write_together
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.ledger.evidence import commit_evidence
from consent_service.ledger.records import event_record, issue_receipt
from consent_service.ledger.signing import current_key
from consent_service.models import ConsentEvent, Webhook
from consent_service.models.types import utcnow
from consent_service.prepared import Prepared
from consent_service.sites.snapshot import CategoryRule, SiteSnapshot
from consent_service.sites.versions import find_banner_version, find_policy
from consent_service.tokens import issue_visitor_token, read_visitor_token

MAX_URL_LENGTH = 2048

#: Sent inside the recording transaction, after the event is flushed and before the commit, with
#: the SiteSnapshot as sender, `event=`, `new_visitor=` (True when the event's visitor id was
#: made by this very write, so nothing can be held of that visitor yet), `webhooks=` (how
#: many active webhook endpoints the site had when the event was inserted, read by the INSERT
#: itself) and `transaction=` (what the event was written in: run `Prepared` statements in it;
#: it is the ORM session only when `SiteSnapshot.may_stop_leads`). Receivers take `**_` for
#: what they do not use; they add their own rows in that transaction so that they land, or
#: not, together with the event, and must not commit.
decision_recorded = signal("consent-decision-recorded")
MAX_USER_AGENT_LENGTH = 512


@dataclass(frozen=True)
class RequestContext:
    """What the service may keep of the HTTP request, already minimised by the caller."""

    ip_prefix: str | None = None
    user_agent: str | None = None
    country: str | None = None
    sec_gpc: bool = False


@dataclass(frozen=True)
class ConsentState:
    visitor_id: str
    event_id: str
    action: str
    choices: dict[str, bool]
    policy_version: str
    banner_version: str
    recorded_at: datetime
    expires_at: datetime
    needs_renewal: bool


@dataclass(frozen=True)
class RecordedDecision:
    site_key: str
    event: ConsentEvent
    visitor_token: str
    state: ConsentState
    created: bool

    @property
    def receipt(self) -> dict[str, Any]:
        """The service's signed acknowledgement of exactly this decision."""
        return issue_receipt(event_record(self.event, self.site_key), current_key())


class ValidationFailed(errors_module.ValidationFailed):
    def __init__(self, errors: dict[str, Any], message: str = "Invalid consent decision.") -> None:
        super().__init__(errors, message)


def resolve_choices(
    categories: Sequence[CategoryRule], action: str, given: dict[str, bool]
) -> dict[str, bool]:
    """The full choice per category that an action with the given choices means.

    Necessary categories are always granted. A choice that contradicts the action (analytics
    false with accept_all) is rejected rather than silently overridden, because the record must
    say exactly what the visitor was shown to have chosen.
    """
    by_slug = {category.slug: category for category in categories}
    errors: dict[str, list[str]] = {}
    for slug, value in given.items():
        category = by_slug.get(slug)
        if category is None:
            errors[slug] = ["Unknown category."]
        elif category.necessary and value is not True:
            errors[slug] = ["Necessary categories cannot be refused."]
    if errors:
        raise ValidationFailed({"choices": errors})

    def decide(category: CategoryRule) -> bool:
        if category.necessary or action == "accept_all":
            return True
        if action in ("reject_all", "withdraw"):
            return False
        if action == "gpc_opt_out" and category.gpc_opt_out:
            return False
        return bool(given.get(category.slug, False))

    resolved = {category.slug: decide(category) for category in categories}
    contradictions = {
        slug: [f"Contradicts action {action}."]
        for slug, value in given.items()
        if resolved[slug] != value
    }
    if contradictions:
        raise ValidationFailed({"choices": contradictions})
    return resolved


def request_fingerprint(decision: dict[str, Any]) -> str:
    """Hash of the request as the client sent it, to tell a replay from a reuse of event_id.

    Key-sorted JSON of the validated body (ids and times as text): the same request always
    gives the same bytes.
    """
    return sha256_hex(
        json.dumps(
            decision,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=_as_text,
        )
    )


def _as_text(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not part of a decision")


TRUNCATED = "...[truncated]"


def strip_query(url: str | None) -> str | None:
    """Keep a page URL without its query string or fragment (they often carry personal data).

    Whatever a browser sends is taken, never refused (that would lose the decision): a long
    path is cut to the column's size and ends with a visible marker, so nobody mistakes it for
    the page's real address; what is not a web page's address (`about:`, `javascript:`, a
    browser extension's page) is not kept at all.
    """
    if not url or not url.strip().lower().startswith(("http://", "https://")):
        return None
    kept = url.strip().split("#", 1)[0].split("?", 1)[0]
    if len(kept) > MAX_URL_LENGTH:
        kept = kept[: MAX_URL_LENGTH - len(TRUNCATED)] + TRUNCATED
    return kept or None


def record_decision(
    site: SiteSnapshot, decision: dict[str, Any], context: RequestContext
) -> RecordedDecision:
    """Record one decision; idempotent on `event_id`.

    The same event id with the same body returns the stored event (created=False); with another
    body it is a 409. One transaction with a single INSERT: the unique constraint, not a prior
    read, detects a replay, so concurrent retries of one event never write twice.
    """
    fingerprint = request_fingerprint(decision)
    token = decision.get("visitor_token")
    if token:
        visitor_id = read_visitor_token(token, site.site_key)
        if visitor_id is None:
            raise ValidationFailed({"visitor_token": ["Not a valid visitor token for this site."]})
    else:
        visitor_id = secrets.token_hex(16)

    errors: dict[str, list[str]] = {}
    policy_label = decision["policy_version"]
    if policy_label not in site.policies and find_policy(site.site_id, policy_label) is None:
        errors["policy_version"] = ["This site never published that policy version."]
    banner = decision["banner_version"]
    rule_set = site.banner_rule_sets.get(banner)
    if banner not in site.banner_versions:
        shown = find_banner_version(site.site_id, banner)
        if shown is None:
            errors["banner_version"] = ["This site never published that banner version."]
        else:
            rule_set = shown.rule_set
    if errors:
        raise ValidationFailed(errors)

    event = ConsentEvent.transient(
        site_id=site.site_id,
        event_id=decision["event_id"],
        visitor_id=visitor_id,
        action=decision["action"],
        choices=resolve_choices(site.categories, decision["action"], decision["choices"]),
        policy_version=policy_label,
        banner_version=banner,
        language=decision.get("language") or site.default_locale,
        source=decision["source"],
        gpc=bool(decision.get("gpc")) or context.sec_gpc,
        recorded_at=utcnow(),
        client_time=decision.get("client_time"),
        page_url=strip_query(decision.get("url")),
        ip_prefix=context.ip_prefix,
        user_agent=(context.user_agent or "")[:MAX_USER_AGENT_LENGTH] or None,
        country=context.country,
        rule_set=rule_set,
        request_hash=fingerprint,
    )

    row = event_row(event)  # before the write: on SQLite the writes queue for one lock

    def write(transaction: Any) -> None:
        count_write(site.site_id, context.ip_prefix, into=transaction)
        webhooks = insert_event(event, row, into=transaction)
        if decision_recorded.receivers:
            decision_recorded.send(
                site,
                event=event,
                new_visitor=not token,
                webhooks=webhooks,
                transaction=transaction,
            )

    # Only stopping a visitor's leads needs the ORM; every other write runs without a session.
    needs_session = site.may_stop_leads(event.choices, new_visitor=not token)
    try:
        write_together(db.engine, write, session=db.session if needs_session else None)
    except IntegrityError:
        db.session.rollback()
        existing = find_event(site.site_id, decision["event_id"])
        if existing is None:
            raise
        return _replay(site, existing, fingerprint)
    return RecordedDecision(
        site_key=site.site_key,
        event=event,
        visitor_token=issue_visitor_token(site.site_key, visitor_id),
        state=state_of(site, event),
        created=True,
    )


#: The one statement of a consent write that every write runs: compiled once per dialect and
#: run on the driver's cursor (prepared.py), which cost a fifth of SQLAlchemy's own execute.
#: It also answers how many active webhook endpoints the site has, in the same statement (so
#: in the same transaction, as a SELECT after it would): most sites have none, and then the
#: webhook receiver needs no statement of its own (on PostgreSQL, a round trip per write).
EVENTS, WEBHOOKS = ConsentEvent.__table__, Webhook.__table__
EVENT_COLUMNS = tuple(column.key for column in EVENTS.columns if column.key != "id")
ACTIVE_WEBHOOKS = (
    select(func.count())
    .where(WEBHOOKS.c.site_id == bindparam("webhook_site_id"), WEBHOOKS.c.active)
    .scalar_subquery()
)
INSERT_EVENT = Prepared(EVENTS.insert().returning(EVENTS.c.id, ACTIVE_WEBHOOKS), EVENT_COLUMNS)


def event_row(event: ConsentEvent) -> dict[str, Any]:
    """Give a new event its evidence commitment; the values its INSERT stores."""
    commit_evidence(event)
    return {key: getattr(event, key) for key in EVENT_COLUMNS}


def insert_event(event: ConsentEvent, row: dict[str, Any] | None = None, into: Any = None) -> int:
    """INSERT one event (`row`: its `event_row`, made now if not given) in `into` (a
    `DriverTransaction`; the session if None) and give the object its id. Answers the site's
    number of active webhook endpoints (for `decision_recorded`).

    The ORM unit of work costs more than the rest of a consent write put together; an event is
    never changed after this, so the plain INSERT is all it needs. The object stays transient.
    """
    row = event_row(event) if row is None else row
    cursor = INSERT_EVENT.execute(into, {**row, "webhook_site_id": row["site_id"]})
    try:
        event.id, webhooks = cursor.fetchall()[0]
    finally:
        cursor.close()
    return int(webhooks)


def find_event(site_id: int, event_id: uuid.UUID) -> ConsentEvent | None:
    return db.session.scalar(
        select(ConsentEvent).where(
            ConsentEvent.site_id == site_id, ConsentEvent.event_id == event_id
        )
    )


def _replay(site: SiteSnapshot, event: ConsentEvent, fingerprint: str) -> RecordedDecision:
    if event.request_hash != fingerprint:
        raise ApiError(
            409,
            "This event_id was already used for a different decision.",
            error="event_id_conflict",
        )
    return RecordedDecision(
        site_key=site.site_key,
        event=event,
        visitor_token=issue_visitor_token(site.site_key, event.visitor_id),
        state=state_of(site, event),
        created=False,
    )


def latest_event(site_id: int, visitor_id: str) -> ConsentEvent | None:
    return db.session.scalar(
        select(ConsentEvent)
        .where(ConsentEvent.site_id == site_id, ConsentEvent.visitor_id == visitor_id)
        .order_by(ConsentEvent.id.desc())
        .limit(1)
    )


def state_of(site: SiteSnapshot, event: ConsentEvent, now: datetime | None = None) -> ConsentState:
    """The state an event establishes, and whether the visitor must be asked again.

    Renewal is due when the lifetime has passed, when a material policy version took effect
    after the one consented to, or when the site added a category the visitor never saw.
    """
    now = now or utcnow()
    expires_at = event.recorded_at + timedelta(days=site.lifetime_days)
    unseen_category = any(category.slug not in event.choices for category in site.categories)
    return ConsentState(
        visitor_id=event.visitor_id,
        event_id=str(event.event_id),
        action=event.action,
        choices=dict(event.choices),
        policy_version=event.policy_version,
        banner_version=event.banner_version,
        recorded_at=event.recorded_at,
        expires_at=expires_at,
        needs_renewal=(
            now >= expires_at
            or site.newer_material_policy(event.policy_version, now)
            or unseen_category
        ),
    )


def current_state(site: SiteSnapshot, visitor_id: str, now: datetime | None = None) -> ConsentState:
    event = latest_event(site.site_id, visitor_id)
    if event is None:
        raise ApiError(404, "No consent is recorded for this visitor.", error="no_consent")
    return state_of(site, event, now)


def visitor_from_token(site: SiteSnapshot, token: str | None) -> str:
    if not token:
        raise ApiError(401, "A visitor token is required.", error="visitor_token_required")
    visitor_id = read_visitor_token(token, site.site_key)
    if visitor_id is None:
        raise ApiError(401, "The visitor token is not valid for this site.", error="invalid_token")
    return visitor_id
