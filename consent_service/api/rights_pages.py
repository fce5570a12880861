"""The requester's pages: confirming a request made with an address, and the status page a
reference opens. Server-rendered in en and zh-CN under the demo page's strict CSP, nothing
from another host, never cached nor referred onwards. The status page shows what the holder
of the reference knows already (type, status, dates) and the site's steps, with notes only
where they are addressed to the requester (closing, rejecting); no id, no address.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for

from consent_service.api.demo_pages import strict_csp
from consent_service.consents import request_mail, requests
from consent_service.consents.request_mail import Link

blp = Blueprint("rights_pages", __name__, url_prefix="/rights")

MAX_TOKEN_LENGTH = 1000
LOCALES = ("en", "zh-CN")
STATUS_CODES = {"valid": 200, "confirmed": 200, "expired": 410, "used": 409, "invalid": 404}
#: Steps whose note is written to the requester (the reason of a rejection, a closing word).
NOTES_SHOWN = ("closed", "rejected")

WORDS: dict[str, dict[str, Any]] = {
    "en": {
        "confirm": {
            "valid": ("Confirm your request", "Press the button to confirm that this request "
                      "is yours. The site will then handle it.", "Confirm my request"),
            "confirmed": ("Your request is confirmed", "Thank you. Keep the link below: it "
                          "shows how your request is going.", None),
            "expired": ("This link has expired", "Confirmation links work for 7 days. Please "
                        "make your request again.", None),
            "used": ("This link was already used", "A confirmation link works once.", None),
            "invalid": ("This link is not valid", "Please check that you opened the whole "
                        "link from the message.", None),
        },
        "status_title": "Your request",
        "unknown": ("This reference is not valid", "Please check that you have the whole link."),
        "follow": "Follow your request",
        "type": "Type",
        "status": "Status",
        "received": "Received",
        "due": "Answer due by",
        "closed": "Finished",
        "outcome": "Outcome",
        "overdue": "late",
        "steps": "What has been done",
        "other_language": "中文",
        "kinds": {"access": "Access to your information", "correction": "Correction",
                  "erasure": "Erasure", "portability": "A copy of your information (portability)",
                  "objection": "Objection to processing"},
        "statuses": {"awaiting_confirmation": "Waiting for your confirmation",
                     "open": "Received", "in_progress": "Being handled",
                     "closed": "Done", "rejected": "Rejected"},
        "outcomes": {"fulfilled": "Done as asked", "partly_fulfilled": "Partly done",
                     "nothing_held": "No information about you was held"},
        "actions": {"opened": "Request made", "confirmed": "Request confirmed",
                    "started": "Handling started", "erased": "Information erased",
                    "exported": "Copy of your information prepared",
                    "corrected": "Address corrected", "noted": "Note",
                    "closed": "Request finished", "rejected": "Request rejected"},
        "by": {"requester": "by you", "site": "by the site"},
    },
    "zh-CN": {
        "confirm": {
            "valid": ("确认您的请求",
                      "点击下方按钮，确认此请求由您本人提出。网站随后将处理该请求。",
                      "确认我的请求"),
            "confirmed": ("请求已确认", "谢谢。请保存下方链接，可随时查看请求的处理进度。", None),
            "expired": ("链接已失效", "确认链接的有效期为 7 天，请重新提出请求。", None),
            "used": ("链接已被使用", "确认链接仅可使用一次。", None),
            "invalid": ("链接无效", "请确认您打开的是邮件中的完整链接。", None),
        },
        "status_title": "您的请求",
        "unknown": ("该编号无效", "请确认您打开的是完整链接。"),
        "follow": "查看请求进度",
        "type": "类型",
        "status": "状态",
        "received": "收到日期",
        "due": "答复截止日期",
        "closed": "完成日期",
        "outcome": "处理结果",
        "overdue": "已逾期",
        "steps": "处理记录",
        "other_language": "English",
        "kinds": {"access": "查阅个人信息", "correction": "更正", "erasure": "删除",
                  "portability": "获取个人信息副本（转移）", "objection": "反对处理"},
        "statuses": {"awaiting_confirmation": "等待您确认", "open": "已收到",
                     "in_progress": "处理中", "closed": "已完成", "rejected": "已拒绝"},
        "outcomes": {"fulfilled": "已按请求处理", "partly_fulfilled": "已部分处理",
                     "nothing_held": "未持有您的个人信息"},
        "actions": {"opened": "提出请求", "confirmed": "确认请求", "started": "开始处理",
                    "erased": "已删除个人信息", "exported": "已准备个人信息副本",
                    "corrected": "已更正邮箱地址", "noted": "备注", "closed": "请求完成",
                    "rejected": "请求被拒绝"},
        "by": {"requester": "由您", "site": "由网站"},
    },
}  # fmt: skip


def choose_locale(preferred: str | None) -> str:
    """?lang= first, then the request's own locale, then Accept-Language; en or zh-CN."""
    asked = request.args.get("lang")
    if asked in LOCALES:
        return asked
    if preferred in LOCALES:
        return preferred
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"])
    return "zh-CN" if best in ("zh-CN", "zh") else "en"


