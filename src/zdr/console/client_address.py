"""Who is on the other end of a console request, for the sign-in rate limit and the cookie flag.

The client is the connection's peer (ASGI `scope["client"]`). Only when that peer is one of the
configured proxies (`Settings.forwarded_allow_ips`; none by default) are its `X-Forwarded-For` and
`X-Forwarded-Proto` believed: the address list is read from the right, past every trusted proxy,
and the first address that is not one is the client. Whatever a client writes into the header
itself sits to the left of that and is never reached. An entry that is not an IP address stops
the walk at the last proxy believed, so made-up values cannot pick a fresh rate-limit key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


def parse_address(text: str) -> IPAddress | None:
    """An address from a peer or a forwarded entry (`1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`);
    IPv4-mapped IPv6 is read as IPv4; None when it is not an address."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[str]) -> TrustedProxies:
        return cls(tuple(ipaddress.ip_network(entry, strict=False) for entry in entries))

    def trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: Sequence[str]) -> str:
        """The client's address: the peer, or the address the trusted proxies name."""
        current = parse_address(peer) if peer else None
        if current is None:
            return peer or UNKNOWN
        if not self.trusts(current):
            return str(current)
        hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                break
            current = address
            if not self.trusts(address):
                break
        return str(current)

    def scheme(self, scheme: str, peer: str | None, forwarded_proto: str | None) -> str:
        """`https` when the connection is TLS, or a trusted proxy says its client's was."""
        if forwarded_proto and self.trusts(parse_address(peer) if peer else None):
            proto = forwarded_proto.split(",")[0].strip().lower()
            if proto in ("http", "https"):
                return proto
        return scheme


def rate_limit_key(address: str) -> str:
    """What the per-address limit counts: an IPv4 address, or an IPv6 /64 (one customer's
    network: a client there can take any of its 2**64 addresses)."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed) if parsed is not None else address
