"""canonical_json: RFC 8785 bytes, the fast encoder and rfc8785 agreeing on every value."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_service.canonical import canonical_json

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) - 5, max_value=2**53 + 5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=12,
)


def outcome(encode, value):
    try:
        return encode(value)
    except rfc8785.CanonicalizationError as exc:
        return type(exc)


@settings(max_examples=500)
@given(VALUES)
def test_same_bytes_or_same_error_as_rfc8785(value):
    assert outcome(canonical_json, value) == outcome(rfc8785.dumps, value)


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, None, 'x\u2028\x7f\x00"\\\n'], "\u00e9": 1, "\U0001f600": 2},
        {"z": {"y": "\ud800"}},
        {"n": 2**53},
        {"n": -(2**53) + 1, "f": 1.5},
        {"\ue000": 1, "\U00010000": 2},
    ],
)
def test_edge_cases_agree(value):
    assert outcome(canonical_json, value) == outcome(rfc8785.dumps, value)


def test_a_ledger_record_is_canonical():
    record = {"site": "k", "choices": {"analytics": True}, "url": None, "seq": 3, "lang": "zh"}
    expected = b'{"choices":{"analytics":true},"lang":"zh","seq":3,"site":"k","url":null}'
    assert canonical_json(record) == expected
