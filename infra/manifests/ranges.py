"""Addresses a relay or a pod must never reach on a caller's behalf (one list for coturn's
``--denied-peer-ip`` and the NetworkPolicies' ``except``).

The ranges are IANA's special-purpose address blocks (RFC 6890 registries) that Synapse's coturn
guide denies (docs/SOURCES.md): private, shared (carrier-grade NAT), loopback, link-local (cloud
metadata at 169.254.169.254), "this network", documentation, benchmarking, reserved and multicast;
for IPv6 also IPv4-mapped and NAT64 prefixes and 6to4, which would reach the same IPv4 hosts.
"""

from __future__ import annotations

import ipaddress

DENIED_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
DENIED_V6 = (
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)


def coturn_range(cidr: str) -> str:
    """``10.0.0.0/8`` -> ``10.0.0.0-10.255.255.255``: coturn's ``--denied-peer-ip`` takes ranges."""
    net = ipaddress.ip_network(cidr)
    return f"{net.network_address}-{net.broadcast_address}"


def public_blocks(extra_v4: tuple[str, ...] = ()) -> list[dict[str, object]]:
    """NetworkPolicy peers for "any public address": IPv4 and IPv6, special-purpose blocks excepted."""
    return [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": sorted({*DENIED_V4, *extra_v4})}},
        {"ipBlock": {"cidr": "::/0", "except": list(DENIED_V6)}},
    ]
