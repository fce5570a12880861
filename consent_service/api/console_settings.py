"""The console's settings forms, one per section of the settings document, and the preview of a
draft. Each form saves through `editing.save_document`, the operation the YAML editor and
`PUT .../settings` share (If-Match on the hash read, a history entry naming the account);
`console.guard` has checked the role (auditors: 403 on any POST) and the CSRF token already."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from consent_service.api.console import error_page, guard, signed_in
from consent_service.api.console_site import site_page
from consent_service.console import editing, sections
from consent_service.console import preview as console_preview
from consent_service.errors import ApiError
from consent_service.models import Site
from consent_service.sites import settings
from consent_service.sites.registry import get_site

blp = Blueprint("console_settings", __name__, url_prefix="/console/sites/<string:site_key>")
blp.before_request(guard)
blp.register_error_handler(ApiError, error_page)
blp.register_error_handler(CSRFError, error_page)


def posted_form() -> dict[str, list[str]] | None:
    return request.form.to_dict(flat=False) if request.method == "POST" else None


def base_document(
    site: Site, posted: dict[str, list[str]] | None
) -> tuple[dict[str, Any], list[str]]:
    """The saved document with the catalogue services added in this draft (kept in hidden
    fields until saved), and their ids."""
    document = settings.export_document(site)
    added = list((posted or {}).get("add_service", []))
    if posted and posted.get("action") == ["add"] and posted.get("catalogue"):
        added.append(posted["catalogue"][-1])
    added = list(dict.fromkeys(item[:64] for item in added))[:20]
    for entry_id in added:
        document = editing.add_catalogue_service(document, entry_id)
    return document, added


@blp.route("/settings/<string:slug>", methods=["GET", "POST"])
def section_form(site_key: str, slug: str) -> ResponseReturnValue:
    site = get_site(site_key)
    posted = posted_form()
    base, added = base_document(site, posted)
    draft, groups = sections.build(base, slug, posted)
    read_hash = request.form.get("hash") or site.settings_hash or "*"
    if posted is None:
        review = editing.review_document(site, draft)
    elif request.form.get("action") == "save":
        review = editing.save_document(site, draft, read_hash, signed_in())
        if review.saved:
            added, read_hash = [], site.settings_hash or "*"
            draft, groups = sections.build(settings.export_document(site), slug, None)
    else:
        review = editing.review_document(site, draft)
    placed, elsewhere = sections.place(review.findings, groups)
    width = request.values.get("preview_width", request.args.get("width", "desktop"))
    return site_page(
        "console/section.html",
        site_key,
        status=422 if posted is not None and review.blocked else 200,
        section=sections.section(slug),
        settings_sections=sections.SECTIONS.values(),
        groups=groups,
        placed=placed,
        elsewhere=elsewhere,
        review=review,
        posted=posted is not None,
        added=added,
        read_hash=read_hash,
        catalogue=editing.catalogue_choices(),
        locales=sections.locales_of(draft),
        preview_lang=request.values.get("preview_lang", site.default_locale),
        phone=width == "phone",
    )


def preview_page(site_key: str, shown: console_preview.Preview) -> Response:
    """The preview page around a built script: no-store, framable by the console only."""
    lang = shown.locale(request.values.get("preview_lang") or request.args.get("lang"))
    response = site_page(
        "console/preview.html",
        site_key,
        status=200 if shown.script is not None else 422,
        lang=lang,
        preview=shown,
    )
    del response.headers["X-Frame-Options"]
    response.headers["Content-Security-Policy"] += "; frame-ancestors 'self'"
    return response


def sink_base() -> str:
    return str(url_for("console.preview_sink_base", _external=True)).rstrip("/")


@blp.route("/preview", methods=["GET"])
def preview(site_key: str) -> ResponseReturnValue:
    """The banner as saved, built like a draft (so trying it records nothing)."""
    return preview_page(site_key, console_preview.saved_preview(get_site(site_key), sink_base()))


@blp.route("/preview", methods=["POST"])
def preview_document(site_key: str) -> ResponseReturnValue:
    """The banner of the advanced editor's unsaved document."""
    site = get_site(site_key)
    try:
        raw = settings.parse_text(request.form.get("document", ""))
    except settings.SettingsRejected as exc:
        problems = [item.as_dict() for item in exc.findings]
        shown = console_preview.Preview(
            None, [site.default_locale], site.default_locale, problems=problems
        )
        return preview_page(site_key, shown)
    return preview_page(site_key, console_preview.draft_preview(site, raw, sink_base()))


@blp.route("/settings/<string:slug>/preview", methods=["POST"])
def preview_section(site_key: str, slug: str) -> ResponseReturnValue:
    """The banner of a section form's unsaved draft."""
    site = get_site(site_key)
    posted = posted_form()
    base, _ = base_document(site, posted)
    draft, _ = sections.build(base, slug, posted)
    return preview_page(site_key, console_preview.draft_preview(site, draft, sink_base()))
