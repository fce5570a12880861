"""The pages behind the links in our e-mail: confirming a subscription, and unsubscribing.

Mail scanners fetch every link in a message, so a GET never changes anything: it shows a page
whose button POSTs. `POST /u/TOKEN` is also the RFC 8058 one-click target that mail
providers call without cookies or a page: no login, no CSRF token, any (or no) form body.
The token in the URL is the only credential; pages are neither cached nor referred onwards.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request

from consent_service.api.http import request_context
from consent_service.integrations.mail import opt_in, opt_out
from consent_service.integrations.mail.links import LinkOutcome

blp = Blueprint("subscription_pages", __name__)

MAX_TOKEN_LENGTH = 1000
STATUS_CODES = {
    "valid": 200,
    "confirmed": 200,
    "unsubscribed": 200,
    "expired": 410,
    "used": 409,
    "invalid": 404,
}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}

# (title, text, button) per locale, page and state.
TEXTS: dict[str, dict[str, dict[str, tuple[str, str, str | None]]]] = {
    "en": {
        "confirm": {
            "valid": (
                "Confirm your subscription",
                "Press the button to start receiving our e-mail. "
                "You can unsubscribe at any time with the link in every message.",
                "Yes, subscribe me",
            ),
            "confirmed": (
                "You are subscribed",
                "Thank you. Your subscription is confirmed.",
                None,
            ),
            "expired": (
                "This link has expired",
                "Confirmation links work for 7 days. Please subscribe again to get a new one.",
                None,
            ),
            "used": (
                "This link was already used",
                "A confirmation link works once. If you subscribed, you need do nothing more.",
                None,
            ),
            "invalid": (
                "This link is not valid",
                "Please check that you opened the whole link from the message.",
                None,
            ),
        },
        "unsubscribe": {
            "valid": (
                "Unsubscribe",
                "Press the button and we will not send you this e-mail any more.",
                "Unsubscribe",
            ),
            "unsubscribed": (
                "You are unsubscribed",
                "You will not receive this e-mail any more.",
                None,
            ),
            "invalid": (
                "This link is not valid",
                "Please check that you opened the whole link from the message.",
                None,
            ),
        },
    },
    "zh-CN": {
        "confirm": {
            "valid": (
                "确认订阅",
                "点击下方按钮即可开始接收我们的邮件。您可以随时通过每封邮件中的链接退订。",
                "是的，订阅",
            ),
            "confirmed": ("订阅成功", "谢谢，您的订阅已确认。", None),
            "expired": ("链接已失效", "确认链接的有效期为 7 天，请重新订阅以获取新的链接。", None),
            "used": ("链接已被使用", "确认链接仅可使用一次。如果您已订阅，无需任何操作。", None),
            "invalid": ("链接无效", "请确认您打开的是邮件中的完整链接。", None),
        },
        "unsubscribe": {
            "valid": ("退订", "点击下方按钮后，我们将不再向您发送此类邮件。", "退订"),
            "unsubscribed": ("已退订", "您将不再收到此类邮件。", None),
            "invalid": ("链接无效", "请确认您打开的是邮件中的完整链接。", None),
        },
    },
}


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def answer(page: str, outcome: LinkOutcome) -> Response:
    status = STATUS_CODES[outcome.status]
    if wants_json():
        body: dict[str, str | None] = {"status": outcome.status}
        if outcome.event_id:
            body["event_id"] = outcome.event_id
        response = jsonify(body)
        response.status_code = status
    else:
        locale = outcome.locale if outcome.locale in TEXTS else "en"
        title, text, button = TEXTS[locale][page][outcome.status]
        response = Response(
            render_template(
                "subscriptions/page.html",
                locale=locale,
                site_name=outcome.site_name,
                title=title,
                text=text,
                button=button,
                one_click=page == "unsubscribe",
            ),
            status=status,
            mimetype="text/html",
        )
    response.headers.update(PAGE_HEADERS)
    return response


def too_long(token: str) -> bool:
    return len(token) > MAX_TOKEN_LENGTH


@blp.get("/confirm/<path:token>")
def confirmation_page(token: str) -> Response:
    """A page with a button; following the link alone confirms nothing."""
    if too_long(token):
        return answer("confirm", LinkOutcome("invalid"))
    return answer("confirm", opt_in.check_confirmation(token))


@blp.post("/confirm/<path:token>")
def confirm(token: str) -> Response:
    if too_long(token):
        return answer("confirm", LinkOutcome("invalid"))
    return answer("confirm", opt_in.confirm_subscription(token, request_context()))


@blp.get("/u/<path:token>")
def unsubscribe_page(token: str) -> Response:
    if too_long(token):
        return answer("unsubscribe", LinkOutcome("invalid"))
    return answer("unsubscribe", opt_out.check_unsubscribe(token))


@blp.post("/u/<path:token>")
def unsubscribe(token: str) -> Response:
    """RFC 8058 one-click: `List-Unsubscribe=One-Click` or an empty body, no cookies needed."""
    if too_long(token):
        return answer("unsubscribe", LinkOutcome("invalid"))
    return answer("unsubscribe", opt_out.unsubscribe(token, request_context()))
