"""Text that reaches an export must be safe to open in a spreadsheet, as it is.

A CSV cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula
by Excel, LibreOffice and Google Sheets (`=HYPERLINK(...)`). Escaping at export time would
change the bytes an auditor hashes, so such values are refused where they come in instead.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A label: starts with a letter or digit, then letters, digits and `.`, `_`, `:`, `-`.
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
LABEL_RULE = "1 to 64 of A-Z a-z 0-9 . _ : - starting with a letter or digit"


class UnsafeText(ValueError):
    """A value that a spreadsheet would run as a formula, or that holds control characters."""


def check_label(value: str, what: str = "label") -> str:
    """A version label (policy versions): the strict alphabet."""
    if not LABEL.fullmatch(value):
        raise UnsafeText(f"{what} must be {LABEL_RULE}")
    return value


def check_text(value: str, what: str = "text") -> str:
    """Free text (names, providers, locations): no formula start, no control characters."""
    if value.startswith(FORMULA_STARTS):
        raise UnsafeText(f"{what} must not start with = + - @, a tab or a carriage return")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise UnsafeText(f"{what} must not contain control characters")
    return value
