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
