"""Position sync (sync = "target") on the simulator: only the difference from the account's real
position is sent, and a move the alert's own order does not explain is journaled with both sides."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.models import Contract
from app.ingest.auth import ensure_secrets, load_secrets
from app.sim.models import OrderTicket, OrderType, Side
from app.strategies import load_templates
from tests.e2e.conftest import Env

AUTO_OCO = 70000001  # SIM-AUTO-OCO, the account of the shipped mnq-sync template
_IDS = itertools.count(1)

SIGNED = """
[order]
accounts = ["SIM-AUTO-OCO"]
ticker = "{{ alert.ticker }}"
sync = "target"
target_signed = "{{ alert.position_size }}"
"""


def _sync(position: str, size: int, action: str = "buy", quantity: int = 1, **fields: str) -> str:
    """An mnq-sync body as TradingView fills alerts/mnq-sync.txt (each with its own id)."""
    return json.dumps(
        {
            "id": f"MNQ1!-Long-{next(_IDS)}",
            "ticker": "MNQ1!",
            "action": action,
            "quantity": str(quantity),
            "market_position": position,
            "market_position_size": str(size),
            "price": "21500.25",
            "time": "2026-03-02T14:30:00Z",
            **fields,
        }
    )


async def _send(env: Env, body: str, strategy: str = "mnq-sync", **send: Any) -> dict[str, Any]:
    response = await env.send(strategy, body, **send)
    assert response.status_code == 200, response.text
    return response.json()


async def _position(env: Env) -> int:
    """The account's MNQ position in signed contracts (the gateway's word, over REST)."""
    positions = await env.runtime.bridge.gateway.open_positions(AUTO_OCO)
    return sum(p.size if p.side.value == "buy" else -p.size for p in positions)


def _legs(reply: dict[str, Any]) -> list[tuple[str, str, int]]:
    """What an alert sent: (leg, side, size) of its close and entry rows."""
    return [(o["leg"], o["side"], o["size"]) for o in reply["orders"] if o["leg"] in ("close", "entry")]


def _mismatches(env: Env, reply: dict[str, Any]) -> list[str]:
    return [e.message for e in env.journal.events(alert_id=reply["alert_id"]) if e.kind == "sync.mismatch"]


async def _mnq(env: Env) -> Contract:
    return await env.runtime.bridge.gateway.contract("MNQ1!")


async def _manual_buy(env: Env, size: int) -> None:
    """A trade the trader makes on the platform: a market buy without our tag."""
    contract_id = (await _mnq(env)).contract_id
    env.sim.place_order(OrderTicket(AUTO_OCO, contract_id, int(OrderType.MARKET), int(Side.BID), size))


async def test_flat_to_long_buys_the_target_with_its_bracket(env: Env) -> None:
    reply = await _send(env, _sync("long", 2, quantity=2))

    assert reply["status"] == "executed", reply
    assert _legs(reply) == [("entry", "buy", 2)]
    [body] = env.place_requests()
    assert body["stopLossBracket"] == {"ticks": -40, "type": 4}
    assert await _position(env) == 2
    assert _mismatches(env, reply) == []  # buy 2 is the alert's own order


async def test_a_reversal_alert_with_double_size_ends_short_2_not_short_4(env: Env) -> None:
    await _send(env, _sync("long", 2, quantity=2))

    # TradingView's reversal: one sell of 4 contracts, the strategy now short 2 (tradingview.md §4.8)
    reply = await _send(env, _sync("short", 2, action="sell", quantity=4))

    assert reply["status"] == "executed", reply
    assert _legs(reply) == [("close", "sell", 2), ("entry", "sell", 2)]
    assert await _position(env) == -2
    working = await env.runtime.bridge.gateway.open_orders(AUTO_OCO)
    assert sorted((o.side.value, o.size) for o in working) == [("buy", 2), ("buy", 2)]  # the new bracket
    assert _mismatches(env, reply) == []  # sell 4 is exactly what took long 2 to short 2
    entry = next(o for o in env.orders(reply["alert_id"]) if o.leg == "entry")
    assert entry.action == "sell"  # the entry part is an entry (the risk gate's business)


async def test_a_missed_alert_is_made_up_and_journaled(env: Env) -> None:
    first = await _send(env, _sync("long", 1, quantity=1))
    assert _legs(first) == [("entry", "buy", 1)]

    # The alert that took the strategy from long 1 to long 2 never arrived.
    reply = await _send(env, _sync("long", 3, quantity=1))

    assert _legs(reply) == [("entry", "buy", 2)]
    assert await _position(env) == 3
    name = (await _mnq(env)).name
    assert _mismatches(env, reply) == [
        f"SIM-AUTO-OCO {name}: the account holds long 1, the strategy expects long 3 after this "
        "alert (its order: buy 1): sending buy 2"
    ]


async def test_a_manual_trade_in_between_is_taken_back(env: Env) -> None:
    await _send(env, _sync("long", 1, quantity=1))
    await _manual_buy(env, 2)  # the trader added 2 on the platform
    assert await _position(env) == 3

    reply = await _send(env, _sync("long", 2, quantity=1))

    assert reply["status"] == "executed", reply
    assert _legs(reply) == [("close", "sell", 1)]
    reduce = env.place_requests()[-1]
    assert (reduce["side"], reduce["size"], reduce["type"]) == (1, 1, 2)  # a market sell of 1
    assert reduce.get("stopLossBracket") is None and reduce.get("takeProfitBracket") is None
    assert await _position(env) == 2
    [row] = [o for o in env.orders(reply["alert_id"]) if o.leg == "close"]
    assert row.action == "exit"  # a reduction is an exit, never an entry
    [message] = _mismatches(env, reply)
    assert message == (
        f"SIM-AUTO-OCO {(await _mnq(env)).name}: the account holds long 3, the strategy expects "
        "long 2 after this alert (its order: buy 1): sending sell 1"
    )


async def test_already_at_the_target_sends_nothing(env: Env) -> None:
    await _send(env, _sync("long", 2, quantity=2))
    sent = len(env.place_requests())

    reply = await _send(env, _sync("long", 2, quantity=1))

    assert reply["status"] == "noop"
    assert "already at the target position long 2" in reply["reason"]
    assert len(env.place_requests()) == sent
    assert await _position(env) == 2
    assert [m.split(": sending ")[1] for m in _mismatches(env, reply)] == ["nothing"]


async def test_a_flat_target_closes_and_cancels_the_bracket(env: Env) -> None:
    await _send(env, _sync("long", 2, quantity=2))

    reply = await _send(env, _sync("flat", 0, action="sell", quantity=2))

    assert reply["status"] == "executed", reply
    assert _legs(reply) == [("close", "sell", 2)]
    assert await _position(env) == 0
    assert await env.runtime.bridge.gateway.open_orders(AUTO_OCO) == []


async def test_shrinking_under_a_larger_bracket_closes_and_enters_anew(env: Env) -> None:
    await _send(env, _sync("long", 2, quantity=2))  # stop loss and take profit for 2

    reply = await _send(env, _sync("long", 1, action="sell", quantity=1))

    # A sell of 1 would leave a stop loss for 2 on a long 1: it could turn the account short.
    assert _legs(reply) == [("close", "sell", 2), ("entry", "buy", 1)]
    assert await _position(env) == 1
    working = await env.runtime.bridge.gateway.open_orders(AUTO_OCO)
    assert sorted(o.size for o in working) == [1, 1]
    [event] = [e for e in env.journal.events(alert_id=reply["alert_id"]) if e.kind == "sync.reopen"]
    assert "would close more than the 1 contract(s) left" in event.message


async def test_a_signed_target_without_the_alerts_order(env: Env) -> None:
    templates = env.settings.server.templates_dir
    (templates / "signed.toml").write_text(SIGNED)
    ensure_secrets(env.settings.server.secrets_file, ["signed"])
    env.runtime.bridge.templates = load_templates(templates)
    env.runtime.bridge.secrets = load_secrets(env.settings.server.secrets_file)
    body = {"ticker": "MNQ1!"}

    short = await _send(env, json.dumps({**body, "position_size": "-2"}), "signed")
    assert _legs(short) == [("entry", "sell", 2)] and await _position(env) == -2
    assert _mismatches(env, short) == []  # from flat: taken as the strategy's own order

    await _manual_buy(env, 1)  # short 1 now
    flat = await _send(env, json.dumps({**body, "position_size": "1"}), "signed")

    assert _legs(flat) == [("close", "buy", 1), ("entry", "buy", 1)]
    assert await _position(env) == 1
    assert _mismatches(env, flat) == [
        f"SIM-AUTO-OCO {(await _mnq(env)).name}: the account holds short 1, the strategy expects "
        "long 1 after this alert: sending a close of short 1, then buy 1"
    ]


async def test_a_stale_alert_still_shrinks_but_never_grows(env: Env) -> None:
    await _send(env, _sync("long", 1, quantity=1))
    await _manual_buy(env, 1)
    old = f"{datetime.now(UTC) - timedelta(seconds=90):%Y-%m-%dT%H:%M:%SZ}"

    grow = await _send(env, _sync("long", 3, quantity=1, time=old), fresh_time=False)
    assert grow["status"] == "stale" and "the entry buy 1 was not sent" in grow["reason"]
    assert await _position(env) == 2

    shrink = await _send(env, _sync("long", 1, action="sell", quantity=1, time=old), fresh_time=False)
    assert shrink["status"] == "executed", shrink
    assert _legs(shrink) == [("close", "sell", 1)]
    assert await _position(env) == 1
