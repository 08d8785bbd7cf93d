"""Prediction ranges on Spark: per-customer columns and totals equal the pandas path's."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import clvlab
from clvlab import reporting
from clvlab.intervals import (
    SCORE_INTERVAL_COLUMNS,
    _Computation,
    group_ranges,
    score_interval_columns,
)
from clvlab.reporting.context import fmt_money_prose

cs = pytest.importorskip("clvlab.spark")
from clvlab.intervals import process_replicates  # noqa: E402
from clvlab.spark._report import HOLDOUT_RANGES_MISSING, build_context  # noqa: E402
from clvlab.spark._scoring import scores_attrs  # noqa: E402

HORIZON, RATE, MARGIN, LEVEL = 52, 0.0018, 0.3, 0.8
BATCH = "spark.sql.execution.arrow.maxRecordsPerBatch"


@pytest.fixture(scope="module")
def ranged(spark, cdnow_tx, cdnow_sdf, cdnow_models):
    """Spark and pandas scores with 80% ranges of every CDNOW customer, in 4,000-row batches.

    Small batches (six per run) make every customer's ranges come from a batch that sees
    only part of the base, as on a cluster.
    """
    bg, gg, base = cdnow_models
    old = spark.conf.get(BATCH)
    spark.conf.set(BATCH, "4000")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rfm = cs.rfm_summary(cdnow_sdf)
            sdf = cs.score_customers(rfm, bg, gg, base, horizon=HORIZON, discount_rate=RATE,
                                     margin=MARGIN, relative_error=0.0, interval=LEVEL)
            got = sdf.toPandas().set_index("customer_id")
            again = scores_attrs(cs.score_customers(
                rfm, bg, gg, base, horizon=HORIZON, discount_rate=RATE, margin=MARGIN,
                relative_error=0.0, interval=LEVEL))["intervals"]
            want = clvlab.score_customers(clvlab.rfm_summary(cdnow_tx), bg, gg, base,
                                          horizon=HORIZON, discount_rate=RATE, margin=MARGIN,
                                          interval=LEVEL)
    finally:
        spark.conf.set(BATCH, old)
    got.index = got.index.astype(want.index.dtype)
    return sdf, got.loc[want.index], want, again


def test_range_columns_equal_pandas_for_every_customer(ranged):
    """Purchase bounds equal pandas exactly, CLV bounds to rtol 1e-7, in the pandas order.

    (The CLV bounds' last digits depend on the rounding of cumulative sums that run over all
    the histories scored together: up to 1.5e-8 relative on CDNOW, for 4 customers.)
    """
    _, got, want, _ = ranged
    assert list(got.columns) == list(want.columns)
    for col in ("purchases_lower", "purchases_upper"):
        np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(), err_msg=col)
    for col in ("clv_lower", "clv_upper"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float),
                                   rtol=1e-7, atol=1e-9, err_msg=col)
    # segments may differ for a customer between Spark's and numpy's quantile (one here)
    assert np.sum(got["segment"].to_numpy() != want["segment"].astype(str).to_numpy()) <= 2


def test_totals_and_segment_ranges_equal_pandas(ranged, cdnow_models):
    """Estimates and parameter parts to rtol 1e-9; the simulated part to Monte Carlo error.

    The customers' own variation is simulated from a stream per Spark batch, not the
    pandas path's one stream, so its standard error agrees to Monte Carlo error: within 3%
    for the whole base (43 replicates of 23,570 customers; 0.7-1.2% here), within 10% for
    a segment (spend is heavy-tailed; up to 5.6% here), and the bounds to within a tenth
    of a standard error.
    """
    sdf, got_scores, want, _ = ranged
    got_iv, want_iv = scores_attrs(sdf)["intervals"], want.attrs["intervals"]
    assert got_iv["level"] == LEVEL and got_iv["kind"] == "predictive"
    # the segments' ranges of the pandas computation, grouped by Spark's segments (a
    # customer between Spark's and numpy's quantile can sit in another segment)
    bg, gg, _ = cdnow_models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, result = score_interval_columns(
            bg, gg, want[["frequency", "recency", "T", "monetary_value"]], horizon=HORIZON,
            discount_rate=RATE, margin=MARGIN, level=LEVEL)
    want_segments = group_ranges(result, got_scores["segment"])
    assert set(got_iv["segments"]) == set(want_segments)
    pairs = [(got_iv["totals"], want_iv["totals"])] + [
        (got_iv["segments"][s], want_segments[s]) for s in want_segments]
    for k, (got, exp) in enumerate(pairs):
        tol = 0.03 if k == 0 else 0.10  # the whole base, or a segment
        for name in ("purchases", "value", "clv"):
            g, w = got[name], exp[name]
            np.testing.assert_allclose([g["estimate"], g["se_parameters"]],
                                       [w["estimate"], w["se_parameters"]], rtol=1e-9)
            np.testing.assert_allclose(g["se_process"], w["se_process"], rtol=tol)
            for bound in ("lower", "upper"):
                assert abs(g[bound] - w[bound]) <= 0.1 * w["se"] + 1.0, (name, bound)


def test_totals_are_reproducible(ranged):
    """The same call on the same batches gives the same totals (streams keyed by ids)."""
    sdf, _, _, again = ranged
    assert scores_attrs(sdf)["intervals"]["totals"] == again["totals"]
    assert scores_attrs(sdf)["intervals"]["segments"] == again["segments"]


def test_replicates_follow_the_pandas_budget(ranged):
    """The number of simulated replicates per customer is the pandas path's (43 on CDNOW)."""
    sdf, _, want, _ = ranged
    details = scores_attrs(sdf)["intervals"]["details"]
    assert details["process_replicates"] == want.attrs["intervals"]["details"][
        "process_replicates"] == process_replicates(23_570) == 43


