"""The fills the trade matcher reads (Journal.trade_fills): each with the alert, strategy and
sender of the bridge's order that filled; a Position/closeContract fill linked to its CLOSE row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.domain.enums import Action, Leg, OrderState, Side
from app.domain.events import Fill
from app.journal import Journal

ACCOUNT = 26282486
MNQ = "CON.F.US.MNQ.U26"


def _alert(journal: Journal, strategy: str = "mnq-bracket") -> int:
    return journal.record_alert(strategy=strategy, raw_body="{}", received_at=datetime.now(UTC)).alert_id


def _order(journal: Journal, alert: int, leg: Leg, side: Side, size: int, **row: object) -> int:
    fields: dict[str, object] = {
        "account_id": ACCOUNT,
        "account_name": "PRAC",
        "contract_id": MNQ,
        "leg": leg,
        "action": Action.EXIT if leg == Leg.CLOSE else Action.BUY,
        "side": side,
        "size": size,
        "state": OrderState.ACCEPTED,
        **row,
    }
    return journal.add_order(alert_id=alert, **fields)


def _fill(trade_id: int, broker: int, side: Side, size: int, *, after_ms: int = 50, **fields: object) -> Fill:
    values: dict[str, object] = {
        "trade_id": trade_id,
        "account_id": ACCOUNT,
        "contract_id": MNQ,
        "broker_order_id": broker,
        "side": side,
        "size": size,
        "price": Decimal("21500.25"),
        "filled_at": datetime.now(UTC) + timedelta(milliseconds=after_ms),
        "fees": Decimal("0.37") * size,
        "commissions": Decimal("0.10"),
        **fields,
    }
    return Fill(**values)  # type: ignore[arg-type]


def test_fills_carry_their_alert_strategy_and_sender(journal: Journal) -> None:
    alert = _alert(journal)
    entry = _order(journal, alert, Leg.ENTRY, Side.BUY, 2, broker_order_id=11, client_order_id="tvb-a-1-0")
    journal.record_fill(_fill(1, 11, Side.BUY, 2), entry)
    stop = _order(
        journal, alert, Leg.STOP_LOSS, Side.SELL, 1, broker_order_id=12, client_order_id="tvb-a-1-0-sl"
    )
    journal.record_fill(_fill(2, 12, Side.SELL, 1, after_ms=60), stop)
    journal.record_fill(_fill(3, 999, Side.SELL, 1, after_ms=70))  # a manual trade on the platform
    journal.record_fill(_fill(4, 998, Side.SELL, 1, after_ms=80, voided=True))  # voided: left out

    fills = journal.trade_fills()

    assert [(f.trade_id, f.alert_id, f.strategy, f.closed_by, f.side, f.size) for f in fills] == [
        (1, alert, "mnq-bracket", "alert", Side.BUY, 2),
        (2, alert, "mnq-bracket", "stop loss", Side.SELL, 1),
        (3, None, None, "outside", Side.SELL, 1),
    ]
    assert fills[0].fees == Decimal("0.84")  # fees + commissions
    assert fills[0].price == Decimal("21500.25") and fills[0].filled_at.tzinfo is not None
    assert [f.trade_id for f in journal.trade_fills(until=fills[1].filled_at)] == [1]


def test_a_close_contract_fill_belongs_to_the_close_row_written_before_it(journal: Journal) -> None:
    """Position/closeContract returns no order id: its fill names an order no row holds."""
    manual_before = _fill(20, 500, Side.SELL, 1, after_ms=-50)
    exit_alert = _alert(journal, "mnq-exit")
    close = _order(journal, exit_alert, Leg.CLOSE, Side.SELL, 1, state=OrderState.DONE)
    journal.record_fill(manual_before)  # filled before the close was asked: the trader's
    journal.record_fill(_fill(21, 501, Side.SELL, 1))  # the close's own fill
    journal.record_fill(_fill(22, 502, Side.SELL, 1, after_ms=80))  # the close is filled in full

    assert [f.trade_id for f in journal.alert_fills(exit_alert)] == [21]
    [row] = journal.alert_orders(exit_alert)
    assert (row.id, row.fill_volume, row.filled_price) == (close, 1, Decimal("21500.25"))
    assert [(f.trade_id, f.alert_id, f.closed_by) for f in journal.trade_fills()] == [
        (20, None, "outside"),
        (21, exit_alert, "exit"),
        (22, None, "outside"),
    ]


def test_a_close_fill_on_the_other_side_or_account_is_not_the_close_rows(journal: Journal) -> None:
    exit_alert = _alert(journal, "mnq-exit")
    _order(journal, exit_alert, Leg.CLOSE, Side.SELL, 2, state=OrderState.DONE)
    journal.record_fill(_fill(30, 600, Side.BUY, 1))  # a buy cannot close a long
    journal.record_fill(_fill(31, 601, Side.SELL, 1, account_id=ACCOUNT + 1))
    assert journal.alert_fills(exit_alert) == []


def test_a_flatten_is_named_so(journal: Journal) -> None:
    flatten = _alert(journal, "(kill switch)")
    _order(journal, flatten, Leg.CLOSE, Side.BUY, 1, state=OrderState.DONE)
    journal.record_fill(_fill(40, 700, Side.BUY, 1))
    [fill] = journal.trade_fills()
    assert (fill.alert_id, fill.closed_by) == (flatten, "flatten")


def test_fills_of_another_gateway_are_not_read(journal: Journal) -> None:
    journal.record_fill(_fill(50, 800, Side.BUY, 1))
    other = Journal(journal._engine.url.render_as_string(hide_password=False), gateway="sim:other")
    try:
        assert other.trade_fills() == []
    finally:
        other.close()


def test_contract_specs_come_from_the_order_rows(journal: Journal) -> None:
    alert = _alert(journal)
    _order(journal, alert, Leg.ENTRY, Side.BUY, 1, tick_size=Decimal("0.25"), tick_value=Decimal("0.50"))
    _order(journal, alert, Leg.ENTRY, Side.BUY, 1, contract_id="CON.F.US.EP.U26")  # none recorded
    assert journal.contract_specs() == {MNQ: (Decimal("0.25"), Decimal("0.50"))}
