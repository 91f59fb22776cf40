"""The Status page's "Start-up checks" card: ``serve`` runs doctor's cheap checks at start."""

from __future__ import annotations

from dataclasses import replace

from app.engine.doctor import Check
from tests.web.conftest import Web


async def test_serve_shows_the_start_up_checks_on_the_status_page(web: Web) -> None:
    assert (await web.login()).status_code == 303
    report = web.env.runtime.doctor
    assert report is not None and not report.failed
    names = [c.name for c in report.checks]
    assert "template accounts" in names and "user hub" not in names  # the cheap ones only

    page = (await web.client.get("/status")).text
    assert 'id="doctor"' in page and "Start-up checks" in page
    assert "template accounts" in page

    status = (await web.client.get("/api/status")).json()
    assert status["doctor"]["failed"] is False
    assert status["doctor"]["checks"][0] == {
        "name": "login",
        "verdict": "PASS",
        "detail": report.checks[0].detail,
        "todo": "",
    }


async def test_the_card_escapes_what_the_gateway_said(web: Web) -> None:
    assert (await web.login()).status_code == 303
    report = web.env.runtime.doctor
    assert report is not None
    hostile = Check("accounts", "FAIL", "<script>alert(1)</script>", "<b>fix</b>")
    web.env.runtime.doctor = replace(report, checks=(hostile,))

    page = (await web.client.get("/status")).text

    assert "<script>alert(1)</script>" not in page and "<b>fix</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "status-failed" in page
