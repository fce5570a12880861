"""The demo site: a B2B company with a global site, modelled on the privacy policies we serve.

Google Analytics for traffic analysis, consultation-form leads into the NeoCRM CRM (a third
party storing them in China, so the transfer is cross-border), and product news by e-mail.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from consent_service.extensions import db
from consent_service.models import Site
from consent_service.sites import access, forms, registry, versions
from consent_service.sites.registry import CategorySpec, ServiceSpec

DEMO_SITE_NAME = "Demo: Example Technology Inc."
DEMO_POLICY_LABEL = "2024-09"
# A made-up GA4 measurement id: the demo's gtag.js is a local stand-in (DEMO_GTAG_URL).
DEMO_GA4_MEASUREMENT_ID = "G-DEMO2024CS"

BANNER_TEXTS = {
    "en": {
        "title": "We value your privacy",
        "description": (
            "We use cookies to keep this site working, to understand how it is used, and, if you "
            "agree, to pass your enquiries to our CRM provider and send you product news. Choose "
            "what you allow; you can change your mind at any time."
        ),
        "policy_link": "Privacy policy",
    },
    "zh-CN": {
        "title": "我们重视您的隐私",
        "description": (
            "我们使用 Cookie 保障网站正常运行、了解网站的使用情况，并在您同意后将您的咨询信息"
            "提供给我们的 CRM 服务商、向您发送产品资讯。您可以选择允许的内容，并随时更改。"
        ),
        "policy_link": "隐私政策",
    },
}

CATEGORIES = [
    CategorySpec(
        slug="necessary",
        necessary=True,
        consent_mode_signals=["security_storage", "functionality_storage"],
        texts={
            "en": {
                "name": "Strictly necessary",
                "description": "Needed for the site to work and to remember your choices.",
            },
            "zh-CN": {"name": "必要", "description": "网站正常运行及记住您的选择所必需。"},
        },
    ),
    CategorySpec(
        slug="analytics",
        consent_mode_signals=["analytics_storage"],
        texts={
            "en": {
                "name": "Analytics",
                "description": (
                    "Measures site traffic, page dwell time and conversions to improve the site."
                ),
            },
            "zh-CN": {
                "name": "统计分析",
                "description": "统计网站流量、页面停留时间和转化率，以改进网站。",
            },
        },
    ),
    CategorySpec(
        slug="crm",
        texts={
            "en": {
                "name": "Customer relationship (CRM)",
                "description": (
                    "Passes the details you give in the consultation form to our CRM provider so "
                    "that our sales team can contact you."
                ),
            },
            "zh-CN": {
                "name": "客户关系管理（CRM）",
                "description": "将您在咨询表单中填写的信息提供给我们的 CRM 服务商，以便销售团队与您联系。",
            },
        },
    ),
    CategorySpec(
        slug="media",
        texts={
            "en": {
                "name": "Embedded media",
                "description": "Product videos from our video host, which may set its own cookies.",
            },
            "zh-CN": {
                "name": "嵌入媒体",
                "description": "来自视频托管方的产品视频，可能设置其自己的 Cookie。",
            },
        },
    ),
    CategorySpec(
        slug="marketing_email",
        gpc_opt_out=True,
        texts={
            "en": {
                "name": "Marketing e-mail",
                "description": "Product updates and promotions by e-mail; unsubscribe at any time.",
            },
            "zh-CN": {
                "name": "营销邮件",
                "description": "通过电子邮件接收产品资讯和推广活动，可随时退订。",
            },
        },
    ),
]

SERVICES = [
    ServiceSpec(
        slug="google-analytics",
        category="analytics",
        name="Google Analytics",
        provider="Google LLC",
        privacy_policy_url="https://policies.google.com/privacy",
        storage_location="United States",
        cross_border=True,
        third_party=True,
        cookies=[
            {"name": "_ga", "pattern": "^_ga$", "domain": "", "lifetime": "2 years"},
            {"name": "_ga_*", "pattern": "^_ga_.+$", "domain": "", "lifetime": "2 years"},
        ],
        texts={
            "en": {
                "purpose": "Analyse the site's performance to improve the user experience.",
                "data_collected": "Website traffic, page dwell time, user behaviour, conversions.",
            },
            "zh-CN": {
                "purpose": "分析网站运营表现，以改善用户体验。",
                "data_collected": "网站流量、页面停留时间、用户行为数据、转化率。",
            },
        },
    ),
    ServiceSpec(
        slug="neocrm",
        category="crm",
        name="NeoCRM",
        provider=(
            "Beijing Renkehudong Network Technology Co., Ltd. and "
            "Beijing Ingage App Internet Technology Ltd. Co."
        ),
        privacy_policy_url="https://www.neocrm.com/privacy",
        storage_location="China",
        cross_border=True,
        third_party=True,
        cookies=[],
        texts={
            "en": {
                "purpose": "Contact you about your enquiry.",
                "data_collected": "Name, postal code, company website, phone number.",
            },
            "zh-CN": {
                "purpose": "就您的咨询与您联系。",
                "data_collected": "姓名、邮政编码、公司网站、电话号码。",
            },
        },
    ),
    ServiceSpec(
        slug="video-player",
        category="media",
        name="Product video player",
        provider="Example Video Hosting Ltd.",
        privacy_policy_url="https://video.example.com/privacy",
        storage_location="European Union",
        cross_border=False,
        third_party=True,
        cookies=[
            {"name": "vp_session", "pattern": "^vp_session$", "domain": "", "lifetime": "session"}
        ],
        texts={
            "en": {
                "purpose": "Play embedded product videos.",
                "data_collected": "Playback events, device type.",
            },
            "zh-CN": {"purpose": "播放嵌入的产品视频。", "data_collected": "播放事件、设备类型。"},
        },
    ),
    ServiceSpec(
        slug="newsletter",
        category="marketing_email",
        name="Product newsletter",
        provider="Example Technology Inc.",
        privacy_policy_url=None,
        storage_location="United States",
        cross_border=False,
        third_party=False,
        cookies=[],
        texts={
            "en": {
                "purpose": "Send product updates and promotions you asked for.",
                "data_collected": "E-mail address, language.",
            },
            "zh-CN": {
                "purpose": "发送您订阅的产品资讯和推广活动。",
                "data_collected": "电子邮件地址、语言。",
            },
        },
    ),
]

POLICY_TEXT = """Example Technology Inc. Website Privacy Policy (version 2024-09)

