"""match_trades: round trips from fills, FIFO per account and contract (app/domain/trades.py).

Numbers are the simulator's MNQ: tick 0.25 point = 0.50 USD (2 USD a point), 0.37 USD fees a
contract per fill.
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.enums import Side
from app.domain.trades import ContractSpec, TradeFill, match_trades

MNQ = "CON.F.US.MNQ.Z25"
ES = "CON.F.US.EP.Z25"
SPECS = {
    MNQ: ContractSpec(Decimal("0.25"), Decimal("0.50")),
    ES: ContractSpec(Decimal("0.25"), Decimal("12.50")),
}
T0 = datetime(2026, 12, 4, 14, 30, tzinfo=UTC)
FEE = Decimal("0.37")

_ids = iter(range(1, 10**6))


def fill(
    side: Side,
    size: int,
    price: str,
    minute: int,
    *,
    account: int = 1,
    contract: str = MNQ,
    alert: int | None = None,
    strategy: str | None = None,
    by: str = "outside",
    fees: Decimal | None = None,
) -> TradeFill:
    return TradeFill(
        trade_id=next(_ids),
        account_id=account,
        contract_id=contract,
        side=side,
        size=size,
        price=Decimal(price),
        filled_at=T0 + timedelta(minutes=minute),
        fees=FEE * size if fees is None else fees,
        alert_id=alert,
        strategy=strategy,
        closed_by=by,
    )


B, S = Side.BUY, Side.SELL


def test_a_long_round_trip_has_its_pnl_ticks_fees_and_alerts() -> None:
    (trade,) = match_trades(
        [
            fill(B, 2, "20000.00", 0, alert=1, strategy="mnq", by="alert"),
            fill(S, 2, "20010.25", 5, alert=2, strategy="mnq", by="alert"),
        ],
        SPECS,
    )
    assert (trade.side, trade.size, trade.entry_price, trade.exit_price) == (
        B,
        2,
        Decimal("20000.00"),
        Decimal("20010.25"),
    )
    assert trade.pnl == Decimal("41.00")  # 10.25 points × 2 USD × 2 contracts
    assert trade.fees == Decimal("1.48") and trade.net == Decimal("39.52")
    assert trade.ticks == Decimal("41.00")
    assert trade.duration_s == 300 and not trade.open
    assert (trade.entry_alert_ids, trade.exit_alert_ids, trade.strategy, trade.closed_by) == (
        (1,),
        (2,),
        "mnq",
        "alert",
    )


def test_a_short_gains_when_the_price_falls() -> None:
    (trade,) = match_trades([fill(S, 1, "20000", 0), fill(B, 1, "19990", 1)], SPECS)
    assert trade.side == S and trade.pnl == Decimal("20") and trade.ticks == Decimal("40")


def test_partial_fills_of_one_order_add_up() -> None:
    trades = match_trades(
        [fill(B, 1, "100", 0), fill(B, 2, "101", 0), fill(S, 1, "102", 1), fill(S, 2, "103", 1)], SPECS
    )
    (trade,) = trades
    assert trade.size == 3
    assert trade.entry_price == Decimal("100.666667")
    assert trade.exit_price == Decimal("102.666667")
    assert trade.pnl == (Decimal(2) + Decimal(2) * 2) * 2  # FIFO: 100→102, 101→103 ×2
    assert len(trade.fill_ids) == 4


def test_a_scale_in_grows_the_trade_and_averages_its_entry() -> None:
    (trade,) = match_trades(
        [fill(B, 1, "100", 0, alert=1), fill(B, 3, "104", 1, alert=2), fill(S, 4, "105", 2, alert=3)], SPECS
    )
    assert trade.size == 4
    assert trade.entry_price == Decimal("103")  # (100 + 312) / 4
    assert trade.pnl == Decimal((5 + 3 * 1) * 2)
    assert trade.entry_alert_ids == (1, 2) and trade.exit_alert_ids == (3,)


def test_partial_exits_keep_the_trade_open_until_flat() -> None:
    first, *rest = match_trades([fill(B, 3, "100", 0), fill(S, 1, "102", 1, alert=9)], SPECS)
    assert not rest and first.open and first.pnl is None and first.exit_price is None
    assert first.exit_alert_ids == (9,)  # the partial exit's alert links to the trade
    (done,) = match_trades(
        [fill(B, 3, "100", 0), fill(S, 1, "102", 1), fill(S, 2, "99", 2, by="stop loss")], SPECS
    )
    assert done.size == 3 and done.exit_price == Decimal("100")
    assert done.pnl == Decimal((2 - 1 - 1) * 2) and done.closed_by == "outside, stop loss"


def test_size_is_the_largest_position_held() -> None:
    (trade,) = match_trades(
        [fill(B, 2, "100", 0), fill(S, 1, "101", 1), fill(B, 2, "102", 2), fill(S, 3, "103", 3)], SPECS
    )
    assert trade.size == 3
    # FIFO lots: 2@100, 1 closed @101 → 1@100 left, +2@102; exit 3@103: 3 + 1 + 1 points… per contract
    assert trade.pnl == (Decimal(1) + Decimal(3) + Decimal(1) * 2) * 2


def test_a_reversal_closes_the_trade_and_opens_the_other_way_splitting_fees() -> None:
    long_, short = match_trades(
        [
            fill(B, 1, "100", 0, alert=1, strategy="a"),
            fill(S, 3, "110", 1, alert=2, strategy="b", by="alert"),
        ],
        SPECS,
    )
    assert long_.pnl == Decimal(20) and long_.fees == FEE + FEE  # 0.37 + a third of 1.11
    assert long_.closed_at == short.opened_at and long_.exit_alert_ids == (2,)
    assert short.open and short.side == S and short.size == 2 and short.entry_price == Decimal(110)
    assert short.fees == FEE * 2 and short.strategy == "b" and short.entry_alert_ids == (2,)


def test_an_uneven_fee_split_keeps_every_cent() -> None:
    trades = match_trades(
        [fill(B, 1, "1", 0, fees=Decimal(0)), fill(S, 3, "1", 1, fees=Decimal("1.00"))], SPECS
    )
    assert trades[0].fees == Decimal("0.33") and trades[1].fees == Decimal("0.67")


def test_fills_from_outside_the_bridge_count_like_any_other() -> None:
    (trade,) = match_trades(
        [fill(B, 1, "100", 0, alert=4, strategy="s", by="alert"), fill(S, 1, "99", 1)], SPECS
    )
    assert trade.pnl == Decimal(-2) and trade.closed_by == "outside" and trade.exit_alert_ids == ()
    (manual,) = match_trades([fill(S, 1, "100", 0), fill(B, 1, "101", 1, alert=7, by="alert")], SPECS)
    assert manual.strategy is None and manual.exit_alert_ids == (7,) and manual.pnl == Decimal(-2)


def test_accounts_and_contracts_are_matched_apart_with_their_own_point_value() -> None:
    trades = match_trades(
        [
            fill(B, 1, "100", 0, account=1),
            fill(S, 1, "100", 1, account=2),  # another account: not a close
            fill(B, 1, "5000", 2, contract=ES),
            fill(S, 1, "101", 3, account=1),
            fill(S, 1, "5001", 4, contract=ES),
        ],
        SPECS,
    )
    by_key = {(t.account_id, t.contract_id): t for t in trades}
    assert by_key[(1, MNQ)].pnl == Decimal(2) and by_key[(1, ES)].pnl == Decimal(50)
    assert by_key[(2, MNQ)].open and len(trades) == 3
    assert [t.opened_at for t in trades] == sorted(t.opened_at for t in trades)


def test_a_contract_without_a_spec_has_no_pnl_or_ticks() -> None:
    (trade,) = match_trades([fill(B, 1, "1", 0, contract="X"), fill(S, 1, "2", 1, contract="X")], SPECS)
    assert not trade.open and trade.pnl is None and trade.ticks is None and trade.exit_price == Decimal(2)


def test_fills_out_of_order_are_sorted_by_time_then_trade_id() -> None:
    a, b = fill(B, 1, "100", 0), fill(S, 1, "103", 1)
    assert match_trades([b, a], SPECS) == match_trades([a, b], SPECS)


def test_no_fills_no_trades() -> None:
    assert match_trades([], SPECS) == []


# ---- properties -------------------------------------------------------------------------------

_step = st.tuples(st.sampled_from([B, S]), st.integers(1, 5), st.integers(-40, 40), st.integers(0, 3))


def _fills(steps: list[tuple[Side, int, int, int]], account: int = 1) -> list[TradeFill]:
    return [
        fill(
            side,
            size,
            str(Decimal(20000) + Decimal(q) / 4),
            i,
            account=account,
            fees=Decimal(cents) / 100 * size,
        )
        for i, (side, size, q, cents) in enumerate(steps)
    ]


def _flatten(fills: list[TradeFill]) -> list[TradeFill]:
    """One more fill that brings the book flat (when it is not)."""
    net = sum(f.size if f.side == B else -f.size for f in fills)
    if net:
        fills = [*fills, fill(S if net > 0 else B, abs(net), "20001.75", len(fills) + 1)]
    return fills


def _independent_pnl(fills: list[TradeFill]) -> Decimal:
    """Realised P&L of a book that ends flat: cash in minus cash out, 2 USD a point."""
    return sum(((f.price if f.side == S else -f.price) * f.size for f in fills), Decimal(0)) * 2


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, min_size=1, max_size=25))
def test_a_flat_book_ends_with_no_open_trade_and_its_pnl_is_the_fills_pnl(
    steps: list[tuple[Side, int, int, int]],
) -> None:
    fills = _flatten(_fills(steps))
    trades = match_trades(fills, SPECS)
    assert not any(t.open for t in trades)
    assert sum((t.pnl or Decimal(0) for t in trades), Decimal(0)) == _independent_pnl(fills)
    assert sum((t.fees for t in trades), Decimal(0)) == sum((f.fees for f in fills), Decimal(0))


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, min_size=1, max_size=25))
def test_trades_alternate_never_overlap_and_use_every_fill(steps: list[tuple[Side, int, int, int]]) -> None:
    fills = _fills(steps)
    trades = match_trades(fills, SPECS)
    assert sum(1 for t in trades if t.open) <= 1
    assert all(not t.open for t in trades[:-1])
    for before, after in zip(trades, trades[1:], strict=False):
        assert before.closed_at is not None and before.closed_at <= after.opened_at
    used = {i for t in trades for i in t.fill_ids}
    assert used == {f.trade_id for f in fills}
    net = sum(f.size if f.side == B else -f.size for f in fills)
    if net:
        last = trades[-1]
        assert last.open and last.side == (B if net > 0 else S)
    # Each trade's P&L is the lot-by-lot FIFO sum computed here independently.
    assert [t.pnl for t in trades if not t.open] == _fifo_pnls(fills)


def _fifo_pnls(fills: list[TradeFill]) -> list[Decimal]:
    lots: deque[list[Decimal]] = deque()  # signed size, price
    pnls: list[Decimal] = []
    current = Decimal(0)
    for f in fills:
        signed = Decimal(f.size if f.side == B else -f.size)
        while signed and lots and (lots[0][0] > 0) != (signed > 0):
            q = min(abs(signed), abs(lots[0][0]))
            direction = 1 if lots[0][0] > 0 else -1
            current += direction * (f.price - lots[0][1]) * q * 2
            lots[0][0] -= direction * q
            signed += direction * q
            if not lots[0][0]:
                lots.popleft()
            if not lots:
                pnls.append(current)
                current = Decimal(0)
        if signed:
            lots.append([signed, f.price])
    return pnls


@settings(max_examples=100, deadline=None)
@given(st.lists(_step, min_size=1, max_size=15), st.lists(_step, min_size=1, max_size=15))
def test_two_accounts_are_matched_as_if_alone(
    a: list[tuple[Side, int, int, int]], b: list[tuple[Side, int, int, int]]
) -> None:
    fa, fb = _fills(a, account=1), _fills(b, account=2)
    together = match_trades([*fa, *fb], SPECS)
    per: dict[int, list[object]] = defaultdict(list)
    for t in together:
        per[t.account_id].append(t)
    assert per[1] == match_trades(fa, SPECS) and per[2] == match_trades(fb, SPECS)


def test_each_exit_alert_has_the_pnl_its_closing_fills_realised() -> None:
    (trade,) = match_trades(
        [fill(B, 3, "100", 0, alert=1), fill(S, 1, "104", 1, alert=2), fill(S, 2, "98", 2, alert=3)], SPECS
    )
    assert dict(trade.realised_by_alert) == {2: Decimal(8), 3: Decimal(-8)}
    assert sum(dict(trade.realised_by_alert).values()) == trade.pnl
    (still_open,) = match_trades([fill(B, 2, "100", 0), fill(S, 1, "101", 1, alert=5)], SPECS)
    assert still_open.open and still_open.realised_by_alert == ((5, Decimal(2)),)
