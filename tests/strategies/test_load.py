"""Loading templates: every problem of every file, each as file:line: message."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.strategies import AccountSpec, Problem, check_templates, load_templates

GOOD = """\
description = "test"
[order]
accounts = ["SIM-AUTO-OCO"]
ticker = "{{ alert.ticker }}"
action = "{{ alert.action }}"
quantity = 1
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, name: str = "t") -> list[str]:
    path = write(tmp_path, name, text)
    return [str(p).removeprefix(f"{path}:") for p in check_templates(tmp_path)]


def test_a_good_template_loads_with_defaults(tmp_path: Path) -> None:
    write(tmp_path, "mnq-trend", GOOD)
    (tmp_path / "notes.txt").write_text("ignored")

    template = load_templates(tmp_path)["mnq-trend"]

    assert template.name == "mnq-trend"
    assert template.path == tmp_path / "mnq-trend.toml"
    assert template.alert_format == "json" and template.pattern is None
    assert template.id_field is None and template.time_field is None
    assert template.dedupe_window_s == 60.0 and template.max_age_s == 30.0
    assert template.secret_field == "secret"
    assert template.accounts == [AccountSpec("SIM-AUTO-OCO", Decimal(1))]
    assert template.source == GOOD


def test_alert_settings_are_read(tmp_path: Path) -> None:
    text = GOOD.replace(
        "[order]",
        '[alert]\nformat = "text"\npattern = \'(?P<action>buy|sell)\'\nid_field = "id"\n'
        'dedupe_window_s = 30\nsecret_field = "key"\ntime_field = "time"\nmax_age_s = 7.5\n[order]',
    )
    write(tmp_path, "t", text)

    template = load_templates(tmp_path)["t"]
    assert template.max_age_s == 7.5

    assert template.alert_format == "text"
    assert template.pattern is not None and template.pattern.pattern == "(?P<action>buy|sell)"
    assert (template.id_field, template.secret_field, template.time_field) == ("id", "key", "time")
    assert template.dedupe_window_s == 30.0


@pytest.mark.parametrize(("setting", "expected"), [("max_age_s = 0", 0.0), ("max_age_s = 120", 120.0)])
def test_max_age_s_may_be_0_or_whole_seconds(tmp_path: Path, setting: str, expected: float) -> None:
    write(
        tmp_path,
        "t",
        f'[alert]\ntime_field = "time"\n{setting}\n' + GOOD.replace('description = "test"\n', ""),
    )

    assert load_templates(tmp_path)["t"].max_age_s == expected


def test_accounts_with_ids_and_multipliers(tmp_path: Path) -> None:
    text = GOOD.replace(
        'accounts = ["SIM-AUTO-OCO"]',
        'accounts = ["A", 70000002, { account = "B", multiplier = 2 }, { account = 7, multiplier = 0.5 }]',
    )
    write(tmp_path, "t", text.replace("quantity = 1", "quantity = 2"))

    assert load_templates(tmp_path)["t"].accounts == [
        AccountSpec("A"),
        AccountSpec(70000002),
        AccountSpec("B", Decimal(2)),
        AccountSpec(7, Decimal("0.5")),
    ]


def test_every_problem_of_every_file_is_listed_with_its_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a",
        """\
description = "a"
[order]
accounts = []
ticker = "{{ alert.ticker }}"
action = "hold"
quantity = "abc"
type = "iceberg"
""",
    )
    write(tmp_path, "b", GOOD.replace("[order]", "[bracket]\nstop_loss = { ticks = 0 }\n[order]"))
    write(tmp_path, "c", "[order\n")

    with pytest.raises(ConfigError) as caught:
        load_templates(tmp_path)

    message = str(caught.value)
    a, b, c = (tmp_path / f"{n}.toml" for n in "abc")
    assert message.startswith(f"6 problems in the templates in {tmp_path}:\n")
    for line in (
        f"{a}:3: order.accounts must list at least one account",
        f"{a}:5: order.action is 'hold', expected buy, sell, exit, reverse, cancel or breakeven",
        f"{a}:6: order.quantity is 'abc', expected a whole number of contracts",
        f"{a}:7: order.type is 'iceberg', expected market, limit, stop or trailing_stop",
        f"{b}:3: bracket.stop_loss.ticks is 0, expected a whole number of ticks, 1 or more",
        f"{c}:1: not valid TOML: ",
    ):
        assert f"\n  {line}" in message, line
    assert message.endswith("Fix them, then run `tvbridge check` to confirm.")


