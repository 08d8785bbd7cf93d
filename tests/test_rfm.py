"""Tests of clvlab.rfm: rfm_summary and calibration_holdout."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clvlab import _columns as C
from clvlab.datasets import load_cdnow
from clvlab.exceptions import (
    ClvlabWarning,
    DataQualityWarning,
    EmptyInputError,
    InvalidValueError,
    MissingColumnsError,
    NotATableError,
)
from clvlab.rfm import _period_ordinal, _period_start_day, calibration_holdout, rfm_summary
from clvlab.validation import validate_rfm

lifetimes_utils = pytest.importorskip("lifetimes.utils")

RFM4 = [C.FREQUENCY, C.RECENCY, C.T, C.MONETARY_VALUE]


def _tx(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """Small canonical transaction log from (customer_id, date, amount) tuples."""
    ids, dates, amounts = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: list(ids),
            C.DATE: pd.to_datetime(list(dates), format="ISO8601"),
            C.AMOUNT: list(amounts),
        }
    )


def _round_half_up(x: pd.Series) -> np.ndarray:
    """Round to 2 decimals, halves away from zero (as the published FHL summary is rounded)."""
    v = x.to_numpy(dtype=float)
    return np.floor(v * 100 + 0.5 + 1e-7) / 100


@pytest.fixture(scope="module")
def cdnow_sample() -> pd.DataFrame:
    return load_cdnow(sample=True)


@pytest.fixture(scope="module")
def cdnow_full() -> pd.DataFrame:
    return load_cdnow()


# ----------------------------------------------------------------------------- references
def test_fhl_sample_summary_matches_published_rounded(cdnow_sample):
    """CDNOW 1/10 sample to 1997-09-30 in weeks equals FHL 2005's summary (lifetimes copy)."""
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

    published = load_cdnow_summary_data_with_monetary_value()
    published.index = published.index.astype(str)
    with pytest.warns(DataQualityWarning, match="1959 of 6919 transactions"):
        rfm = rfm_summary(cdnow_sample, time_unit="W", observation_end="1997-09-30")
    assert len(rfm) == len(published) == 2357
    assert set(rfm.index) == set(published.index)
    ours = rfm.reindex(published.index)
    for col in RFM4:
        # published numbers are rounded half-up to 2 decimals (22.345 -> 22.35)
        np.testing.assert_allclose(_round_half_up(ours[col]), published[col].to_numpy(),
                                   rtol=0, atol=1e-9, err_msg=col)
    # customer "1": purchases 1997-01-01, 01-18, 08-02 ($29.33, $29.73, $14.96)
    np.testing.assert_allclose(ours.loc["1", RFM4].to_numpy(dtype=float),
                               [2, 213 / 7, 272 / 7, (29.73 + 14.96) / 2], rtol=1e-14)


@pytest.mark.parametrize("unit", ["D", "W"])
def test_merge_equal_unit_matches_lifetimes_full_cdnow(cdnow_full, unit):
    """merge_period == time_unit reproduces lifetimes' summary_data_from_transaction_data(freq)."""
    expected = lifetimes_utils.summary_data_from_transaction_data(
        cdnow_full, C.CUSTOMER_ID, C.DATE, monetary_value_col=C.AMOUNT, freq=unit
    )
    expected.index = expected.index.astype(str)
    rfm = rfm_summary(cdnow_full, time_unit=unit, merge_period=unit)
    assert len(rfm) == len(expected) == 23570
    ours = rfm.reindex(expected.index)
    for col in (C.FREQUENCY, C.RECENCY, C.T):
        np.testing.assert_array_equal(ours[col].to_numpy(), expected[col].to_numpy(), err_msg=col)
    # sums taken in a different order (pandas' compensated groupby sums): last-ulp noise only
    np.testing.assert_allclose(ours[C.MONETARY_VALUE], expected[C.MONETARY_VALUE], rtol=1e-12)


