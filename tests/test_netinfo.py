from __future__ import annotations

import pytest

from consent_service.netinfo import country_code, truncate_ip


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("not an ip", None),
        ("", None),
        (None, None),
    ],
)
def test_truncate_ip(address, expected):
    assert truncate_ip(address) == expected


def test_country_code_only_from_plausible_values():
    assert country_code("de") == "DE"
    assert country_code("XX") is None
    assert country_code("Germany") is None
    assert country_code(None) is None