def test_check_templates_returns_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "t", GOOD.replace("quantity = 1", "quantity = 0"))

    problems = check_templates(tmp_path)

    assert problems == [Problem(str(path), 6, "order.quantity is 0, expected a whole number of contracts")]
    assert str(problems[0]) == f"{path}:6: order.quantity is 0, expected a whole number of contracts"


def test_good_templates_have_no_problems(tmp_path: Path) -> None:
    write(tmp_path, "t", GOOD)

    assert check_templates(tmp_path) == []


def test_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "templates"

    assert [str(p) for p in check_templates(missing)] == [
        f"{missing}: the templates folder does not exist; create it with one <strategy>.toml "
        "per strategy (see templates/mnq-bracket.toml)"
    ]
    with pytest.raises(ConfigError, match="does not exist"):
        load_templates(missing)


@pytest.mark.parametrize("name", ["MNQ", "mnq bracket", "-mnq", "x" * 65])
def test_file_name_must_be_a_strategy_name(tmp_path: Path, name: str) -> None:
    problems = problems_of(tmp_path, GOOD, name=name)

    assert problems == [
        f" '{name}' is not a valid strategy name: use up to 64 lower-case letters, "
        "digits, - and _, starting with a letter or digit (e.g. mnq-bracket.toml)"
    ]


