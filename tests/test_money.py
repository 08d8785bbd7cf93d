"""Tests of clvlab._money: currency codes, table and prose formats."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clvlab._money import Currency, check_currency, round_for_people


@pytest.mark.parametrize(("code", "value", "table", "prose"), [
    ("USD", 702728.05, "$702,728.05", "$703,000"),
    ("EUR", 84.93, "€84.93", "€85"),
    ("EUR", 2500315.63, "€2,500,315.63", "€2.50 million"),
    ("GBP", 4.971, "£4.97", "£4.97"),
    ("JPY", 1234.5, "¥1,234", "¥1,230"),  # no minor unit; round half to even in tables
    ("CHF", -1234.5, "-CHF 1,234.50", "-CHF 1,230"),
    ("KWD", 1.2345, "KWD 1.234", "KWD 1.23"),
    (None, 999999.0, "999,999.00", "1.00 million"),
])
def test_table_and_prose_formats(code, value, table, prose):
    """Tables show every minor unit with the symbol; prose rounds for people."""
    money = Currency(code)
    assert money.format(value) == table
    assert money.prose(value) == prose


@pytest.mark.parametrize("value", [-0.0, -0.001, -0.004999])
def test_no_negative_zero(value):
    """A value that rounds to zero is never written '-0.00'."""
    assert Currency("USD").format(value) == "$0.00"
    assert Currency(None).format(value) == "0.00"


def test_missing_values_are_a_dash():
    """NaN, inf and None are written as an em dash, not 'nan'."""
    for v in (math.nan, math.inf, None, "x"):
        assert Currency("EUR").format(v) == "—" and Currency("EUR").prose(v) == "—"


@pytest.mark.parametrize(("given_", "want"), [("eur", "EUR"), (" usd ", "USD"), (None, None),
                                              ("", None)])
def test_check_currency_normalises(given_, want):
    """Codes are case-insensitive and stripped; None or blank means not stated."""
    assert check_currency(given_) == want


@pytest.mark.parametrize(("bad", "hint"), [("EURO", "did you mean EUR"), ("$", "did you mean USD"),
                                           ("ABC", ""), ("E1R", ""), ("EU", "")])
def test_check_currency_refuses_what_is_not_iso_4217(bad, hint):
    """Anything but an ISO 4217 code is refused with the argument's name and a hint."""
    with pytest.raises(ValueError, match="--currency must be a three-letter ISO 4217") as err:
        check_currency(bad, "--currency")
    assert hint in str(err.value)


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_prose_rounding_is_close_and_short(value):
    """round_for_people stays within 0.5% above 1,000 (three significant digits), half a
    unit from 10 to 1,000, half a cent below 10; halves round away from zero."""
    rounded, decimals = round_for_people(value)
    a = abs(value)
    bound = 0.005 * a if a >= 1000 else 0.5 if a >= 10 else 0.005
    assert abs(rounded - value) <= bound + 1e-9 * max(a, 1.0)
    if abs(value) >= 1000:
        assert decimals == 0
        digits = f"{abs(rounded):.0f}".rstrip("0")
        assert len(digits) <= 3


def test_prose_rounding_rounds_halves_up():
    """Halves round away from zero as people say them: 10.5 is 11 (not banker's 10)."""
    assert round_for_people(10.5) == (11.0, 0)
    assert round_for_people(-10.5) == (-11.0, 0)
    assert round_for_people(84.93) == (85.0, 0)
    assert round_for_people(702_728.05) == (703_000.0, 0)
    assert round_for_people(2_345.0) == (2_350.0, 0)


def test_excel_format_and_label():
    """The spreadsheet format quotes the symbol; the label names code and symbol."""
    assert Currency("EUR").excel_format() == '"€"#,##0.00;-"€"#,##0.00'
    assert Currency("USD").label == "USD ($)"
    assert Currency("SEK").label == "SEK"
    assert Currency(None).label == "not stated"
