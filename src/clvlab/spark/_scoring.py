"""Score every customer in Spark: the numpy code of :mod:`clvlab.scoring` on Arrow batches.

The per-customer numbers (P(alive), expected purchases, expected spend, CLV, baseline CLV,
historical spend) come from :func:`clvlab.scoring.score_customers` itself, run by
``mapInPandas`` on each batch of customers with the models rebuilt from their JSON (so
every registered model works, through the contract, and nothing is pickled). The one
global step, the segment thresholds, is computed in Spark: quantiles of CLV and
historical spend over all customers with ``DataFrame.approxQuantile``, whose result has a
rank within ``relative_error x n`` of the exact quantile (``relative_error=0`` gives the
exact order statistic; numpy's interpolated quantile lies between two neighbouring order
statistics). The segment rule is :func:`clvlab.scoring.assign_segments`' rule, written
as a Spark expression (a test holds the two to the same segments for every customer).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab._checks import check_discount_rate, check_horizon, check_level, check_margin
from clvlab.intervals import (
    PARAMETER_SHARE_THRESHOLD,
    SCORE_INTERVAL_COLUMNS,
    process_replicates,
)
from clvlab.scoring import (
    AT_RISK,
    CHAMPIONS,
    CLV,
    HISTORICAL_SPEND,
    LAPSED,
    NEEDS_ATTENTION,
    ONE_TIME,
    PROBABILITY_ALIVE,
    PROMISING,
    SCORE_COLUMNS,
    SEGMENT,
    SEGMENTS,
)
from clvlab.scoring import score_customers as _score_batch
from clvlab.spark._fit import to_pandas
from clvlab.spark._rfm import METADATA_KEY, check_rfm, rfm_attrs
from clvlab.spark._session import require_pyspark

require_pyspark()

from pyspark import StorageLevel  # noqa: E402
from pyspark.sql import Column, DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

__all__ = [
    "score_customers",
    "segment_thresholds",
    "segment_summary",
    "scores_attrs",
    "DEFAULT_RELATIVE_ERROR",
]

#: Default relative rank error of the segment quantiles (0.01% of the customers).
DEFAULT_RELATIVE_ERROR = 1e-4

_NUMERIC = [c for c in SCORE_COLUMNS if c != SEGMENT]
_SCHEMA = T.StructType(
    [T.StructField(C.CUSTOMER_ID, T.StringType())]
    + [T.StructField(c, T.DoubleType()) for c in _NUMERIC]
)


def _payload(model: Any) -> dict[str, Any] | None:
    return None if model is None else model.to_dict()


def _number(value: Any) -> float:
    good = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    return float(value) if good and math.isfinite(float(value)) else math.nan


def _check_options(horizon: Any, margin: Any, discount_rate: Any) -> None:
    # the shared rules of clvlab._checks, as in clvlab.scoring.score_customers
    check_horizon(horizon, "horizon")
    check_margin(margin, "margin")
    check_discount_rate(discount_rate, "discount_rate")


def _fraction(value: Any, name: str) -> float:
    v = _number(value)
    if not 0 <= v <= 1:
        raise ValueError(f"{name} must be a number with 0 <= x <= 1; got {value!r}.")
    return v


def _scorer(
    payloads: tuple[dict[str, Any] | None, ...],
    time_unit: str | None,
    horizon: float,
    discount_rate: float,
    margin: float,
) -> Any:
    """Return the mapInPandas function: clvlab.scoring.score_customers on each batch."""

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from clvlab.persistence import model_from_dict

        purchase, spend, baseline = (None if p is None else model_from_dict(p)
                                     for p in payloads)
        for batch in batches:
            if len(batch) == 0:
                continue
            frame = batch.set_index(C.CUSTOMER_ID)
            if time_unit is not None:
                frame.attrs[C.ATTR_TIME_UNIT] = time_unit
            with warnings.catch_warnings():
                # the models' data-quality notes were given at fit time, on the driver
                warnings.simplefilter("ignore")
                table = _score_batch(frame, purchase, spend, baseline, horizon=horizon,
                                     discount_rate=discount_rate, margin=margin)
            out = table[_NUMERIC].reset_index()
            out[C.CUSTOMER_ID] = out[C.CUSTOMER_ID].astype(str)
            yield out

    return score


def _finite(col: Column) -> Column:
    return col.isNotNull() & ~F.isnan(col) & (F.abs(col) != float("inf"))


def _ge(col: Column, value: float) -> Column:
    """``col >= value`` with numpy's semantics: NaN (and null) never satisfy it."""
    return F.coalesce(_finite(col) & (col >= F.lit(float(value))), F.lit(False))


