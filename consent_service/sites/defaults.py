"""Built-in words: what a site shows when its owner wrote nothing, in en and zh-CN.

A site made with only a name and an origin must still show a complete banner (a title, a
description, every button) and a necessary category; these fill the gaps. A site's own texts
override them key by key, and a locale with no built-in words falls back to the site's default
locale.
"""

from __future__ import annotations

from typing import Any

BUILTIN_LOCALES = ("en", "zh-CN")

#: Every string the banner and the preferences dialog show, by its key in `texts`.
TEXT_KEYS = (
    "title",
    "description",
    "policy_link",
    "accept_all",
    "reject_all",
    "preferences",
    "save",
    "close",
    "always_on",
    "purpose",
    "data_collected",
    "stored_in",
    "cross_border",
    "cookies",
    "privacy_policy",
    "services",
    "blocked",
    "allow",
    "gpc_note",
    "opt_out_description",
    "do_not_sell",
    "notice_description",
    "separate_consent",
    "withdraw",
    "preference_center",
)

BUILTIN_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your privacy choices",
        "description": (
            "{site} uses cookies and similar technologies that are needed for the site to work "
            "and, with your consent, others. Choose what you allow; you can change your mind at "
            "any time."
        ),
        "policy_link": "Privacy policy",
        "accept_all": "Accept all",
        "reject_all": "Reject all",
        "preferences": "Preferences",
        "save": "Save choices",
        "close": "Close",
        "always_on": "Always on",
        "purpose": "Purpose",
        "data_collected": "Data collected",
        "stored_in": "Stored in",
        "cross_border": "cross-border transfer",
        "cookies": "Cookies",
        "privacy_policy": "Privacy policy",
        "services": "Services",
        "blocked": "This content is blocked until you allow “%s”.",
        "allow": "Allow",
        "gpc_note": "Global Privacy Control honoured (opt-out request honoured): %s off.",
        "opt_out_description": (
            "{site} uses cookies, some for targeted advertising, which may be a sale or sharing "
            "of your personal information. You may opt out."
        ),
        "do_not_sell": "Do not sell or share my personal information",
        "notice_description": (
            "{site} uses cookies and similar technologies. You can change what is allowed at "
            "any time."
        ),
        "separate_consent": (
            "I separately consent to “%s” providing my personal information to third parties "
            "and transferring it abroad."
        ),
        "withdraw": "Withdraw consent",
        "preference_center": "Your consent history, download and erasure",
    },
    "zh-CN": {
        "title": "您的隐私选择",
        "description": (
            "{site} 使用网站正常运行所必需的 Cookie 及类似技术，并在您同意后使用其他 Cookie。"
            "您可以选择允许的内容，并随时更改。"
        ),
        "policy_link": "隐私政策",
        "accept_all": "全部接受",
        "reject_all": "全部拒绝",
        "preferences": "偏好设置",
        "save": "保存选择",
        "close": "关闭",
        "always_on": "始终开启",
        "purpose": "目的",
        "data_collected": "收集的数据",
        "stored_in": "存储地",
        "cross_border": "跨境传输",
        "cookies": "Cookie",
        "privacy_policy": "隐私政策",
        "services": "服务",
        "blocked": "在您允许“%s”之前，此内容已被屏蔽。",
        "allow": "允许",
        "gpc_note": "已遵从全球隐私控制（GPC）信号：%s 已关闭。",
        "opt_out_description": (
            "{site} 使用 Cookie，部分用于定向广告，可能构成出售或共享您的个人信息。您可以选择退出。"
        ),
        "do_not_sell": "请勿出售或共享我的个人信息",
        "notice_description": "{site} 使用 Cookie 及类似技术。您可以随时更改允许的内容。",
        "separate_consent": "我单独同意“%s”向第三方提供我的个人信息并将其传输至境外。",
        "withdraw": "撤回同意",
        "preference_center": "您的同意记录、下载与删除",
    },
}

NECESSARY_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "name": "Strictly necessary",
        "description": "Needed for the site to work and to remember your choices.",
    },
    "zh-CN": {"name": "必要", "description": "网站正常运行及记住您的选择所必需。"},
}


def builtin_texts(locale: str, site_name: str) -> dict[str, str]:
    """The built-in words of `locale` (its primary language as a fallback), or {}."""
    words = BUILTIN_TEXTS.get(locale)
    if words is None:
        primary = locale.split("-")[0].lower()
        words = next(
            (value for key, value in BUILTIN_TEXTS.items() if key.split("-")[0] == primary), {}
        )
    return {key: value.replace("{site}", site_name) for key, value in words.items()}


def default_document(name: str, origins: list[str]) -> dict[str, Any]:
    """The smallest settings document: a name and origins; everything else is a default."""
    return {"name": name, "origins": list(origins)}


