"""Prediction ranges on Spark: the pandas code per batch, totals from partial sums.

Per customer
    :func:`clvlab.predict_intervals`' computation (``clvlab.intervals._Computation``) runs
    on each Arrow batch of customers (``mapInPandas``). A customer's purchase range
    depends only on their history and the models, so it equals the pandas one. Their CLV
    range is read from a spend distribution tabulated on a grid per spend group (the
    customers with the same number of repeat purchases), whose top is set by the largest
    purchase count of the group; a first, lighter pass over the batches finds those tops
    (a few hundred numbers reach the driver) and every batch then uses the tops of all
    the customers -- so the CLV ranges equal the pandas ones too.
Totals
    A total's range combines the spread of the sum of the customers' expectations over the
    parameters' cubature points (shared by all customers) with the customers' own
    variation (simulated). Both are sums over customers: each batch returns, per segment,
    the sums of the expectations at the estimates and at every cubature point and of the
    simulated variances (about 45 numbers), and the driver adds them up and forms the
    ranges as :meth:`clvlab.intervals.PredictionIntervals.totals_by` does. The expectations
    and the parameters' part equal the pandas figures (up to the order of additions); the
    customers' own variation is simulated with a random stream per batch (seeded by the
    random state and the batch's customer ids), so it is reproducible for the same batches
    but not the pandas path's draws -- it agrees with them to Monte Carlo error.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from clvlab import _columns as C
from clvlab.evaluation import holdout_spend
from clvlab.intervals import (
    SCORE_INTERVAL_COLUMNS,
    _scaled_total_check,
)
from clvlab.spark._session import require_pyspark
from clvlab.validation import aligned_to

require_pyspark()

from pyspark.sql import DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

__all__ = ["grid_tops", "interval_pass", "totals_summary", "PARTS"]

#: Column carrying a batch's partial sums (on rows without a customer id).
PARTS = "_interval_parts"
_RFM = (C.FREQUENCY, C.RECENCY, C.T, C.MONETARY_VALUE)
_TOTALS = ("purchases", "value", "clv")


def _rebuild(payloads: tuple[dict[str, Any], dict[str, Any]]) -> tuple[Any, Any]:
    from clvlab.persistence import model_from_dict

    return model_from_dict(payloads[0]), model_from_dict(payloads[1])


def _computation(frame: pd.DataFrame, models: tuple[Any, Any], settings: dict[str, Any],
                 reps: int, rng: Any) -> Any:
    from clvlab.intervals import _Computation

    return _Computation(models[0], models[1], frame, settings["horizon"], settings["level"],
                        settings["discount_rate"], settings["margin"], "predictive", reps, rng)


def _id_order(batch: pd.DataFrame) -> np.ndarray:
    """Positions that sort a batch by customer id (the order its customers are scored in)."""
    return np.asarray(batch[C.CUSTOMER_ID].argsort(kind="stable"), dtype=np.int64)


def _frame(batch: pd.DataFrame, unit: str | None,
           order: np.ndarray | None = None) -> pd.DataFrame:
    """Return the batch's RFM columns indexed by customer id, sorted by it (``order``)."""
    if order is None:
        order = _id_order(batch)
    frame = batch[[C.CUSTOMER_ID, *_RFM]].take(order).set_index(C.CUSTOMER_ID)
    if unit is not None:
        frame.attrs[C.ATTR_TIME_UNIT] = unit
    return frame


def _in_batch_order(column: pd.Series, frame: pd.DataFrame, order: np.ndarray) -> np.ndarray:
    """Return a result column (rows in ``frame``'s order) in the batch's row order."""
    out = np.empty(order.shape[0])
    out[order] = aligned_to(column, frame.index).to_numpy(dtype=float)
    return out


def _batch_rng(ids: pd.Index, random_state: int) -> np.random.Generator:
    """Return a random stream for one batch, seeded by the random state and its ids."""
    # (categorize=False: the same hashes, without first factorizing ids that are unique)
    hashed = pd.util.hash_array(np.asarray(ids.astype(str), dtype=object), categorize=False)
    key = int(np.sum(hashed, dtype=np.uint64))  # order-free, wraps modulo 2**64
    return np.random.default_rng([int(random_state), key])


