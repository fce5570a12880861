"""A real SMTP server on loopback (aiosmtpd) that keeps what it is sent, plain, STARTTLS or
implicit TLS, with a self-signed certificate made at test time."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificate(directory: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost; trust it through its own file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


def free_port() -> int:
    """A port nothing listens on (an SMTP server that is down)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Collector:
    """The aiosmtpd handler: keeps every message as the raw bytes it received."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        """Like a real server, a refusal quotes the address (for addresses "refused…@")."""
        if address.startswith("refused"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(bytes(envelope.original_content or envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Controller on port 0: learn the port the system gave before aiosmtpd connects to it."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """Security "none", "starttls" (required) or "tls" (implicit); optional login."""

    def __init__(
        self,
        security: str = "none",
        certificate: Certificate | None = None,
        port: int = 0,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.security = security
        self.collector = Collector()
        self.logins: list[str] = []
        kwargs: dict[str, Any] = {}
        if security != "none":
            assert certificate is not None
            context = certificate.server_context()
            if security == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context)
        if login is not None:
            expected = login

            def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
                given = (data.login.decode(), data.password.decode())
                self.logins.append(given[0])
                return AuthResult(success=given == expected)

            kwargs.update(authenticator=authenticate)
            if security == "tls":
                # aiosmtpd does not count implicit TLS as TLS for AUTH; it is TLS all the same.
                kwargs.update(auth_require_tls=False, auth_required=False)
            else:
                kwargs.update(auth_required=True)
        self.controller = _Controller(self.collector, hostname=HOST, port=port, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for raw in self.collector.raw
        ]
