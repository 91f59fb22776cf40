"""Sender checks: TradingView's source addresses, and the limit on refused requests per address.

TradingView posts webhooks from four published addresses (reference/tradingview.md §1, [S1]-[S3]).
The limit exists so that a stranger hammering the public URL costs a dictionary lookup, not a
journal write per request; it never blocks a request that proves the strategy's secret, because
TradingView's four addresses are shared by every TradingView user: anyone can point an alert with a
wrong secret at your URL, and that must not lock your own alerts out.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

# reference/tradingview.md §1 "Source IPs (allowlist)": the same four on every language's page.
TRADINGVIEW_ADDRESSES = frozenset({"52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"})


def normalise_address(address: str) -> str:
    """One spelling per client: ``address`` without an IPv6 scope id (``fe80::1%eth0`` →
    ``fe80::1``), an IPv4-mapped IPv6 address as its IPv4 (``::ffff:52.89.214.238%x`` →
    ``52.89.214.238``), IPv6 compressed. The allowlist and the lockout judge this form, so a
    sender cannot pass the one or rotate past the other by spelling its address another way.
    Text that is not an IP address is returned stripped (it matches no allowlist entry).
    """
    text = address.strip()
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def is_tradingview(address: str) -> bool:
    """Whether ``address`` (IPv4 text, or IPv4-mapped IPv6, any scope id) is one of TradingView's four."""
    return normalise_address(address) in TRADINGVIEW_ADDRESSES


@dataclass
class _Record:
    strikes: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class RefusalLimiter:
    """Count refused requests per client address; lock an address out after too many.

    ``max_refusals`` refusals within ``window_s`` seconds lock the address for ``lockout_s``
    seconds. At most ``max_addresses`` addresses are remembered (the least recently refused are
    forgotten first), so a flood from many addresses cannot grow memory without bound.
    """

    def __init__(
        self,
        max_refusals: int,
        lockout_s: float,
        *,
        window_s: float = 60.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_refusals = max_refusals
        self.lockout_s = lockout_s
        self.window_s = window_s
        self.max_addresses = max_addresses
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def locked_for(self, address: str) -> float | None:
        """Seconds until ``address`` may be refused normally again; None when it is not locked."""
        record = self._records.get(normalise_address(address))
        if record is None:
            return None
        left = record.locked_until - self._clock()
        return left if left > 0 else None

    def refuse(self, address: str) -> bool:
        """Count one refusal for ``address``; True when this one locks it out."""
        address = normalise_address(address)
        now = self._clock()
        record = self._records.pop(address, None) or _Record()
        self._records[address] = record  # most recently refused last
        while record.strikes and record.strikes[0] <= now - self.window_s:
            record.strikes.popleft()
        record.strikes.append(now)
        while len(self._records) > self.max_addresses:
            self._records.popitem(last=False)
        if record.locked_until <= now and len(record.strikes) >= self.max_refusals:
            record.locked_until = now + self.lockout_s
            record.strikes.clear()
            return True
        return False