1. What we collect. When you browse this site we use cookies that are strictly necessary for it
to work. With your consent we use Google Analytics (Google LLC) to measure website traffic, page
dwell time, user behaviour and conversions.

2. Consultation form. If you submit the consultation form and consent, the details you give
(name, postal code, company website, phone number) are imported into the CRM system operated by
our third-party service provider NeoCRM and stored on servers located in China. We ask for your
separate consent to this transfer and record each disclosure: content, time, reason, recipient.

3. Marketing e-mail. If you opt in, we send product updates and promotions. Every message has an
unsubscribe link; you may withdraw at any time.

4. Your rights. You may access, correct, export or erase your personal information and withdraw
consent at any time through the "Cookie settings" link on every page.
"""


CRM_TRANSFER_WORDING = {
    "en": (
        "I agree that Example Technology Inc. passes the details in this form (name, company, "
        "website, phone, e-mail, postal code, message) to NeoCRM (Beijing Renkehudong Network "
        "Technology Co., Ltd.), which stores them on servers in China, so that our sales team "
        "can contact me about my enquiry."
    ),
    "zh-CN": (
        "我同意 Example Technology Inc. 将本表单中的信息（姓名、公司、网站、电话、电子邮件、邮政编码、"
        "留言）提供给 NeoCRM（北京仁科互动网络技术有限公司），存储于中国境内的服务器，以便销售团队"
        "就我的咨询与我联系。"
    ),
}
NEWSLETTER_WORDING = {
    "en": (
        "Yes, send me product updates and promotions from Example Technology Inc. by e-mail. "
        "I can unsubscribe at any time with the link in every message."
    ),
    "zh-CN": "是的，请通过电子邮件向我发送 Example Technology Inc. 的产品资讯和推广活动。我可以随时通过每封邮件中的链接退订。",
}
LEAD_FIELDS = ["name*", "company", "website", "phone", "email", "postal_code", "message"]


def define_demo_forms(site: Site) -> None:
    """The consultation form (to NeoCRM, cross-border) and the newsletter sign-up."""
    forms.define_form(
        site,
        "crm",
        purpose="lead",
        category="crm",
        service="neocrm",
        fields=LEAD_FIELDS,
        wording=CRM_TRANSFER_WORDING,
    )
    forms.define_form(
        site,
        "newsletter",
        purpose="subscription",
        category="marketing_email",
        service="newsletter",
        fields=["email*"],
        wording=NEWSLETTER_WORDING,
    )


def find_demo_site() -> Site | None:
    return db.session.scalar(select(Site).where(Site.name == DEMO_SITE_NAME))


def ensure_demo_site(base_url: str) -> tuple[Site, str]:
    """The demo site (created on first run) and a fresh admin token replacing the last one."""
    site = find_demo_site()
    if site is None:
        site = registry.create_site(
            DEMO_SITE_NAME,
            origins=[base_url, base_url.replace("127.0.0.1", "localhost")],
            default_locale="en",
            texts=BANNER_TEXTS,
            categories=CATEGORIES,
            services=SERVICES,
        )
        registry.set_ga4(site, DEMO_GA4_MEASUREMENT_ID)
        versions.publish_policy(
            site,
            DEMO_POLICY_LABEL,
            text=POLICY_TEXT,
            url=f"{base_url}/demo/privacy",
            effective_at=datetime(2024, 9, 1, tzinfo=UTC),
            material=True,
        )
        define_demo_forms(site)
    access.revoke_tokens(site, label="demo")
    _, secret = access.issue_token(site, "admin", label="demo")
    return site, secret