def test_include_first_transaction_matches_lifetimes(cdnow_sample):
    """include_first_transaction=True gives lifetimes' frequency and monetary value (same run)."""
    expected = lifetimes_utils.summary_data_from_transaction_data(
        cdnow_sample, C.CUSTOMER_ID, C.DATE, monetary_value_col=C.AMOUNT, freq="D",
        include_first_transaction=True,
    )
    expected.index = expected.index.astype(str)
    rfm = rfm_summary(cdnow_sample, time_unit="D", include_first_transaction=True)
    ours = rfm.reindex(expected.index)
    np.testing.assert_array_equal(ours[C.FREQUENCY], expected[C.FREQUENCY])
    np.testing.assert_allclose(ours[C.MONETARY_VALUE], expected[C.MONETARY_VALUE], rtol=1e-12)
    assert (ours[C.FREQUENCY] >= 1).all()
    assert rfm.attrs["include_first_transaction"] is True


def test_fhl_calibration_holdout_counts(cdnow_sample):
    """FHL 2005 split: 946 repeaters in calibration, 1,882 holdout purchases, 39-week holdout."""
    cal = calibration_holdout(cdnow_sample, "1997-09-30", "1998-06-30", time_unit="W")
    assert len(cal) == 2357
    assert int((cal[C.FREQUENCY] > 0).sum()) == 946
    assert cal[C.FREQUENCY_HOLDOUT].sum() == 1882
    np.testing.assert_array_equal(cal[C.DURATION_HOLDOUT].unique(), [39.0])
    assert cal.attrs == {
        "time_unit": "W",
        "merge_period": "D",
        "observation_end": "1998-06-30",
        "include_first_transaction": False,
        "calibration_end": "1997-09-30",
    }


def test_calibration_holdout_matches_lifetimes(cdnow_sample):
    """Same split as lifetimes' calibration_and_holdout_data (freq D, multiplier 7 = weeks)."""
    expected = lifetimes_utils.calibration_and_holdout_data(
        cdnow_sample, C.CUSTOMER_ID, C.DATE, "1997-09-30", "1998-06-30", freq="D",
        freq_multiplier=7, monetary_value_col=C.AMOUNT,
    )
    expected.index = expected.index.astype(str)
    cal = calibration_holdout(cdnow_sample, "1997-09-30", "1998-06-30", time_unit="W")
    ours = cal.reindex(expected.index)
    for col in (C.FREQUENCY, C.RECENCY, C.T):
        np.testing.assert_array_equal(ours[col], expected[col + "_cal"], err_msg=col)
    np.testing.assert_allclose(ours[C.MONETARY_VALUE], expected["monetary_value_cal"], rtol=1e-12)
    np.testing.assert_array_equal(ours[C.FREQUENCY_HOLDOUT], expected[C.FREQUENCY_HOLDOUT])
    np.testing.assert_array_equal(ours[C.DURATION_HOLDOUT], expected[C.DURATION_HOLDOUT])
    # lifetimes averages raw holdout *rows*; clvlab averages merged holdout *purchases*.
    # They agree exactly where every holdout purchase is a single row.
    single = (ours[C.N_TRANSACTIONS_HOLDOUT] == ours[C.FREQUENCY_HOLDOUT]).to_numpy()
    np.testing.assert_allclose(ours.loc[single, C.MONETARY_VALUE_HOLDOUT],
                               expected.loc[single, "monetary_value_holdout"], rtol=1e-12)
    merged = ~single
    assert merged.sum() > 0
    assert (ours.loc[merged, C.MONETARY_VALUE_HOLDOUT].to_numpy()
            > expected.loc[merged, "monetary_value_holdout"].to_numpy()).all()


def test_calibration_part_equals_rfm_summary(cdnow_sample):
    """The calibration columns are rfm_summary with observation_end=calibration_end."""
    cal = calibration_holdout(cdnow_sample, "1997-09-30", "1998-06-30", time_unit="D")
    with pytest.warns(DataQualityWarning):
        rfm = rfm_summary(cdnow_sample, time_unit="D", observation_end="1997-09-30")
    pd.testing.assert_frame_equal(cal[rfm.columns], rfm, check_like=False)
    ht = cdnow_sample[cdnow_sample[C.DATE] > "1997-09-30"]
    assert cal[C.N_TRANSACTIONS_HOLDOUT].sum() == len(ht)
    np.testing.assert_allclose(cal[C.TOTAL_SPEND_HOLDOUT].sum(), ht[C.AMOUNT].sum(), rtol=1e-12)


