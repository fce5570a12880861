"""Every URL a site owner or admin gives us, and every request the service makes to one.

Links shown to visitors (a policy, a service's privacy page) are `https:`; plain `http:` only
on loopback, where a developer runs a page next to the service. Endpoints the service calls
(webhooks, NeoCRM) are `https:` and must resolve to public addresses: loopback, private,
link-local (169.254.169.254, the cloud metadata service), shared, reserved and multicast
addresses are refused after DNS resolution, at the moment of connecting, so a name that
changes its answer cannot slip through. Redirects are never followed. `allow_local` (the
development setting WEBHOOK_ALLOW_HTTP) lifts both rules for a receiver on this machine.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.request
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
MAX_URL_LENGTH = 2048


class UrlRefused(ValueError):
    """A URL we will not show or call; the message says why, for a 422 or a CLI error."""


class AddressRefused(OSError):
    """The endpoint's name resolved to an address the service must not call."""


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def is_loopback_host(host: str) -> bool:
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def literal_address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def check_link(url: str) -> str:
    """A link a visitor may click: https, or http on loopback (development)."""
    text = url.strip()
    parts = urlsplit(text)
    host = parts.hostname or ""
    if len(text) > MAX_URL_LENGTH or parts.username or parts.password or not host:
        raise UrlRefused("Must be an https URL with a host, without credentials.")
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host)):
        return text
    raise UrlRefused("Must be an https URL (http only on loopback, for development).")


def check_endpoint(url: str, allow_local: bool = False) -> str:
    """An endpoint the service will call. Names are resolved here too (a refused address is
    refused now, not at the first delivery); a name that does not resolve yet is kept and
    checked again when connecting."""
    text = url.strip()
    parts = urlsplit(text)
    host = parts.hostname or ""
    schemes = ("https", "http") if allow_local else ("https",)
    if parts.scheme not in schemes or not host:
        raise UrlRefused("Must be an https URL.")
    if parts.username or parts.password or len(text) > MAX_URL_LENGTH:
        raise UrlRefused("No credentials; at most 2048 characters.")
    if allow_local:
        return text
    if is_loopback_host(host):
        raise UrlRefused("Must not be a loopback, private or link-local address.")
    try:
        addresses = resolve(host, parts.port or 443)
    except OSError:
        return text
    if not all(is_public_address(address) for address in addresses):
        raise UrlRefused("Must not be a loopback, private or link-local address.")
    return text


def resolve(host: str, port: int) -> list[str]:
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def connect_checked(host: str, port: int, timeout: Any, allow_local: bool) -> socket.socket:
    """Resolve, refuse non-public addresses, and connect to the address that was checked."""
    last_error: OSError = AddressRefused(f"{host} did not resolve")
    for address in resolve(host, port):
        if not allow_local and not is_public_address(address):
            raise AddressRefused(f"{host} resolves to a non-public address")
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            last_error = exc
    raise last_error


class _CheckedHTTPConnection(http.client.HTTPConnection):
    allow_local = False

    def connect(self) -> None:
        self.sock = connect_checked(self.host, self.port, self.timeout, self.allow_local)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    allow_local = False

    def connect(self) -> None:
        sock = connect_checked(self.host, self.port, self.timeout, self.allow_local)
        context: ssl.SSLContext = self._context  # type: ignore[attr-defined]
        self.sock = context.wrap_socket(sock, server_hostname=self.host)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is the endpoint's answer (a failure), never a second request elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def opener(allow_local: bool = False) -> urllib.request.OpenerDirector:
    """urllib with the address check on every connection and no redirects."""

    class Http(_CheckedHTTPConnection):
        pass

    class Https(_CheckedHTTPSConnection):
        pass

    Http.allow_local = Https.allow_local = allow_local

    class HttpHandler(urllib.request.HTTPHandler):
        def http_open(self, req: Any) -> Any:
            return self.do_open(Http, req)

    class HttpsHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: Any) -> Any:
            return self.do_open(Https, req, context=ssl.create_default_context())

    return urllib.request.build_opener(_NoRedirect(), HttpHandler(), HttpsHandler())


def open_checked(request: urllib.request.Request, timeout: float, allow_local: bool) -> Any:
    """Send `request` to an endpoint checked by `check_endpoint` (again: a stored URL may be
    older than the rules) through `opener`. Raises UrlRefused, AddressRefused or urllib's
    errors; a 3xx comes back as an HTTPError."""
    check_endpoint(request.full_url, allow_local=allow_local)
    return opener(allow_local).open(request, timeout=timeout)
