"""Helpers for the console tests: accounts, CSRF tokens scraped from pages, signing in."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from consent_service.console import accounts

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_account(email: str, role: str, site: Any = None) -> Any:
    return accounts.create_account(email, PASSWORD, role, site)


def csrf_token(client: FlaskClient, path: str = "/console/login") -> str:
    page = client.get(path)
    found = CSRF.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    token = csrf_token(client)
    return client.post(
        "/console/login", data={"email": email, "password": password, "csrf_token": token}
    )


def post(client: FlaskClient, path: str, data: dict[str, Any], page: str | None = None) -> Any:
    """A form post as the browser sends it: with the token from the page it came from."""
    token = csrf_token(client, page or path)
    return client.post(path, data={**data, "csrf_token": token})
