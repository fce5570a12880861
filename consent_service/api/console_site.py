"""The console's pages of one site: dashboard, settings (editor, plan, linter, catalogue),
history, policies, install, ledger export and activity. Views only read the form, call one
operation and render; `console.guard` has checked the role and the CSRF token already."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, redirect, request, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from consent_service.api import banner
from consent_service.api.console import error_page, guard, page, signed_in
from consent_service.api.ledger import CONTENT_TYPES
from consent_service.console import accounts, activity, editing, sections, stats
from consent_service.console import install as console_install
from consent_service.console import ledger as console_ledger
from consent_service.console import outboxes as console_outboxes
from consent_service.errors import ApiError
from consent_service.ledger import exports
from consent_service.sites import catalogue, forms, history, versions
from consent_service.sites.public_config import site_locales
from consent_service.sites.registry import get_site

blp = Blueprint("console_site", __name__, url_prefix="/console/sites/<string:site_key>")
blp.before_request(guard)
blp.register_error_handler(ApiError, error_page)
blp.register_error_handler(CSRFError, error_page)


def site_page(template: str, site_key: str, status: int = 200, **context: object) -> Response:
    site = get_site(site_key)
    role = accounts.role_on(signed_in(), site)
    return page(
        template,
        status=status,
        site=site,
        role=role,
        writable=accounts.can_write(role),
        **context,
    )


@blp.route("/", methods=["GET"])
def overview(site_key: str) -> ResponseReturnValue:
    site = get_site(site_key)
    today = datetime.now(UTC).date()
    start, end = editing.date_range(request.args.get("start"), request.args.get("end"), today)
    series = stats.dashboard(site, start, end)
    return site_page("console/dashboard.html", site_key, series=series, start=start, end=end)


@blp.route("/settings", methods=["GET", "POST"])
def edit_settings(site_key: str) -> ResponseReturnValue:
    site = get_site(site_key)
    entries = catalogue.catalogue_document()["entries"]
    if request.method == "GET":
        text = editing.current_text(site)
        review = editing.review(site, text)
    elif request.form.get("catalogue"):
        text = editing.with_catalogue_service(site, request.form["catalogue"])
        review = editing.review(site, text)
    elif request.form.get("action") == "save":
        review = editing.save(
            site, request.form.get("document", ""), request.form.get("hash", ""), signed_in()
        )
    else:
        review = editing.review(site, request.form.get("document", ""))
    status = 422 if request.method == "POST" and review.blocked else 200
    return site_page(
        "console/settings.html",
        site_key,
        status=status,
        review=review,
        locales=site_locales(site),
        preview_lang=request.args.get("lang", site.default_locale),
        preview_width=360 if request.args.get("width") == "phone" else 900,
        read_hash=request.form.get("hash") or site.settings_hash or "*",
        catalogue=entries,
        settings_sections=sections.SECTIONS.values(),
    )


@blp.route("/history", methods=["GET"])
def settings_history(site_key: str) -> ResponseReturnValue:
    return site_page("console/history.html", site_key, changes=editing.changes(get_site(site_key)))


@blp.route("/history/<int:change_id>", methods=["GET"])
def settings_version(site_key: str, change_id: int) -> ResponseReturnValue:
    document = history.change_document(get_site(site_key), change_id)
    text = editing.document_text(document)
    return site_page("console/version.html", site_key, change_id=change_id, text=text)


@blp.route("/policies", methods=["GET", "POST"])
def policies(site_key: str) -> ResponseReturnValue:
    site = get_site(site_key)
    form = {name: request.form.get(name, "") for name in ("label", "text", "url", "sha256")}
    if request.method == "POST":
        try:
            published = versions.publish_policy(
                site,
                form["label"].strip(),
                text=form["text"] or None,
                url=form["url"] or None,
                sha256=form["sha256"] or None,
                material=request.form.get("material") == "on",
            )
        except (ApiError, ValueError) as exc:
            # A taken label, a bad label or URL, no text: the form again, the paste kept.
            refused = exc if isinstance(exc, ApiError) else ApiError(422, str(exc))
            return site_page(
                "console/policies.html",
                site_key,
                status=refused.code or 400,
                policies=versions.policy_versions(site),
                form=form,
                material=request.form.get("material") == "on",
                error=refused.description,
                errors=refused.errors,
            )
        activity.record(
            "policy.published",
            account=signed_in(),
            site_id=site.id,
            label=published.label,
            material=published.material,
        )
        return redirect(url_for("console_site.policies", site_key=site_key))
    return site_page(
        "console/policies.html", site_key, policies=versions.policy_versions(site), form=form
    )


@blp.route("/policies/<int:policy_id>", methods=["GET"])
def policy(site_key: str, policy_id: int) -> ResponseReturnValue:
    site = get_site(site_key)
    found = next((p for p in versions.policy_versions(site) if p.id == policy_id), None)
    if found is None:
        raise ApiError(404, "No such policy version.", error="not_found")
    return site_page("console/policy.html", site_key, policy=found)


@blp.route("/install", methods=["GET"])
def install(site_key: str) -> ResponseReturnValue:
    tags = banner.snippet_tags(site_key)
    url = request.args.get("url", "")[:2048]
    checked = None
    if url:
        allow_local = bool(current_app.config.get("WEBHOOK_ALLOW_HTTP"))
        checked = console_install.check_page(
            get_site(site_key), url, tags["src"], allow_local=allow_local
        )
    site_forms = forms.forms_of(get_site(site_key).id)
    return site_page(
        "console/install.html", site_key, tags=tags, checked=checked, url=url, forms=site_forms
    )


@blp.route("/ledger", methods=["GET"])
def ledger(site_key: str) -> ResponseReturnValue:
    site = get_site(site_key)
    query = {name: request.args.get(name, "")[:64] for name in ("visitor_id", "event_id", "day")}
    found = console_ledger.find_events(site, **query) if any(query.values()) else None
    return site_page(
        "console/ledger.html",
        site_key,
        formats=exports.EXPORT_FORMATS,
        query=query,
        found=found,
        ledger=console_ledger.status(site, live=request.args.get("verify") == "1"),
    )


@blp.route("/ledger/events/<string:event_id>", methods=["GET"])
def ledger_event(site_key: str, event_id: str) -> ResponseReturnValue:
    detail = console_ledger.event_detail(get_site(site_key), event_id)
    return site_page("console/event.html", site_key, detail=detail)


@blp.route("/ledger/bundle.tar.gz", methods=["GET"])
def ledger_bundle(site_key: str) -> ResponseReturnValue:
    """The signed bundle `consent-service ledger verify` accepts, for every role that exports."""
    site = get_site(site_key)
    account = signed_in()
    name, chunks = console_ledger.bundle_download(site, actor=f"console:{account.id}")
    activity.record("ledger.exported", account=account, site_id=site.id, format="bundle")
    return Response(
        chunks,
        content_type="application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@blp.route("/ledger/export.<string:fmt>", methods=["GET"])
def ledger_export(site_key: str, fmt: str) -> ResponseReturnValue:
    """Owners, editors and auditors export; the export is recorded like an API export."""
    site = get_site(site_key)
    account = signed_in()
    run = exports.start_export(
        site.id, site.site_key, site.name, fmt, exports.ExportFilters(),
        actor=f"console:{account.id}", token_id=None,
    )  # fmt: skip
    activity.record("ledger.exported", account=account, site_id=site.id, format=fmt)
    return Response(
        stream_with_context(run.chunks),
        content_type=CONTENT_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{site.site_key}-ledger.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@blp.route("/outboxes", methods=["GET"])
def outbox_list(site_key: str) -> ResponseReturnValue:
    mail_configured = bool(current_app.config.get("SMTP_HOST"))
    boxes = console_outboxes.overview(get_site(site_key), mail_configured)
    return site_page("console/outboxes.html", site_key, boxes=boxes)


@blp.route("/outboxes/retry", methods=["POST"])
def outbox_retry(site_key: str) -> ResponseReturnValue:
    console_outboxes.retry(
        get_site(site_key),
        request.form.get("kind", ""),
        request.form.get("id", "")[:64],
        signed_in(),
    )
    return redirect(url_for("console_site.outbox_list", site_key=site_key))


@blp.route("/activity", methods=["GET"])
def site_activity(site_key: str) -> ResponseReturnValue:
    site = get_site(site_key)
    return site_page("console/activity.html", site_key, entries=activity.recent(site.id))