#: The preference center's own words (`/p/SITE_KEY`), in the built-in locales; other locales
#: are shown in English. Site owners do not edit these: the page is the service's, the same
#: for every site, and says what the service holds.
PREFERENCE_CENTER_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your privacy choices at {site}",
        "intro": (
            "What you chose on {site}, when, and under which banner text and privacy policy. "
            "You can change your choices, withdraw your consent, download everything held "
            "about you, or ask for its erasure."
        ),
        "language": "Language",
        "no_token": (
            "Open this page from the link in the cookie settings of {site}: the link tells us "
            "which choices are yours. Nothing is recorded before you make a choice there."
        ),
        "invalid_token": "This link is not valid for {site}. Open it again from the site.",
        "nothing": "No choice of yours is recorded yet.",
        "current": "Your current choices",
        "current_hint": "Switch a purpose on or off, then save.",
        "always_on": "Always on",
        "save": "Save choices",
        "saved": "Your choices were saved.",
        "withdraw_title": "Withdraw consent",
        "withdraw_hint": (
            "Withdraws every consent at once. What is strictly necessary keeps working; the "
            "record that you withdrew is kept as proof."
        ),
        "withdraw": "Withdraw all consent",
        "withdrawn": "Your consent is withdrawn.",
        "history": "History of your choices",
        "history_caption": "Every choice recorded, newest first",
        "when": "When",
        "action": "Choice",
        "choices": "Allowed",
        "source": "Where",
        "banner_text": "Banner text shown",
        "policy": "Privacy policy version",
        "seal": "Proof",
        "sealed": "Sealed in the public ledger (entry %s)",
        "waiting": "Waiting to be sealed",
        "receipt": "Signed receipt",
        "none_allowed": "Only strictly necessary",
        "download_title": "Download your data",
        "download_hint": "Everything this service holds about you for {site}, as a JSON file.",
        "download": "Download my data (JSON)",
        "erasure_title": "Erasure",
        "erasure_hint": (
            "Ask {site} to erase what is held about you beyond the proof of your choices "
            "(for example the contact details you sent through a form)."
        ),
        "erasure": "Ask for erasure",
        "erasure_sent": "Your request for erasure was received.",
        "erasure_follow": "Follow your request",
        "erasure_failed": "The request could not be sent. Please try again later.",
        "accept_all": "Accepted all",
        "reject_all": "Rejected all",
        "custom": "Chose some",
        "withdraw_action": "Withdrew consent",
        "gpc_opt_out": "Opted out by Global Privacy Control",
        "source_banner": "Banner",
        "source_preference_center": "This page",
        "source_api": "The site",
        "source_email": "E-mail",
        "source_form": "Form",
    },
    "zh-CN": {
        "title": "您在 {site} 的隐私选择",
        "intro": (
            "您在 {site} 作出的选择、时间，以及当时所依据的横幅文字和隐私政策版本。"
            "您可以更改选择、撤回同意、下载我们持有的关于您的全部数据，或要求删除。"
        ),
        "language": "语言",
        "no_token": (
            "请从 {site} 的 Cookie 设置中的链接打开此页面：该链接告诉我们哪些选择属于您。"
            "在您作出选择之前，我们不会记录任何内容。"
        ),
        "invalid_token": "此链接对 {site} 无效。请从网站重新打开。",
        "nothing": "尚未记录您的任何选择。",
        "current": "您当前的选择",
        "current_hint": "开启或关闭各项用途，然后保存。",
        "always_on": "始终开启",
        "save": "保存选择",
        "saved": "您的选择已保存。",
        "withdraw_title": "撤回同意",
        "withdraw_hint": "一次撤回全部同意。必要功能将继续运行；您撤回同意的记录将作为证明保留。",
        "withdraw": "撤回全部同意",
        "withdrawn": "您的同意已撤回。",
        "history": "您的选择记录",
        "history_caption": "已记录的每一次选择，最新的在前",
        "when": "时间",
        "action": "选择",
        "choices": "已允许",
        "source": "来源",
        "banner_text": "当时显示的横幅文字",
        "policy": "隐私政策版本",
        "seal": "证明",
        "sealed": "已封存于公开账本（第 %s 条）",
        "waiting": "等待封存",
        "receipt": "签名回执",
        "none_allowed": "仅必要",
        "download_title": "下载您的数据",
        "download_hint": "本服务为 {site} 持有的关于您的全部数据，JSON 文件。",
        "download": "下载我的数据（JSON）",
        "erasure_title": "删除",
        "erasure_hint": (
            "要求 {site} 删除除选择证明之外持有的关于您的数据（例如您通过表单提交的联系方式）。"
        ),
        "erasure": "要求删除",
        "erasure_sent": "已收到您的删除请求。",
        "erasure_follow": "查看请求进度",
        "erasure_failed": "请求未能发送，请稍后重试。",
        "accept_all": "全部接受",
        "reject_all": "全部拒绝",
        "custom": "部分允许",
        "withdraw_action": "撤回同意",
        "gpc_opt_out": "通过全球隐私控制（GPC）退出",
        "source_banner": "横幅",
        "source_preference_center": "本页面",
        "source_api": "网站",
        "source_email": "电子邮件",
        "source_form": "表单",
    },
}


def preference_center_texts(locale: str, site_name: str) -> dict[str, str]:
    """The preference center's words in `locale` (English where it has none)."""
    words = {**PREFERENCE_CENTER_TEXTS["en"], **PREFERENCE_CENTER_TEXTS.get(locale, {})}
    return {key: value.replace("{site}", site_name) for key, value in words.items()}
