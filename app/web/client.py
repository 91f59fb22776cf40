"""The client address of a webhook request, behind a tunnel or not.

Behind a tunnel every request comes from the local tunnel process (127.0.0.1). The real client is
then in the header the configured tunnel sets: ``CF-Connecting-IP`` for cloudflared, the last
``X-Forwarded-For`` hop (the one ngrok appended) for ngrok. That header is believed only when the
peer is this computer; the first ``X-Forwarded-For`` value is never used, because the sender
writes it and can put anything there.
"""

from __future__ import annotations

import ipaddress

from starlette.datastructures import Headers

from app.ingest.sender import normalise_address

LOOPBACK = frozenset({"127.0.0.1", "::1"})  # as normalise_address spells them


def client_address(peer: str, headers: Headers, tunnel_kind: str) -> str:
    """The client's address: ``peer`` unless it is loopback and the tunnel's header names one.

    ``tunnel_kind`` is ``[tunnel] kind`` ("cloudflared", "cloudflared-named" or "ngrok"). A header
    value that is not an IP address is ignored (the peer is returned). The address returned is
    normalised (app/ingest/sender.py): no IPv6 scope id, an IPv4-mapped address as IPv4.
    """
    peer = normalise_address(peer)
    if peer not in LOOPBACK:
        return peer
    if tunnel_kind == "ngrok":
        hops = ",".join(headers.getlist("x-forwarded-for")).split(",")
        claimed = hops[-1] if hops else ""
    else:
        values = headers.getlist("cf-connecting-ip")
        claimed = values[-1] if values else ""
    address = normalise_address(claimed)
    return address if _is_ip(address) else peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