# ----------------------------------------------------------------------------- definitions
def test_same_day_rows_merge_into_one_purchase():
    """Two rows on one day are one purchase whose value is their sum."""
    tx = _tx([("a", "2020-01-01", 5.0), ("a", "2020-01-08", 3.0), ("a", "2020-01-08 17:30", 4.0)])
    rfm = rfm_summary(tx, time_unit="D")
    row = rfm.loc["a"]
    assert row[C.FREQUENCY] == 1
    assert row[C.MONETARY_VALUE] == 7.0
    assert row[C.RECENCY] == 7.0 and row[C.T] == 7.0
    assert row[C.TOTAL_SPEND] == 12.0 and row[C.N_TRANSACTIONS] == 3
    assert row[C.LAST_PURCHASE] == pd.Timestamp("2020-01-08 17:30")


def test_week_merge_uses_monday_to_sunday_weeks():
    """merge_period W merges Monday..Sunday; a Sunday and the next Monday are two purchases."""
    # 2020-01-05 is a Sunday, 2020-01-06 a Monday, 2020-01-12 a Sunday
    tx = _tx([("a", "2020-01-05", 1.0), ("a", "2020-01-06", 2.0), ("a", "2020-01-12", 4.0)])
    rfm = rfm_summary(tx, time_unit="D", merge_period="W")
    assert rfm.loc["a", C.FREQUENCY] == 1
    assert rfm.loc["a", C.MONETARY_VALUE] == 6.0
    assert rfm.loc["a", C.RECENCY] == 7.0  # week starts 2019-12-30 and 2020-01-06
    assert rfm.loc["a", C.T] == 7.0


@given(st.integers(-40000, 80000))
def test_week_periods_match_pandas_w_sun(day):
    """Week ordinals/starts agree with pandas' Period('W') start_time for any day."""
    ordinal = _period_ordinal(np.array([day], dtype=np.int64), "W")
    start = _period_start_day(ordinal, "W")[0]
    expected = pd.Timestamp(np.datetime64(day, "D")).to_period("W").start_time
    assert np.datetime64(int(start), "D") == np.datetime64(expected.date(), "D")


def test_calendar_month_ages():
    """merge=unit=M counts calendar months; merge=D, unit=M divides days by 365.2425/12."""
    tx = _tx([("a", "2021-01-31", 1.0), ("a", "2021-03-01", 1.0), ("a", "2021-03-31", 1.0)])
    months = rfm_summary(tx, time_unit="M", merge_period="M")
    assert months.loc["a", C.FREQUENCY] == 1  # the two March rows are one purchase
    assert months.loc["a", C.RECENCY] == 2.0
    assert months.loc["a", C.T] == 2.0
    days = rfm_summary(tx, time_unit="M", merge_period="D")
    np.testing.assert_allclose(days.loc["a", C.RECENCY], 59 / (365.2425 / 12), rtol=1e-15)
    years = rfm_summary(tx, time_unit="W", merge_period="Y")
    assert years.loc["a", C.FREQUENCY] == 0 and years.loc["a", C.T] == 0


def test_single_transaction():
    """One transaction: frequency, recency, T and monetary value all 0."""
    rfm = rfm_summary(_tx([("x", "2021-06-01", 9.5)]))
    assert rfm.loc["x", RFM4].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert rfm.loc["x", C.TOTAL_SPEND] == 9.5
    assert rfm.attrs[C.ATTR_OBSERVATION_END] == "2021-06-01"


def test_all_transactions_on_one_day():
    """Everything on one day: every customer has frequency 0 and T 0, spend kept."""
    tx = _tx([("a", "2021-06-01", 1.0), ("b", "2021-06-01 09:00", 2.0),
              ("a", "2021-06-01 18:00", 3.0)])
    rfm = rfm_summary(tx, time_unit="W")
    assert list(rfm.index) == ["a", "b"]  # order of first appearance
    assert (rfm[RFM4].to_numpy() == 0).all()
    assert rfm[C.TOTAL_SPEND].tolist() == [4.0, 2.0]
    assert rfm[C.N_TRANSACTIONS].tolist() == [2, 1]