def test_grid_tops_make_parts_equal_the_whole(cdnow_models):
    """Scored in parts, CLV bounds equal the whole only with the whole's grid tops.

    Without them a part's spend grids end lower and its bounds move by up to 0.2%.
    """
    bg, gg, _ = cdnow_models
    rfm = clvlab.rfm_summary(clvlab.load_transactions(clvlab.datasets.load_cdnow()))

    def run(frame, tops=None, tops_only=False):
        comp = _Computation(bg, gg, frame, 52.0, LEVEL, RATE, MARGIN, "predictive", 1, 0)
        comp.grid_tops, comp.tops_only = tops, tops_only
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = comp.run()
        return out, comp.details

    whole, _ = run(rfm)
    parts = [rfm.iloc[k::3] for k in range(3)]
    tops: dict = {}
    for part in parts:
        for key, top in run(part, tops_only=True)[1]["grid_tops"].items():
            tops[key] = max(tops.get(key, 0), top)
    for use_tops in (False, True):
        got = np.concatenate([run(p, tops if use_tops else None)[0].customers["clv_lower"]
                              for p in parts])
        want = np.concatenate([whole.customers.loc[p.index, "clv_lower"] for p in parts])
        err = np.max(np.abs(got - want) / np.maximum(want, 1e-12))
        assert (err < 1e-7) if use_tops else (err > 1e-4), (use_tops, err)


def test_spark_report_shows_the_ranges(ranged, holdout, cdnow_models):
    """Summary range and note, segment ranges, and a sentence on the missing holdout check."""
    from .test_report import _inputs

    sdf, _, want, _ = ranged
    tx = clvlab.load_transactions(clvlab.datasets.load_cdnow(sample=True))
    split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30")
    rfm = clvlab.rfm_summary(tx, observation_end="1998-06-30")
    bg, gg, base = cdnow_models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = clvlab.evaluate(split, bg, gg, base, transactions=tx)
        scores = clvlab.score_customers(rfm, bg, gg, base, horizon=52, discount_rate=0.0018,
                                        interval=LEVEL)
    inputs = dataclasses.replace(_inputs((tx, rfm, bg, gg, base, ev, scores), True),
                                 ranges=scores.attrs["intervals"])
    ctx = build_context(inputs, figures=False)
    assert "80% range of total CLV" in reporting.render_html(ctx)
    html = str(ctx)
    pandas_ctx = reporting.build_context(bg, gg, rfm, baseline=base, evaluation=ev,
                                         scores=scores, transactions=tx, figures=False)
    assert ctx["numbers"]["total_clv_range"] == pandas_ctx["numbers"]["total_clv_range"]
    assert "What the ranges mean" in html and "80% range of total CLV" in html
    assert HOLDOUT_RANGES_MISSING in html
    clv = scores.attrs["intervals"]["segments"]["Champions"]["clv"]
    assert fmt_money_prose(clv["lower"]) in html
    (check, fan, _), *_ = holdout
    held = str(build_context(dataclasses.replace(inputs, holdout_check=check,
                                                 holdout_fan=fan), figures=True))
    assert "randomised:" in held and HOLDOUT_RANGES_MISSING not in held
    assert "Shaded: the 80% and 50% ranges" in held
    plain = build_context(dataclasses.replace(inputs, ranges=None), figures=False)
    assert "What the ranges mean" not in str(plain) and HOLDOUT_RANGES_MISSING not in str(plain)


