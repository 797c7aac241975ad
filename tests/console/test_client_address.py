"""Who the client is: the peer, unless the peer is a configured proxy; X-Forwarded-For is read
from the right and only past trusted proxies, so what a client writes itself is never taken."""

from __future__ import annotations

import pytest

from zdr.console.client_address import TrustedProxies, rate_limit_key
from zdr.settings import load_settings

NONE = TrustedProxies.of([])
PROXIES = TrustedProxies.of(["10.0.0.0/8", "2001:db8:ffff::1"])


@pytest.mark.parametrize("proxies, peer, forwarded, client", [
    # no proxies configured (the default): the peer, whatever the headers say
    (NONE, "203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
    (NONE, "127.0.0.1", ["198.51.100.1"], "127.0.0.1"),
    (NONE, "203.0.113.7", [], "203.0.113.7"),
    # an untrusted peer's header is ignored, even if it names a trusted proxy
    (PROXIES, "203.0.113.7", ["10.0.0.5"], "203.0.113.7"),
    # a trusted proxy: the rightmost address it did not add itself is the client
    (PROXIES, "10.0.0.2", ["198.51.100.9"], "198.51.100.9"),
    (PROXIES, "10.0.0.2", ["1.2.3.4, 198.51.100.9"], "198.51.100.9"),     # spoof on the left
    (PROXIES, "10.0.0.2", ["1.2.3.4", "198.51.100.9"], "198.51.100.9"),   # two header lines
    (PROXIES, "10.0.0.2", ["1.2.3.4, 198.51.100.9, 10.0.0.3"], "198.51.100.9"),  # two proxies
    (PROXIES, "10.0.0.2", ["198.51.100.9:4711"], "198.51.100.9"),          # with a port
    (PROXIES, "10.0.0.2", ["[2001:db8::5]:443"], "2001:db8::5"),
    (PROXIES, "2001:db8:ffff::1", ["198.51.100.9"], "198.51.100.9"),       # IPv6 proxy
    (PROXIES, "::ffff:10.0.0.2", ["198.51.100.9"], "198.51.100.9"),        # IPv4-mapped peer
    # not an address: stop at the last proxy believed, never a made-up key
    (PROXIES, "10.0.0.2", ["made-up"], "10.0.0.2"),
    (PROXIES, "10.0.0.2", ["198.51.100.9, made-up"], "10.0.0.2"),
    (PROXIES, "10.0.0.2", ["unknown, 10.0.0.3"], "10.0.0.3"),
    (PROXIES, "10.0.0.2", [""], "10.0.0.2"),
    (PROXIES, "10.0.0.2", ["10.0.0.4, 10.0.0.3"], "10.0.0.4"),            # proxies all the way
    # no peer at all
    (PROXIES, None, ["198.51.100.9"], "unknown"),
])
def test_the_client_address(proxies: TrustedProxies, peer: str | None, forwarded: list[str],
                            client: str) -> None:
    assert proxies.client(peer, forwarded) == client


@pytest.mark.parametrize("peer, proto, scheme", [
    ("10.0.0.2", "https", "https"),
    ("10.0.0.2", "HTTPS, http", "https"),
    ("10.0.0.2", "gopher", "http"),
    ("203.0.113.7", "https", "http"),        # an untrusted peer cannot claim TLS
])
def test_the_scheme_is_taken_from_trusted_proxies_only(peer: str, proto: str, scheme: str
                                                        ) -> None:
    assert PROXIES.scheme("http", peer, proto) == scheme


def test_ipv6_clients_are_limited_by_network_and_ipv4_by_address() -> None:
    assert rate_limit_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert rate_limit_key("192.0.2.1") == "192.0.2.1"
    assert rate_limit_key("testclient") == "testclient"


def test_the_setting_takes_addresses_and_networks_and_refuses_anything_else() -> None:
    settings = load_settings(env={"ZDR_FORWARDED_ALLOW_IPS": "10.0.0.5, 192.168.0.0/16,::1"})
    assert settings.forwarded_allow_ips == ("10.0.0.5/32", "192.168.0.0/16", "::1/128")
    assert load_settings(env={}).forwarded_allow_ips == ()
    for bad in ("*", "10.0.0.300", "proxy.example"):
        with pytest.raises(ValueError, match="forwarded_allow_ips"):
            load_settings(env={"ZDR_FORWARDED_ALLOW_IPS": bad})