def test_toml_syntax_error_carries_tomllib_line(tmp_path: Path) -> None:
    assert problems_of(tmp_path, GOOD + "quantity = = 2\n") == ["7: not valid TOML: Invalid value"]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("quantity = 1", "quantity = 1\nquantityy = 2"),
            "7: unknown key 'quantityy' in [order] (did you mean 'quantity'?); allowed: accounts, "
            "action, exit_quantity, limit_price, price, quantity, risk_percent, risk_usd, stop_price, "
            "sync, target_position, target_signed, target_size, ticker, trail_points, trail_ticks, type",
        ),
        (
            ('description = "test"', 'descripton = "x"'),
            "1: unknown key 'descripton' in the top level (did you mean 'description'?); allowed: "
            "alert, bracket, description, kind, oco, order, risk",
        ),
        (
            ("[order]", '[alert]\nformt = "json"\n[order]'),
            "3: unknown key 'formt' in [alert] (did you mean 'format'?); allowed: dedupe_window_s, "
            "format, id_field, max_age_s, pattern, secret_field, time_field",
        ),
        (
            ("[order]", "[bracket]\nstop = { ticks = 4 }\n[order]"),
            "3: unknown key 'stop' in [bracket] (did you mean 'stop_loss'?); allowed: mode, on_failure, "
            "stop_loss, take_profit, targets, break_even, trail",
        ),
        (
            ("[order]", "[bracket]\nstop_loss = { tick = 4 }\n[order]"),
            "3: unknown key 'tick' in bracket.stop_loss (did you mean 'ticks'?); allowed: points, "
            "price, ticks, trail_points, trail_ticks",
        ),
    ],
)
def test_unknown_keys_name_the_allowed_ones(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    problems = problems_of(tmp_path, GOOD.replace(*edit))

    assert expected in problems


@pytest.mark.parametrize(
    ("alert", "expected"),
    [
        ('format = "xml"', '2: alert.format is \'xml\', expected "json" or "text"'),
        ('format = "text"', '2: alert.format = "text" needs alert.pattern'),
        ("format = \"text\"\npattern = '(?P<a>buy'", "3: alert.pattern does not compile: "),
        ("format = \"text\"\npattern = '(buy|sell)'", "3: alert.pattern has no named groups"),
        ("pattern = '(?P<a>buy)'", '2: alert.pattern is only used with alert.format = "text"'),
        ("dedupe_window_s = -1", "2: alert.dedupe_window_s is -1, expected seconds, 0 or more"),
        ("dedupe_window_s = nan", "2: alert.dedupe_window_s is Decimal('NaN'), expected seconds"),
        ('id_field = ""', "2: alert.id_field is '', expected the name of an alert field"),
        ("max_age_s = -5", "2: alert.max_age_s is -5, expected seconds, 0 or more (0: never stale)"),
        ('max_age_s = "30"', "2: alert.max_age_s is '30', expected seconds, 0 or more"),
        ("max_age_s = true", "2: alert.max_age_s is True, expected seconds"),
        ("max_age_s = inf", "2: alert.max_age_s is Decimal('Infinity'), expected seconds"),
        ('time_field = "time"\nmax_age_s = -1', "3: alert.max_age_s is -1, expected seconds"),
        ("max_age = 30", "2: unknown key 'max_age' in [alert] (did you mean 'max_age_s'?)"),
    ],
)
def test_alert_table_problems(tmp_path: Path, alert: str, expected: str) -> None:
    problems = problems_of(tmp_path, f"[alert]\n{alert}\n" + GOOD.replace('description = "test"\n', ""))

    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ('accounts = "SIM"', "3: order.accounts must list at least one account"),
        (
            'accounts = ["A", { account = "B", multiplier = 0 }]',
            "3: account multiplier is 0, expected a number above 0",
        ),
        (
            'accounts = ["A", { account = "B", multiplier = -2 }]',
            "3: account multiplier is -2, expected a number above 0",
        ),
        (
            'accounts = ["A", { account = "B", multiplier = "2" }]',
            "3: account multiplier is '2', expected a number above 0",
        ),
        ('accounts = ["A", "A"]', "3: account 'A' is listed twice"),
        ('accounts = ["A", { multiplier = 2 }]', "3: account is None, expected an account name"),
        (
            'accounts = ["A", { account = "B", multiplier = 0.5 }]',
            "6: order.quantity 1 on account 'B', expected a whole number of contracts (× 0.5 gives 0.5)",
        ),
    ],
)
def test_account_problems(tmp_path: Path, order: str, expected: str) -> None:
    problems = problems_of(tmp_path, GOOD.replace('accounts = ["SIM-AUTO-OCO"]', order))

    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('ticker = "{{ alert.ticker }}"\n', ""), "2: order.ticker is missing"),
        (('action = "{{ alert.action }}"\n', ""), "2: order.action is missing"),
        (("quantity = 1\n", ""), "2: order.quantity is missing"),
        (('ticker = "{{ alert.ticker }}"', 'ticker = "  "'), "4: order.ticker is '  ', expected a contract"),
        (("quantity = 1", "quantity = true"), "6: order.quantity is True, expected a number or text"),
        (
            ("quantity = 1", 'quantity = "-2"'),
            "6: order.quantity is '-2', expected a whole number of contracts",
        ),
        (("quantity = 1", 'type = "limit"'), '6: order.type = "limit" needs order.limit_price'),
        (("quantity = 1", 'quantity = 1\ntype = "stop"'), '7: order.type = "stop" needs order.stop_price'),
        (
            ("quantity = 1", 'quantity = 1\nprice = "NaN"'),
            "7: order.price is 'NaN', expected a price above 0",
        ),
        (("quantity = 1", "quantity = 1\nprice = 0"), "7: order.price is 0, expected a price above 0"),
        (("quantity = 1", "quantity = 1\ntype = 3"), "7: order.type is 3, expected text"),
        (("[order]", "order = 1\n[other]"), "2: order must be a table"),
    ],
)
def test_order_problems(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    problems = problems_of(tmp_path, GOOD.replace(*edit))

    assert any(p.startswith(expected) for p in problems), problems


def test_exit_and_cancel_need_no_quantity(tmp_path: Path) -> None:
    write(
        tmp_path,
        "t",
        GOOD.replace('action = "{{ alert.action }}"', 'action = "Close"').replace("quantity = 1\n", ""),
    )

    assert check_templates(tmp_path) == []


@pytest.mark.parametrize(
    ("bracket", "expected"),
    [
        (
            "stop_loss = { ticks = 40, points = 10 }",
            "2: bracket.stop_loss needs exactly one of ticks, points or price",
        ),
        ("stop_loss = {}", "2: bracket.stop_loss needs exactly one of ticks, points or price"),
        (
            "stop_loss = { ticks = 2.5 }",
            "2: bracket.stop_loss.ticks is Decimal('2.5'), expected a whole number of ticks",
        ),
        (
            "take_profit = { ticks = -4 }",
            "2: bracket.take_profit.ticks is -4, expected a whole number of ticks",
        ),
        (
            'take_profit = { points = "-1" }',
            "2: bracket.take_profit.points is '-1', expected a distance in points above 0",
        ),
        ("stop_loss = 40", "2: bracket.stop_loss must be a table, e.g. stop_loss = { ticks = 40 }"),
        ('stop_loss = { price = "21400" }', "2: bracket.stop_loss.price on a market entry needs order.price"),
    ],
)
def test_bracket_problems(tmp_path: Path, bracket: str, expected: str) -> None:
    problems = problems_of(tmp_path, f"[bracket]\n{bracket}\n" + GOOD.replace('description = "test"\n', ""))

    assert any(p.startswith(expected) for p in problems), problems


def test_bracket_price_with_reverse_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace('action = "{{ alert.action }}"', 'action = "reverse"\nprice = "{{ alert.close }}"')

    problems = problems_of(tmp_path, text + '[bracket]\nstop_loss = { price = "{{ alert.sl }}" }\n')

    assert any("cannot be used with action reverse" in p for p in problems), problems


def test_bracket_legs_may_list_several_expressions(tmp_path: Path) -> None:
    text = (
        GOOD
        + "[bracket.stop_loss]\nprice = \"{{ alert.a | default('') }}\"\n"
        + "points = \"{{ alert.b | default('') }}\"\n"
    )
    write(tmp_path, "t", text.replace("quantity = 1", 'quantity = 1\nprice = "{{ alert.close }}"'))

    assert check_templates(tmp_path) == []


def test_jinja_syntax_error_on_a_one_line_value(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, GOOD.replace("quantity = 1", 'quantity = "{{ alert.qty }"'))

    assert problems[0].startswith("6: order.quantity: Jinja syntax error: ")


def test_jinja_syntax_error_in_a_multi_line_value_points_at_its_line(tmp_path: Path) -> None:
    text = GOOD.replace(
        "quantity = 1",
        'quantity = """\n{%- if alert.q -%}\n{{ alert.q }}\n{%- endfor -%}\n"""\nprice = "{{ alert.p }}"',
    )

    problems = problems_of(tmp_path, text)

    assert len(problems) == 1 and problems[0].startswith("9: order.quantity: Jinja syntax error: ")


def test_expression_may_only_use_alert_and_strategy(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, GOOD.replace("quantity = 1", 'quantity = "{{ qty }}"'))

    assert problems == [
        "6: order.quantity uses 'qty', which is not defined; expressions see alert.<field> and strategy"
    ]


def test_lines_are_found_in_sub_tables_and_after_multi_line_strings(tmp_path: Path) -> None:
    text = GOOD.replace("quantity = 1", 'quantity = """\n{{ alert.q }}\n"""\ntype = "limit "') + (
        "\n[bracket.take_profit]\n# a comment\nticks = 0\n"
    )

    problems = problems_of(tmp_path, text)

    assert problems == [
        '9: order.type = "limit" needs order.limit_price',
        "13: bracket.take_profit.ticks is 0, expected a whole number of ticks, 1 or more",
    ]


def test_exit_quantity_on_an_entry_is_a_mistake(tmp_path: Path) -> None:
    (tmp_path / "buy.toml").write_text(
        'description = "d"\n[order]\naccounts = ["SIM-AUTO-OCO"]\nticker = "MNQ1!"\naction = "buy"\n'
        'quantity = 1\nexit_quantity = "50%"\n'
    )
    (tmp_path / "half.toml").write_text(
        'description = "d"\n[order]\naccounts = ["SIM-AUTO-OCO"]\nticker = "MNQ1!"\naction = "exit"\n'
        'exit_quantity = "150%"\n'
    )

    problems = " ".join(str(p) for p in check_templates(tmp_path))

    assert 'order.exit_quantity is only read by exits (action = "exit")' in problems
    assert "at most 100 (e.g. 50%)" in problems