def test_columns_are_the_pandas_columns():
    """The range columns are the pandas scoring table's (a guard on the shared constant)."""
    assert list(SCORE_INTERVAL_COLUMNS) == ["purchases_lower", "purchases_upper",
                                            "clv_lower", "clv_upper"]


@pytest.fixture(scope="module")
def holdout(cdnow_split, cdnow_split_pd, cdnow_tx, cdnow_models):
    """The Spark holdout check of the ranges and the pandas report's, on the CDNOW split."""
    from clvlab import evaluation as E
    from clvlab.intervals import forecast_intervals, holdout_coverage
    from clvlab.spark._intervals import _fan_times, holdout_ranges

    bg, gg, base = cdnow_models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sev = cs.evaluate(cdnow_split, bg, gg, base)
        got = holdout_ranges(cdnow_split, bg, gg, sev, LEVEL, "W")
        ev = clvlab.evaluate(cdnow_split_pd, bg, gg, base, transactions=cdnow_tx)
        cust = ev.customers
        want = holdout_coverage(bg, gg, cust, cust[E.ACTUAL_PURCHASES].to_numpy(),
                                cust[E.ACTUAL_VALUE].to_numpy(dtype=float),
                                horizon=ev.horizon, level=LEVEL, random_state=0)
        fan = forecast_intervals(bg, cust[["frequency", "recency", "T"]],
                                 _fan_times(ev.tracking), level=LEVEL, random_state=0)
    return got, want, fan, sev


def test_holdout_check_equals_the_pandas_report(holdout):
    """Per-customer coverage equals pandas; totals' estimates and actuals to 1e-9.

    CDNOW has fewer than 50,000 customers, so every one is scored (as in the pandas
    report); the totals' and the fan's simulated parts differ by Monte Carlo error (their
    standard errors within 3% and 5%).
    """
    (check, fan, note), want, want_fan, _ = holdout
    assert note == "" and check["n_checked"] == check["n_customers"] == want["n_customers"]
    for key in ("realised", "stated", "randomised"):
        np.testing.assert_allclose(check["purchases"][key], want["purchases"][key], rtol=1e-12)
    for key in ("realised", "stated"):
        np.testing.assert_allclose(check["value"][key], want["value"][key], rtol=1e-12)
    for name in ("purchases", "value"):
        g, w = check["totals"][name], want["totals"][name]
        np.testing.assert_allclose([g["estimate"], g["actual"]], [w["estimate"], w["actual"]],
                                   rtol=1e-9)
        np.testing.assert_allclose(g["se"], w["se"], rtol=0.03)
        assert g["covered"] == w["covered"]
    np.testing.assert_allclose(fan["estimate"], want_fan["estimate"], rtol=1e-9)
    np.testing.assert_allclose(fan["se_parameters"], want_fan["se_parameters"], rtol=1e-9)
    np.testing.assert_allclose(fan["se"], want_fan["se"], rtol=0.05)


def test_holdout_check_from_a_sample_scales_like_pandas(holdout, cdnow_split, cdnow_models):
    """Above max_customers a sample is scored: totals' estimates stay the whole base's."""
    from clvlab.spark._intervals import holdout_ranges

    _, want, want_fan, sev = holdout
    bg, gg, _ = cdnow_models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check, fan, _ = holdout_ranges(cdnow_split, bg, gg, sev, LEVEL, "W",
                                       max_customers=5_000)
    assert check["n_checked"] == 5_000 and check["n_customers"] == 23_570
    for name in ("purchases", "value"):
        np.testing.assert_allclose(check["totals"][name]["estimate"],
                                   want["totals"][name]["estimate"], rtol=1e-9)
        np.testing.assert_allclose(check["totals"][name]["se"], want["totals"][name]["se"],
                                   rtol=0.25)
    # the fan's estimates and parameters' part are sums over every customer, in Spark
    np.testing.assert_allclose(fan["estimate"], want_fan["estimate"], rtol=1e-9)
    np.testing.assert_allclose(fan["se_parameters"], want_fan["se_parameters"], rtol=1e-9)
    assert abs(check["purchases"]["randomised"] - want["purchases"]["randomised"]) < 0.03


