"""clvlab.compat.lifetimes.utils against lifetimes.utils, on CDNOW and small logs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvlab.compat import lifetimes as compat
from clvlab.compat.lifetimes import utils

CDNOW_ARGS = ("id_sample", "date")


def _lifetimes_utils() -> object:
    import lifetimes.utils

    return lifetimes.utils


def _quiet(fn: object, *args: object, **kwargs: object) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)  # type: ignore[operator]


@pytest.mark.parametrize("kwargs", [
    {},
    {"freq_multiplier": 7},
    {"monetary_value_col": "total_value"},
    {"monetary_value_col": "total_value", "include_first_transaction": True},
    {"freq": "W", "observation_period_end": "19970928"},  # a Sunday: the end of a week
])
def test_summary_matches_lifetimes_on_cdnow(cdnow_log, kwargs):
    """summary_data_from_transaction_data: same frame (ids, order, dtypes, values)."""
    kwargs = {"observation_period_end": "19970930", **kwargs}
    ours = _quiet(utils.summary_data_from_transaction_data, cdnow_log, *CDNOW_ARGS,
                  datetime_format="%Y%m%d", **kwargs)
    theirs = _quiet(_lifetimes_utils().summary_data_from_transaction_data, cdnow_log,
                    *CDNOW_ARGS, datetime_format="%Y%m%d", **kwargs)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-12)
    assert ours.index.dtype == np.int64


def test_summary_weekly_ends_on_the_stated_day(cdnow_log):
    """With freq='W' purchases after observation_period_end (same week) are left out.

    lifetimes floors the end to the start of its week and keeps every transaction of that
    week, so purchases on the days after the stated end still count there; here the end is
    the calendar day given.
    """
    kwargs = {"freq": "W", "observation_period_end": "19970930", "datetime_format": "%Y%m%d"}
    ours = _quiet(utils.summary_data_from_transaction_data, cdnow_log, *CDNOW_ARGS, **kwargs)
    theirs = _quiet(_lifetimes_utils().summary_data_from_transaction_data, cdnow_log,
                    *CDNOW_ARGS, **kwargs)
    late = cdnow_log[(cdnow_log["date"] > 19970930) & (cdnow_log["date"] <= 19971005)]
    changed = ours.index[ours["frequency"] != theirs["frequency"]]
    assert len(changed) > 0
    assert set(changed) <= set(late["id_sample"])
    assert (ours.loc[changed, "frequency"] < theirs.loc[changed, "frequency"]).all()


def test_summary_keeps_integer_and_string_ids():
    """Integer ids stay int64 (not strings, not floats); string ids stay strings."""
    log = pd.DataFrame({"id": [1, 1, 1, 2, 2, 2],
                        "date": ["2015-02-01", "2015-02-06", "2015-01-01", "2015-01-01",
                                 "2015-01-02", "2015-01-05"]})
    assert utils.summary_data_from_transaction_data(log, "id", "date").index.dtype == np.int64
    log["id"] = log["id"].map({1: "X", 2: "Y"})
    out = utils.summary_data_from_transaction_data(log, "id", "date")
    assert list(out.index) == ["X", "Y"] and out.index.name == "id"


def test_summary_rejects_subdaily_freq_with_a_hint():
    """freq='h' raises, saying how to get hours (lifetimes computed hourly ages)."""
    log = pd.DataFrame({"id": [1, 1], "date": ["2015-01-01", "2015-01-03"]})
    with pytest.raises(ValueError, match="multiply recency and T by 24"):
        utils.summary_data_from_transaction_data(log, "id", "date", freq="h")


@pytest.mark.parametrize("kwargs", [
    {"monetary_value_col": "total_value"},
    {"monetary_value_col": "total_value", "include_first_transaction": True},
    {"monetary_value_col": "total_value", "freq_multiplier": 7},
    {"monetary_value_col": "total_value", "freq": "W", "calibration_period_end": "19970928"},
])
def test_calibration_and_holdout_matches_lifetimes(cdnow_log, kwargs):
    """calibration_and_holdout_data: same frame as lifetimes (holdout mean per transaction)."""
    kwargs = {"calibration_period_end": "19970930", "observation_period_end": "19980630",
              "datetime_format": "%Y%m%d", **kwargs}
    ours = _quiet(utils.calibration_and_holdout_data, cdnow_log, *CDNOW_ARGS, **kwargs)
    theirs = _quiet(_lifetimes_utils().calibration_and_holdout_data, cdnow_log, *CDNOW_ARGS,
                    **kwargs)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-12)


def test_calibration_and_holdout_works_where_lifetimes_breaks_on_pandas_3(cdnow_log):
    """Without monetary_value_col lifetimes fails on pandas 3; ours gives the same columns."""
    kwargs = {"calibration_period_end": "19970930", "observation_period_end": "19980630",
              "datetime_format": "%Y%m%d"}
    ours = utils.calibration_and_holdout_data(cdnow_log, *CDNOW_ARGS, **kwargs)
    with_value = _quiet(_lifetimes_utils().calibration_and_holdout_data, cdnow_log,
                        *CDNOW_ARGS, monetary_value_col="total_value", **kwargs)
    assert list(ours.columns) == ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout",
                                  "duration_holdout"]
    pd.testing.assert_frame_equal(ours, with_value[list(ours.columns)])
    if pd.__version__ >= "3":
        with pytest.raises(ValueError):
            _quiet(_lifetimes_utils().calibration_and_holdout_data, cdnow_log, *CDNOW_ARGS,
                   **kwargs)


@pytest.mark.parametrize(("t", "kwargs"), [
    (25 * 7, {"freq_multiplier": 7}),
    (60, {}),
    (14, {"set_index_date": True}),
    (25 * 7, {"freq_multiplier": 7, "set_index_date": True}),
    (30, {"freq": "W"}),
])
def test_expected_cumulative_transactions_matches_lifetimes(cdnow_log, bgf_at_lifetimes,
                                                            lt_bgf, t, kwargs):
    """expected_cumulative_transactions: same actual counts, predictions and index."""
    ours = utils.expected_cumulative_transactions(bgf_at_lifetimes, cdnow_log, "date",
                                                  "id_sample", t, "%Y%m%d", **kwargs)
    theirs = _quiet(_lifetimes_utils().expected_cumulative_transactions, lt_bgf, cdnow_log,
                    "date", "id_sample", t, "%Y%m%d", **kwargs)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-10,
                                  check_index_type=False)
    pd.testing.assert_index_equal(pd.Index(ours.index), pd.Index(theirs.index),
                                  exact=False)


def _lifetimes_alive_path(model: object, dates: pd.Series, t: int, freq: str) -> np.ndarray:
    """lifetimes' calculate_alive_path algorithm (its code breaks on pandas 3), in the test."""
    history = pd.DataFrame({"n": 1}, index=pd.DatetimeIndex(dates)).resample(freq).sum()["n"]
    bought = np.append(history.to_numpy() > 0, [False] * max(t + 1 - len(history), 0))
    age = np.arange(len(bought), dtype=float)
    frequency = np.cumsum(bought) - 1
    recency = pd.Series(np.where(bought, age, np.nan)).ffill().fillna(0).to_numpy()
    return np.array([float(model.conditional_probability_alive(x, r, T)[0])  # type: ignore
                     for x, r, T in zip(frequency, recency, age, strict=True)])


