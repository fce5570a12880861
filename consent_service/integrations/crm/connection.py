"""A site's NeoCRM connection: its URLs, credentials (stored encrypted), field map and fixed
values, validated when an admin configures it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import select

from consent_service.encryption import (
    decrypt_text,
    encrypt_text,
)
from consent_service.extensions import db
from consent_service.integrations.crm.neocrm import (
    NeoCrmSettings,
)
from consent_service.models import (
    CrmConnection,
    Site,
)
from consent_service.outbound import UrlRefused, check_endpoint
from consent_service.sites.forms import (
    FIELD_CATALOGUE,
    forms_of,
)

#: Form field -> NeoCRM lead field, unless a site maps them otherwise.
DEFAULT_FIELD_MAP = {"name": "name", "company": "companyName", "email": "email", "phone": "phone"}


#: Not a form field: our lead id, sent so that a lead whose creation timed out can be found.
LEAD_ID_SOURCE = "lead_id"


CRM_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")


def _check_url(url: str, option: str) -> str:
    """https to a public host; http and local hosts only with WEBHOOK_ALLOW_HTTP (development,
    e.g. the NeoCRM stand-in of the tests)."""
    allow_local = bool(current_app.config.get("WEBHOOK_ALLOW_HTTP"))
    try:
        return check_endpoint(url, allow_local=allow_local).rstrip("/")
    except UrlRefused as exc:
        raise ValueError(f"{option}: {exc}") from exc


def merged_field_map(given: Mapping[str, str | None] | None) -> dict[str, str]:
    """The defaults with the site's own mapping on top; a null value unmaps a field."""
    merged: dict[str, str | None] = {**DEFAULT_FIELD_MAP, **(given or {})}
    result: dict[str, str] = {}
    for source, target in merged.items():
        if source not in FIELD_CATALOGUE and source != LEAD_ID_SOURCE:
            known = ", ".join([*FIELD_CATALOGUE, LEAD_ID_SOURCE])
            raise ValueError(f"--field-map: unknown form field {source!r} (known: {known})")
        if target is None:
            continue
        if not isinstance(target, str) or not CRM_FIELD_NAME.match(target):
            raise ValueError(f"--field-map: {target!r} is not a NeoCRM field name")
        result[source] = target
    return result


def checked_fixed(fixed: Mapping[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in (fixed or {}).items():
        if not CRM_FIELD_NAME.match(name):
            raise ValueError(f"--fixed: {name!r} is not a NeoCRM field name")
        if not isinstance(value, (str, int, float, bool)) or value is None:
            raise ValueError(f"--fixed: {name} must be a string, number or boolean")
        result[name] = value
    return result


def configure(
    site: Site,
    *,
    auth_url: str,
    instance_url: str,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    field_map: Mapping[str, str | None] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> CrmConnection:
    """Create or replace the site's NeoCRM connection (secrets encrypted); commits."""
    for value, option in ((client_id, "--client-id"), (username, "--username")):
        if not value.strip() or len(value) > 200:
            raise ValueError(f"{option} must be 1 to 200 characters")
    if not client_secret or not password:
        raise ValueError("--client-secret and --password must not be empty")
    connection = db.session.scalar(select(CrmConnection).where(CrmConnection.site_id == site.id))
    if connection is None:
        connection = CrmConnection(site_id=site.id)
        db.session.add(connection)
    connection.auth_url = _check_url(auth_url, "--auth-url")
    connection.instance_url = _check_url(instance_url, "--instance-url")
    connection.client_id = client_id.strip()
    connection.client_secret_encrypted = encrypt_text(client_secret)
    connection.username = username.strip()
    connection.password_encrypted = encrypt_text(password)
    connection.field_map = merged_field_map(field_map)
    connection.fixed = checked_fixed(fixed)
    db.session.commit()
    return connection


def connection_of(site_id: int) -> CrmConnection | None:
    return db.session.scalar(select(CrmConnection).where(CrmConnection.site_id == site_id))


def unmapped_fields(site_id: int, connection: CrmConnection) -> list[str]:
    """Fields the site's lead forms collect that the mapping does not send (kept, not sent)."""
    collected = {field["name"] for form in forms_of(site_id, "lead") for field in form.fields}
    return sorted(collected - set(connection.field_map))


def settings_of(connection: CrmConnection) -> NeoCrmSettings:
    return NeoCrmSettings(
        auth_url=connection.auth_url,
        instance_url=connection.instance_url,
        client_id=connection.client_id,
        client_secret=decrypt_text(connection.client_secret_encrypted),
        username=connection.username,
        password=decrypt_text(connection.password_encrypted),
        timeout=float(current_app.config["CRM_TIMEOUT"]),
    )
