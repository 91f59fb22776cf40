"""Where the REST catch-up starts (app/engine/follow.py), with a hand-written reconciler that
records what it was asked: from the hub's last good moment less the margin, never from a later
time; what a failed catch-up owed stays owed; at start, from the journal's follow mark."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from app.engine.follow import CATCH_UP, MARGIN, MAX_LOOKBACK, Follower
from app.engine.runner import JournalRunner
from app.errors import GatewayUnavailable
from app.journal import Journal

AUTO, OTHER = 70000001, 70000002


@dataclass
class FakeHub:
    connected: bool = True
    since: datetime | None = None
    good_at: datetime | None = None


@dataclass
class FakeReconciler:
    asked: list[tuple[int, datetime]] = field(default_factory=list)
    failing: set[int] = field(default_factory=set)

    async def reconcile_account(self, account_id: int, since: datetime) -> list[object]:
        self.asked.append((account_id, since))
        if account_id in self.failing:
            raise GatewayUnavailable("Trade/search: connection refused")
        return []


async def follower_on(journal: Journal, reconciler: FakeReconciler, hub: FakeHub) -> Follower:
    async def followed() -> list[int]:
        return [AUTO, OTHER]

    async def after(events: list[object]) -> None:
        return None

    follower = Follower(
        reconciler,  # type: ignore[arg-type]
        JournalRunner(journal),
        followed,
        after,  # type: ignore[arg-type]
        rate_limit_per_minute=180,
        silence_timeout_s=45,
    )
    await follower.load()
    follower._hub = lambda: hub  # watched without the polling task: the test drives it
    return follower


def connected_now() -> FakeHub:
    now = datetime.now(UTC)
    return FakeHub(connected=True, since=now - timedelta(seconds=1), good_at=now)


async def test_the_first_catch_up_starts_a_day_back_on_a_new_journal(journal: Journal) -> None:
    reconciler = FakeReconciler()
    follower = await follower_on(journal, reconciler, connected_now())
    before = datetime.now(UTC)

    await follower.on_hub_connected(None)

    assert [a for a, _ in reconciler.asked] == [AUTO, OTHER]
    for _, since in reconciler.asked:
        assert before - CATCH_UP - timedelta(seconds=5) <= since <= before - CATCH_UP
    assert follower.owed_from(AUTO) is None  # caught up while the hub was connected


async def test_after_a_reconnect_the_catch_up_starts_at_the_hub_good_moment_less_the_margin(
    journal: Journal,
) -> None:
    reconciler = FakeReconciler()
    hub = connected_now()
    follower = await follower_on(journal, reconciler, hub)
    await follower.on_hub_connected(None)
    reconciler.asked.clear()
    good_at = datetime.now(UTC) - timedelta(seconds=40)  # the last ping before the outage

    await follower.on_hub_connected(good_at)

    assert reconciler.asked == [(AUTO, good_at - MARGIN), (OTHER, good_at - MARGIN)]
    assert (
        hub.good_at is not None and journal.follow_mark() == hub.good_at - MARGIN
    )  # nothing owed: the hub's good moment


async def test_a_failed_catch_up_stays_owed_from_the_first_outage(journal: Journal) -> None:
    reconciler = FakeReconciler()
    follower = await follower_on(journal, reconciler, connected_now())
    await follower.on_hub_connected(None)
    reconciler.failing.add(OTHER)
    first = datetime.now(UTC) - timedelta(minutes=30)
    await follower.on_hub_connected(first)
    assert follower.owed_from(AUTO) is None and follower.owed_from(OTHER) == first - MARGIN
    assert journal.follow_mark() == first - MARGIN  # the mark waits for the account that failed
    reconciler.asked.clear()
    reconciler.failing.clear()

    await follower.on_hub_connected(datetime.now(UTC) - timedelta(seconds=10))  # a later outage

    assert dict(reconciler.asked)[OTHER] == first - MARGIN  # still from the first one
    assert follower.owed_from(OTHER) is None


async def test_a_pass_while_the_hub_is_away_settles_nothing(journal: Journal) -> None:
    reconciler = FakeReconciler()
    hub = connected_now()
    follower = await follower_on(journal, reconciler, hub)
    await follower.on_hub_connected(None)
    lost_at = datetime.now(UTC)
    hub.connected, hub.since, hub.good_at = False, None, lost_at
    follower._lost(lost_at, [AUTO, OTHER])

    await follower.catch_up([AUTO, OTHER])  # what polling does every few seconds
    await follower.catch_up([AUTO, OTHER])

    assert {since for _, since in reconciler.asked[2:]} == {lost_at - MARGIN}
    assert follower.owed_from(AUTO) == lost_at - MARGIN
    assert journal.follow_mark() == lost_at - MARGIN


async def test_polling_reads_on_from_its_last_pass_and_the_reconnect_reads_the_whole_outage(
    journal: Journal,
) -> None:
    reconciler = FakeReconciler()
    hub = connected_now()
    follower = await follower_on(journal, reconciler, hub)
    await follower.on_hub_connected(None)
    lost_at = datetime.now(UTC) - timedelta(minutes=20)
    hub.connected, hub.since, hub.good_at = False, None, lost_at
    follower._lost(lost_at, [AUTO])
    reconciler.asked.clear()

    await follower.catch_up([AUTO], polling=True)
    first_pass = datetime.now(UTC)
    await follower.catch_up([AUTO], polling=True)

    [(_, first), (_, second)] = reconciler.asked
    assert first == lost_at - MARGIN
    assert lost_at < second <= first_pass - MARGIN  # on from the last pass, not the whole outage
    reconciler.asked.clear()
    hub.connected, hub.since, hub.good_at = True, datetime.now(UTC), datetime.now(UTC)

    await follower.on_hub_connected(lost_at)

    assert dict(reconciler.asked)[AUTO] == lost_at - MARGIN  # the whole outage, once
    assert follower.owed_from(AUTO) is None


async def test_at_start_the_catch_up_starts_from_the_recorded_follow_mark(journal: Journal) -> None:
    mark = datetime.now(UTC) - timedelta(hours=3)
    journal.set_follow_mark(mark)
    reconciler = FakeReconciler()
    follower = await follower_on(journal, reconciler, connected_now())

    await follower.on_hub_connected(None)

    assert reconciler.asked == [(AUTO, mark), (OTHER, mark)]


async def test_a_follow_mark_weeks_old_is_read_as_seven_days_back(journal: Journal) -> None:
    journal.set_follow_mark(datetime.now(UTC) - timedelta(days=40))
    reconciler = FakeReconciler()
    follower = await follower_on(journal, reconciler, connected_now())
    before = datetime.now(UTC)

    await follower.on_hub_connected(None)

    for _, since in reconciler.asked:
        assert before - MAX_LOOKBACK - timedelta(seconds=5) <= since <= before - MAX_LOOKBACK


async def test_following_says_how_the_accounts_are_followed(journal: Journal) -> None:
    reconciler = FakeReconciler()
    hub = FakeHub(connected=False)
    follower = await follower_on(journal, reconciler, hub)
    assert follower.following().by == "nothing"  # the hub has not connected yet: /readyz 503

    hub.connected, hub.since, hub.good_at = True, datetime.now(UTC), datetime.now(UTC)
    assert follower.following().by == "user hub"

    hub.connected, hub.since = False, None  # dropped: reconnecting, then polling
    await follower._tick()
    assert follower.following().by == "user hub"  # within POLL_AFTER_S: a quick reconnect
    follower.poll_after_s = 0
    await follower._tick()
    following = follower.following()
    assert following.by == "rest polling" and following.ok and following.last_pass_at is not None
    assert {a for a, _ in reconciler.asked} == {AUTO, OTHER}
