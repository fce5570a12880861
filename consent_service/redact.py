"""What may be stored or logged of an error: its gist, never the personal data in it.

An SMTP refusal quotes the recipient's address, a CRM error may echo the lead it refused, a
traceback carries a token or a URL's query string. `redact` removes addresses, phone numbers,
network addresses, tokens and any value the caller knows is personal (a lead's fields) from a
text before it is put in a `last_error` column or a log line; `RedactingFilter` does the same
for every record of the service's loggers and gunicorn's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MAX_ERROR_LENGTH = 500

EMAIL = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)
IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
IPV6 = re.compile(
    r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{0,4}::(?:[0-9A-Fa-f]{1,4}:?){0,6})(?![\w:])"
)
PHONE = re.compile(r"(?<![\w.])\+?\d[\d ()./-]{6,}\d(?![\w.])")
# Secrets and signed tokens: long runs of URL-safe base64 or hex with a digit in them
# (itsdangerous adds dot-separated parts); CERTIFICATE_VERIFY_FAILED is not one.
TOKEN = re.compile(r"(?<![\w-])(?=[\w-]*\d)[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]{4,})*")
QUERY = re.compile(r"\?[^\s\"']*")
# gunicorn's start line names the service's own listening address and its pid, never a
# visitor's: the operator needs the port ("Listening at: http://127.0.0.1:8731 (28425)").
OWN_ADDRESS_MESSAGES = ("Listening at: %s (%s)", "Listening at: %s")


def redact(text: str, known: Iterable[str] = (), limit: int = MAX_ERROR_LENGTH) -> str:
    """`text` without personal data, at most `limit` characters."""
    for value in sorted((v for v in known if v and len(v) >= 3), key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    text = EMAIL.sub("[address]", text)
    text = QUERY.sub("?[query]", text)
    text = TOKEN.sub("[token]", text)
    text = IPV4.sub("[ip]", text)
    text = IPV6.sub("[ip]", text)
    text = PHONE.sub("[number]", text)
    return text[:limit]


def redact_path(path: str) -> str:
    """A request path for the access log: a token or id in it (an unsubscribe or confirmation
    link, a visitor or event id: any segment of 32 characters or more) becomes [token]; the
    query string is never logged at all. Site keys (22 characters) stay readable."""
    segments = path.split("?", 1)[0].split("/")
    return "/".join("[token]" if len(segment) >= 32 else segment for segment in segments)


class RedactingFilter(logging.Filter):
    """Redacts a record's message and traceback before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in OWN_ADDRESS_MESSAGES and not record.exc_info:
            return True
        record.msg = redact(record.getMessage(), limit=10_000)
        record.args = None
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(formatted, limit=50_000)
            record.exc_info = None
        return True


def get_logger(name: str) -> logging.Logger:
    """A module's logger whose records are redacted (filters do not apply to children)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
