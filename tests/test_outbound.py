"""Admin-given URLs and the requests the service makes: https, public addresses, no redirects."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from consent_service.outbound import (
    AddressRefused,
    UrlRefused,
    check_endpoint,
    check_link,
    open_checked,
    opener,
)

REFUSED_ENDPOINTS = [
    "http://backend.example.com/hook",
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://[::1]/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "https://100.64.0.1/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://user:pw@backend.example.com/hook",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("url", REFUSED_ENDPOINTS)
def test_endpoints_must_be_https_to_public_addresses(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_endpoint(url)


def test_the_development_setting_allows_a_local_receiver() -> None:
    assert check_endpoint("http://127.0.0.1:8080/hook", allow_local=True)
    assert check_endpoint("https://93.184.215.14/hook") == "https://93.184.215.14/hook"


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "http://example.com/privacy", "//x.test/"]
)
def test_links_shown_to_visitors_are_https(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_link(url)


def test_plain_http_links_only_on_loopback() -> None:
    assert check_link("http://127.0.0.1:8000/demo/privacy")
    assert check_link("https://www.example.com/privacy")


class Local:
    """A loopback server answering every request with `status` (and a Location)."""

    def __init__(self, status: int = 200, location: str = "") -> None:
        self.hits = 0
        local = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                local.hits += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_name_resolving_to_loopback_is_refused_when_connecting() -> None:
    local = Local()
    try:
        request = urllib.request.Request(
            local.url.replace("127.0.0.1", "localhost"), data=b"{}", method="POST"
        )
        with pytest.raises(urllib.error.URLError) as raised:
            opener(allow_local=False).open(request, timeout=5)
        assert isinstance(raised.value.reason, AddressRefused)
        assert local.hits == 0
    finally:
        local.close()


def test_redirects_are_not_followed() -> None:
    target = Local()
    redirecting = Local(307, target.url)
    try:
        request = urllib.request.Request(redirecting.url, data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as raised:
            open_checked(request, 5, allow_local=True)
        raised.value.close()
        assert raised.value.code == 307
        assert (redirecting.hits, target.hits) == (1, 0)
    finally:
        target.close()
        redirecting.close()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "https://169.254.169.254/", "https://10.0.0.1/x"]
)
def test_the_webhook_api_refuses_local_endpoints(client, site, admin_token, url) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    response = client.post(
        f"/api/v1/sites/{site.site_key}/webhooks", json={"url": url}, headers=auth
    )
    assert response.status_code == 422
    assert "url" in response.get_json()["errors"]
    client.application.config["WEBHOOK_ALLOW_HTTP"] = True
    response = client.post(
        f"/api/v1/sites/{site.site_key}/webhooks", json={"url": url}, headers=auth
    )
    assert response.status_code == 201


def test_policies_publish_refuses_a_javascript_url(runner, site) -> None:
    result = runner.invoke(
        args=[
            "policies", "publish", "--site", site.site_key, "--label", "x",
            "--url", "javascript:alert(document.cookie)", "--sha256", "0" * 64,
        ]
    )  # fmt: skip
    assert result.exit_code == 2
    assert "https" in result.output


def test_a_neocrm_url_must_be_https(app, site) -> None:
    from consent_service.integrations.crm.connection import configure

    with pytest.raises(ValueError, match="https"):
        configure(
            site, auth_url="http://login.example.com", instance_url="https://api.example.com",
            client_id="id", client_secret="s", username="u", password="p",
        )  # fmt: skip
