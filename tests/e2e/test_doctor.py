"""``tvbridge doctor`` on the simulator: every check passes, the User Hub included, and no
order-changing call reaches the gateway (the Status page's card: tests/web/test_doctor_card.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import cast

import pytest

from app.engine.doctor import run_doctor
from app.gateway.projectx import ProjectXGateway
from app.gateway.wire_errors import MUTATING_ENDPOINTS
from tests.e2e.conftest import Env
from tests.helpers import SHIPPED_ALERTS, SHIPPED_TEMPLATES, tvbridge


def mutating_calls(env: Env) -> list[str]:
    return [r.path for r in env.sim.requests if r.path.removeprefix("/api/") in MUTATING_ENDPOINTS]


async def test_doctor_passes_on_the_simulator_hub_included_and_sends_no_order(env: Env) -> None:
    before = mutating_calls(env)
    gateway = cast(ProjectXGateway, env.runtime.bridge.gateway)

    report = await run_doctor(
        gateway,
        env.runtime.bridge.templates,
        alerts_dir=SHIPPED_ALERTS,
        rate_limit_per_minute=env.settings.gateway.rate_limit_per_minute,
        hub_url=f"{env.sim_server.url}/hubs/user",
    )

    assert [c.verdict for c in report.checks] == ["PASS"] * len(report.checks), report.checks
    names = [c.name for c in report.checks]
    for name in ("login", "clock", "accounts", "template accounts", "contracts available", "user hub"):
        assert name in names
    assert mutating_calls(env) == before


def test_tvbridge_doctor_prints_each_check_and_exits_0_on_the_simulator(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    shutil.copytree(SHIPPED_ALERTS, tmp_path / "alerts")

    result = tvbridge("doctor", cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS login:" in result.stdout and "PASS user hub:" in result.stdout
    assert "\nFAIL " not in result.stdout and "\nWARN " not in result.stdout
    assert "tvbridge doctor: OK" in result.stdout and "no order was sent" in result.stdout
    assert "Contract/available →" in caplog.text  # the REST client logs every call it makes
    sent = [endpoint for endpoint in MUTATING_ENDPOINTS if f"{endpoint} →" in caplog.text]
    assert sent == [], caplog.text


def test_tvbridge_doctor_exits_1_naming_a_template_account_the_gateway_does_not_list(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates")
    shutil.copytree(SHIPPED_ALERTS, tmp_path / "alerts")
    market = tmp_path / "templates" / "mnq-market.toml"
    market.write_text(
        market.read_text().replace('accounts = ["SIM-AUTO-OCO"]', 'accounts = ["NO-SUCH-ACCOUNT"]')
    )

    result = tvbridge("doctor", cwd=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL template accounts:" in result.stdout
    assert "'NO-SUCH-ACCOUNT' is not one of your active accounts" in result.stdout
    assert "→ fix order.accounts" in result.stdout
    assert "tvbridge doctor: FAILED" in result.stdout