@pytest.mark.parametrize(("customer", "t", "freq"), [(1, 600, "D"), (1, 10, "D"),
                                                     (18, 80, "W"), (3, 5, "D")])
def test_calculate_alive_path_matches_lifetimes_algorithm(cdnow_log, bgf_at_lifetimes, lt_bgf,
                                                          customer, t, freq):
    """calculate_alive_path: floats, index 0..age, equal to lifetimes' per-period P(alive)."""
    rows = cdnow_log[cdnow_log["id_sample"] == customer].copy()
    rows["date"] = pd.to_datetime(rows["date"].astype(str))
    ours = utils.calculate_alive_path(bgf_at_lifetimes, rows, "date", t, freq=freq)
    expected = _lifetimes_alive_path(lt_bgf, rows["date"], t, freq)
    assert ours.dtype == float and isinstance(ours.index, pd.RangeIndex)
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-12)
    assert ours.iloc[0] == 1.0


def test_utils_errors_name_the_problem():
    """Missing columns, missing ids and a bad freq_multiplier raise clear errors."""
    log = pd.DataFrame({"id": [1, None], "date": ["2015-01-01", "2015-01-03"]})
    with pytest.raises(ValueError, match="lack column"):
        utils.summary_data_from_transaction_data(log, "customer", "date")
    with pytest.raises(ValueError, match="must not be missing"):
        utils.summary_data_from_transaction_data(log, "id", "date")
    with pytest.raises(ValueError, match="freq_multiplier"):
        utils.summary_data_from_transaction_data(log.dropna(), "id", "date", freq_multiplier=0)
    assert compat.utils.ConvergenceError.__mro__[1:3] and issubclass(
        compat.utils.ConvergenceError, ValueError)


def test_warnings_name_the_customers_own_ids():
    """clvlab's counted warnings name the ids as given (here the integer 6), not codes."""
    from clvlab.exceptions import DataQualityWarning

    log = pd.DataFrame({"id": [1, 1, 6], "date": ["2015-01-01", "2015-02-06", "2015-02-02"]})
    # integer ids stay integers in clvlab's summaries, so the id is shown as 6, not '6'
    with pytest.warns(DataQualityWarning, match=r"customer_id 6\)") as caught:
        utils.calibration_and_holdout_data(log, "id", "date", "2015-02-01", "2015-02-07")
    assert caught[0].filename == __file__


def test_calibration_end_is_a_whole_day():
    """A purchase at 14:00 on calibration_period_end is calibration (lifetimes: holdout).

    lifetimes compares timestamps with midnight of the end date, so the afternoon purchase
    left its calibration period (frequency_cal 0) and joined the holdout, on a day the
    holdout does not cover.
    """
    log = pd.DataFrame({"id": [1, 1, 1, 2], "v": [1.0, 2.0, 3.0, 4.0],
                        "date": pd.to_datetime(["2015-01-01 10:00", "2015-02-01 14:00",
                                                "2015-02-05 09:00", "2015-01-03 08:00"])})
    args = (log, "id", "date", "2015-02-01", "2015-02-07")
    ours = utils.calibration_and_holdout_data(*args, monetary_value_col="v")
    theirs = _quiet(_lifetimes_utils().calibration_and_holdout_data, *args,
                    monetary_value_col="v")
    assert ours.loc[1, ["frequency_cal", "recency_cal", "frequency_holdout"]].tolist() == [
        1.0, 31.0, 1.0]
    assert theirs.loc[1, ["frequency_cal", "recency_cal", "frequency_holdout"]].tolist() == [
        0.0, 0.0, 2.0]
