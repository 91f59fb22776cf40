"""TradingView's addresses and the per-address limit on refused requests."""

from __future__ import annotations

from app.ingest.sender import TRADINGVIEW_ADDRESSES, RefusalLimiter, is_tradingview, normalise_address


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_four_published_addresses_and_nothing_else() -> None:
    assert {"52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"} == TRADINGVIEW_ADDRESSES
    assert all(is_tradingview(a) for a in TRADINGVIEW_ADDRESSES)
    assert is_tradingview("::ffff:52.89.214.238")  # IPv4-mapped, as a dual-stack socket shows it
    for other in ("52.89.214.239", "127.0.0.1", "", "52.89.214.238, 1.2.3.4", "not an ip"):
        assert not is_tradingview(other)


def test_the_tenth_refusal_within_a_minute_locks_the_address_out_for_a_while() -> None:
    clock = Clock()
    limiter = RefusalLimiter(10, 300.0, clock=clock)
    assert [limiter.refuse("a") for _ in range(9)] == [False] * 9
    assert limiter.locked_for("a") is None
    assert limiter.refuse("a") is True
    assert limiter.locked_for("a") == 300.0
    assert limiter.locked_for("b") is None  # per address
    clock.now += 299
    assert limiter.locked_for("a") == 1.0
    assert limiter.refuse("a") is False  # already locked: no second lockout event
    clock.now += 2
    assert limiter.locked_for("a") is None


def test_refusals_older_than_the_window_do_not_count() -> None:
    clock = Clock()
    limiter = RefusalLimiter(3, 60.0, clock=clock)
    for _ in range(2):
        limiter.refuse("a")
        clock.now += 31
    assert limiter.refuse("a") is False  # the first one is 62 s old
    assert limiter.refuse("a") is True


def test_memory_is_bounded_by_forgetting_the_least_recently_refused() -> None:
    clock = Clock()
    limiter = RefusalLimiter(2, 60.0, clock=clock, max_addresses=3)
    limiter.refuse("old")
    for address in ("b", "c", "d"):
        limiter.refuse(address)
    assert limiter.refuse("old") is False  # "old" was forgotten: this is its first refusal again
    assert len(limiter._records) == 3


def test_addresses_are_normalised_scope_id_dropped_and_ipv4_mapped_read_as_ipv4() -> None:
    """Issue 12: ``::ffff:<TradingView address>%x`` is judged as the IPv4 address."""
    assert normalise_address("fe80::1%eth0") == "fe80::1"
    assert normalise_address("::ffff:52.89.214.238%x") == "52.89.214.238"
    assert normalise_address("::FFFF:3459:D6EE") == "52.89.214.238"
    assert normalise_address(" 2001:DB8:0::1 ") == "2001:db8::1"
    assert normalise_address("198.51.100.9") == "198.51.100.9"
    assert normalise_address("not an ip") == "not an ip"
    assert is_tradingview("::ffff:52.89.214.238%anything")
    assert not is_tradingview("::ffff:52.89.214.239%x")


def test_a_rotating_scope_id_or_mapped_spelling_cannot_step_past_the_lockout() -> None:
    limiter = RefusalLimiter(10, 300.0, clock=Clock())
    spellings = [f"::ffff:198.51.100.9%{n}" for n in range(9)] + ["198.51.100.9"]
    assert [limiter.refuse(a) for a in spellings] == [False] * 9 + [True]
    assert limiter.locked_for("::ffff:198.51.100.9%new") == 300.0
    assert limiter.locked_for("198.51.100.9") == 300.0