def _quantiles(sdf: DataFrame, col: str, probs: Sequence[float],
               relative_error: float) -> list[float]:
    """Quantiles of the finite values of ``col`` (``inf`` when there are none)."""
    finite = sdf.select(F.col(col).cast("double").alias("v")).filter(_finite(F.col("v")))
    values = finite.approxQuantile("v", [float(q) for q in probs], float(relative_error))
    if not values:
        return [math.inf] * len(probs)
    return [float(v) for v in values]


def segment_thresholds(
    scores: DataFrame,
    *,
    value_quantiles: Sequence[float] = (0.5, 0.8),
    alive_threshold: float = 0.5,
    relative_error: float = DEFAULT_RELATIVE_ERROR,
) -> dict[str, Any]:
    """Segment cut-offs over all customers, computed in Spark.

    Parameters
    ----------
    scores : pyspark.sql.DataFrame
        Columns ``clv`` and ``historical_spend`` (and ``probability_alive``).
    value_quantiles : (float, float), default=(0.5, 0.8)
        As in :func:`clvlab.scoring.assign_segments`.
    alive_threshold : float, default=0.5
        Active when ``probability_alive >= alive_threshold``.
    relative_error : float, default=1e-4
        Relative rank error of the quantiles (``approxQuantile``): the threshold's rank
        is within ``relative_error x n_customers`` of the exact one; 0 is exact (costly
        on large data).

    Returns
    -------
    dict
        As ``assign_segments(...).attrs["thresholds"]`` (``clv_high``, ``clv_low``,
        ``historical_spend_high``, ``probability_alive``, ``value_quantiles``,
        ``one_time_buyers``) plus ``relative_error``.
    """
    if len(value_quantiles) != 2:
        raise ValueError(
            f"value_quantiles must be two numbers (low, high); got {value_quantiles!r}."
        )
    q_lo = _fraction(value_quantiles[0], "value_quantiles[0]")
    q_hi = _fraction(value_quantiles[1], "value_quantiles[1]")
    if q_lo > q_hi:
        raise ValueError(f"value_quantiles must be increasing; got {value_quantiles!r}.")
    alive_cut = _fraction(alive_threshold, "alive_threshold")
    if not (isinstance(relative_error, (int, float)) and 0 <= relative_error < 1):
        raise ValueError(f"relative_error must be in [0, 1); got {relative_error!r}.")
    clv_lo, clv_hi = _quantiles(scores, CLV, [q_lo, q_hi], relative_error)
    hist_hi = math.nan
    if HISTORICAL_SPEND in scores.columns:
        value = _quantiles(scores, HISTORICAL_SPEND, [q_hi], relative_error)[0]
        hist_hi = value if math.isfinite(value) else math.nan
    return {
        "clv_high": clv_hi,
        "clv_low": clv_lo,
        "historical_spend_high": hist_hi,
        "probability_alive": alive_cut,
        "value_quantiles": [q_lo, q_hi],
        "one_time_buyers": C.FREQUENCY in scores.columns,
        "relative_error": float(relative_error),
    }


def segment_column(thresholds: dict[str, Any], columns: Sequence[str]) -> Column:
    """Return each customer's segment, by :func:`clvlab.scoring.assign_segments`' rule."""
    clv, alive = F.col(CLV), F.col(PROBABILITY_ALIVE)
    high = _ge(clv, thresholds["clv_high"])
    hist_hi = thresholds["historical_spend_high"]
    if HISTORICAL_SPEND in columns and math.isfinite(hist_hi):
        high = high | _ge(F.col(HISTORICAL_SPEND), hist_hi)
    middle = ~high & _ge(clv, thresholds["clv_low"])
    active = _ge(alive, thresholds["probability_alive"])
    one_time = (F.coalesce(F.col(C.FREQUENCY) == 0, F.lit(False))
                if C.FREQUENCY in columns else F.lit(False))
    return (
        F.when(one_time, ONE_TIME)
        .when(high & active, CHAMPIONS)
        .when(high, AT_RISK)
        .when(middle & active, PROMISING)
        .when(middle, NEEDS_ATTENTION)
        .otherwise(LAPSED)
    )


