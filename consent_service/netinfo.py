"""What we keep of the network: addresses truncated at ingest, country from a trusted header."""

from __future__ import annotations

import ipaddress


def truncate_ip(address: str | None) -> str | None:
    """IPv4 to its /24, IPv6 to its /48 (IPv4-mapped IPv6 as IPv4); None for junk."""
    if not address:
        return None
    octets = address.split(".")
    if len(octets) == 4 and all(p.isascii() and p.isdigit() and len(p) <= 3 for p in octets):
        # Dotted IPv4, by far the most common: what ipaddress would say, without its cost.
        if all(int(part) <= 255 and (part == "0" or part[0] != "0") for part in octets):
            return f"{int(octets[0])}.{int(octets[1])}.{int(octets[2])}.0/24"
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


def subdivision_code(value: str | None) -> str | None:
    """An ISO 3166-2 subdivision such as US-CA from a trusted header, or None."""
    if not value:
        return None
    value = value.strip().upper()
    country, _, part = value.partition("-")
    if country_code(country) and 1 <= len(part) <= 3 and part.isascii() and part.isalnum():
        return value
    return None


def country_of_address(address: str | None) -> str | None:
    """The country of an address, looked up in memory in the offline database that the
    `iptocc` package ships (regional registries' delegations; nothing is downloaded). The
    address is only looked at, never kept."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if not ip.is_global:
        return None
    from iptocc import country_code as lookup  # a native module: loaded on first use

    return country_code(lookup(str(ip)))


def visitor_place(
    address: str | None, country_header: str | None, region_header: str | None
) -> tuple[str | None, str | None]:
    """(country, subdivision) of a visitor: the trusted proxy's headers when it sent them,
    else the country of the address; the subdivision only from a header."""
    country = country_code(country_header) or country_of_address(address)
    region = subdivision_code(region_header)
    if region and country and not region.startswith(country + "-"):
        region = None
    return country, region
