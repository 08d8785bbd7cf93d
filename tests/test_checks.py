"""Tests of clvlab._checks: one rule per scalar argument, shared by the API and the CLI."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import clvlab
from clvlab._checks import (
    check_date,
    check_discount_rate,
    check_finite_prediction,
    check_horizon,
    check_level,
    check_margin,
)
from clvlab.exceptions import InvalidArgumentError, InvalidValueError, PredictionError


@pytest.mark.parametrize(("value", "suggestion"), [(30, "0.30"), (12.5, "0.125"), (100, "1.00"),
                                                   (1.5, "0.015")])
def test_margin_percentages_get_a_suggestion(value, suggestion):
    """A margin in (1, 100] is taken for a percentage: 'did you mean <value/100>?'."""
    with pytest.raises(InvalidArgumentError, match=rf"did you mean {suggestion}\?"):
        check_margin(value)


@pytest.mark.parametrize("value", [0, -0.2, 150.0])
def test_margin_out_of_range_without_suggestion(value):
    """0, negative and > 100 margins are errors naming the rule, with no suggestion."""
    with pytest.raises(InvalidArgumentError, match=r"0 < margin <= 1") as info:
        check_margin(value)
    assert "did you mean" not in str(info.value)


@given(st.floats(0, 1, exclude_min=True))
def test_any_share_is_a_valid_margin(value):
    """Every share in (0, 1] passes unchanged, as a float."""
    assert check_margin(value) == value


@pytest.mark.parametrize("bad", ["30%", None, True, [0.3], float("nan"), float("inf")])
def test_non_numbers_are_type_errors_and_non_finite_value_errors(bad):
    """Text, None, booleans, lists: TypeError; NaN and inf: InvalidArgumentError."""
    expected = InvalidArgumentError if isinstance(bad, float) else TypeError
    with pytest.raises(expected, match="margin must be"):
        check_margin(bad)


def test_names_carry_through_for_the_cli():
    """The message names the argument as given (--margin on the command line)."""
    with pytest.raises(InvalidArgumentError, match=r"--margin must be .*0 < margin <= 1") as info:
        check_margin(30, "--margin")
    assert info.value.argument == "--margin"


def test_discount_rates():
    """Rates in [0, 1] pass; 10 (a yearly percentage) suggests 0.10; negative ones fail."""
    assert check_discount_rate(0.0) == 0.0 and check_discount_rate(1.0) == 1.0
    with pytest.raises(InvalidArgumentError, match=r"per year.*did you mean 0\.10\?"):
        check_discount_rate(10, "annual_discount_rate", per="year")
    with pytest.raises(InvalidArgumentError, match=r">= 0 \(a discount rate per week\)"):
        check_discount_rate(-0.01, per="week")


@pytest.mark.parametrize("value", [0, -1, float("nan")])
def test_horizons_must_be_positive(value):
    """Zero, negative and NaN horizons are errors."""
    with pytest.raises(InvalidArgumentError, match="horizon must be a finite number"):
        check_horizon(value)


def test_levels_are_open_unit_interval():
    """Levels in (0, 1) pass; 95 suggests 0.95; 0 and 1 are refused."""
    assert check_level(0.95) == 0.95
    with pytest.raises(InvalidArgumentError, match=r"did you mean 0\.95\?"):
        check_level(95)
    for bad in (0, 1):
        with pytest.raises(InvalidArgumentError, match="between 0 and 1, exclusive"):
            check_level(bad)


def test_ci_level_of_a_model_uses_the_shared_rule():
    """BetaGeoFitter(ci_level=95).fit raises with the suggestion."""
    rfm = pd.DataFrame({"frequency": [1.0, 0.0], "recency": [2.0, 0.0], "T": [4.0, 3.0]})
    with pytest.raises(InvalidArgumentError, match=r"ci_level .*did you mean 0\.95\?"):
        clvlab.BetaGeoFitter(ci_level=95).fit(rfm, time_unit="W")


@pytest.mark.parametrize("value", ["2024-06-01", "2024-06-01 13:00", "2024-06-01T13:00:00Z",
                                   pd.Timestamp("2024-06-01"), dt.date(2024, 6, 1),
                                   dt.datetime(2024, 6, 1), np.datetime64("2024-06-01")])
def test_iso_dates_and_datetimes_are_accepted(value):
    """ISO 8601 text and datetime objects are read as 1 June 2024."""
    assert check_date(value, "d").date() == dt.date(2024, 6, 1)


def test_other_date_text_is_refused_showing_both_readings():
    """'01/06/2024' is refused with both readings; with date_format it is read exactly."""
    with pytest.raises(InvalidArgumentError,
                       match=r"could be 2024-06-01 \(day first\) or 2024-01-06 \(month first\)"):
        check_date("01/06/2024", "calibration_end")
    assert check_date("01/06/2024", "c", date_format="%d/%m/%Y") == pd.Timestamp("2024-06-01")
    with pytest.raises(InvalidValueError, match="must be a date"):
        check_date(20240601, "observation_end", error=InvalidValueError)


def test_non_finite_predictions_name_the_model():
    """NaN from a model raises PredictionError naming the model and its parameters."""
    model = clvlab.BetaGeoFitter()
    model.params_ = pd.Series({"r": 1.0, "alpha": 2.0, "a": 3.0, "b": 4.0})
    with pytest.raises(PredictionError, match=r"BG/NBD could not compute E for 1 of 2 "
                                              r"customers at r = 1, alpha = 2"):
        check_finite_prediction([1.0, np.nan], model, "E")
    np.testing.assert_array_equal(check_finite_prediction([1.0, 2.0], model, "E"), [1.0, 2.0])