def render(status: int, locale: str, **context: Any) -> Response:
    nonce = secrets.token_urlsafe(16)
    response = Response(
        render_template("rights/page.html", locale=locale, words=WORDS[locale], **context),
        status=status,
        mimetype="text/html",
    )
    response.headers["Content-Security-Policy"] = strict_csp(nonce) + "; frame-ancestors 'none'"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def link_page(link: Link) -> Response:
    status = STATUS_CODES[link.status]
    if wants_json():
        body = {"status": link.status}
        if link.reference:
            body["reference"] = link.reference
        response = jsonify(body)
        response.status_code = status
        response.headers["Cache-Control"] = "no-store"
        return response
    locale = choose_locale(link.locale)
    title, text, button = WORDS[locale]["confirm"][link.status]
    status_link = (
        url_for("rights_pages.status_page", reference=link.reference, lang=locale)
        if link.reference
        else None
    )
    return render(
        status,
        locale,
        site_name=link.site_name,
        title=title,
        text=text,
        button=button,
        status_link=status_link,
    )


@blp.get("/confirm/<path:token>")
def confirmation_page(token: str) -> Response:
    """A page with a button: following the link alone confirms nothing (mail scanners)."""
    if len(token) > MAX_TOKEN_LENGTH:
        return link_page(Link("invalid"))
    return link_page(request_mail.check_confirmation(token))


@blp.post("/confirm/<path:token>")
def confirm(token: str) -> Response:
    if len(token) > MAX_TOKEN_LENGTH:
        return link_page(Link("invalid"))
    return link_page(request_mail.confirm(token))


def public_view(found: Any) -> dict[str, Any]:
    """What the status page shows of a request (see the module docstring)."""
    site, subject = found
    steps = [
        {
            "at": step.at,
            "action": step.action,
            "by": "requester" if step.actor == "visitor" else "site",
            "note": step.note if step.action in NOTES_SHOWN else None,
        }
        for step in requests.steps_of(subject.id)
    ]
    return {
        "site_name": site.name,
        "kind": subject.kind,
        "status": subject.status,
        "overdue": requests.is_overdue(subject),
        "received_at": subject.received_at,
        "due_at": subject.due_at,
        "closed_at": subject.closed_at,
        "outcome": subject.outcome,
        "steps": steps,
    }


@blp.get("/<string:reference>")
def status_page(reference: str) -> Response:
    found = request_mail.from_reference(reference) if len(reference) <= MAX_TOKEN_LENGTH else None
    if found is None:
        if wants_json():
            response = jsonify({"status": "invalid"})
            response.status_code = 404
            return response
        locale = choose_locale(None)
        title, text = WORDS[locale]["unknown"]
        return render(404, locale, title=title, text=text)
    shown = public_view(found)
    if wants_json():
        body = {key: value for key, value in shown.items() if key != "site_name"}
        for key in ("received_at", "due_at", "closed_at"):
            body[key] = body[key].isoformat() if body[key] else None
        body["steps"] = [{**step, "at": step["at"].isoformat()} for step in body["steps"]]
        response = jsonify(body)
        response.headers["Cache-Control"] = "no-store"
        return response
    locale = choose_locale(found[1].locale)
    return render(
        200,
        locale,
        site_name=shown["site_name"],
        title=WORDS[locale]["status_title"],
        text=None,
        shown=shown,
        other_locale="zh-CN" if locale == "en" else "en",
    )
