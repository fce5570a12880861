"""The banner script as served: the built runtime with one site's configuration in it.

The runtime (`static/snippet/runtime.js`, built from `js-snippet/`) contains the placeholder
`__CONSENT_SITE__` exactly once; a site's script is the runtime with its configuration as a
JavaScript object literal there. One response, no chained fetch: the first layer needs nothing
else. The result is content-addressed, so it can also be served at an immutable URL for
Subresource Integrity.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SNIPPET_DIR = Path(__file__).resolve().parent.parent / "static" / "snippet"
PLACEHOLDER = "__CONSENT_SITE__"


@dataclass(frozen=True)
class PublishedScript:
    body: bytes
    gzipped: bytes  # compressed once per version: the one tag is on every page view
    version: str  # first 16 hex digits of SHA-256 of the body: the immutable URL's name
    integrity: str  # the `integrity` attribute for an SRI-pinned install


@cache
def runtime() -> str:
    return (SNIPPET_DIR / "runtime.js").read_text(encoding="utf-8")


@cache
def stub() -> bytes:
    return (SNIPPET_DIR / "stub.js").read_bytes()


@cache
def builtin_strings() -> dict[str, dict[str, str]]:
    """The banner's own words (buttons, labels) per language, built from js-snippet/src."""
    words: dict[str, dict[str, str]] = json.loads(
        (SNIPPET_DIR / "strings.json").read_text(encoding="utf-8")
    )
    return words


def strings_for(locales: list[str]) -> dict[str, dict[str, str]]:
    """The built-in words for a site's languages (matched on the primary subtag) and English,
    so a one-language site does not carry every translation in its script."""
    wanted = {locale.lower().split("-")[0] for locale in locales} | {"en"}
    return {
        language: words
        for language, words in builtin_strings().items()
        if language.lower().split("-")[0] in wanted
    }


def script_literal(value: Any) -> str:
    """JSON that is safe inside a script: no `</script>`, no `<!--`, no JS line terminators."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def build_script(config: dict[str, Any]) -> PublishedScript:
    body = runtime().replace(PLACEHOLDER, script_literal(config), 1).encode("utf-8")
    digest = hashlib.sha384(body).digest()
    return PublishedScript(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        version=hashlib.sha256(body).hexdigest()[:16],
        integrity="sha384-" + base64.b64encode(digest).decode(),
    )
