"""The notice builders and the protection watch on their own: names, levels, keys, once only."""

from __future__ import annotations

from decimal import Decimal

from app.domain.enums import Action, Leg, Side
from app.domain.expiry import contract_words
from app.domain.notices import Notice, NoticeKind, NoticeLevel
from app.engine import notices
from app.engine.notices import ProtectionWatch, Unprotected
from tests.fakes import RecordingNotifier


def test_contracts_by_their_trader_names_and_prices_with_two_decimals() -> None:
    assert contract_words("CON.F.US.MNQ.H26") == "MNQH6"
    assert contract_words("CON.F.US.GMET.Z25") == "MGCZ5"  # micro gold, as TradingView names it
    assert contract_words("CON.F.US.EP.H26") == "ESH6"
    assert contract_words("something else") == "something else"
    assert (notices.points(Decimal(21500)), notices.points("21500.25"), notices.points("1.125")) == (
        "21500.00",
        "21500.25",
        "1.125",
    )


def _rejected(leg: Leg, action: Action) -> Notice:
    return notices.order_rejected(
        account="ACC",
        contract_id="CON.F.US.MNQ.H26",
        leg=leg,
        action=action,
        side=Side.SELL,
        size=2,
        reason="Insufficient margin",
        order_row=7,
        strategy="s",
    )


def test_a_rejected_exit_or_protection_is_critical_an_entry_a_warning() -> None:
    assert _rejected(Leg.ENTRY, Action.SELL).severity == NoticeLevel.WARNING
    for leg, action in ((Leg.STOP_LOSS, Action.BUY), (Leg.CLOSE, Action.EXIT), (Leg.ENTRY, Action.EXIT)):
        notice = _rejected(leg, action)
        assert notice.severity == NoticeLevel.CRITICAL, leg
        assert "`tvbridge flatten`" in notice.body
    entry = _rejected(Leg.ENTRY, Action.SELL)
    assert entry.key == "order-row:7" and "Reason: Insufficient margin." in entry.body


def _case(key: str = "protection:ACC:CON.F.US.MNQ.H26:group-3") -> Unprotected:
    return Unprotected(key, "ACC", "CON.F.US.MNQ.H26", Side.BUY, 2, "stop loss rejected", "s")


def test_the_watch_reports_a_position_once_and_its_return_once_after_it() -> None:
    recorder = RecordingNotifier()
    watch = ProtectionWatch(recorder)
    watch.restored(_case().key, "flat")  # never reported: nothing to say
    assert recorder.notices == []

    watch.lost(_case())
    watch.lost(_case())
    watch.restored_group(3, "the position is flat now")
    watch.restored_group(3, "the position is flat now")
    watch.lost(_case())  # the same group again: it ended

    assert [n.kind for n in recorder.notices] == [NoticeKind.UNPROTECTED, NoticeKind.PROTECTED]
    lost, back = recorder.notices
    assert lost.title == "No stop loss on ACC: long 2 MNQH6" and back.key == lost.key


def test_a_quiet_expectation_still_reports_a_loss_and_a_forgotten_one_no_return() -> None:
    recorder = RecordingNotifier()
    watch = ProtectionWatch(recorder)
    watch.expect(_case())  # legs placed again after a restart: no notice yet
    watch.lost(_case())  # and the placement failed: the trader hears it
    assert [n.kind for n in recorder.notices] == [NoticeKind.UNPROTECTED]
    watch.forget(_case().key)  # the group failed: no PROTECTED will ever come
    watch.restored(_case().key, "working")
    assert [n.kind for n in recorder.notices] == [NoticeKind.UNPROTECTED]
