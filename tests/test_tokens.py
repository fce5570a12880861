"""The visitor token is made without itsdangerous on the hot path: the same bytes as
itsdangerous whenever it would not compress, and every token is read back by itsdangerous (and
so by older releases of the service), and their tokens by this one."""

from __future__ import annotations

import json
import secrets
import zlib

from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_service.tokens import (
    VISITOR_TOKEN_SALT,
    issue_visitor_token,
    read_visitor_token,
    serializer,
)

SITE_KEYS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
#: Visitor ids are 32 hex digits; runs of one digit make a payload that zlib shortens.
VISITORS = st.one_of(
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    st.sampled_from(["0" * 32, "ab" * 16, "f" * 32]),
    st.text(max_size=80),  # anything at all, non-ASCII included
)


def app_with(secret: str | bytes, fallbacks: list[str] | None = None) -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = secret
    app.config["SECRET_KEY_FALLBACKS"] = fallbacks or []
    return app


@settings(max_examples=300, deadline=None)
@given(site_key=SITE_KEYS, visitor_id=VISITORS)
def test_same_bytes_as_itsdangerous(site_key, visitor_id):
    with app_with("a secret key of the usual length, 48 characters").app_context():
        theirs = serializer(VISITOR_TOKEN_SALT).dumps({"s": site_key, "v": visitor_id})
        ours = issue_visitor_token(site_key, visitor_id)
        assert ours == issue_visitor_token(site_key, visitor_id)  # deterministic
        if not theirs.startswith("."):  # itsdangerous compressed it: the only difference
            assert ours == theirs
        assert serializer(VISITOR_TOKEN_SALT).loads(ours) == {"s": site_key, "v": visitor_id}
        assert read_visitor_token(ours, site_key) == visitor_id
        assert read_visitor_token(theirs, site_key) == visitor_id


def test_real_tokens_never_compress():
    """Why compression could go: with a site key and a visitor id as the service makes them
    (both random), zlib never made the payload shorter."""
    for _ in range(5000):
        site_key, visitor_id = secrets.token_urlsafe(16), secrets.token_hex(16)
        payload = json.dumps({"s": site_key, "v": visitor_id}, separators=(",", ":")).encode()
        assert len(zlib.compress(payload)) >= len(payload) - 1


def test_signed_with_the_current_key_and_read_with_fallbacks():
    with app_with(b"new secret as bytes", fallbacks=["old secret"]).app_context():
        visitor_id = secrets.token_hex(16)
        token = issue_visitor_token("site_key_1", visitor_id)
        assert token == serializer(VISITOR_TOKEN_SALT).dumps({"s": "site_key_1", "v": visitor_id})
    with app_with("old secret").app_context():
        assert read_visitor_token(token, "site_key_1") is None  # not signed with the old key
    with app_with("another secret", fallbacks=["new secret as bytes"]).app_context():
        assert read_visitor_token(token, "site_key_1") == visitor_id
