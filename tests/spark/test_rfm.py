"""clvlab.spark RFM: the same numbers, checks and warnings as the pandas path."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab.exceptions import (
    DataQualityWarning,
    EmptyInputError,
    InvalidValueError,
    MissingColumnsError,
    NotATableError,
)

cs = pytest.importorskip("clvlab.spark")

NUMERIC = ["frequency", "recency", "T", "monetary_value", "total_spend", "n_transactions"]
HOLDOUT = ["frequency_holdout", "monetary_value_holdout", "duration_holdout",
           "total_spend_holdout", "n_transactions_holdout"]
RTOL = 1e-9  # the parity target, per customer


def _local(sdf) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sdf.toPandas().set_index("customer_id")


def assert_same_customers(spark_frame: pd.DataFrame, pandas_frame: pd.DataFrame,
                          columns: list[str]) -> None:
    """Every customer present in both, and every column equal to rtol 1e-9."""
    assert sorted(spark_frame.index) == sorted(pandas_frame.index)
    got = spark_frame.loc[pandas_frame.index]
    for col in columns:
        np.testing.assert_allclose(got[col].to_numpy(float), pandas_frame[col].to_numpy(float),
                                   rtol=RTOL, atol=1e-9, err_msg=col)
    for col in ("first_purchase", "last_purchase"):
        if col in pandas_frame.columns:
            assert (pd.to_datetime(got[col]).to_numpy("datetime64[ns]")
                    == pandas_frame[col].to_numpy("datetime64[ns]")).all(), col


@pytest.mark.parametrize(("time_unit", "merge_period"), [("W", "D"), ("D", "D"), ("M", "W")])
def test_rfm_summary_matches_pandas_on_cdnow(cdnow_tx, cdnow_sdf, time_unit, merge_period):
    """Every CDNOW customer's RFM row equals the pandas path's (rtol 1e-9)."""
    got = _local(cs.rfm_summary(cdnow_sdf, time_unit=time_unit, merge_period=merge_period))
    want = clvlab.rfm_summary(cdnow_tx, time_unit=time_unit, merge_period=merge_period)
    assert len(got) == 23_570
    assert_same_customers(got, want, NUMERIC)
    # frequency, recency and T come from the same numpy finish on the same integers
    got = got.loc[want.index]
    for col in ("frequency", "recency", "T"):
        assert (got[col].to_numpy() == want[col].to_numpy()).all(), col


def test_calibration_holdout_matches_pandas_on_cdnow(cdnow_split, cdnow_split_pd):
    """The FHL split (946 of the sample's repeat buyers scale: 23,570 customers) equals pandas."""
    got = _local(cdnow_split)
    assert_same_customers(got, cdnow_split_pd, NUMERIC + HOLDOUT)


def test_weekly_merge_straddling_the_calibration_end_matches_pandas(cdnow_tx, cdnow_sdf):
    """With merge_period W a week across calibration_end gives one purchase on each side."""
    got = _local(cs.calibration_holdout(cdnow_sdf, "1997-10-01", "1998-06-30",
                                        merge_period="W"))
    want = clvlab.calibration_holdout(cdnow_tx, "1997-10-01", "1998-06-30", merge_period="W")
    assert_same_customers(got, want, NUMERIC + HOLDOUT)


def test_settings_travel_in_column_metadata(cdnow_split):
    """time unit, merge period and both dates are in the T column's metadata."""
    attrs = cs.rfm_attrs(cdnow_split)
    assert attrs == {"time_unit": "W", "merge_period": "D", "observation_end": "1998-06-30",
                     "include_first_transaction": False, "calibration_end": "1997-09-30"}


def test_include_first_transaction_matches_pandas(cdnow_tx, cdnow_sdf):
    """include_first_transaction=True counts and averages every purchase, as pandas."""
    got = _local(cs.rfm_summary(cdnow_sdf, include_first_transaction=True))
    want = clvlab.rfm_summary(cdnow_tx, include_first_transaction=True)
    assert_same_customers(got, want, NUMERIC)


@pytest.mark.slow
def test_parity_on_a_simulated_log_of_200000_customers(spark):
    """A 200,000-customer simulated log: rfm_summary and the split equal pandas per customer."""
    tx = clvlab.simulate_transactions(200_000, random_state=11)
    assert tx["customer_id"].nunique() == 200_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sdf = spark.createDataFrame(tx)
    want = clvlab.rfm_summary(tx, time_unit="W")
    assert_same_customers(_local(cs.rfm_summary(sdf, time_unit="W")), want, NUMERIC)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # new customers in the holdout
        want = clvlab.calibration_holdout(tx, "1997-03-01", "1998-06-30")
        got = _local(cs.calibration_holdout(sdf, "1997-03-01", "1998-06-30"))
    assert_same_customers(got, want, NUMERIC + HOLDOUT)


# -- warnings ---------------------------------------------------------------------------
def _messages(record) -> list[str]:
    """The warnings' texts without the example ids (pandas lists them in order of first
    appearance, which a Spark log does not have; Spark lists the smallest ids)."""
    return [re.sub(r"customer_id [^)]*\)", "customer_id ...)", str(w.message))
            for w in record if issubclass(w.category, DataQualityWarning)]


def test_transactions_after_observation_end_are_counted_like_pandas(cdnow_tx, cdnow_sdf):
    """Same DataQualityWarning text (rows excluded, customers lost with ids) as pandas."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        spark_rfm = _local(cs.rfm_summary(cdnow_sdf, observation_end="1997-02-15"))
    with warnings.catch_warnings(record=True) as want:
        warnings.simplefilter("always")
        pandas_rfm = clvlab.rfm_summary(cdnow_tx, observation_end="1997-02-15")
    assert _messages(got) == _messages(want)
    assert "customer(s) whose first purchase is after observation_end" in _messages(got)[0]
    assert_same_customers(spark_rfm, pandas_rfm, NUMERIC)


def test_customers_acquired_in_the_holdout_are_counted_like_pandas(cdnow_tx, cdnow_sdf):
    """The split leaves out holdout-only customers with the same warning as pandas."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        cs.calibration_holdout(cdnow_sdf, "1997-02-01", "1998-06-30")
    with warnings.catch_warnings(record=True) as want:
        warnings.simplefilter("always")
        clvlab.calibration_holdout(cdnow_tx, "1997-02-01", "1998-06-30")
    assert _messages(got) == _messages(want)
    assert "made their first purchase after calibration_end" in _messages(got)[0]


# -- errors -----------------------------------------------------------------------------
def _small(spark, rows):
    schema = "customer_id string, date timestamp_ntz, amount double"
    return spark.createDataFrame(rows, schema)


def test_not_a_spark_dataframe_is_a_clear_error(cdnow_tx):
    """A pandas frame passed to the Spark function says what to pass instead."""
    with pytest.raises(NotATableError, match="Spark DataFrame"):
        cs.rfm_summary(cdnow_tx)


def test_missing_column_is_named(cdnow_sdf):
    """A missing amount column is named with the columns present."""
    with pytest.raises(MissingColumnsError, match=r"lack column\(s\) amount; columns present"):
        cs.rfm_summary(cdnow_sdf.drop("amount"))


def test_text_dates_are_refused_with_advice(cdnow_sdf):
    """A string date column asks for to_timestamp or read_transactions(date_format=)."""
    with pytest.raises(InvalidValueError, match="date must be a DATE or TIMESTAMP"):
        cs.rfm_summary(cdnow_sdf.withColumn("date", cdnow_sdf["date"].cast("string")))


def test_non_finite_amounts_are_counted_with_example_rows(spark):
    """NaN and null amounts: the count of bad rows and the rows themselves."""
    import datetime as dt

    day = dt.datetime(2020, 1, 1)
    sdf = _small(spark, [("a", day, 1.0), ("b", day, float("nan")), ("c", day, None),
                         ("d", day, 2.0)])
    with pytest.raises(InvalidValueError, match=r"amount: must be finite .*; 2 row\(s\)") as e:
        cs.rfm_summary(sdf)
    assert e.value.n_offending == 2
    assert "'b'" in str(e.value) and "'c'" in str(e.value)


def test_missing_ids_and_dates_are_counted(spark):
    """A null customer id or date stops the summary with the count."""
    import datetime as dt

    day = dt.datetime(2020, 1, 1)
    with pytest.raises(InvalidValueError, match=r"customer_id: must not be missing; 1 row"):
        cs.rfm_summary(_small(spark, [("a", day, 1.0), (None, day, 2.0)]))
    with pytest.raises(InvalidValueError, match=r"date: must not be missing \(null\); 1 row"):
        cs.rfm_summary(_small(spark, [("a", day, 1.0), ("b", None, 2.0)]))


def test_empty_log_and_bad_windows(spark, cdnow_sdf):
    """Empty input, a holdout that would be empty, a calibration end before all purchases."""
    with pytest.raises(EmptyInputError, match="hold no rows"):
        cs.rfm_summary(_small(spark, []))
    with pytest.raises(InvalidValueError, match="must be before observation_end"):
        cs.calibration_holdout(cdnow_sdf, "1998-06-30", "1998-01-01")
    with pytest.raises(EmptyInputError, match="calibration period has no customers"):
        cs.calibration_holdout(cdnow_sdf, "1990-01-01", "1998-06-30")
    with pytest.raises(InvalidValueError, match="time_unit must be one of"):
        cs.rfm_summary(cdnow_sdf, time_unit="week")


# -- reading files ----------------------------------------------------------------------
def test_read_parquet_and_csv_files_and_folders(spark, tmp_path, cdnow_tx):
    """Parquet file, CSV file with a strftime date format and a Spark-written folder."""
    sample = cdnow_tx.head(500).copy()
    want = clvlab.rfm_summary(sample)
    sample.to_parquet(tmp_path / "tx.parquet")
    got = _local(cs.rfm_summary(cs.read_transactions(spark, tmp_path / "tx.parquet")))
    assert_same_customers(got, want, NUMERIC)
    csv = sample.rename(columns={"customer_id": "client", "date": "day", "amount": "value"})
    csv["day"] = csv["day"].dt.strftime("%d/%m/%Y")
    csv.to_csv(tmp_path / "tx.csv", index=False)
    sdf = cs.read_transactions(spark, tmp_path / "tx.csv", customer_id="client", date="day",
                               amount="value", date_format="%d/%m/%Y")
    assert_same_customers(_local(cs.rfm_summary(sdf)), want,
                          ["frequency", "recency", "T", "monetary_value"])
    sdf.write.parquet(str(tmp_path / "parts"))
    got = _local(cs.rfm_summary(cs.read_transactions(spark, tmp_path / "parts")))
    assert_same_customers(got, want, ["frequency", "recency", "T", "monetary_value"])


def test_unparseable_text_is_reported_with_rows(spark, tmp_path):
    """A date or amount that does not parse: the count and the customer with the raw text."""
    (tmp_path / "bad.csv").write_text(
        "customer_id,date,amount\na,2020-01-01,1.5\nb,not a date,2\n")
    (tmp_path / "bad2.csv").write_text(
        "customer_id,date,amount\na,2020-01-01,1.5\nb,2020-01-02,abc\n")
    with pytest.raises(InvalidValueError, match=r"'date' must be a date .*1 row.*'b'"):
        cs.read_transactions(spark, tmp_path / "bad.csv")
    with pytest.raises(InvalidValueError, match=r"'amount' must be a number; 1 row.*'abc'"):
        cs.read_transactions(spark, tmp_path / "bad2.csv")
    with pytest.raises(FileNotFoundError):
        cs.read_transactions(spark, tmp_path / "missing.parquet")
