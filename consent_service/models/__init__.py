"""Database models, one module per aggregate. Models never commit; operations do."""

from consent_service.models.consent import ConsentEvent, ConsentWriteCounter
from consent_service.models.console import (
    ConsoleAccount,
    ConsoleActivity,
    ConsoleRole,
    DailyDecisionCount,
    SigninFailureCounter,
)
from consent_service.models.crm import CrmConnection, Disclosure, Lead
from consent_service.models.erasure import ErasureTombstone
from consent_service.models.form import SiteForm
from consent_service.models.ledger import (
    AuditExport,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerKey,
    LedgerQueue,
)
from consent_service.models.request import SubjectRequest, SubjectRequestStep
from consent_service.models.scan import BannerCapture
from consent_service.models.site import (
    BannerVersion,
    Category,
    PolicyVersion,
    Service,
    SettingsChange,
    Site,
)
from consent_service.models.subscription import (
    MailMessage,
    MailRateEvent,
    Subscription,
    Suppression,
)
from consent_service.models.token import ApiToken
from consent_service.models.webhook import Webhook, WebhookDelivery

__all__ = [
    "ApiToken",
    "AuditExport",
    "BannerCapture",
    "BannerVersion",
    "Category",
    "ConsentEvent",
    "ConsentWriteCounter",
    "ConsoleAccount",
    "ConsoleActivity",
    "ConsoleRole",
    "CrmConnection",
    "DailyDecisionCount",
    "Disclosure",
    "ErasureTombstone",
    "Lead",
    "LedgerCheckpoint",
    "LedgerEntry",
    "LedgerKey",
    "LedgerQueue",
    "MailMessage",
    "MailRateEvent",
    "PolicyVersion",
    "Service",
    "SettingsChange",
    "SigninFailureCounter",
    "Site",
    "SiteForm",
    "SubjectRequest",
    "SubjectRequestStep",
    "Subscription",
    "Suppression",
    "Webhook",
    "WebhookDelivery",
]
