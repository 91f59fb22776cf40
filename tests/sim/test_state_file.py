"""The simulator's state file: a SimState on the same file after a restart is the same broker."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from app.sim import AUTO_OCO_ACCOUNT_ID, OrderStatus, SimState
from app.sim.models import BracketSpec, OrderTicket
from app.sim.store import StateFileError
from tests.sim.conftest import MNQ, MNQ_START, ManualClock


def reopen(state: SimState, path: Path, clock: ManualClock) -> SimState:
    state.close()
    return SimState(clock=clock, state_path=path)


def test_a_bracket_survives_a_restart_and_its_legs_still_cancel_each_other(tmp_path: Path) -> None:
    path, clock = tmp_path / "sim.db", ManualClock()
    state = SimState(clock=clock, state_path=path)
    bracket = OrderTicket(
        AUTO_OCO_ACCOUNT_ID,
        MNQ,
        type=2,
        side=0,
        size=1,
        custom_tag="b-1",
        stop_loss=BracketSpec(ticks=-40, type=4),
        take_profit=BracketSpec(ticks=80, type=1),
    )
    entry_id = state.place_order(bracket)
    state.persist()
    before = {order.id: order.status for order in state.orders.values()}
    balance, instance = state.accounts[AUTO_OCO_ACCOUNT_ID].balance, state.instance

    state = reopen(state, path, clock)

    assert state.instance == instance  # the same broker: the journal keeps using its rows
    assert {order.id: order.status for order in state.orders.values()} == before
    assert state.accounts[AUTO_OCO_ACCOUNT_ID].balance == balance
    [position] = state.open_positions(AUTO_OCO_ACCOUNT_ID)
    assert position.net == 1 and position.average_price == MNQ_START
    take_profit = next(o for o in state.orders.values() if o.custom_tag == "b-1-TP")
    stop_loss = next(o for o in state.orders.values() if o.custom_tag == "b-1-SL")
    assert take_profit.limit_price == MNQ_START + 20  # 80 ticks of 0.25

    state.set_price(MNQ, MNQ_START + 20)  # the take profit fills: its sibling is cancelled

    assert state.orders[take_profit.id].status == OrderStatus.FILLED
    assert state.orders[stop_loss.id].status == OrderStatus.CANCELLED
    assert state.open_positions(AUTO_OCO_ACCOUNT_ID) == []
    [closing] = [t for t in state.trades if t.order_id == take_profit.id]
    assert closing.profit_and_loss == Decimal("40.00")  # 80 ticks × 0.50 USD
    ids = {t.id for t in state.trades}

    state = reopen(state, path, clock)  # the fill, the cancel and the price were written too

    assert state.price(MNQ) == MNQ_START + 20
    assert state.orders[stop_loss.id].status == OrderStatus.CANCELLED
    assert {t.id for t in state.trades} == ids
    with pytest.raises(Exception, match="Custom tag already in use"):
        state.place_order(bracket)  # tags stay used
    new_id = state.place_order(OrderTicket(AUTO_OCO_ACCOUNT_ID, MNQ, type=2, side=1, size=1))
    assert new_id > max(order.id for order in state.orders.values() if order.id != new_id) > entry_id
    state.close()


def test_one_file_one_simulator_and_memory_keeps_nothing(tmp_path: Path) -> None:
    path = tmp_path / "sim.db"
    first = SimState(state_path=path)
    with pytest.raises(StateFileError, match="another simulator"):
        SimState(state_path=path)
    first.close()
    SimState(state_path=path).close()  # free again once closed

    in_memory = SimState(state_path=":memory:")
    assert in_memory.state_path is None
    assert SimState().instance != in_memory.instance  # every in-memory sim is a new broker
