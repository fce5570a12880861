"""What we keep of the network: addresses truncated at ingest, country from a trusted header."""

from __future__ import annotations

import ipaddress


def truncate_ip(address: str | None) -> str | None:
    """IPv4 to its /24, IPv6 to its /48 (IPv4-mapped IPv6 as IPv4); None for junk."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    return str(network)


def country_code(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code from a trusted header, or None."""
    if not value:
        return None
    value = value.strip().upper()
    if len(value) == 2 and value.isascii() and value.isalpha() and value not in {"XX", "T1"}:
        return value
    return None
