"""How the pages write prices, times and durations."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from markupsafe import Markup

from app.web.render import duration, local_time, price, usd


def test_prices_are_shown_on_the_contracts_tick_grid() -> None:
    assert price(Decimal("21500"), Decimal("0.25")) == "21500.00"
    assert price(Decimal("21500.5"), Decimal("0.25")) == "21500.50"
    assert price(Decimal("1.2345"), Decimal("0.0001")) == "1.2345"  # 4 decimals: a currency future
    assert price(Decimal("4400"), Decimal("1")) == "4400"
    # An average price between ticks is shown exactly, never rounded onto the grid.
    assert price(Decimal("21500.125"), Decimal("0.25")) == "21500.125"
    assert price(None) == "" and price(Decimal("21500.50")) == "21500.5"


def test_money_and_durations() -> None:
    assert usd(Decimal("-2.5")) == "-2.50" and usd(Decimal("49999.26")) == "49,999.26"
    assert duration(0.0114) == "+11 ms"
    assert duration(-0.002) == "−2 ms"
    assert duration(42.0) == "+42.0 s"
    assert duration(600.0) == "+10.0 min"
    assert duration(263 * 86400.0) == "+263.0 days"


def test_times_are_local_with_utc_on_hover() -> None:
    at = datetime(2026, 11, 21, 14, 3, 7, 123000, tzinfo=UTC)

    html = str(local_time(at))

    local = at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    expected = '<time datetime="2026-11-21T14:03:07.123Z" title="2026-11-21 14:03:07.123 UTC">'
    assert html == f"{expected}{local}</time>"
    assert str(local_time(at.isoformat())) == html


def test_pages_show_control_characters_as_visible_escapes() -> None:
    from app.web.render import templates

    page = templates.env.from_string("<p>{{ name }}</p><pre>{{ text }}</pre>{{ safe }}")
    html = page.render(
        name="mnq\x1b]0;pwned\x07\u202etxt",
        text="[order]\n\tquantity = 1\r",
        safe=Markup("<b>\x1b[2J</b>"),
    )

    assert html == (
        "<p>mnq\\x1b]0;pwned\\x07\\u202etxt</p><pre>[order]\n\tquantity = 1\\r</pre><b>\\x1b[2J</b>"
    )
