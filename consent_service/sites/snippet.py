"""The banner script as served: the built runtime with one site's configuration in it.

The runtime (`static/snippet/runtime.js`, built from `js-snippet/`) contains the placeholder
`__CONSENT_SITE__` exactly once; a site's script is the runtime with its configuration as a
JavaScript object literal there. One response, no chained fetch: the first layer needs nothing
else. The result is content-addressed, so it can also be served at an immutable URL for
Subresource Integrity.

A site with forms gets the tiny forms loader (`forms-loader.js`) appended, naming the immutable
URL of its forms script (`forms.js` with the forms' configuration in place of
`__CONSENT_FORMS__`): pages with a `<form data-consent-form>` fetch it, others never do, and
sites without forms pay nothing.

The platform adapters (`platforms.js`: Microsoft UET consent mode, Clarity's `consentv2`, Meta's
`fbq('consent', ...)`) are appended the same way, with the categories each platform needs in
place of `__CONSENT_PLATFORMS__`, only for sites whose services use one of them.
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
FORMS_PLACEHOLDER = "__CONSENT_FORMS__"
FORMS_SRC_PLACEHOLDER = "__CONSENT_FORMS_SRC__"
PLATFORMS_PLACEHOLDER = "__CONSENT_PLATFORMS__"


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
def forms_runtime() -> str:
    return (SNIPPET_DIR / "forms.js").read_text(encoding="utf-8")


@cache
def forms_loader() -> str:
    return (SNIPPET_DIR / "forms-loader.js").read_text(encoding="utf-8")


@cache
def platforms_runtime() -> str:
    return (SNIPPET_DIR / "platforms.js").read_text(encoding="utf-8")


@cache
def stub() -> bytes:
    return (SNIPPET_DIR / "stub.js").read_bytes()


def script_literal(value: Any) -> str:
    """JSON that is safe inside a script: no `</script>`, no `<!--`, no JS line terminators."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def build_script(
    config: dict[str, Any],
    forms_src: str | None = None,
    platforms: dict[str, list[str]] | None = None,
) -> PublishedScript:
    """The site's banner script; with `forms_src`, the forms loader pointing at it; with
    `platforms` (platform -> categories), the adapters that tell those platforms, run in the
    same task as the runtime so their defaults come before any tag."""
    text = runtime().replace(PLACEHOLDER, script_literal(config), 1)
    if platforms:
        text += ";\n" + platforms_runtime().replace(
            PLATFORMS_PLACEHOLDER, script_literal(platforms), 1
        )
    if forms_src is not None:
        # A statement of its own, whatever the runtime ends with.
        text += ";\n" + forms_loader().replace(FORMS_SRC_PLACEHOLDER, script_literal(forms_src), 1)
    return publish(text.encode("utf-8"))


def build_forms_script(config: dict[str, Any]) -> PublishedScript:
    """The forms script of one site: the built forms runtime with its forms' configuration."""
    return publish(
        forms_runtime().replace(FORMS_PLACEHOLDER, script_literal(config), 1).encode("utf-8")
    )


def publish(body: bytes) -> PublishedScript:
    digest = hashlib.sha384(body).digest()
    return PublishedScript(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        version=hashlib.sha256(body).hexdigest()[:16],
        integrity="sha384-" + base64.b64encode(digest).decode(),
    )