def score_customers(
    rfm: DataFrame,
    purchase_model: Any,
    spend_model: Any,
    baseline: Any = None,
    *,
    horizon: float,
    discount_rate: float,
    margin: float = 1.0,
    value_quantiles: Sequence[float] = (0.5, 0.8),
    alive_threshold: float = 0.5,
    relative_error: float = DEFAULT_RELATIVE_ERROR,
    storage_level: StorageLevel | None = StorageLevel.DISK_ONLY,
    interval: float | None = None,
    random_state: int = 0,
) -> DataFrame:
    """Score every customer of a Spark RFM frame, as :func:`clvlab.scoring.score_customers`.

    Parameters
    ----------
    rfm : pyspark.sql.DataFrame
        RFM summary (:func:`clvlab.spark.rfm_summary`): ``customer_id``, ``frequency``,
        ``recency``, ``T``, ``monetary_value`` (``total_spend`` for historical spend).
    purchase_model, spend_model, baseline
        Fitted clvlab models (any registered purchase model; the baseline is optional).
    horizon, discount_rate, margin
        As in :func:`clvlab.scoring.score_customers` (model time unit).
    value_quantiles, alive_threshold
        Segment settings, as in :func:`clvlab.scoring.assign_segments`.
    relative_error : float, default=1e-4
        Rank error of the global segment quantiles (see :func:`segment_thresholds`).
    storage_level : pyspark.StorageLevel or None, default=StorageLevel.DISK_ONLY
        The numeric scores are computed once and kept at this level (the quantiles
        and the output read them); ``None`` recomputes them on each use.
    interval : float, optional
        Level (e.g. 0.8) of predictive ranges to add, as
        :func:`clvlab.scoring.score_customers` does: columns ``purchases_lower``,
        ``purchases_upper`` (after ``expected_purchases``), ``clv_lower``, ``clv_upper``
        (after ``clv``) -- equal to the pandas columns for every customer -- and, in the
        metadata (``scores_attrs(...)["intervals"]``), the ranges of the totals and of each
        segment's totals, computed from sums per batch (see
        :mod:`clvlab.spark._intervals`). ``None`` or 0: no ranges.
    random_state : int, default=0
        Seed of the simulation of the customers' own variation in the totals (one stream
        per batch, keyed by the batch's customer ids).

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id`` and :data:`clvlab.scoring.SCORE_COLUMNS` (``segment`` a string),
        with the range columns when ``interval`` is given.
        Horizon, discount rate, margin, time unit and the segment thresholds are in the
        ``clv`` column's metadata (:func:`scores_attrs`). Write it with
        ``.write.parquet(path)``.
    """
    level = check_level(interval, "interval") if interval else None
    _check_options(horizon, margin, discount_rate)
    frame = check_rfm(rfm, (C.FREQUENCY, C.RECENCY, C.T, C.MONETARY_VALUE), model="scoring")
    unit = rfm_attrs(frame).get(C.ATTR_TIME_UNIT)
    model_unit = getattr(purchase_model, "time_unit_", None)
    if unit is not None and model_unit is not None and unit != model_unit:
        raise ValueError(
            f"The data are in time unit {unit!r} but the purchase model was fitted in "
            f"{model_unit!r}; rebuild the summary with time_unit={model_unit!r}."
        )
    unit = unit or model_unit
    # check the settings and models on a few customers on the driver, where an error
    # reads clearly (an error inside a Spark task arrives wrapped in a Java stack trace)
    sample = to_pandas(frame.limit(50)).set_index(C.CUSTOMER_ID)
    if unit is not None:
        sample.attrs[C.ATTR_TIME_UNIT] = unit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checked = _score_batch(sample, purchase_model, spend_model, baseline,
                               horizon=horizon, discount_rate=discount_rate, margin=margin,
                               interval=level)
    columns = [c for c in (C.CUSTOMER_ID, C.FREQUENCY, C.RECENCY, C.T, C.MONETARY_VALUE,
                           C.TOTAL_SPEND) if c in frame.columns]
    payloads = (_payload(purchase_model), _payload(spend_model), _payload(baseline))
    source = frame.select(*columns)
    if level is not None and not (checked.attrs.get("intervals") or {}).get("skipped"):
        source = group_histories(source)
    numeric = source.mapInPandas(
        _scorer(payloads, unit, float(horizon), float(discount_rate), float(margin)), _SCHEMA
    )
    if storage_level is not None:
        numeric = numeric.persist(storage_level)
    thresholds = segment_thresholds(
        numeric, value_quantiles=value_quantiles, alive_threshold=alive_threshold,
        relative_error=relative_error,
    )
    scored = numeric.select(F.col(C.CUSTOMER_ID), *[F.col(c) for c in _NUMERIC],
                            segment_column(thresholds, numeric.columns).alias(SEGMENT))
    ranges = None
    if level is not None:
        ranges = dict(checked.attrs.get("intervals") or {})
        if not ranges.get("skipped"):
            scored, ranges = _add_ranges(
                numeric if storage_level is not None else source, scored, payloads, unit,
                level, random_state, storage_level,
                {"horizon": float(horizon), "level": level,
                 "discount_rate": float(discount_rate), "margin": float(margin)},
                list(ranges.get("notes") or []))
            if storage_level is not None:
                numeric.unpersist()
    attrs = {
        "horizon": float(horizon),
        "discount_rate": float(discount_rate),
        "margin": float(margin),
        "time_unit": unit,
        "segment_thresholds": {k: (None if isinstance(v, float) and not math.isfinite(v)
                                   else v) for k, v in thresholds.items()},
    }
    if ranges is not None:
        attrs["intervals"] = ranges
    order = list(_NUMERIC) + [SEGMENT]
    if ranges is not None and not ranges.get("skipped"):
        for col, after in SCORE_INTERVAL_COLUMNS.items():
            order.insert(order.index(after) + 1, col)
    cols = [F.col(C.CUSTOMER_ID)]
    for name in order:
        column = F.col(name)
        cols.append(column.alias(name, metadata={METADATA_KEY: attrs}) if name == CLV
                    else column)
    return scored.select(*cols)