def test_first_purchase_on_observation_end_and_after_it():
    """First purchase on observation_end gives T=0; a later first purchase drops (counted)."""
    tx = _tx([("a", "2021-01-01", 1.0), ("a", "2021-01-15", 1.0), ("b", "2021-01-15", 2.0),
              ("c", "2021-02-01", 3.0)])
    with pytest.warns(DataQualityWarning, match=r"1 of 4 transactions.*1 customer\(s\).*'c'"):
        rfm = rfm_summary(tx, time_unit="D", observation_end="2021-01-15")
    assert list(rfm.index) == ["a", "b"]
    assert rfm.loc["b", [C.FREQUENCY, C.RECENCY, C.T]].tolist() == [0.0, 0.0, 0.0]
    assert rfm.loc["a", C.T] == 14.0


def test_observation_end_includes_whole_day():
    """A transaction later on the observation_end day is inside the window."""
    tx = _tx([("a", "2021-01-01", 1.0), ("a", "2021-01-15 23:59", 2.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClvlabWarning)
        rfm = rfm_summary(tx, time_unit="D", observation_end=pd.Timestamp("2021-01-15 08:00"))
    assert rfm.loc["a", C.FREQUENCY] == 1


def test_output_schema_attrs_and_validates(cdnow_sample):
    """Output columns, dtypes, sorted str index, attrs; passes validate_rfm; input untouched."""
    before = cdnow_sample.copy()
    rfm = rfm_summary(cdnow_sample, time_unit="W")
    pd.testing.assert_frame_equal(cdnow_sample, before)
    assert list(rfm.columns) == [C.FREQUENCY, C.RECENCY, C.T, C.MONETARY_VALUE, C.TOTAL_SPEND,
                                 C.N_TRANSACTIONS, C.FIRST_PURCHASE, C.LAST_PURCHASE]
    assert rfm.index.name == C.CUSTOMER_ID
    # customers in order of first appearance (the file is ordered by customer)
    assert list(rfm.index) == list(cdnow_sample[C.CUSTOMER_ID].unique())
    assert pd.api.types.is_string_dtype(rfm.index.dtype)
    assert all(rfm[c].dtype == np.float64 for c in RFM4 + [C.TOTAL_SPEND])
    assert rfm[C.N_TRANSACTIONS].dtype == np.int64
    assert pd.api.types.is_datetime64_dtype(rfm[C.FIRST_PURCHASE].dtype)
    assert rfm.attrs == {"time_unit": "W", "merge_period": "D", "observation_end": "1998-06-30",
                         "include_first_transaction": False}
    validate_rfm(rfm, require=RFM4)


@pytest.mark.parametrize("ids", [[12, 7, 12], [7, 7, 12]], ids=["unsorted", "sorted"])
def test_integer_customer_ids_stay_integers(ids):
    """Integer ids give an int64 index (no text), customers in order of first appearance."""
    tx = pd.DataFrame({C.CUSTOMER_ID: np.array(ids, dtype=np.int64), C.DATE: pd.to_datetime(
        ["2020-01-01", "2020-01-03", "2020-01-02"]), C.AMOUNT: [1.0, 2.0, 3.0]})
    rfm = rfm_summary(tx, time_unit="D")
    assert rfm.index.dtype == np.int64
    assert list(rfm.index) == list(dict.fromkeys(ids))
    assert rfm.loc[12, C.FREQUENCY] == (1 if ids.count(12) == 2 else 0)
    assert rfm.loc[7, C.FREQUENCY] == (1 if ids.count(7) == 2 else 0)
    as_text = rfm_summary(tx.assign(**{C.CUSTOMER_ID: tx[C.CUSTOMER_ID].astype(str)}),
                          time_unit="D")
    np.testing.assert_array_equal(rfm.to_numpy(), as_text.to_numpy())
    assert list(as_text.index) == [str(i) for i in rfm.index]


def test_ids_colliding_as_text_raise():
    """Ids that differ only by type (1 and "1") raise instead of merging two customers."""
    tx = pd.DataFrame({C.CUSTOMER_ID: pd.Series([1, "1"], dtype=object),
                       C.DATE: pd.to_datetime(["2020-01-01", "2020-01-02"]),
                       C.AMOUNT: [1.0, 2.0]})
    with pytest.raises(InvalidValueError, match="distinct ids become equal as text"):
        rfm_summary(tx)


def test_object_string_ids_and_row_labels_in_errors():
    """Object-dtype string ids give a str index; errors name the frame's own row labels."""
    tx = _good()
    tx[C.CUSTOMER_ID] = tx[C.CUSTOMER_ID].astype(object)
    rfm = rfm_summary(tx)
    assert pd.api.types.is_string_dtype(rfm.index.dtype) and rfm.index.dtype != object
    tx.index = ["r1", "r2", "r3"]
    tx.loc["r3", C.AMOUNT] = np.nan
    with pytest.raises(InvalidValueError, match=r"1 row\(s\) violate this \(index 'r3'\)"):
        rfm_summary(tx)


# ----------------------------------------------------------------------------- properties
@st.composite
def transaction_logs(draw):
    """Random small logs: ids a..h, days over ~6 months with times of day, amounts."""
    n = draw(st.integers(1, 40))
    ids = draw(st.lists(st.sampled_from("abcdefgh"), min_size=n, max_size=n))
    days = draw(st.lists(st.integers(0, 180), min_size=n, max_size=n))
    minutes = draw(st.lists(st.integers(0, 24 * 60 - 1), min_size=n, max_size=n))
    amounts = draw(st.lists(st.floats(0.01, 1000, allow_nan=False), min_size=n, max_size=n))
    dates = (pd.Timestamp("2019-12-25") + pd.to_timedelta(days, unit="D")
             + pd.to_timedelta(minutes, unit="min"))
    return pd.DataFrame({C.CUSTOMER_ID: ids, C.DATE: dates, C.AMOUNT: amounts})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transaction_logs(), st.sampled_from("DWMY"), st.sampled_from("DWMY"),
       st.integers(0, 200), st.randoms(use_true_random=False))
def test_rfm_invariants(tx, unit, merge, end_offset, rnd):
    """0 <= recency <= T, whole frequency, zeros when frequency 0, row order irrelevant."""
    end = pd.Timestamp("2019-12-25") + pd.Timedelta(days=end_offset)
    window = tx[tx[C.DATE] < end + pd.Timedelta(days=1)]
    if window.empty:
        with pytest.raises(EmptyInputError):
            rfm_summary(tx, unit, merge, observation_end=end)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        rfm = rfm_summary(tx, unit, merge, observation_end=end)
        perm = list(range(len(tx)))
        rnd.shuffle(perm)
        shuffled = rfm_summary(tx.iloc[perm].reset_index(drop=True), unit, merge,
                               observation_end=end)
    assert rfm.index.is_unique
    assert sorted(rfm.index) == sorted(window[C.CUSTOMER_ID].unique())
    f, r, t = rfm[C.FREQUENCY], rfm[C.RECENCY], rfm[C.T]
    assert ((r >= 0) & (r <= t)).all()
    assert ((f >= 0) & (f == np.floor(f))).all()
    zero = f == 0
    assert (r[zero] == 0).all() and (rfm.loc[zero, C.MONETARY_VALUE] == 0).all()
    assert (rfm[C.N_TRANSACTIONS] >= f + 1).all()
    np.testing.assert_allclose(rfm[C.TOTAL_SPEND].sum(), window[C.AMOUNT].sum(), rtol=1e-9)
    assert rfm[C.N_TRANSACTIONS].sum() == len(window)
    cols = RFM4 + [C.N_TRANSACTIONS, C.FIRST_PURCHASE, C.LAST_PURCHASE]
    pd.testing.assert_frame_equal(rfm[cols].sort_index(), shuffled[cols].sort_index(),
                                  rtol=1e-12)
    validate_rfm(rfm, require=RFM4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transaction_logs(), st.sampled_from("DW"))
def test_rfm_matches_lifetimes_on_random_logs(tx, unit):
    """merge_period == time_unit equals lifetimes on arbitrary small logs (same test run)."""
    expected = lifetimes_utils.summary_data_from_transaction_data(
        tx, C.CUSTOMER_ID, C.DATE, monetary_value_col=C.AMOUNT, freq=unit)
    rfm = rfm_summary(tx, time_unit=unit, merge_period=unit).reindex(expected.index)
    for col in (C.FREQUENCY, C.RECENCY, C.T):
        np.testing.assert_array_equal(rfm[col], expected[col], err_msg=col)
    np.testing.assert_allclose(rfm[C.MONETARY_VALUE], expected[C.MONETARY_VALUE], rtol=1e-9)


# ----------------------------------------------------------------------------- holdout rules
def test_week_merge_across_calibration_boundary():
    """With W merge, a week straddling calibration_end gives one purchase on each side."""
    # 2020-01-07 Tue, 2020-01-08 Wed (calibration_end), 2020-01-09 Thu: one Monday-Sunday week
    tx = _tx([("a", "2019-12-31", 1.0), ("a", "2020-01-07", 2.0), ("a", "2020-01-09", 4.0),
              ("a", "2020-01-10", 8.0)])
    cal = calibration_holdout(tx, "2020-01-08", "2020-01-31", time_unit="W", merge_period="W")
    row = cal.loc["a"]
    assert row[C.FREQUENCY] == 1 and row[C.MONETARY_VALUE] == 2.0
    assert row[C.FREQUENCY_HOLDOUT] == 1 and row[C.MONETARY_VALUE_HOLDOUT] == 12.0
    assert row[C.N_TRANSACTIONS_HOLDOUT] == 2
    assert row[C.DURATION_HOLDOUT] == 3.0  # weeks of 2020-01-06 -> 2020-01-27
    assert row[C.T] == 1.0


def test_holdout_defaults_and_new_customer_warning():
    """No holdout activity gives zeros; customers first seen in the holdout drop with a warning."""
    tx = _tx([("a", "2020-01-01", 1.0), ("b", "2020-01-02", 5.0), ("b", "2020-02-02", 7.0),
              ("b", "2020-02-02", 1.0), ("c", "2020-02-10", 3.0), ("a", "2020-05-01", 9.0)])
    with pytest.warns(DataQualityWarning) as record:
        cal = calibration_holdout(tx, "2020-01-31", "2020-03-01", time_unit="D")
    messages = " ".join(str(w.message) for w in record)
    assert "1 customer(s) with 1 holdout transaction(s)" in messages and "'c'" in messages
    assert "1 of 6 transactions are dated after observation_end 2020-03-01" in messages
    assert list(cal.index) == ["a", "b"]
    assert cal.loc["a", [C.FREQUENCY_HOLDOUT, C.MONETARY_VALUE_HOLDOUT, C.TOTAL_SPEND_HOLDOUT,
                         C.N_TRANSACTIONS_HOLDOUT]].tolist() == [0, 0, 0, 0]
    assert cal.loc["b", [C.FREQUENCY_HOLDOUT, C.MONETARY_VALUE_HOLDOUT]].tolist() == [1.0, 8.0]
    assert cal[C.DURATION_HOLDOUT].tolist() == [30.0, 30.0]
    assert cal[C.N_TRANSACTIONS_HOLDOUT].dtype == np.int64


@pytest.mark.parametrize(
    ("cal_end", "obs_end", "exc", "match"),
    [
        ("2020-03-01", "2020-03-01", InvalidValueError, "must be before observation_end"),
        ("2020-04-01", "2020-03-01", InvalidValueError, "must be before observation_end"),
        ("not a date", "2020-03-01", InvalidValueError, "calibration_end must be a date"),
        ("2020-01-01", "2020-13-45", InvalidValueError, "observation_end must be a date"),
        ("2019-06-01", "2020-03-01", EmptyInputError, "calibration period has no customers"),
    ],
)
def test_calibration_holdout_errors(cal_end, obs_end, exc, match):
    """Bad split dates raise clvlab errors that say what is wrong."""
    tx = _tx([("a", "2020-01-01", 1.0), ("a", "2020-02-01", 1.0)])
    with pytest.raises(exc, match=match):
        calibration_holdout(tx, cal_end, obs_end)


# ----------------------------------------------------------------------------- input errors
def _good() -> pd.DataFrame:
    return _tx([("a", "2020-01-01", 1.0), ("b", "2020-01-02", 2.0), ("c", "2020-01-03", 3.0)])


@pytest.mark.parametrize(
    ("mutate", "exc", "match"),
    [
        (lambda d: d.drop(columns=[C.AMOUNT]), MissingColumnsError,
         r"lack column\(s\) amount; columns present: customer_id, date"),
        (lambda d: d.assign(date=d[C.DATE].astype(str)), InvalidValueError,
         "date must be datetime64; found dtype"),
        (lambda d: d.assign(date=d[C.DATE].dt.tz_localize("UTC")), InvalidValueError,
         "tz-naive"),
        (lambda d: d.assign(date=d[C.DATE].where(d.index != 1)), InvalidValueError,
         r"date: must not be missing \(NaT\); 1 row\(s\) violate this \(index 1\)"),
        (lambda d: d.assign(amount=[1.0, np.nan, np.inf]), InvalidValueError,
         r"amount: must be finite.*2 row\(s\).*index 1, 2"),
        (lambda d: d.assign(amount=["1", "2", "x"]), InvalidValueError, "amount must be numeric"),
        (lambda d: d.assign(customer_id=["a", None, "c"]), InvalidValueError,
         r"customer_id: must not be missing; 1 row\(s\)"),
        (lambda d: d.iloc[:0], EmptyInputError, "hold no rows"),
    ],
)
def test_bad_transactions_raise_clear_errors(mutate, exc, match):
    """Malformed logs raise a clvlab ValueError naming column, rule, count and row labels."""
    with pytest.raises(exc, match=match) as info:
        rfm_summary(mutate(_good()))
    assert isinstance(info.value, ValueError)


def test_bad_arguments_raise_clear_errors():
    """Bad units, unparseable or too-early observation_end, non-frames raise clvlab errors."""
    with pytest.raises(InvalidValueError, match="time_unit must be one of"):
        rfm_summary(_good(), time_unit="week")
    with pytest.raises(InvalidValueError, match="merge_period must be one of"):
        rfm_summary(_good(), merge_period="H")
    with pytest.raises(InvalidValueError, match="observation_end must be a date"):
        rfm_summary(_good(), observation_end="yesterday-ish")
    with pytest.raises(EmptyInputError, match="no transaction is on or before observation_end"):
        rfm_summary(_good(), observation_end="2019-01-01")
    with pytest.raises(NotATableError, match="must be a pandas DataFrame"):
        rfm_summary([("a", "2020-01-01", 1.0)])


def test_integer_ids_split_and_tracking_match_text_ids():
    """With integer ids the split keeps int64 ids and tracking still matches the log."""
    from clvlab.evaluation import tracking
    from clvlab.models import BetaGeoFitter
    from clvlab.simulate import simulate_transactions

    tx_text = simulate_transactions(300, random_state=3)
    tx_int = tx_text.assign(**{C.CUSTOMER_ID: tx_text[C.CUSTOMER_ID].astype(np.int64)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split_int = calibration_holdout(tx_int, "1997-09-30", "1998-06-30")
        split_text = calibration_holdout(tx_text, "1997-09-30", "1998-06-30")
        assert split_int.index.dtype == np.int64
        np.testing.assert_array_equal(split_int.to_numpy(), split_text.to_numpy())
        bg = BetaGeoFitter().fit(split_int)
        got = tracking(tx_int, split_int, bg)
        want = tracking(tx_text, split_text, bg)
    pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize(
    "ids",
    [["a", "a", "b", "c", "c"], ["9", "9", "10", "11", "100"], ["b", "a", "b", "c", "c"],
     ["10", "9", "9", "10", "100"]],
    ids=["text order", "numeric order", "not grouped", "not sorted"],
)
def test_text_ids_sorted_or_not_give_the_same_summary(ids):
    """Runs of sorted text ids are coded without hashing; any order gives the same summary."""
    dates = pd.to_datetime(["2020-01-01", "2020-01-05", "2020-01-02", "2020-01-03",
                            "2020-02-03"])
    tx = pd.DataFrame({C.CUSTOMER_ID: pd.Series(ids, dtype="str"), C.DATE: dates,
                       C.AMOUNT: [1.0, 2.0, 3.0, 4.0, 5.0]})
    rfm = rfm_summary(tx, time_unit="D")
    assert list(rfm.index) == list(dict.fromkeys(ids))  # order of first appearance
    shuffled = rfm_summary(tx.iloc[[4, 2, 0, 3, 1]], time_unit="D")
    pd.testing.assert_frame_equal(rfm, shuffled.loc[rfm.index])
