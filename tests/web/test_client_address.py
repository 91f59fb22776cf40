"""Which address a webhook came from, behind each tunnel kind."""

from __future__ import annotations

from starlette.datastructures import Headers

from app.web.client import client_address


def headers(*pairs: tuple[str, str]) -> Headers:
    return Headers(raw=[(k.lower().encode(), v.encode()) for k, v in pairs])


def test_cloudflared_believes_cf_connecting_ip_from_the_local_tunnel_only() -> None:
    h = headers(("CF-Connecting-IP", "203.0.113.5"), ("X-Forwarded-For", "52.89.214.238"))
    assert client_address("127.0.0.1", h, "cloudflared") == "203.0.113.5"
    assert client_address("::1", h, "cloudflared-named") == "203.0.113.5"
    assert client_address("198.51.100.1", h, "cloudflared") == "198.51.100.1"
    only_xff = headers(("X-Forwarded-For", "52.89.214.238"))
    assert client_address("127.0.0.1", only_xff, "cloudflared") == "127.0.0.1"


def test_ngrok_takes_the_last_forwarded_hop_never_the_first() -> None:
    one_header = headers(("X-Forwarded-For", "52.89.214.238, 203.0.113.5"))
    assert client_address("127.0.0.1", one_header, "ngrok") == "203.0.113.5"
    two_headers = headers(("X-Forwarded-For", "52.89.214.238"), ("X-Forwarded-For", "203.0.113.6"))
    assert client_address("127.0.0.1", two_headers, "ngrok") == "203.0.113.6"
    assert client_address("127.0.0.1", headers(("CF-Connecting-IP", "1.2.3.4")), "ngrok") == "127.0.0.1"


def test_a_header_that_is_not_an_address_is_ignored() -> None:
    for value in ("", "evil", "1.2.3.4; drop table", "52.89.214.238,"):
        h = headers(("CF-Connecting-IP", value), ("X-Forwarded-For", value))
        assert client_address("127.0.0.1", h, "cloudflared") == "127.0.0.1"
        assert client_address("127.0.0.1", h, "ngrok") == "127.0.0.1"
    assert (
        client_address("127.0.0.1", headers(("CF-Connecting-IP", " 2001:db8::1 ")), "cloudflared")
        == "2001:db8::1"
    )


def test_scope_ids_are_dropped_and_ipv4_mapped_addresses_read_as_ipv4() -> None:
    """Issue 12: one spelling per client, so the allowlist and the lockout judge the same address."""
    for value in ("::ffff:52.89.214.238%x", "::ffff:52.89.214.238", "::FFFF:3459:d6ee%eth0"):
        h = headers(("CF-Connecting-IP", value))
        assert client_address("127.0.0.1", h, "cloudflared") == "52.89.214.238"
    assert client_address("127.0.0.1", headers(("X-Forwarded-For", "fe80::1%eth0")), "ngrok") == "fe80::1"
    # The peer itself, with or without a tunnel in front.
    assert client_address("fe80::1%eth0", headers(), "cloudflared") == "fe80::1"
    assert client_address("::ffff:198.51.100.9%7", headers(), "cloudflared") == "198.51.100.9"
    # A mapped or scoped loopback is still this computer: the tunnel's header is believed.
    for loopback in ("::ffff:127.0.0.1", "::1%lo"):
        assert client_address(loopback, headers(("CF-Connecting-IP", "203.0.113.5")), "cloudflared") == (
            "203.0.113.5"
        )
    assert client_address("127.0.0.1", headers(("CF-Connecting-IP", "%eth0")), "cloudflared") == "127.0.0.1"
