"""The bounds on a body's shape (issue 12): depth and number length, checked by a linear scan."""

from __future__ import annotations

import pytest

from app.errors import AlertInvalidError
from app.ingest.parse import (
    MAX_JSON_DEPTH,
    MAX_NUMBER_CHARS,
    find_body_secret,
    parse_body,
    shape_fault,
    tradingview_content_type,
)


def test_depth_up_to_the_bound_parses_and_one_more_is_refused() -> None:
    inner = "[" * (MAX_JSON_DEPTH - 1) + "1" + "]" * (MAX_JSON_DEPTH - 1)
    assert parse_body(f'{{"a": {inner}}}'.encode(), fmt="json") is not None
    deeper = "[" + inner + "]"
    with pytest.raises(AlertInvalidError, match="more than 32 nested brackets"):
        parse_body(f'{{"a": {deeper}}}'.encode(), fmt="json")


def test_brackets_inside_strings_do_not_count() -> None:
    text = '{"note": "' + "[" * 5_000 + '", "quantity": 1}'
    assert shape_fault(text) is None
    assert parse_body(text.encode(), fmt="json")["quantity"] == 1


def test_number_length_bound() -> None:
    ok = "9" * MAX_NUMBER_CHARS
    assert parse_body(f'{{"quantity": {ok}}}'.encode(), fmt="json")["quantity"] == int(ok)
    with pytest.raises(AlertInvalidError, match="longer than 40 characters"):
        parse_body(f'{{"quantity": {ok}9}}'.encode(), fmt="json")
    # The same digits as a string are text, not a number.
    assert parse_body(f'{{"quantity": "{ok}9"}}'.encode(), fmt="json")["quantity"] == ok + "9"


@pytest.mark.parametrize(
    "body",
    [b"[" * 1_100, b'{"a":' * 1_100, b'{"secret": "s", "q": ' + b"9" * 5_000 + b"}"],
)
def test_no_reader_raises_anything_but_the_422(body: bytes) -> None:
    with pytest.raises(AlertInvalidError):
        parse_body(body, fmt="json")
    assert find_body_secret(body, "secret") in (None, "s")
    assert tradingview_content_type(body).startswith("text/plain")


def test_the_secret_of_a_too_deep_body_is_still_found_for_the_precise_422() -> None:
    body = b'{"secret": "s3cret", "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    assert find_body_secret(body, "secret") == "s3cret"


def test_a_placeholder_flood_is_reported_as_placeholders() -> None:
    with pytest.raises(AlertInvalidError, match="unsubstituted placeholder") as caught:
        parse_body(b'{"ticker": "' + b"{{ticker}}" * 3_000 + b'"}', fmt="json")
    assert "2999 more after it" in str(caught.value)
