"""The SMTP transport: settings from configuration, building RFC 5322 messages, and sending
them over plain, STARTTLS or TLS connections.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from types import TracebackType
from typing import Any, Protocol

from consent_service.redact import get_logger

log = get_logger(__name__)


SECURITY_MODES = ("none", "starttls", "tls")


#: Headers that mail clients read as they are: never folded or encoded (RFC 2369, RFC 8058).
VERBATIM_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})


class MailPolicy(EmailPolicy):
    """The SMTP policy (CRLF, RFC 2047 for non-ASCII), except that List-Unsubscribe stays one
    line: folded into encoded-words, clients would no longer recognise its URL."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() in VERBATIM_HEADERS:
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in VERBATIM_HEADERS:
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


MAIL_POLICY = MailPolicy(linesep="\r\n")


class SendFailed(Exception):
    """The message was not accepted; `permanent` when trying again cannot help (5xx)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    mail_from: str
    username: str | None = None
    password: str | None = None
    timeout: float = 20.0
    ca_file: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings | None:
        """None while no SMTP host is configured (messages then wait in the outbox)."""
        if not config.get("SMTP_HOST"):
            return None
        security = str(config.get("SMTP_SECURITY") or "starttls")
        if security not in SECURITY_MODES:
            raise ValueError(f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}")
        return cls(
            host=str(config["SMTP_HOST"]),
            port=int(config["SMTP_PORT"]),
            security=security,
            mail_from=str(config.get("MAIL_FROM") or f"consent-service@{config['SMTP_HOST']}"),
            username=config.get("SMTP_USERNAME") or None,
            password=config.get("SMTP_PASSWORD") or None,
            timeout=float(config.get("SMTP_TIMEOUT") or 20.0),
            ca_file=config.get("SMTP_CA_FILE") or None,
        )

    @property
    def sender_domain(self) -> str:
        return parseaddr(self.mail_from)[1].rpartition("@")[2] or "consent-service.invalid"


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    """One SMTP session per sender run, opened on the first message and reopened after an
    error. TLS certificates are verified (SMTP_CA_FILE adds a private CA)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        smtp: smtplib.SMTP
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=self._tls_context()
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            smtp.ehlo()
            if settings.security == "starttls":
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, settings.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise SendFailed(_describe(exc), permanent=all(code >= 500 for code in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise SendFailed(_describe(exc), permanent=exc.smtp_code >= 500) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise SendFailed(_describe(exc)) from exc
        if refused:
            raise SendFailed(f"refused: {refused}")

    def close(self) -> None:
        if self._smtp is None:
            return
        smtp, self._smtp = self._smtp, None
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def build_message(
    settings: SmtpSettings,
    recipient: str,
    content: Mapping[str, Any],
    message_id: str,
    now: datetime,
) -> EmailMessage:
    """A text/plain UTF-8 message. The policy refuses header values with line breaks, so a
    stored field can never add a header (the API layer rejects such input before)."""
    message = EmailMessage(policy=MAIL_POLICY)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{message_id}@{settings.sender_domain}>"
    message["From"] = settings.mail_from
    message["To"] = Address(addr_spec=recipient)
    message["Subject"] = content["subject"]
    for name, value in content.get("headers", {}).items():
        message[name] = value
    message.set_content(content["text"], charset="utf-8", cte="quoted-printable")
    return message