def group_histories(rfm: DataFrame) -> DataFrame:
    """Return ``rfm`` with the customers of each history together, sorted by history.

    The ranges' per-batch work (the walk of the purchase count's distribution, the spend
    quantiles) is done once per distinct history ``(frequency, recency, T)`` of a batch.
    Customers arrive in batches in no particular order, so a batch of 100,000 holds
    about 40,000 distinct histories (CDNOW-like simulation, 10M transactions) while the
    whole base holds few (about 380,000 of 3.6M customers at 10M transactions, 0.75M of
    36M at 100M): hash-partitioning the customers by history (one shuffle of the narrow
    RFM rows) and sorting each partition puts every history in one partition and its
    customers in consecutive rows, so each history is walked about once (twice where it
    straddles two batches). The numbers do not depend on which batch a customer is in
    (the grid tops make the CLV bounds those of the whole base); only the simulated
    part of the totals' ranges (one random stream per batch) takes other draws.
    """
    keys = (C.FREQUENCY, C.RECENCY, C.T)
    return rfm.repartition(*keys).sortWithinPartitions(*keys)


def _add_ranges(
    frame: DataFrame, scored: DataFrame, payloads: tuple[Any, ...], unit: str | None,
    level: float, random_state: int, storage_level: StorageLevel | None,
    settings: dict[str, Any], notes: list[str],
) -> tuple[DataFrame, dict[str, Any]]:
    """Range columns and the totals' ranges (:mod:`clvlab.spark._intervals`)."""
    from clvlab.spark._intervals import (
        PARTS,
        grid_tops,
        interval_pass,
        totals_summary,
    )

    models = (payloads[0], payloads[1])
    tops = grid_tops(frame, models, unit, settings)
    n_customers = scored.count()
    reps = process_replicates(n_customers)
    passed = interval_pass(scored, models, unit, settings, tops, reps, int(random_state),
                           SEGMENT, SEGMENTS)
    if storage_level is not None:
        passed = passed.persist(storage_level)
    parts = [(r[SEGMENT], list(r[PARTS])) for r in
             passed.filter(F.col(C.CUSTOMER_ID).isNull()).select(SEGMENT, PARTS).collect()]
    totals, segments = totals_summary(parts, level, SEGMENTS)
    kept = [n for n in notes if not n.startswith("Parameter uncertainty is mixed")]
    kept.insert(min(2, len(kept)), (
        "Parameter uncertainty is mixed into the purchase distribution of every customer "
        f"whose variance it raises by more than {PARAMETER_SHARE_THRESHOLD:.1%} (degree-3 "
        "cubature). Computed on Spark, "
        "batch by batch; the totals add up the batches' sums, with the customers' own "
        f"variation simulated {reps} time(s) per customer from one random stream per batch."
    ))
    summary = {
        "level": float(level), "kind": "predictive", "totals": totals, "notes": kept,
        "details": {"process_replicates": reps, "spend_groups": len(tops),
                    "random_state": int(random_state), "engine": "spark"},
        "segments": segments,
    }
    return passed.filter(F.col(C.CUSTOMER_ID).isNotNull()).drop(PARTS), summary


