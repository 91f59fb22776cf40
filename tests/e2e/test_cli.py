"""The ``tvbridge`` command as a trader runs it: serve, send, journal, check, render, url.

The commands run in this process (``app.cli.main(argv)``, tests/helpers.py); ``serve`` and a few
smoke tests of ``python -m app.cli`` run as processes of their own."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.enums import AlertStatus
from app.domain.models import Account
from app.journal.journal import Journal
from tests.helpers import (
    SHIPPED_ALERTS,
    SHIPPED_TEMPLATES,
    free_port,
    start_serve,
    start_sim,
    tvbridge,
    tvbridge_process,
)

BRACKET_EXAMPLE = SHIPPED_ALERTS / "mnq-bracket.example.json"
SHIPPED_COUNT = len(list(SHIPPED_TEMPLATES.glob("*.toml")))  # check reports them all


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    return tmp_path


@pytest.fixture
def served(workdir: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    env = {"TVBRIDGE_SERVER__PORT": str(free_port())}
    process = start_serve(workdir, env, subprocess.PIPE)
    yield workdir, env
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    assert process.returncode in (0, 130), output  # 130: the conventional Ctrl-C exit
    assert "POST /webhook/mnq-bracket/*** " in output  # the access log masks the URL token
    secret = (workdir / "webhook_secrets.toml").read_text().split('mnq-bracket = "')[1].split('"')[0]
    assert secret not in output


def test_serve_send_journal_on_the_simulator(served: tuple[Path, dict[str, str]]) -> None:
    workdir, env = served
    assert (workdir / "webhook_secrets.toml").exists()  # made on first start

    sent = tvbridge("send", str(BRACKET_EXAMPLE), "--strategy", "mnq-bracket", cwd=workdir, env=env)

    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("HTTP 200")
    reply = json.loads(sent.stdout.split("\n", 1)[1])
    assert reply["status"] == "executed"
    assert [o["leg"] for o in reply["orders"]] == ["entry", "stop_loss", "take_profit"]

    deadline = time.monotonic() + 10
    while True:  # the order sync runs just after the reply
        shown = tvbridge("journal", "--json", cwd=workdir, env=env)
        [alert] = json.loads(shown.stdout)
        states = [o["state"] for o in alert["orders"]]
        if states == ["FILLED", "WORKING", "WORKING"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert states == ["FILLED", "WORKING", "WORKING"]
    assert all(o["broker_order_id"] for o in alert["orders"])
    [fill] = alert["fills"]  # the entry's fill, from the User Hub
    assert fill["size"] == 1 and fill["side"] == "buy" and fill["trade_id"]
    assert (
        "received_at→sent_at" in alert["latency_s"] and "acknowledged_at→first_fill_at" in alert["latency_s"]
    )
    [slippage] = alert["slippage"]
    assert slippage["reference_price"] == "21500.25" and slippage["fill_price"] == fill["price"]

    table = tvbridge("journal", cwd=workdir, env=env)
    assert table.returncode == 0
    assert "mnq-bracket" in table.stdout and "EXECUTED" in table.stdout
    for leg in ("entry", "stop_loss", "take_profit"):
        assert leg in table.stdout
    assert f"fill {fill['trade_id']}" in table.stdout
    assert "latency: " in table.stdout and "slippage: filled" in table.stdout

    again = tvbridge("send", str(BRACKET_EXAMPLE), "--strategy", "mnq-bracket", cwd=workdir, env=env)
    assert '"status": "duplicate"' in again.stdout


def test_send_without_a_running_bridge_says_so(workdir: Path) -> None:
    (workdir / "webhook_secrets.toml").write_text('mnq-bracket = "a-secret-for-this-test-only"\n')
    port = str(free_port())

    sent = tvbridge(
        "send",
        str(BRACKET_EXAMPLE),
        "--strategy",
        "mnq-bracket",
        cwd=workdir,
        env={"TVBRIDGE_SERVER__PORT": port},
    )

    assert sent.returncode == 1
    assert "is `tvbridge serve` running?" in sent.stderr
    assert "Traceback" not in sent.stderr


def test_check_passes_on_the_shipped_templates(workdir: Path) -> None:
    (workdir / "webhook_secrets.toml").write_text(
        "".join(f'{p.stem} = "secret-{p.stem}-0123456789"\n' for p in (workdir / "templates").glob("*.toml"))
    )
    result = tvbridge("check", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{SHIPPED_COUNT} template(s) OK" in result.stdout


def test_check_warns_when_the_stale_check_would_be_silently_off(workdir: Path) -> None:
    """Issue 12: a message that does not send the time field, or max_age_s = 0 with a time
    field, is warned about; the check still passes (the templates work)."""
    (workdir / "webhook_secrets.toml").write_text(
        "".join(f'{p.stem} = "secret-{p.stem}-0123456789"\n' for p in (workdir / "templates").glob("*.toml"))
    )
    alerts = workdir / "alerts"
    alerts.mkdir()
    (alerts / "mnq-market.txt").write_text('{"ticker": "{{ticker}}", "action": "buy", "quantity": "1"}')
    exit_template = workdir / "templates" / "mnq-exit.toml"
    exit_template.write_text(
        exit_template.read_text().replace('time_field = "time"', 'time_field = "time"\nmax_age_s = 0')
    )

    result = tvbridge("check", cwd=workdir)

    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, result.stdout
    assert any("'mnq-market'" in w and "does not send time_field 'time'" in w for w in warnings)
    assert any("'mnq-exit'" in w and "max_age_s = 0" in w for w in warnings)
    assert f"{SHIPPED_COUNT} template(s) OK" in result.stdout


def test_check_lists_every_problem_with_file_and_line(workdir: Path) -> None:
    (workdir / "templates" / "broken.toml").write_text(
        '[order]\naccounts = ["SIM-AUTO-OCO"]\nticker = "{{ alert.ticker "\naction = "hold"\nquantity = 1\n'
    )
    result = tvbridge("check", cwd=workdir)

    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if "broken.toml" in line]
    assert any("broken.toml:3:" in line for line in lines), result.stdout
    assert any("broken.toml:4:" in line and "hold" in line for line in lines), result.stdout
    assert "Traceback" not in result.stderr


def _secrets_for_all(workdir: Path) -> None:
    (workdir / "webhook_secrets.toml").write_text(
        "".join(f'{p.stem} = "secret-{p.stem}-0123456789"\n' for p in (workdir / "templates").glob("*.toml"))
    )


def test_check_fails_a_template_account_the_gateway_does_not_list(workdir: Path) -> None:
    """Issue 14: `check` passed a template naming an account that does not exist. It logs in to
    the gateway (here the simulator) read-only and names the account, its line and the real ones."""
    market = (workdir / "templates" / "mnq-market.toml").read_text()
    (workdir / "templates" / "ghost.toml").write_text(market.replace('"SIM-AUTO-OCO"', '"SIM-NOPE"'))
    line = market.splitlines().index('accounts = ["SIM-AUTO-OCO"]') + 1
    _secrets_for_all(workdir)

    result = tvbridge("check", cwd=workdir)

    assert result.returncode == 1, result.stdout + result.stderr
    [problem] = [x for x in result.stdout.splitlines() if "SIM-NOPE" in x]
    assert problem.startswith(f"templates/ghost.toml:{line}: Template 'ghost': account 'SIM-NOPE' is not one")
    assert "SIM-AUTO-OCO (" in problem  # the accounts that do exist
    assert "tvbridge check: 1 problem(s)" in result.stderr


def test_check_says_the_accounts_were_not_checked_when_no_gateway_answers(workdir: Path) -> None:
    _secrets_for_all(workdir)
    env = {
        "TVBRIDGE_GATEWAY__KIND": "custom",
        "TVBRIDGE_GATEWAY__API_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "TVBRIDGE_GATEWAY__USER_HUB_URL": "http://127.0.0.1:1/hubs/user",
        "TVBRIDGE_GATEWAY__USERNAME": "me",
        "TVBRIDGE_GATEWAY__API_KEY": "k",
    }

    result = tvbridge("check", cwd=workdir, env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "warning: the templates' accounts were not checked: gateway ProjectX did not answer" in result.stdout
    )
    assert f"{SHIPPED_COUNT} template(s) OK, gateway ProjectX (accounts not checked)" in result.stdout


def test_check_warns_when_an_example_alert_lacks_the_time_field(workdir: Path) -> None:
    shutil.copytree(SHIPPED_ALERTS, workdir / "alerts")
    _secrets_for_all(workdir)
    example = workdir / "alerts" / "mnq-market.example.json"
    body = json.loads(example.read_text())
    example.write_text(json.dumps({k: v for k, v in body.items() if k != "time"}))

    result = tvbridge("check", cwd=workdir)

    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [x for x in result.stdout.splitlines() if x.startswith("warning: ")]
    assert len(warnings) == 1, result.stdout
    assert (
        "template 'mnq-market': its example alert alerts/mnq-market.example.json has no time_field 'time'"
        in (warnings[0])
    )
    assert "(accounts found)" in result.stdout


def test_check_lists_every_settings_problem_with_file_and_line(workdir: Path) -> None:
    """Issue 14: every wrong setting at once, each with the file and line (or the variable)."""
    (workdir / "tvbridge.toml").write_text(
        '[gateway]\nkind = "sim"\ntimeout_s = 600\n\n[server]\nmax_body_bytes = 12\nnot_a_key = 1\n'
    )
    result = tvbridge("check", cwd=workdir, env={"TVBRIDGE_ENGINE__ON_SHUTDOWN": "close"})

    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("tvbridge.toml:3: Setting 'gateway.timeout_s' = 600: "), lines
    assert lines[1].startswith("tvbridge.toml:6: Setting 'server.max_body_bytes' = 12: "), lines
    assert lines[2].startswith("TVBRIDGE_ENGINE__ON_SHUTDOWN: Setting 'engine.on_shutdown' = 'close'"), lines
    assert lines[3].startswith("tvbridge.toml:7: Setting 'server.not_a_key': not a setting of [server]")
    assert "tvbridge check: 4 settings problem(s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_setting_stops_with_one_line_naming_the_key(workdir: Path) -> None:
    result = tvbridge("serve", cwd=workdir, env={"TVBRIDGE_GATEWAY__KIND": "topstep"})

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "gateway.kind" in result.stderr and "topstep" in result.stderr


def test_live_gateway_without_api_key_stops_before_anything(workdir: Path) -> None:
    result = tvbridge(
        "serve", cwd=workdir, env={"TVBRIDGE_GATEWAY__KIND": "topstepx", "TVBRIDGE_GATEWAY__USERNAME": "me"}
    )
    assert result.returncode == 2
    assert "gateway.api_key" in result.stderr and "TVBRIDGE_GATEWAY__API_KEY" in result.stderr


def test_render_prints_the_exact_bodies_and_sends_nothing(workdir: Path) -> None:
    result = tvbridge("render", "mnq-bracket", str(BRACKET_EXAMPLE), cwd=workdir)

    assert result.returncode == 0, result.stderr
    [call] = json.loads(result.stdout)
    assert call["endpoint"] == "Order/place"
    body = call["body"]
    assert body["isAutomated"] is True and body["customTag"].startswith("tvb-")
    assert body["stopLossBracket"] == {"ticks": -40, "type": 4}
    assert body["takeProfitBracket"] == {"ticks": 80, "type": 1}
    journal = tvbridge("journal", "--json", cwd=workdir)
    assert json.loads(journal.stdout) == []  # nothing journaled


def test_render_shows_what_a_scale_out_places_after_the_fill(workdir: Path) -> None:
    example = SHIPPED_ALERTS / "mnq-scale-out.example.json"
    result = tvbridge("render", "mnq-scale-out", str(example), cwd=workdir)

    assert result.returncode == 0, result.stderr
    entry, note = json.loads(result.stdout)
    assert entry["endpoint"] == "Order/place" and entry["body"]["size"] == 3
    assert entry["body"]["stopLossBracket"] is None  # managed: the legs follow the fill
    assert note == {
        "endpoint": None,
        "body": None,
        "note": "after the entry fills: stop loss 40 ticks × what is left, target 1 20 ticks × 1, "
        "target 2 40 ticks × 1, target 3 80 ticks × 1; break-even + 1 tick(s) after target 1: "
        "stop loss to 21500.50 (shown filled at 21500.25)",
    }


def test_render_shows_the_stop_moves_from_live_quotes_with_their_prices(workdir: Path) -> None:
    example = SHIPPED_ALERTS / "mnq-trail-live.example.json"
    result = tvbridge("render", "mnq-trail-live", str(example), cwd=workdir)

    assert result.returncode == 0, result.stderr
    entry, stop, *notes = json.loads(result.stdout)
    assert entry["endpoint"] == "Order/place" and entry["body"]["stopLossBracket"] is None
    assert stop["when"].endswith("fills (shown filled at 21500.25)")
    assert (stop["body"]["type"], stop["body"]["stopPrice"]) == (4, 21490.25)  # a plain stop, 40 ticks
    assert [n["note"] for n in notes] == [
        "break-even: once the price is 20 ticks (5.00 points) in favour of the fill (21505.25 when "
        "filled at 21500.25), the stop loss moves to 21500.50, the fill + 1 tick (0.25 points); "
        "never loosened",
        "trail: once the price is 30 ticks (7.50 points) in favour of the fill (21507.75 when filled "
        "at 21500.25), the stop loss follows the best price 20 ticks (5.00 points, 10.00 USD a "
        "contract) behind it (there: 21502.75), moved in steps of 4 ticks (1.00 points) or more; "
        "never loosened",
        "stop moves: the better of the two wins; moved by the bridge from the Market Hub's live "
        "quotes ([gateway] market_hub, on by default); while the hub is down the stop loss stays "
        "where it is",
    ]
    assert all(n["endpoint"] is None and n["body"] is None for n in notes)


def test_render_a_breakeven_with_no_position_sends_nothing_and_says_so(workdir: Path) -> None:
    example = SHIPPED_ALERTS / "mnq-breakeven.example.json"

    result = tvbridge("render", "mnq-breakeven", str(example), cwd=workdir)

    assert result.returncode == 0, result.stderr
    [note] = json.loads(result.stdout)
    assert note["endpoint"] is None and note["body"] is None
    assert note["note"].startswith("breakeven: no open position in CON.F.US.MNQ.")
    assert note["note"].endswith("on SIM-AUTO-OCO: nothing to move")


def test_render_shows_a_short_s_stop_moves_below_the_fill(workdir: Path, tmp_path: Path) -> None:
    alert = tmp_path / "short.json"
    body = json.loads((SHIPPED_ALERTS / "mnq-trail-live.example.json").read_text())
    alert.write_text(json.dumps({**body, "action": "sell", "be_after_ticks": 8, "trail_ticks": 12}))

    result = tvbridge("render", "mnq-trail-live", str(alert), cwd=workdir)

    assert result.returncode == 0, result.stderr
    _, stop, be, trail, _ = json.loads(result.stdout)
    assert (stop["body"]["side"], stop["body"]["stopPrice"]) == (0, 21510.25)  # a buy stop above
    assert be["note"].startswith(
        "break-even: once the price is 8 ticks (2.00 points) in favour of the fill (21498.25 when "
        "filled at 21500.25), the stop loss moves to 21500.00, the fill - 1 tick"
    )
    assert "(7.50 points) in favour of the fill (21492.75 when filled at 21500.25)" in trail["note"]
    assert "12 ticks (3.00 points, 6.00 USD a contract) behind it (there: 21495.75)" in trail["note"]


def test_render_shows_the_exact_error(workdir: Path, tmp_path: Path) -> None:
    alert = tmp_path / "typo.json"
    alert.write_text('{\n\u201cticker\u201d: "MNQ1!"\n}')

    result = tvbridge("render", "mnq-market", str(alert), cwd=workdir)

    assert result.returncode == 1
    assert "line 2: typographic quote \u201c" in result.stderr
    assert "Traceback" not in result.stderr


def test_url_prints_the_signed_webhook_url(workdir: Path) -> None:
    (workdir / "webhook_secrets.toml").write_text('mnq-bracket = "a-secret-for-this-test-only"\n')

    result = tvbridge("url", "mnq-bracket", "--base-url", "https://abc.trycloudflare.com", cwd=workdir)

    assert result.returncode == 0
    url = result.stdout.strip()
    assert url.startswith("https://abc.trycloudflare.com/webhook/mnq-bracket/")
    assert "a-secret-for-this-test-only" not in url


def test_a_refused_api_key_stops_serve_with_one_line(workdir: Path) -> None:
    sim, url = start_sim(workdir, "--state", ":memory:")
    try:
        env = {
            "TVBRIDGE_GATEWAY__KIND": "custom",
            "TVBRIDGE_GATEWAY__API_URL": url,
            "TVBRIDGE_GATEWAY__USER_HUB_URL": f"{url.replace('http', 'ws', 1)}/hubs/user",
            "TVBRIDGE_GATEWAY__USERNAME": "trader1",
            "TVBRIDGE_GATEWAY__API_KEY": "bad-key",  # the simulator refuses this one (code 3)
            "TVBRIDGE_SERVER__PORT": str(free_port()),
        }

        result = tvbridge_process("serve", cwd=workdir, env=env)  # its own process: serve's logging

        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        [line] = [x for x in result.stderr.splitlines() if x.startswith("tvbridge: ") and "LIVE" not in x]
        assert "InvalidCredentials" in line and "api_key" in line
        assert "bad-key" not in result.stderr
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def test_python_m_app_cli_runs_the_command(workdir: Path) -> None:
    """Smoke test of the entry point itself (the other commands run main(argv) in this process)."""
    result = tvbridge_process("--help", cwd=workdir)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: tvbridge")
    for command in ("serve", "send", "journal", "check", "render", "url", "unlock", "flatten"):
        assert command in result.stdout
    bad = tvbridge_process("no-such-command", cwd=workdir)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_unlock_lifts_a_lockout_by_account_name_or_id_and_says_when_there_is_none(workdir: Path) -> None:
    journal = Journal(f"sqlite:///{workdir / 'tvbridge.db'}")  # the default [journal] url
    try:
        journal.upgrade()
        journal.set_account(Account(70000001, "SIM-AUTO-OCO", Decimal("49500"), True))
        until = datetime.now(UTC) + timedelta(hours=3)
        reason = "daily loss -512.40 USD reached the limit -500.00 USD on SIM-AUTO-OCO"
        journal.lock_account(70000001, "SIM-AUTO-OCO", reason=reason, until=until, by="risk gate")

        unlocked = tvbridge("unlock", "sim-auto-oco", cwd=workdir)  # a name in any case

        assert unlocked.returncode == 0, unlocked.stderr
        assert "unlocked account SIM-AUTO-OCO (70000001): lifted its lockout until " in unlocked.stdout
        assert f"Central, set by risk gate: {reason}. Entries are allowed again" in unlocked.stdout
        assert journal.active_lockouts(datetime.now(UTC)) == []
        [event] = [e for e in journal.events() if e.kind == "risk.unlock"]
        assert "unlocked by tvbridge unlock (cli)" in event.message and reason in event.message

        again = tvbridge("unlock", "70000001", cwd=workdir)  # by id; nothing left to lift
        assert again.returncode == 1
        assert "account SIM-AUTO-OCO (70000001) is not locked: nothing to lift" in again.stderr

        unknown = tvbridge("unlock", "SIM-NOPE", cwd=workdir)
        assert unknown.returncode == 1
        assert "account 'SIM-NOPE' is not locked: no lockout names it (accounts the journal knows: " in (
            unknown.stderr
        )
        assert "SIM-AUTO-OCO (70000001))" in unknown.stderr
        assert "Traceback" not in unknown.stderr
    finally:
        journal.close()


def test_journal_and_unlock_show_escape_codes_in_journaled_text_as_visible_escapes(workdir: Path) -> None:
    """Issue 12: anyone can post to /webhook/<name> with terminal escape codes in the name; the
    CLI prints them as ``\\x1b``, never raw, and a line break in a value cannot forge a line."""
    evil = "x\x1b]0;pwned\x07\x1b[2J\rfake\nOK"
    journal = Journal(f"sqlite:///{workdir / 'tvbridge.db'}")  # the default [journal] url
    try:
        journal.upgrade()
        journal.record_alert(
            strategy=evil,
            raw_body="",
            received_at=datetime.now(UTC),
            source_ip="198.51.100.9",
            status=AlertStatus.UNKNOWN_STRATEGY,
            reason=f"unknown strategy '{evil}'",
        )
        journal.set_account(Account(70000001, "SIM\x1b[31m-AUTO", Decimal("49500"), True))
        until = datetime.now(UTC) + timedelta(hours=3)
        journal.lock_account(70000001, "SIM\x1b[31m-AUTO", reason=f"by {evil}", until=until, by="risk gate")

        table = tvbridge("journal", cwd=workdir)
        unlocked = tvbridge("unlock", "70000001", cwd=workdir)
        unknown = tvbridge("unlock", "nope", cwd=workdir)
    finally:
        journal.close()
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout and "\r" not in table.stdout and "\x07" not in table.stdout
    assert "x\\x1b]0;pwned\\x07\\x1b[2J\\rfake\\nOK" in table.stdout
    assert not any(line.startswith(("OK", "fake")) for line in table.stdout.splitlines())
    assert unlocked.returncode == 0, unlocked.stderr
    assert (
        "\x1b" not in unlocked.stdout and "unlocked account SIM\\x1b[31m-AUTO (70000001)" in unlocked.stdout
    )
    assert "by x\\x1b]0;pwned" in unlocked.stdout
    assert unknown.returncode == 1 and "\x1b" not in unknown.stderr and "SIM\\x1b[31m-AUTO" in unknown.stderr


def test_render_a_partial_exit_with_no_position_sends_nothing_and_says_so(workdir: Path) -> None:
    example = SHIPPED_ALERTS / "mnq-exit-partial.example.json"

    result = tvbridge("render", "mnq-exit-partial", str(example), cwd=workdir)

    assert result.returncode == 0, result.stderr
    [call] = json.loads(result.stdout)
    assert call["endpoint"] is None
    assert call["note"].startswith("no open position in CON.F.US.MNQ.") and "nothing to close" in call["note"]
