"""The scrubber (app/redact.py): a remembered credential is removed in every spelling, the rest
of the text is kept."""

from __future__ import annotations

import json

from app.redact import MASK, remember, scrub, scrub_data

SECRET = "rDx7-Qe_2mTz9KvB4nWc8hLp"


def test_a_remembered_value_is_removed_in_every_spelling() -> None:
    remember([SECRET], scope="test")
    percent = "".join(f"%{ord(c):02X}" for c in SECRET)
    twice = "".join(f"%25{ord(c):02x}" for c in SECRET)
    escaped = "".join(f"\\u{ord(c):04x}" for c in SECRET)
    mixed = SECRET[:5] + percent[15:30] + escaped[60:]  # characters spelt one way or another
    for text in (
        f"secret={SECRET} buy 1 MNQ1!",
        f'{{"secret": {SECRET}, "action": "buy"}}',
        json.dumps({"note": f"x{SECRET}y"}),
        f"secret={percent}&x=1",
        f"secret={percent.lower()}",
        f"secret={twice}",
        f'{{"secret": "{escaped}"}}',
    ):
        assert MASK in scrub(text), text
        assert SECRET not in scrub(text) and percent not in scrub(text) and escaped not in scrub(text)
    assert scrub(mixed) == MASK


def test_other_text_is_kept() -> None:
    remember([SECRET, "ab"], scope="test")  # too short to be a secret: not scrubbed, or every word would go
    text = "wrong secret for strategy 'mnq-market': ab cd %41%42 \\u0041 rDx7"
    assert scrub(text) == text
    assert scrub(SECRET.swapcase()) == SECRET.swapcase()  # secrets are case-sensitive


def test_json_like_data_is_scrubbed_keys_and_values() -> None:
    remember([SECRET], scope="test")
    data = {"error": f"body {SECRET}", SECRET: [1, f"{SECRET}", None, {"n": 2.5}]}
    assert scrub_data(data) == {"error": f"body {MASK}", MASK: [1, MASK, None, {"n": 2.5}]}


def test_a_database_url_is_shown_without_its_password_as_sqlalchemy_shows_it() -> None:
    from sqlalchemy.engine import make_url

    from app.redact import url_without_password

    for url in (
        "sqlite:///tvbridge.db",
        "postgresql+psycopg://trader:s3cr%40t@db:5432/tvbridge?sslmode=require",
        "postgresql://trader@db/tvbridge",
        "postgresql://trader:pw@[::1]:5432/tvbridge",
    ):
        shown = url_without_password(url)
        assert shown == make_url(url).render_as_string(hide_password=True)
        assert "s3cr" not in shown and ":pw@" not in shown