def scores_attrs(scores: DataFrame) -> dict[str, Any]:
    """Return the settings of a Spark scoring table (horizon, rate, margin, thresholds)."""
    if CLV not in scores.columns:
        return {}
    meta = scores.schema[CLV].metadata or {}
    attrs = dict(meta.get(METADATA_KEY, {}))
    thr = dict(attrs.get("segment_thresholds", {}))
    for key in ("clv_high", "clv_low", "historical_spend_high"):
        if key in thr and thr[key] is None:
            thr[key] = math.inf if key != "historical_spend_high" else math.nan
    if thr:
        attrs["segment_thresholds"] = thr
    return attrs


def segment_summary(scores: DataFrame) -> pd.DataFrame:
    """Count, share and value of each segment, as :func:`clvlab.scoring.segment_summary`.

    Computed with one Spark aggregation; the result has the same index (all six segments)
    and columns.
    """
    if SEGMENT not in scores.columns or CLV not in scores.columns:
        raise ValueError("segment_summary needs the columns segment and clv (score_customers).")
    clv = F.col(CLV)
    alive = F.col(PROBABILITY_ALIVE) if PROBABILITY_ALIVE in scores.columns else F.lit(None)
    hist = F.col(HISTORICAL_SPEND) if HISTORICAL_SPEND in scores.columns else F.lit(None)
    nan_free = F.when(_finite(clv), clv)
    grouped = to_pandas(scores.groupBy(SEGMENT).agg(
        F.count(F.lit(1)).alias("n_customers"),
        F.coalesce(F.sum(nan_free), F.lit(0.0)).alias("total_clv"),
        F.avg(nan_free).alias("mean_clv"),
        F.avg(F.when(_finite(alive), alive)).alias("mean_probability_alive"),
        F.sum(F.when(_finite(hist), hist)).alias("total_historical_spend"),
    )).set_index(SEGMENT)
    out = grouped.reindex(list(SEGMENTS))
    out["n_customers"] = out["n_customers"].fillna(0).astype(np.int64)
    out["total_clv"] = out["total_clv"].astype(float).fillna(0.0)
    for col in ("mean_clv", "mean_probability_alive", "total_historical_spend"):
        out[col] = out[col].astype(float)
    total_n = int(out["n_customers"].sum())
    total_clv = float(out["total_clv"].sum())
    out.insert(1, "share_customers", out["n_customers"] / total_n if total_n else np.nan)
    out.insert(3, "share_clv", out["total_clv"] / total_clv if total_clv else np.nan)
    out.index.name = SEGMENT
    return out[["n_customers", "share_customers", "total_clv", "share_clv", "mean_clv",
                "mean_probability_alive", "total_historical_spend"]]