# ---------------------------------------------------------------------------------------
# pass 1: the spend groups' grid tops
# ---------------------------------------------------------------------------------------
def grid_tops(rfm: DataFrame, payloads: tuple[dict[str, Any], dict[str, Any]],
              unit: str | None, settings: dict[str, Any]) -> dict[tuple[float, float], int]:
    """Largest purchase count per spend group over all customers (sets the CLV grids).

    One ``mapInPandas`` pass that walks the count distributions (no CLV quantiles, no
    simulation); the driver receives one row per spend group and batch, reduced in Spark.
    """

    def tops(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        models = _rebuild(payloads)
        for batch in batches:
            if len(batch) == 0:
                continue
            comp = _computation(_frame(batch, unit), models, settings, 1, 0)
            comp.tops_only = True
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                comp.run()
            found = comp.details.get("grid_tops", {})
            yield pd.DataFrame({"shape": [k[0] for k in found],
                                "post_shape": [k[1] for k in found],
                                "n_top": np.fromiter(found.values(), dtype=np.int64,
                                                     count=len(found))})

    schema = T.StructType([T.StructField("shape", T.DoubleType()),
                           T.StructField("post_shape", T.DoubleType()),
                           T.StructField("n_top", T.LongType())])
    rows = (rfm.select(C.CUSTOMER_ID, *_RFM).mapInPandas(tops, schema)
            .groupBy("shape", "post_shape").agg(F.max("n_top").alias("n_top")).collect())
    return {(float(r["shape"]), float(r["post_shape"])): int(r["n_top"]) for r in rows}


# ---------------------------------------------------------------------------------------
# pass 2: per-customer columns and partial sums of the totals
# ---------------------------------------------------------------------------------------
def _partial_sums(data: Any, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group: the sums the totals' ranges are made of (see :func:`totals_summary`).

    Layout: ``[J, I, n, purchases (estimate, J points, process), value (estimate, J
    purchase points, I spend points, process), clv (the same)]`` with ``J``, ``I`` the
    numbers of cubature points of the purchase and spend models.
    """

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(groups, weights=values, minlength=n_groups)

    codes = data.codes
    n_j, n_i = len(data.e_pts), len(data.spend_pts)
    cols = [np.full(n_groups, float(n_j)), np.full(n_groups, float(n_i)),
            total(np.ones(codes.shape[0]))]
    cols += [total(data.e_hat[codes]), *(total(e[codes]) for e in data.e_pts),
             total(data.process["purchases"])]
    for name, per_row, pts, factor in (("value", data.e_hat, data.e_pts, 1.0),
                                       ("clv", data.de_hat, data.de_pts, data.margin)):
        base = per_row[codes]
        cols += [total(factor * data.spend * base),
                 *(total(factor * data.spend * e[codes]) for e in pts),
                 *(total(factor * s * base) for s in data.spend_pts),
                 total(data.process[name])]
    return np.stack(cols, axis=1)


def interval_pass(
    scored: DataFrame,
    payloads: tuple[dict[str, Any], dict[str, Any]],
    unit: str | None,
    settings: dict[str, Any],
    tops: dict[tuple[float, float], int],
    reps: int,
    random_state: int,
    segment: str,
    segments: tuple[str, ...],
) -> DataFrame:
    """Add the range columns to ``scored``; rows without a customer id carry the sums.

    Each batch yields its customers (every input column plus
    :data:`clvlab.intervals.SCORE_INTERVAL_COLUMNS`, ``PARTS`` null) and one row per
    segment present in it (``customer_id`` null, ``segment`` set, ``PARTS`` the partial
    sums of :func:`_partial_sums`).
    """
    names = list(SCORE_INTERVAL_COLUMNS)
    seg_labels = pd.Index(list(segments), dtype=object)
    fields = list(scored.schema.fields) + [T.StructField(c, T.DoubleType()) for c in names]
    schema = T.StructType(fields + [T.StructField(PARTS, T.ArrayType(T.DoubleType()))])
    columns = [f.name for f in fields]

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        models = _rebuild(payloads)
        for batch in batches:
            if len(batch) == 0:
                continue
            # the customers sorted by id: the random stream's draws do not depend on the
            # order of the rows; the columns go back by position (no lookups by id)
            order = _id_order(batch)
            frame = _frame(batch, unit, order)
            comp = _computation(frame, models, settings, reps,
                                _batch_rng(frame.index, random_state))
            comp.grid_tops, comp.totals_frame = tops, False
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the driver's sample run showed them
                result = comp.run()
            cust = result.customers
            out = batch.copy(deep=False)
            for col in names:
                out[col] = _in_batch_order(cust[col], frame, order)
            out[PARTS] = None
            yield out[columns + [PARTS]]
            labels = batch[segment].to_numpy(dtype=object)[order]
            codes = seg_labels.get_indexer(labels).astype(np.int64)
            sums = _partial_sums(result._totals, codes, len(segments))
            present = np.flatnonzero(sums[:, 2] > 0)
            parts = pd.DataFrame({c: [None] * present.size for c in columns})
            parts[segment] = [segments[i] for i in present]
            parts[PARTS] = [sums[i].tolist() for i in present]
            yield parts

    return scored.mapInPandas(run, schema)


def _ranges(sums: np.ndarray, level: float) -> dict[str, dict[str, float]]:
    """Return the totals' predictive ranges from summed partial sums (one group).

    As ``clvlab.intervals._TotalsData.frame``: variance of the parameters' part from the
    cubature points, plus the summed simulated variances; normal range, cut at 0, rounded
    outward to whole numbers for purchases.
    """
    n_j, n_i = int(round(sums[0])), int(round(sums[1]))
    z = float(special.ndtri(0.5 + level / 2.0))

    def param_var(est: float, pts: np.ndarray) -> float:
        return float(np.mean((pts - est) ** 2)) if pts.size else 0.0

    out: dict[str, dict[str, float]] = {}
    pos = 3
    for name in _TOTALS:
        est = float(sums[pos])
        vp = param_var(est, sums[pos + 1:pos + 1 + n_j])
        pos += 1 + n_j
        if name != "purchases":
            vp += param_var(est, sums[pos:pos + n_i])
            pos += n_i
        vq = float(sums[pos])
        pos += 1
        sd = math.sqrt(vp + vq)
        lo, hi = max(est - z * sd, 0.0), est + z * sd
        if name == "purchases":
            lo, hi = float(math.floor(lo)), float(math.ceil(hi))
        out[name] = {"estimate": est, "lower": lo, "upper": hi, "se": sd,
                     "se_parameters": math.sqrt(vp), "se_process": math.sqrt(vq)}
    return out


def totals_summary(parts: list[tuple[str, list[float]]], level: float,
                   segments: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Totals and each segment's totals with their ranges, from the batches' sums.

    Returns ``(totals, segments)`` shaped like ``scores.attrs["intervals"]["totals"]``
    and ``["segments"]`` of :func:`clvlab.score_customers` (segments in their order, those
    with customers only).
    """
    by_segment: dict[str, np.ndarray] = {}
    for name, vec in parts:
        arr = np.asarray(vec, dtype=float)
        if name in by_segment:
            by_segment[name][2:] += arr[2:]  # J and I (the first two) are counts, not sums
        else:
            by_segment[name] = arr.copy()
    if not by_segment:
        return {}, {}
    grand = np.zeros_like(next(iter(by_segment.values())))
    for arr in by_segment.values():
        grand[2:] += arr[2:]
    grand[:2] = next(iter(by_segment.values()))[:2]
    totals = _ranges(grand, level)
    seg_out = {s: _ranges(by_segment[s], level) for s in segments if s in by_segment}
    return totals, seg_out


# ---------------------------------------------------------------------------------------
# the holdout check of the ranges and the fan of the holdout forecast (for the report)
# ---------------------------------------------------------------------------------------
#: Horizons of the fan (at most), as the pandas report.
FAN_POINTS = 14


def _fan_times(track: pd.DataFrame) -> np.ndarray:
    """Return the pandas report's fan horizons: every k-th holdout period end, the last."""
    boundary = float(track.attrs.get("calibration_boundary", math.nan))
    times = track["period_end"].to_numpy(dtype=float) - boundary
    times = times[times > 1e-9]
    if times.size > FAN_POINTS:
        times = times[np.unique(np.linspace(0, times.size - 1, FAN_POINTS).round().astype(int))]
    return times


def _expected_sums(split: DataFrame, payload: dict[str, Any], unit: str | None,
                   times: np.ndarray) -> np.ndarray:
    """Sum over every customer of expected purchases in ``(T, T + t]``, per ``t``.

    At the purchase model's estimates (column 0) and its cubature points (the others), as
    :func:`clvlab.forecast_intervals` computes them: on the distinct histories (counted in
    Spark), each times its count; one row of sums per batch reaches the driver.
    """
    grid = [float(t) for t in times]

    def sums(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from clvlab.intervals import _ParamUncertainty
        from clvlab.persistence import model_from_dict

        pm = model_from_dict(payload)
        unc = _ParamUncertainty.of(pm, [])
        params = [unc.estimate(), *unc.cubature_points()]
        for batch in batches:
            if len(batch) == 0:
                continue
            x, tx, big_t = (batch[c].to_numpy(dtype=float)
                            for c in (C.FREQUENCY, C.RECENCY, C.T))
            w = batch["n"].to_numpy(dtype=float)
            values = [float(np.sum(w * np.asarray(pm._expected(p, np.float64(t), x, tx, big_t),
                                                  dtype=float)))
                      for t in grid for p in params]
            yield pd.DataFrame({"sums": [values]})

    schema = T.StructType([T.StructField("sums", T.ArrayType(T.DoubleType()))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        histories = split.groupBy(C.FREQUENCY, C.RECENCY, C.T).agg(F.count(F.lit(1)).alias("n"))
        rows = histories.mapInPandas(sums, schema).collect()
    total = np.sum([np.asarray(r["sums"], dtype=float) for r in rows], axis=0)
    return total.reshape(len(grid), -1)


def holdout_ranges(
    split: DataFrame, purchase_model: Any, spend_model: Any, evaluation: Any, level: float,
    unit: str | None, *, max_customers: int = 50_000, random_state: int = 0,
) -> tuple[dict[str, Any] | None, pd.DataFrame | None, str]:
    """How the ranges held on the holdout, and the fan of the holdout forecast, on Spark.

    As the pandas report (:func:`clvlab.intervals.holdout_coverage`,
    :func:`clvlab.forecast_intervals`, models fitted on the calibration period): up to
    ``max_customers`` customers reach the driver (all of them when there are no more; else
    a random sample, as the pandas report scores a random 50,000) and are scored one by
    one there. The totals' estimates and actual totals are those of the whole base (the
    Spark evaluation's sums); their standard errors are scaled up from the sample as the
    pandas path does. The fan's estimates and parameters' part are sums over every
    customer computed in Spark; its process part comes from the sample, scaled up.

    Returns ``(check, fan, note)``: ``check`` shaped like ``holdout_coverage``'s result,
    ``fan`` like ``forecast_intervals``' (or None without tracking), ``note`` saying why
    they are missing when ``check`` is None.
    """
    from clvlab.intervals import forecast_intervals, holdout_coverage, predict_intervals
    from clvlab.models.contract import missing_note, supports
    from clvlab.spark._fit import to_pandas

    if not supports(purchase_model, "conditional_probability_of_purchases"):
        return None, None, missing_note(purchase_model, "conditional_probability_of_purchases",
                                        "the holdout check of the ranges")
    n = int(evaluation.n_customers)
    m = min(n, int(max_customers))
    spend_cols = [c for c in (C.TOTAL_SPEND_HOLDOUT, C.MONETARY_VALUE_HOLDOUT)
                  if c in split.columns]
    cols = [C.CUSTOMER_ID, C.FREQUENCY, C.RECENCY, C.T, C.FREQUENCY_HOLDOUT, *spend_cols]
    if C.MONETARY_VALUE in split.columns:
        cols.append(C.MONETARY_VALUE)
    chosen = split.select(*cols)
    if m < n:
        chosen = chosen.sample(False, min(1.0, 1.2 * m / n), seed=int(random_state))
    sample = to_pandas(chosen).set_index(C.CUSTOMER_ID).sort_index()
    if len(sample) > m:
        pick = np.random.default_rng(random_state).choice(len(sample), m, replace=False)
        sample = sample.iloc[np.sort(pick)]
    m = len(sample)
    if unit is not None:
        sample.attrs[C.ATTR_TIME_UNIT] = unit
    y = sample[C.FREQUENCY_HOLDOUT].to_numpy(dtype=float)
    spent = holdout_spend(sample, y)
    if spent is None:
        spent = np.full(m, np.nan)
    value = spent * float(evaluation.margin)
    use_value = (spend_model is not None and supports(spend_model, "spend_distribution")
                 and C.MONETARY_VALUE in sample.columns and bool(np.isfinite(value).all()))
    calib = sample[[c for c in (C.FREQUENCY, C.RECENCY, C.T, C.MONETARY_VALUE)
                    if c in sample.columns]]
    calib.attrs.update(sample.attrs)
    settings = {"horizon": float(evaluation.horizon), "level": level,
                "discount_rate": float(evaluation.discount_rate),
                "margin": float(evaluation.margin)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the model warnings were shown when scoring
        check = holdout_coverage(
            purchase_model, spend_model if use_value else None, calib, y,
            value if use_value else None, horizon=settings["horizon"], level=level,
            discount_rate=settings["discount_rate"], margin=settings["margin"],
            max_customers=None, random_state=random_state)
        if m < n:
            _scale_totals(check, predict_intervals(
                purchase_model, spend_model if use_value else None, calib,
                settings["horizon"], level=level, discount_rate=settings["discount_rate"],
                margin=settings["margin"], random_state=random_state), evaluation, n, m, level)
    fan = None
    track = evaluation.tracking
    if track is not None and len(track):
        times = _fan_times(track)
        if times.size:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fan = forecast_intervals(purchase_model, calib[[C.FREQUENCY, C.RECENCY, C.T]],
                                         times, level=level, random_state=random_state)
            if m < n:
                fan = _full_base_fan(fan, _expected_sums(split, purchase_model.to_dict(), unit,
                                                         times), n, m, level)
            # where the fan starts: the repeat purchases to the calibration end
            start = split.agg(F.sum(C.FREQUENCY).alias("s")).first()
            fan.attrs["calibration_purchases"] = float(start["s"] or 0.0)  # type: ignore[index]
    return check, fan, ""


def _scale_totals(check: dict[str, Any], sample_iv: Any, evaluation: Any, n: int, m: int,
                  level: float) -> None:
    """Totals of a sample's holdout check for the whole base (as holdout_coverage scales)."""
    metrics = evaluation.metrics
    ratio = n / m
    z = float(special.ndtri(0.5 + level / 2.0))
    check["n_customers"], check["n_checked"] = int(n), int(m)
    sources = {"purchases": (metrics.iloc[0], "predicted_total_purchases",
                             "actual_total_purchases")}
    if len(metrics.index) > 1:
        sources["value"] = (metrics.iloc[1], "predicted_total_value", "actual_total_value")
    for name in list(check["totals"]):
        row_m, pred_col, act_col = sources[name]
        est, actual = float(row_m[pred_col]), float(row_m[act_col])
        row = sample_iv.totals.loc["purchases" if name == "purchases" else "clv"]
        check["totals"][name] = _scaled_total_check(name, est, actual, row, ratio, z)


def _full_base_fan(fan: pd.DataFrame, sums: np.ndarray, n: int, m: int,
                   level: float) -> pd.DataFrame:
    """Return the whole base's fan: Spark's sums, the sample's process part scaled up."""
    z = float(special.ndtri(0.5 + level / 2.0))
    out = fan.copy()
    est = sums[:, 0]
    var_par = (np.mean((sums[:, 1:] - est[:, None]) ** 2, axis=1) if sums.shape[1] > 1
               else np.zeros(est.size))
    var_proc = fan["se_process"].to_numpy(dtype=float) ** 2 * (n / m)
    sd = np.sqrt(var_par + var_proc)
    out["estimate"] = est
    out["lower"] = np.floor(np.maximum(est - z * sd, 0.0))
    out["upper"] = np.ceil(est + z * sd)
    out["se"], out["se_parameters"], out["se_process"] = sd, np.sqrt(var_par), np.sqrt(var_proc)
    return out
