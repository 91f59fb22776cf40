"""parse_body on every real TradingView message of the corpus, and the 422 texts traders see."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from app.errors import AlertInvalidError
from app.ingest import find_body_secret, parse_body, stored_body
from tests.corpus import corpus_names, render_corpus

NQ_TEXT = re.compile(
    r"^\s*(?P<action>buy|sell)\s+(?P<position>-?\d+(?:\.\d+)?)\s+(?P<ticker>\S+)\s+@\s+"
    r"(?P<price>\d+(?:\.\d+)?)"
)

JSON_FIELDS: dict[str, dict[str, object]] = {
    "C01": {"text": "BTCUSD Greater Than 9000"},
    "C10": {
        "ticker": "NQ1!",
        "action": "buy",
        "sentiment": "long",
        "quantity": "2",
        "price": "21500.25",
        "time": "2026-03-02T14:30:00Z",
        "interval": "5",
    },
    "C11": {"ticker": "NQ1!", "action": "sell", "sentiment": "flat", "price": "21500.25"},
    "C12": {"ticker": "MNQU2025", "action": "buy"},
    "C13": {"ticker": "NQH2022", "action": "exit"},
    "C15": {
        "ticker": "NQ1!",
        "price": Decimal("21500.25"),
        "action": "buy",
        "market_position": "long",
        "position_size": 2,
        "prev_position_size": 0,
        "quantity": 2,
        "strategy_name": "JADNQ",
    },
    "C18": {
        "secret": "your_webhook_secret_here",
        "strategy": "bracket",
        "signal": "BUY",
        "symbol": "MESU4",
        "size": 1,
    },
    "C26": {"key": "YOUR_KEY_HERE", "message": "I'm a webhook!"},
}

TEXT_FIELDS: dict[str, tuple[str | re.Pattern[str], dict[str, str]]] = {
    "C02": (
        r"(?P<exchange>\w+):(?P<ticker>\S+), price = (?P<price>[\d.]+), volume = (?P<volume>\d+)",
        {"exchange": "CME_MINI", "ticker": "NQ1!", "price": "21500.25", "volume": "1250"},
    ),
    "C03": (r"Volume: (?P<volume>[\d.]+)", {"volume": "55.3"}),
    "C04": (r"Go (?P<action>long|short)\. RSI is (?P<rsi>[\d.]+)", {"action": "long", "rsi": "55.3"}),
    "C05": (r"Go (?P<action>long|short)\. RSI is (?P<rsi>[\d.]+)", {"action": "short", "rsi": "55.3"}),
    "C07": (
        NQ_TEXT,
        {"action": "buy", "position": "2", "ticker": "NQ1!", "price": "21500.25"},
    ),
    "C16": (
        r"(?P<name>\w+): (?P<signal>\w+), Price = (?P<price>\d+)",
        {"name": "JADNQ", "signal": "OPEN_LONG", "price": "25850"},
    ),
    "C20": (
        r"^[^|]*\|[^|]*\|(?P<action>\w+)\|(?P<ticker>\S+)$",
        {"action": "buy", "ticker": "NQ1!"},
    ),
}

JSON_ERRORS: dict[str, str] = {
    "C08": "empty body — the alert's message is empty",
    "C23": 'line 2: typographic quote “ — use plain "',
    "C25": (
        "line 9: unsubstituted placeholder {{strategy.order_id}} — TradingView sends a "
        "placeholder it does not know as it is; check its name (e.g. {{strategy.order.id}})"
    ),
    "C30": (
        "line 1: the body is wrapped in single quotes '…' — paste only the JSON between them "
        "into the alert's Message box"
    ),
}


def invalid(raw: bytes, **kwargs: object) -> str:
    kwargs.setdefault("fmt", "json")
    with pytest.raises(AlertInvalidError) as caught:
        parse_body(raw, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


def test_every_corpus_message_has_an_expected_outcome() -> None:
    assert set(corpus_names()) == set(JSON_FIELDS) | set(TEXT_FIELDS) | set(JSON_ERRORS)


@pytest.mark.parametrize("name", sorted(JSON_FIELDS))
def test_corpus_json_messages_parse_to_their_fields(name: str) -> None:
    fields = parse_body(render_corpus(name), fmt="json")

    assert fields == JSON_FIELDS[name]
    assert [type(v) for v in fields.values()] == [type(v) for v in JSON_FIELDS[name].values()]


@pytest.mark.parametrize("name", sorted(TEXT_FIELDS))
def test_corpus_text_messages_parse_through_a_pattern(name: str) -> None:
    pattern, expected = TEXT_FIELDS[name]

    assert parse_body(render_corpus(name), fmt="text", pattern=re.compile(pattern)) == expected


@pytest.mark.parametrize("name", sorted(TEXT_FIELDS))
def test_corpus_text_messages_sent_to_a_json_template_say_so(name: str) -> None:
    body = render_corpus(name).decode().strip()

    message = invalid(render_corpus(name))

    assert message.startswith(f"line 1: the body is not JSON: '{body[:80]}'")
    assert 'alert.format = "text"' in message


@pytest.mark.parametrize("name", sorted(JSON_ERRORS))
def test_corpus_broken_messages_get_a_precise_422(name: str) -> None:
    assert invalid(render_corpus(name)).startswith(JSON_ERRORS[name])


def test_empty_message_is_refused_for_text_templates_too() -> None:
    message = invalid(render_corpus("C08"), fmt="text", pattern=NQ_TEXT)

    assert message.startswith("empty body")
    assert "alert_message" in message


def test_c25_comment_is_reported_once_the_placeholder_is_fixed() -> None:
    raw = render_corpus("C25", **{"strategy.order_id": "Long"})

    assert invalid(raw) == "line 2: // comment — JSON has no comments; remove it"


def test_c15_unquoted_numbers_stay_numbers() -> None:
    fields = parse_body(render_corpus("C15", close="21500.250"), fmt="json")

    assert fields["price"] == Decimal("21500.250")
    assert str(fields["price"]) == "21500.250"
    assert fields["quantity"] == 2 and isinstance(fields["quantity"], int)


def test_c15_empty_placeholder_names_line_and_key() -> None:
    message = invalid(render_corpus("C15", close=""))

    assert message.startswith('line 3: "price" has no value — the placeholder produced no number')


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "na"])
def test_c15_nan_placeholder_names_line_and_key(value: str) -> None:
    message = invalid(render_corpus("C15", **{"strategy.position_size": value}))

    assert message.startswith(f'line 6: "position_size" is {value} — the placeholder produced no number')


def test_numeric_strings_stay_strings_for_the_template() -> None:
    fields = parse_body(b'{"quantity": "2", "price": "21500.25"}', fmt="json")

    assert fields == {"quantity": "2", "price": "21500.25"}


def test_unknown_placeholder_counts_the_others() -> None:
    raw = b'{"a": "{{strategy.order_id}}",\n"b": "{{tickr}}", "c": "{{clse}}"}'

    message = invalid(raw)

    assert message.startswith("line 1: unsubstituted placeholder {{strategy.order_id}}")
    assert message.endswith("; 2 more after it")


def test_unknown_placeholder_suggests_the_closest_real_one() -> None:
    assert "(e.g. {{ticker}})" in invalid(b'{\n"t": "{{tickr}}"}')


def test_real_placeholder_left_unfilled_explains_why() -> None:
    message = invalid(b"{{strategy.order.action}} 2 NQ1!", fmt="text", pattern=NQ_TEXT)

    assert message.startswith("line 1: unsubstituted placeholder {{strategy.order.action}}")
    assert "only in alerts made on a strategy" in message


def test_typographic_quote_inside_a_string_is_fine() -> None:
    assert parse_body('{"message": "it’s “fine”"}'.encode(), fmt="json") == {"message": "it’s “fine”"}


def test_single_typographic_quote_outside_a_string() -> None:
    assert invalid("{\n‘a’: 1}".encode()).startswith('line 2: typographic quote ‘ — use plain "')


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b'{"a": 1,\n}',
            "line 2: trailing comma before } — JSON allows no comma after the last value; remove it",
        ),
        (b'{"a": 1}\n# note', "line 2: # comment — JSON has no comments; remove it"),
        (b"{'a': 1}", "line 1: single quote ' — JSON strings take double quotes; use plain \""),
        (
            b'{"action": buy}',
            'line 1: "action" is buy without quotes — put text values in double quotes, e.g. "buy"',
        ),
        (b"{action: 1}", 'line 1: key action without quotes — put keys in double quotes: "action"'),
    ],
)
def test_common_json_mistakes_are_named(raw: bytes, expected: str) -> None:
    assert invalid(raw) == expected


def test_other_json_errors_give_line_and_column() -> None:
    message = invalid(b'{\n  "a": 1\n  "b": 2\n}')

    assert message.startswith("line 3 column 3: Expecting ',' delimiter — fix the JSON")


@pytest.mark.parametrize(
    ("raw", "kind"), [(b"[1, 2]", "an array"), (b'"buy"', "a string"), (b"42", "the value 42")]
)
def test_top_level_must_be_an_object(raw: bytes, kind: str) -> None:
    assert invalid(raw).startswith(f"expected a JSON object {{…}}, got {kind}")


def test_body_that_is_not_utf8() -> None:
    assert invalid(b'{"a": "\xff"}').startswith("body is not UTF-8 text")


def test_utf8_bom_is_ignored() -> None:
    assert parse_body(b'\xef\xbb\xbf{"a": 1}', fmt="json") == {"a": 1}


def test_text_that_does_not_match_names_pattern_and_body() -> None:
    body = "JADNQ: OPEN_LONG, Price = 25850 " + "x" * 100

    message = invalid(body.encode(), fmt="text", pattern=NQ_TEXT)

    assert f"'{NQ_TEXT.pattern}'" in message
    assert f"'{body[:80]}'" in message and body[:81] not in message


def test_text_optional_groups_that_did_not_match_are_left_out() -> None:
    pattern = re.compile(r"(?P<action>buy|sell)(?: tp=(?P<tp>[\d.]+))?")

    assert parse_body(b"buy", fmt="text", pattern=pattern) == {"action": "buy"}
    assert parse_body(b"sell tp=21520", fmt="text", pattern=pattern) == {"action": "sell", "tp": "21520"}


def test_text_template_without_pattern_is_a_bug() -> None:
    with pytest.raises(ValueError, match="pattern"):
        parse_body(b"buy", fmt="text")


# --- the secret in the body -------------------------------------------------------------


def test_secret_found_in_json() -> None:
    assert find_body_secret(render_corpus("C18"), "secret") == "your_webhook_secret_here"


@pytest.mark.parametrize(
    "raw",
    [
        "{\n“secret”: “s3cr3t-XY”,\n“action”: “buy”\n}".encode(),
        b"{'secret': 's3cr3t-XY', 'action': 'buy'}",
        b'{"secret": "s3cr3t-XY", "price": ,}',
        b"secret=s3cr3t-XY buy 2 NQ1!",
    ],
)
def test_secret_found_leniently_in_broken_bodies(raw: bytes) -> None:
    assert find_body_secret(raw, "secret") == "s3cr3t-XY"


def test_secret_field_name_must_match_whole() -> None:
    assert find_body_secret(b'{"mysecret": "x", "a": ,}', "secret") is None


@pytest.mark.parametrize("raw", [b'{"action": "buy"}', b"[1]", b"buy 2 NQ1!", b'{"secret": null}'])
def test_no_secret_in_body(raw: bytes) -> None:
    assert find_body_secret(raw, "secret") is None


def test_custom_secret_field_and_numeric_secret() -> None:
    assert find_body_secret(b'{"passphrase": 123456}', "passphrase") == "123456"


def test_stored_body_drops_the_secret_and_keeps_numbers_exactly() -> None:
    raw = b'{"secret": "s3cr3t-XY", "price": 21500.250, "qty": 2, "note": "caf\xc3\xa9"}'

    stored = stored_body(raw, parse_body(raw, fmt="json"), "secret")

    assert "s3cr3t-XY" not in stored
    assert "21500.250" in stored
    assert json.loads(stored) == {"price": 21500.25, "qty": 2, "note": "café"}


def test_stored_body_masks_the_secret_anywhere_else() -> None:
    raw = b'{"secret": "s3cr3t-XY", "comment": "key s3cr3t-XY"}'

    stored = stored_body(raw, parse_body(raw, fmt="json"), "secret")

    assert json.loads(stored) == {"comment": "key ***"}


def test_stored_body_masks_the_secret_of_a_broken_body() -> None:
    raw = "{“secret”: “s3cr3t-XY”, “action”: “buy”}".encode()

    stored = stored_body(raw, {}, "secret")

    assert "s3cr3t-XY" not in stored
    assert stored == "{“secret”: “***”, “action”: “buy”}"


def test_stored_body_masks_a_secret_group_of_a_text_body() -> None:
    raw = b"key=s3cr3t-XY buy 2"

    assert stored_body(raw, {"key": "s3cr3t-XY", "action": "buy"}, "key") == "key=*** buy 2"


def test_stored_body_without_secret_is_kept_as_sent() -> None:
    raw = render_corpus("C10")

    assert stored_body(raw, parse_body(raw, fmt="json"), "secret") == raw.decode()
