"""The visitor token is made without itsdangerous on the hot path: the same bytes, and every
token it makes is read back by itsdangerous (and so by older releases of the service)."""

from __future__ import annotations

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
        expected = serializer(VISITOR_TOKEN_SALT).dumps({"s": site_key, "v": visitor_id})
        assert issue_visitor_token(site_key, visitor_id) == expected
        assert read_visitor_token(expected, site_key) == visitor_id


def test_compressed_payloads_are_made_like_itsdangerous():
    site_key, visitor_id = "k" * 40, "0" * 32  # zlib shortens this payload
    with app_with("secret").app_context():
        token = issue_visitor_token(site_key, visitor_id)
        assert token.startswith(".")
        assert token == serializer(VISITOR_TOKEN_SALT).dumps({"s": site_key, "v": visitor_id})


def test_signed_with_the_current_key_and_read_with_fallbacks():
    with app_with(b"new secret as bytes", fallbacks=["old secret"]).app_context():
        token = issue_visitor_token("site_key_1", "ab" * 16)
        assert token == serializer(VISITOR_TOKEN_SALT).dumps({"s": "site_key_1", "v": "ab" * 16})
    with app_with("old secret").app_context():
        assert read_visitor_token(token, "site_key_1") is None  # not signed with the old key
    with app_with("another secret", fallbacks=["new secret as bytes"]).app_context():
        assert read_visitor_token(token, "site_key_1") == "ab" * 16