def test_group_histories_puts_each_history_in_one_partition_in_order(spark, cdnow_sdf):
    """Every customer kept; each history in one partition; partitions sorted by history."""
    from clvlab.spark._scoring import group_histories

    keys = ["frequency", "recency", "T"]
    rfm = cs.rfm_summary(cdnow_sdf)
    coalesce = "spark.sql.adaptive.coalescePartitions.enabled"
    old = spark.conf.get(coalesce)
    spark.conf.set(coalesce, "false")  # (CDNOW would fit one partition)
    try:
        grouped = group_histories(rfm.select("customer_id", *keys))
        rows = grouped.rdd.mapPartitionsWithIndex(
            lambda i, it: ((i, r["customer_id"], r["frequency"], r["recency"], r["T"])
                           for r in it)
        ).collect()
    finally:
        spark.conf.set(coalesce, old)
    seen = pd.DataFrame(rows, columns=["part", "customer_id", *keys])
    assert len(seen) == seen["customer_id"].nunique() == rfm.count() == 23_570
    assert seen.groupby(keys)["part"].nunique().max() == 1
    assert seen["part"].nunique() > 1  # (spread over partitions, not gathered in one)
    for _, part in seen.groupby("part", sort=False):
        hist = part[keys].to_numpy()  # rows in partition order
        assert (np.lexsort(hist.T[::-1]) == np.arange(len(hist))).all()


def test_batch_columns_follow_the_batch_rows(cdnow_models):
    """Range columns land on their customers' rows in any row order, equal to pandas.

    The batch function scores customers sorted by id and puts the columns back by
    position; a shuffled batch gives each customer the same bounds, those of
    :func:`clvlab.predict_intervals` on the same customers (rtol 1e-7 for CLV).
    """
    from pyspark.sql import types as T

    from clvlab.spark import _intervals as si

    bg, gg, _ = cdnow_models
    rfm = clvlab.rfm_summary(clvlab.load_transactions(clvlab.datasets.load_cdnow()))
    batch = rfm[["frequency", "recency", "T", "monetary_value"]].reset_index()
    batch["customer_id"] = batch["customer_id"].astype(str)
    batch["segment"] = np.where(batch["frequency"] > 0, "champions", "one-time buyers")
    settings = {"horizon": 52.0, "level": LEVEL, "discount_rate": RATE, "margin": MARGIN}
    payloads = (bg.to_dict(), gg.to_dict())
    frame = si._frame(batch, bg.time_unit_)
    comp = si._computation(frame, cdnow_models[:2], settings, 1, 0)
    comp.tops_only = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp.run()
        want = clvlab.predict_intervals(bg, gg, frame, 52.0, level=LEVEL, discount_rate=RATE,
                                        margin=MARGIN).customers

    class Scored:  # what interval_pass reads of a Spark DataFrame
        schema = T.StructType(
            [T.StructField(c, T.StringType() if c in ("customer_id", "segment")
                           else T.DoubleType()) for c in batch.columns])

        def mapInPandas(self, fn, schema):  # noqa: N802 (Spark's name)
            self.fn = fn
            return self

    scored = si.interval_pass(Scored(), payloads, bg.time_unit_, settings,
                              comp.details["grid_tops"], 1, 0, "segment",
                              ("champions", "one-time buyers"))
    shuffled = batch.sample(frac=1.0, random_state=3).reset_index(drop=True)
    for rows in (batch, shuffled):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = next(scored.fn(iter([rows])))
        assert list(out["customer_id"]) == list(rows["customer_id"])
        got = out.set_index("customer_id").loc[want.index.astype(str)]
        for col in ("purchases_lower", "purchases_upper"):
            np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(float),
                                          err_msg=col)
        for col in ("clv_lower", "clv_upper"):
            np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(float),
                                       rtol=1e-7, atol=1e-9, err_msg=col)
