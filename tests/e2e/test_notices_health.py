"""The notices about the bridge's connections on the simulator: a User Hub drop longer than the
unreachable alarm's delay is notified once and its return once; a burst of refused deliveries
is summed up once, with counts and without the token."""

from __future__ import annotations

from pathlib import Path

from app.domain.notices import NoticeKind
from app.ingest.auth import load_secrets, url_token
from tests.e2e.conftest import make_settings, running, watch_often
from tests.fakes import RecordingNotifier
from tests.helpers import eventually

BODY = '{"action": "buy", "ticker": "MNQ1!", "secret": "%s"}'


async def test_a_hub_drop_past_the_alarm_delay_is_notified_once_and_its_return_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.engine.unreachable_alarm_s = 5.0
    recorder = RecordingNotifier()
    async with running(settings, tmp_path, notifier=recorder) as env:
        assert env.runtime.watchdog is not None
        await watch_often(env)
        env.sim.hub.refuse_for(7.0)
        env.sim.hub.drop_all()

        async def lost() -> bool:
            return bool(recorder.of(NoticeKind.HUB_LOST))

        await eventually(lost, timeout_s=10)
        [notice] = recorder.of(NoticeKind.HUB_LOST)
        assert notice.title.startswith("User Hub lost since ")
        assert "Accounts affected: SIM-AUTO-OCO" in notice.body and "What to do:" in notice.body

        async def back() -> bool:
            return bool(recorder.of(NoticeKind.HUB_BACK))

        await eventually(back, timeout_s=30)
        assert env.hub.state.connected
        assert [n.kind for n in recorder.notices if n.kind.startswith("hub.")] == [
            NoticeKind.HUB_LOST,
            NoticeKind.HUB_BACK,
        ]


async def test_a_burst_of_bad_token_deliveries_gives_one_summary_with_counts_and_no_token(
    tmp_path: Path,
) -> None:
    recorder = RecordingNotifier()
    async with running(make_settings(tmp_path), tmp_path, notifier=recorder) as env:
        secret = load_secrets(env.settings.server.secrets_file)["mnq-market"]
        for n in range(3):
            answer = await env.client.post(f"/webhook/mnq-market/wrong-token-{n}", content=BODY % "x")
            assert answer.status_code == 401
        assert recorder.of(NoticeKind.DELIVERIES_REFUSED) == []  # a few: not yet worth a notice
        for _ in range(2):
            answer = await env.send("mnq-market", "this is not JSON")
            assert answer.status_code in (400, 422)
        for n in range(10):  # on into the lockout: answered 429, still one summary
            await env.client.post(f"/webhook/mnq-market/wrong-token-{n}", content=BODY % secret)

        [summary] = recorder.of(NoticeKind.DELIVERIES_REFUSED)
        assert summary.title == (
            "5 refused webhook deliveries in the last 1 min: 3 bad token, 2 invalid body; from 1 address"
        )
        assert "203.0.113.7 ×5" in summary.body and "Strategies: 5 mnq-market." in summary.body
        text = summary.title + summary.body
        assert secret not in text and url_token("mnq-market", secret) not in text
        assert "wrong-token" not in text and "not JSON" not in text
