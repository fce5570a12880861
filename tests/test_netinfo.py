from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def by_ipaddress(address: str) -> str | None:
    """What truncate_ip answered before its dotted-IPv4 shortcut: the ipaddress module's."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False))


OCTET = st.one_of(
    st.integers(0, 999).map(str),
    st.sampled_from(["00", "01", "010", "0255", "256", "", " 1", "1 ", "²", "١", "+1", "-1"]),
)


@given(st.lists(OCTET, min_size=3, max_size=5).map(".".join))
def test_the_dotted_ipv4_shortcut_answers_as_ipaddress(address):
    assert truncate_ip(address) == by_ipaddress(address)
