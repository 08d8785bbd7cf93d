"""Holdout evaluation in Spark: the tables of :func:`clvlab.evaluate`, as small results.

The per-customer holdout predictions are made by ``mapInPandas`` with the models' own
predictors (rebuilt from JSON), exactly as :func:`clvlab.evaluate` makes them; everything
after that is a Spark aggregate, so the report needs only a few hundred numbers:

- metrics per model: MAE, RMSE, bias, Pearson r, aggregate error, totals (one
  aggregation); Spearman's rho from average ranks computed on the driver -- exactly when
  the customers fit ``spearman_sample`` (default 1,000,000), else on a uniform random
  sample of that size (standard error about ``(1 - rho^2) / sqrt(sample)``, under 0.001);
- top-decile capture and the decile table: the exact order statistics at the group
  boundaries (approximate quantiles narrow the search, a count and a small collect of the
  values near each boundary make it exact); customers tied at a boundary are shared out
  pro rata, as :func:`clvlab.evaluation.top_decile_capture` does (``decile_table`` breaks
  such ties by row order, which a cluster does not have);
- by-frequency and by-recency tables: grouped means, as
  :func:`clvlab.evaluation.conditional_expectations`;
- the chi-square test of the calibration histogram: observed counts by frequency, and the
  expected counts from the distinct ages ``T`` with their counts;
- tracking: repeat purchases counted per day in Spark (from the split's tracking
  columns), binned into periods and set against the model's cohort forecast on the
  driver, as :func:`clvlab.evaluation.tracking`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab._checks import check_discount_rate, check_horizon, check_margin
from clvlab._time import UNIT_NAMES, unit_days
from clvlab.evaluation import (
    ACTUAL_PURCHASES,
    ACTUAL_VALUE,
    BASELINE_PURCHASES,
    BASELINE_VALUE,
    PREDICTED_PURCHASES,
    PREDICTED_VALUE,
    ChiSquareResult,
    chi_square_test,
    frequency_bins,
    holdout_spend,
    recency_bins,
    regression_metrics,
)
from clvlab.exceptions import ClvlabWarning, InvalidValueError, ModelWarning, reissue_warnings
from clvlab.models.contract import describe, missing_note, supports
from clvlab.rfm import _check_unit, _iso, _parse_day
from clvlab.spark._fit import to_pandas
from clvlab.spark._rfm import (
    FIRST_PURCHASE_DAY,
    REPEAT_PURCHASE_DAYS,
    calibration_holdout,
    check_rfm,
    rfm_attrs,
)
from clvlab.spark._session import require_pyspark

require_pyspark()

from pyspark import StorageLevel  # noqa: E402
from pyspark.sql import DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

__all__ = ["evaluate", "SparkEvaluation", "DEFAULT_SPEARMAN_SAMPLE"]

#: Customers up to which Spearman's rho is exact (above it: a uniform sample this size).
DEFAULT_SPEARMAN_SAMPLE = 1_000_000

_METRIC_NAMES = ("mae", "rmse", "bias", "pearson", "spearman", "aggregate_pct_error")
_FBIN, _RBIN = "frequency_bin", "recency_bin"
#: Relative rank error of the first, approximate search for boundary values.
_SEARCH_ERROR = 2.5e-4


@dataclass
class SparkEvaluation:
    """The holdout evaluation of :func:`clvlab.spark.evaluate`.

    The tables of :class:`clvlab.Evaluation`, without the per-customer table.

    Attributes
    ----------
    metrics, by_frequency, by_recency, deciles : DataFrame
        As in :class:`clvlab.Evaluation` (deciles: ties at a boundary shared pro rata).
    tracking : DataFrame or None
        As in :class:`clvlab.Evaluation`; None without tracking columns or transactions.
    chi_square : ChiSquareResult or None
        None when the purchase model has no ``probability_of_purchases``.
    n_customers : int
        Customers in the split.
    horizon, time_unit, discount_rate, margin
        As in :class:`clvlab.Evaluation`.
    notes : list of str
        What was approximated or left out, and why.
    """

    metrics: pd.DataFrame
    by_frequency: pd.DataFrame
    by_recency: pd.DataFrame
    tracking: pd.DataFrame | None
    deciles: pd.DataFrame
    chi_square: ChiSquareResult | None
    n_customers: int
    horizon: float
    time_unit: str
    discount_rate: float = 0.0
    margin: float = 1.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Plain-text summary: metrics, chi-square test and the tracking end point."""
        unit = UNIT_NAMES.get(self.time_unit, self.time_unit)
        cols = [c for c in ("purchases_mae", "purchases_pearson",
                            "purchases_aggregate_pct_error", "value_mae",
                            "value_aggregate_pct_error", "top_decile_capture")
                if c in self.metrics.columns]
        lines = [
            f"Holdout evaluation over {self.horizon:g} {unit} ({self.n_customers:,} customers)",
            "",
            self.metrics[cols].to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"),
        ]
        if self.chi_square is not None:
            lines.append(
                f"Calibration frequency histogram: chi2 = {self.chi_square.statistic:.2f}, "
                f"dof = {self.chi_square.dof}, p = {self.chi_square.p_value:.3g}"
            )
        if self.tracking is not None and len(self.tracking):
            last = self.tracking.iloc[-1]
            act, exp = float(last["actual_cumulative"]), float(last["expected_cumulative"])
            lines.append(
                f"Cumulative repeat transactions at {float(last['period_end']):g} {unit}: "
                f"actual {act:,.0f}, expected {exp:,.1f}"
            )
        lines.extend(self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ======================================================================================
# per-customer holdout predictions (mapInPandas, the models' own predictors)
# ======================================================================================
def _label(model: Any) -> str:
    return describe(model).name


def _prediction_schema(spend: bool, baseline: bool) -> T.StructType:
    # only what the aggregates read: the predictions are kept (on disk) while they run
    names = [ACTUAL_PURCHASES, ACTUAL_VALUE, PREDICTED_PURCHASES]
    if spend:
        names += [PREDICTED_VALUE]
    if baseline:
        names += [BASELINE_PURCHASES, BASELINE_VALUE]
    return T.StructType(
        [T.StructField(n, T.DoubleType()) for n in names]
        + [T.StructField(_FBIN, T.IntegerType()), T.StructField(_RBIN, T.IntegerType())]
    )


def _predictor(
    payloads: tuple[dict[str, Any] | None, ...],
    unit: str,
    horizon: float,
    discount_rate: float,
    margin: float,
    max_frequency: int,
    n_recency_bins: int,
    recency_upper: float,
) -> Any:
    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from clvlab.clv import customer_lifetime_value
        from clvlab.persistence import model_from_dict

        purchase, spend, baseline = (None if p is None else model_from_dict(p)
                                     for p in payloads)
        assert purchase is not None
        for batch in batches:
            if len(batch) == 0:
                continue
            frame = batch.set_index(C.CUSTOMER_ID)
            frame.attrs[C.ATTR_TIME_UNIT] = unit
            f = frame[C.FREQUENCY].to_numpy(dtype=float)
            r = frame[C.RECENCY].to_numpy(dtype=float)
            actual = frame[C.FREQUENCY_HOLDOUT].to_numpy(dtype=float)
            spent = holdout_spend(frame, actual)
            if spent is None:
                spent = np.full(len(frame), np.nan)
            out = pd.DataFrame({ACTUAL_PURCHASES: actual, ACTUAL_VALUE: spent * margin})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pred = purchase.expected_purchases(frame, horizon).to_numpy(dtype=float)
                out[PREDICTED_PURCHASES] = pred
                if spend is not None:
                    s = spend.expected_spend(frame).to_numpy(dtype=float)
                    if discount_rate > 0:
                        value = customer_lifetime_value(
                            purchase, spend, frame, horizon=horizon,
                            discount_rate=discount_rate, margin=margin,
                        ).to_numpy(dtype=float)
                    else:
                        value = pred * s * margin
                    out[PREDICTED_VALUE] = value
                if baseline is not None:
                    b = baseline.predict(frame, horizon=horizon, discount_rate=discount_rate,
                                         margin=margin, components=True)
                    if isinstance(b, pd.DataFrame):
                        col = "clv_baseline" if "clv_baseline" in b.columns else b.columns[-1]
                        out[BASELINE_VALUE] = b[col].to_numpy(dtype=float)
                        out[BASELINE_PURCHASES] = (
                            b["expected_purchases"].to_numpy(dtype=float)
                            if "expected_purchases" in b.columns else np.nan)
                    else:
                        out[BASELINE_VALUE] = np.asarray(b, dtype=float)
                        out[BASELINE_PURCHASES] = np.nan
            out[_FBIN] = np.asarray(frequency_bins(f, max_frequency).codes, dtype=np.int32)
            out[_RBIN] = np.asarray(
                recency_bins(f, r, n_bins=n_recency_bins, upper=recency_upper).codes,
                dtype=np.int32)
            yield out

    return predict


# ======================================================================================
# exact order statistics and ranked groups
# ======================================================================================
def _kth_largest(sdf: DataFrame, cols: Sequence[str], ks: Sequence[int], n: int
                 ) -> dict[str, list[float]]:
    """Exact k-th largest values (1-based ``ks``) of each column, in three small jobs.

    Approximate quantiles bracket each target rank; the values inside the brackets are
    counted per distinct value and collected (a small fraction of the customers), and the
    counts above the brackets place every target exactly. If a bracket misses (the
    approximation worse than promised), that column's distinct values are counted in full.
    """
    eps = _SEARCH_ERROR
    pad = 2 * eps + 2.0 / max(n, 1)
    probs = []
    for k in ks:
        q = 1.0 - (k - 0.5) / n  # ascending quantile of the k-th largest
        probs += [min(1.0, max(0.0, q - pad)), min(1.0, max(0.0, q + pad))]
    bounds = dict(zip(cols, sdf.approxQuantile(list(cols), probs, eps), strict=True))
    lows = {c: b[0::2] for c, b in bounds.items()}
    highs = {c: b[1::2] for c, b in bounds.items()}
    above: Any = sdf.agg(*[F.sum(F.when(F.col(c) > hi, 1).otherwise(0)).alias(f"a{j}_{i}")
                      for j, c in enumerate(cols) for i, hi in enumerate(highs[c])]).first()
    entries = []
    for j, c in enumerate(cols):
        v = F.col(c)
        cond = F.lit(False)
        for lo, hi in zip(lows[c], highs[c], strict=True):
            cond = cond | ((v >= lo) & (v <= hi))
        entries.append(F.when(cond, F.struct(F.lit(j).alias("j"), v.alias("value"))))
    band = to_pandas(
        sdf.select(F.explode(F.array(*entries)).alias("e")).filter(F.col("e").isNotNull())
        .groupBy("e.j", "e.value").count())
    out: dict[str, list[float]] = {}
    for j, c in enumerate(cols):
        mine = band[band["j"] == j].sort_values("value", ascending=False, kind="stable")
        values = mine["value"].to_numpy(dtype=float)
        counts: Any = mine["count"].to_numpy(dtype=np.int64)
        found: list[float] = []
        full: pd.DataFrame | None = None
        for i, k in enumerate(ks):
            sel = (values >= lows[c][i]) & (values <= highs[c][i])
            start = int(above[f"a{j}_{i}"] or 0)
            hit = np.flatnonzero(start + np.cumsum(counts[sel]) >= k)
            if start < k and hit.size:
                found.append(float(values[sel][hit[0]]))
                continue
            if full is None:  # pragma: no cover - the approximation missed its promise
                full = to_pandas(sdf.groupBy(F.col(c).alias("value")).count()).sort_values(
                    "value", ascending=False)
            cum_all = np.cumsum(full["count"].to_numpy(dtype=np.int64))
            found.append(float(full["value"].to_numpy()[np.flatnonzero(cum_all >= k)[0]]))
        out[c] = found
    return out


def _rank_classes(sdf: DataFrame, actual: str, boundaries: Mapping[str, Sequence[float]]
                  ) -> dict[str, pd.DataFrame]:
    """Group customers, per score column, by where the score falls among its boundaries.

    Returns, per column, the classes in descending order of score: ``count``,
    ``score_sum``, ``actual_sum``; a class is either the customers strictly between two
    consecutive boundary values (above the first, below the last) or those exactly at one.
    One job for all columns.
    """
    cols = list(boundaries)
    entries = []
    for j, c in enumerate(cols):
        u = sorted(set(boundaries[c]), reverse=True)
        v = F.col(c)
        below = sum(((v < F.lit(b)).cast("int") for b in u), F.lit(0))
        equal = F.lit(0)
        for b in u:
            equal = F.when(v == F.lit(b), 1).otherwise(equal)
        entries.append(F.struct(F.lit(j).alias("j"), (below * 2 + equal).alias("cls"),
                                v.alias("score"), F.col(actual).alias("actual")))
    table = to_pandas(
        sdf.select(F.explode(F.array(*entries)).alias("e")).groupBy("e.j", "e.cls").agg(
            F.count(F.lit(1)).alias("count"), F.sum("e.score").alias("score_sum"),
            F.sum("e.actual").alias("actual_sum")))
    return {c: table[table["j"] == j].sort_values("cls").reset_index(drop=True)
            for j, c in enumerate(cols)}


def _spread(classes: pd.DataFrame, edges: Sequence[float]) -> np.ndarray:
    """Share out each class over the position ranges ``[edges[j], edges[j+1])``.

    Returns an array (n_groups, 3): customers, score sum, actual sum per range; a class
    straddling an edge (tied scores) contributes pro rata.
    """
    n_groups = len(edges) - 1
    out = np.zeros((n_groups, 3))
    pos = 0.0
    for cnt, s_sum, a_sum in classes[["count", "score_sum", "actual_sum"]].itertuples(
            index=False):
        lo, hi = pos, pos + cnt
        for j in range(n_groups):
            overlap = min(hi, edges[j + 1]) - max(lo, edges[j])
            if overlap > 0:
                share = overlap / cnt
                out[j] += (overlap, s_sum * share, a_sum * share)
        pos = hi
    return out


def _deciles_and_capture(
    sdf: DataFrame, scores: Sequence[str], actual: str, n: int, actual_total: float,
    n_groups: int = 10, share: float = 0.10,
) -> dict[str, tuple[pd.DataFrame, float]]:
    """Return, per score column, the decile table and the top-decile capture.

    Ties at a boundary are shared pro rata, as :func:`clvlab.evaluation.top_decile_capture`
    does.
    """
    starts = [(j * n + n_groups - 1) // n_groups for j in range(1, n_groups)]  # ceil(j n/10)
    k_capture = share * n
    ks = sorted({s + 1 for s in starts if s < n} | {max(1, math.ceil(k_capture))})
    cols = list(dict.fromkeys(scores))
    classes = _rank_classes(sdf, actual, _kth_largest(sdf, cols, ks, n))
    edges = [0, *starts, n]
    out = {}
    for c in cols:
        groups = _spread(classes[c], edges)
        cnt, p_tot, a_tot = groups[:, 0], groups[:, 1], groups[:, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            table = pd.DataFrame(
                {
                    "n_customers": np.rint(cnt).astype(np.int64),
                    "predicted_mean": p_tot / cnt,
                    "actual_mean": a_tot / cnt,
                    "predicted_total": p_tot,
                    "actual_total": a_tot,
                    "actual_share": a_tot / actual_total if actual_total != 0
                    else np.full(n_groups, np.nan),
                },
                index=pd.RangeIndex(1, n_groups + 1, name="decile"),
            )
        top = _spread(classes[c], [0.0, k_capture])[0, 2]
        out[c] = (table, float(top / actual_total) if actual_total != 0 and n else math.nan)
    return out


# ======================================================================================
# tracking
# ======================================================================================
def _tracking(split: DataFrame, purchase_model: Any, unit: str, cal_day: int, end_day: int,
              freq_sums: tuple[float, float]) -> pd.DataFrame:
    """Actual and expected repeat purchases per period (as clvlab.evaluation.tracking)."""
    firsts = to_pandas(split.groupBy(F.col(FIRST_PURCHASE_DAY).alias("day")).count())
    repeats = to_pandas(
        split.select(F.explode(REPEAT_PURCHASE_DAYS).alias("day")).groupBy("day").count())
    first_day = firsts["day"].to_numpy(dtype=np.int64)
    first_n = firsts["count"].to_numpy(dtype=float)
    rep_day = repeats["day"].to_numpy(dtype=np.int64)
    rep_n = repeats["count"].to_numpy(dtype=np.int64)
    start = int(first_day.min())
    udays = unit_days(unit)
    horizon_age = (end_day + 1 - start) / udays
    n_periods = max(1, int(math.ceil(horizon_age - 1e-9)))
    idx = np.minimum(np.floor((rep_day - start) / udays + 1e-9).astype(np.int64),
                     n_periods - 1)
    incremental = np.bincount(idx, weights=rep_n, minlength=n_periods).astype(np.int64)
    period_end = np.minimum(np.arange(1, n_periods + 1, dtype=float), horizon_age)
    boundary = (cal_day + 1 - start) / udays
    end_days = start + np.ceil(period_end * udays - 1e-9).astype(np.int64) - 1
    in_cal = int(rep_n[rep_day <= cal_day].sum())
    in_hold = int(rep_n[rep_day > cal_day].sum())
    for found, expected, what in ((in_cal, freq_sums[0], "frequency"),
                                  (in_hold, freq_sums[1], "frequency_holdout")):
        if found != int(round(expected)):
            raise InvalidValueError(
                f"the tracking columns give {found} repeat purchases where the split counts "
                f"{int(round(expected))} ({what} summed). Rebuild the split with "
                "clvlab.spark.calibration_holdout(..., tracking_columns=True).",
                column=what, rule="tracking consistent with split",
            )
    cum = np.asarray(purchase_model.expected_cumulative_purchases(
        (first_day - start) / udays, period_end, weights=first_n), dtype=float)
    out = pd.DataFrame(
        {
            "period_end": period_end,
            "date_end": pd.to_datetime(end_days.astype("datetime64[D]")),
            "actual_incremental": incremental,
            "expected_incremental": np.diff(np.r_[0.0, cum]),
            "actual_cumulative": np.cumsum(incremental).astype(np.int64),
            "expected_cumulative": cum,
            "in_holdout": period_end > boundary + 1e-9,
        },
        index=pd.RangeIndex(1, n_periods + 1, name="period"),
    )
    out.attrs = {"origin": _iso(start), C.ATTR_TIME_UNIT: unit,
                 "calibration_boundary": float(boundary)}
    return out


# ======================================================================================
# evaluate
# ======================================================================================
def _binned(preds: DataFrame, bin_col: str, labels: list[str], cols: list[str],
            name: str) -> pd.DataFrame:
    grouped = to_pandas(preds.groupBy(bin_col).agg(
        F.count(F.lit(1)).alias("n_customers"),
        *[F.avg(c).alias(c) for c in cols],
    )).set_index(bin_col).reindex(range(len(labels)))
    out = pd.DataFrame({"n_customers": grouped["n_customers"].fillna(0).astype(np.int64)})
    for c in cols:
        out[c] = grouped[c].astype(float).to_numpy()
    out.index = pd.Index(labels, name=name)
    return out


def evaluate(
    split: DataFrame,
    purchase_model: Any,
    spend_model: Any = None,
    baseline: Any = None,
    *,
    transactions: DataFrame | None = None,
    horizon: float | None = None,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    max_frequency: int = 7,
    recency_bins_count: int = 6,
    spearman_sample: int = DEFAULT_SPEARMAN_SAMPLE,
    random_state: int = 0,
    storage_level: StorageLevel | None = StorageLevel.DISK_ONLY,
) -> SparkEvaluation:
    """Compare fitted models' holdout predictions with what customers did, in Spark.

    The definitions are those of :func:`clvlab.evaluate` (see the module docstring for
    how each table is computed at scale).

    Parameters
    ----------
    split : pyspark.sql.DataFrame
        From :func:`clvlab.spark.calibration_holdout` (its settings travel in the ``T``
        column's metadata); with ``tracking_columns=True`` the tracking series needs no
        transactions.
    purchase_model, spend_model, baseline
        Fitted on the calibration columns (e.g. with :func:`clvlab.spark.fit`).
    transactions : pyspark.sql.DataFrame, optional
        The log the split was built from, for the tracking series when the split has no
        tracking columns.
    horizon, discount_rate, margin, max_frequency, recency_bins_count
        As in :func:`clvlab.evaluate`.
    spearman_sample : int, default=1000000
        Spearman's rho is exact up to this many customers, else computed on a uniform
        random sample of this size (seeded by ``random_state``).
    random_state : int, default=0
        Seed of that sample.
    storage_level : pyspark.StorageLevel or None, default=StorageLevel.DISK_ONLY
        The per-customer predictions are kept at this level while the tables are
        aggregated, then released.

    Returns
    -------
    SparkEvaluation
    """
    frame = check_rfm(split, (C.FREQUENCY, C.RECENCY, C.T, C.FREQUENCY_HOLDOUT,
                              C.DURATION_HOLDOUT), model="evaluate")
    attrs = rfm_attrs(frame)
    if C.ATTR_TIME_UNIT not in attrs or C.ATTR_CALIBRATION_END not in attrs:
        raise InvalidValueError(
            "The split carries no time unit or calibration end (the T column's metadata). "
            "Build it with clvlab.spark.calibration_holdout.",
            column=C.ATTR_TIME_UNIT, rule="split settings",
        )
    unit = _check_unit(attrs[C.ATTR_TIME_UNIT], "time_unit")
    margin = check_margin(margin, "margin")  # the shared rules of clvlab._checks
    discount_rate = check_discount_rate(discount_rate, "discount_rate")
    for model, role in ((purchase_model, "purchase_model"), (spend_model, "spend_model"),
                        (baseline, "baseline")):
        model_unit = getattr(model, "time_unit_", None) if model is not None else None
        if model_unit is not None and model_unit != unit:
            raise InvalidValueError(
                f"{role} was fitted with time_unit {model_unit!r} but the split is in "
                f"{unit!r}; fit it on the split's calibration columns.",
                column=C.ATTR_TIME_UNIT, rule="same time unit",
            )
    notes: list[str] = []
    stats: Any = frame.agg(
        F.count(F.lit(1)).alias("n"),
        F.max(C.T).alias("max_T"),
        F.sum(C.FREQUENCY).alias("f_cal"),
        F.sum(C.FREQUENCY_HOLDOUT).alias("f_hold"),
        F.min(C.DURATION_HOLDOUT).alias("d_min"),
        F.max(C.DURATION_HOLDOUT).alias("d_max"),
    ).first()
    n = int(stats["n"])
    if horizon is None:
        if stats["d_min"] != stats["d_max"]:
            raise InvalidValueError(
                "duration_holdout takes different values; pass horizon= explicitly (in the "
                "split's time unit).", column=C.DURATION_HOLDOUT, rule="one holdout length",
            )
        t = float(stats["d_min"])
    else:
        t = check_horizon(horizon, "horizon")
        if not math.isclose(float(stats["d_min"]), t) or not math.isclose(
                float(stats["d_max"]), t):
            warnings.warn(
                f"horizon={t:g} differs from the holdout length ({stats['d_min']:g}); "
                "predictions cover a different period than the actual holdout values.",
                ClvlabWarning, stacklevel=2,
            )

    # -- per-customer predictions -----------------------------------------------------
    spend_cols = [c for c in (C.TOTAL_SPEND_HOLDOUT, C.MONETARY_VALUE_HOLDOUT)
                  if c in frame.columns]
    inputs = [C.CUSTOMER_ID, C.FREQUENCY, C.RECENCY, C.T, C.FREQUENCY_HOLDOUT, *spend_cols]
    if C.MONETARY_VALUE in frame.columns:
        inputs.append(C.MONETARY_VALUE)
    if C.TOTAL_SPEND in frame.columns:
        inputs.append(C.TOTAL_SPEND)
    payloads = tuple(None if m is None else m.to_dict()
                     for m in (purchase_model, spend_model, baseline))
    preds = frame.select(*inputs).mapInPandas(
        _predictor(payloads, unit, t, float(discount_rate), float(margin), max_frequency,
                   recency_bins_count, float(stats["max_T"])),
        _prediction_schema(spend_model is not None, baseline is not None),
    )
    if storage_level is not None:
        preds = preds.persist(storage_level)
    has_value = bool(spend_cols)
    p_name = _label(purchase_model)
    rows: list[tuple[str, str | None, str | None]] = [(p_name, PREDICTED_PURCHASES, None)]
    if spend_model is not None:
        rows.append((f"{p_name} + {_label(spend_model)}", PREDICTED_PURCHASES,
                     PREDICTED_VALUE))
    b_has_purchases = False
    if baseline is not None:
        b_has_purchases = preds.filter(F.isnan(BASELINE_PURCHASES)).limit(1).count() == 0
        rows.append((_label(baseline), BASELINE_PURCHASES if b_has_purchases else None,
                     BASELINE_VALUE))

    # -- metrics ------------------------------------------------------------------------
    pairs = sorted({(ACTUAL_PURCHASES, p) for _, p, _ in rows if p is not None}
                   | ({(ACTUAL_VALUE, v) for _, _, v in rows if v is not None}
                      if has_value else set()))
    aggs = [F.sum(ACTUAL_PURCHASES).alias("sum_a_" + ACTUAL_PURCHASES),
            F.sum(ACTUAL_VALUE).alias("sum_a_" + ACTUAL_VALUE)]
    for i, (a, p) in enumerate(pairs):
        diff = F.col(p) - F.col(a)
        aggs += [
            F.avg(F.abs(diff)).alias(f"mae{i}"),
            F.avg(diff * diff).alias(f"mse{i}"),
            F.avg(diff).alias(f"bias{i}"),
            F.corr(a, p).alias(f"r{i}"),
            F.sum(p).alias(f"sum{i}"),
        ]
    agg: Any = preds.agg(*aggs).first()
    found: dict[tuple[str, str], dict[str, float]] = {}
    for i, (a, p) in enumerate(pairs):
        total = float(agg["sum_a_" + a])
        r = agg[f"r{i}"]
        r = math.nan if r is None or not math.isfinite(r) or n < 2 else float(
            np.clip(r, -1.0, 1.0))
        found[(a, p)] = {
            "mae": float(agg[f"mae{i}"]),
            "rmse": math.sqrt(float(agg[f"mse{i}"])),
            "bias": float(agg[f"bias{i}"]),
            "pearson": r,
            "aggregate_pct_error": (100.0 * (float(agg[f"sum{i}"]) - total) / total
                                    if total != 0 else math.nan),
            "total": float(agg[f"sum{i}"]),
        }
    # Spearman: average ranks on the driver, of everyone or of a uniform sample
    needed = sorted({c for pair in pairs for c in pair})
    sample = preds.select(*needed)
    if n > spearman_sample:
        sample = sample.sample(fraction=min(1.0, spearman_sample / n), seed=random_state)
        notes.append(
            f"Spearman's rho: computed on a uniform random sample of "
            f"{spearman_sample:,} of the {n:,} customers (standard error below 0.001); "
            "every other metric uses all customers."
        )
    local = to_pandas(sample)
    for a, p in pairs:
        found[(a, p)]["spearman"] = (
            regression_metrics(local[a].to_numpy(float), local[p].to_numpy(float))["spearman"]
            if len(local) >= 2 else math.nan)

    actual_total_p = float(agg["sum_a_" + ACTUAL_PURCHASES])
    actual_total_v = float(agg["sum_a_" + ACTUAL_VALUE]) if has_value else math.nan
    ranked: dict[str, tuple[pd.DataFrame, float]] = {}
    if has_value and n:
        score_cols = [value if value is not None else purch for _, purch, value in rows]
        wanted = [c for c in score_cols if c is not None]
        if actual_total_v != 0:
            wanted.append(ACTUAL_VALUE)
        ranked = _deciles_and_capture(preds, wanted, ACTUAL_VALUE, n, actual_total_v)
    records, decile_frames = [], []
    for name, purch, value in rows:
        rec: dict[str, float] = {}
        for prefix, actual, pred in (("purchases", ACTUAL_PURCHASES, purch),
                                     ("value", ACTUAL_VALUE, value)):
            got = found.get((actual, pred), {}) if pred is not None else {}
            rec.update({f"{prefix}_{m}": got.get(m, math.nan) for m in _METRIC_NAMES})
        score = value if value is not None else purch
        if score is not None and score in ranked:
            table, capture = ranked[score]
            rec["top_decile_capture"] = capture if actual_total_v != 0 else math.nan
            d = table.reset_index()
            d.insert(0, "model", name)
            decile_frames.append(d)
        else:
            rec["top_decile_capture"] = math.nan
        rec["predicted_total_purchases"] = (found[(ACTUAL_PURCHASES, purch)]["total"]
                                            if purch is not None else math.nan)
        rec["actual_total_purchases"] = actual_total_p
        rec["predicted_total_value"] = (found[(ACTUAL_VALUE, value)]["total"]
                                        if value is not None and has_value else math.nan)
        rec["actual_total_value"] = actual_total_v
        rec["n_customers"] = float(n)
        records.append(rec)
    metrics = pd.DataFrame(records, index=pd.Index([r[0] for r in rows], name="model"))
    metrics["n_customers"] = metrics["n_customers"].astype(np.int64)
    if ACTUAL_VALUE in ranked:
        notes.append("top_decile_capture of a perfect ranking (customers ranked by their "
                     f"actual holdout value): {ranked[ACTUAL_VALUE][1]:.3f}")
    deciles = (pd.concat(decile_frames, ignore_index=True) if decile_frames else
               pd.DataFrame(columns=["model", "decile", "n_customers", "predicted_mean",
                                     "actual_mean", "predicted_total", "actual_total",
                                     "actual_share"]))

    # -- binned conditional expectations ------------------------------------------------
    cols = [ACTUAL_PURCHASES, PREDICTED_PURCHASES] + (
        [BASELINE_PURCHASES] if b_has_purchases else [])
    f_labels = list(frequency_bins(np.zeros(0), max_frequency).categories)
    r_labels = list(recency_bins(np.zeros(0), np.zeros(0), n_bins=recency_bins_count,
                                 upper=float(stats["max_T"])).categories)
    by_frequency = _binned(preds, _FBIN, f_labels, cols, C.FREQUENCY)
    by_recency = _binned(preds, _RBIN, r_labels, cols, C.RECENCY)

    # -- chi-square of the calibration histogram ----------------------------------------
    chi: ChiSquareResult | None = None
    if supports(purchase_model, "probability_of_purchases"):
        t_counts = to_pandas(frame.groupBy(F.col(C.T).alias("t")).count())
        t_unique = t_counts["t"].to_numpy(dtype=float)
        t_count = t_counts["count"].to_numpy(dtype=float)
        expected = np.empty(max_frequency + 1)
        for x in range(max_frequency):
            prob = np.asarray(purchase_model.probability_of_purchases(n=x, t=t_unique),
                              dtype=float)
            expected[x] = float(t_count @ np.broadcast_to(prob, t_unique.shape))
        expected[max_frequency] = n - expected[:max_frequency].sum()
        hist = pd.DataFrame(
            {"observed": by_frequency["n_customers"].to_numpy(dtype=np.int64),
             "expected": expected},
            index=pd.Index(f_labels, name=C.FREQUENCY),
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ModelWarning)
            chi = chi_square_test(hist, n_params=len(purchase_model.params_))
        reissue_warnings(caught, stacklevel=2)
    else:
        notes.append(missing_note(purchase_model, "probability_of_purchases",
                                  "the chi-square test of the frequency distribution"))

    # -- tracking -------------------------------------------------------------------------
    track = None
    cal_day = _parse_day(attrs[C.ATTR_CALIBRATION_END], C.ATTR_CALIBRATION_END)
    end_day = _parse_day(attrs[C.ATTR_OBSERVATION_END], C.ATTR_OBSERVATION_END)
    source = frame
    if REPEAT_PURCHASE_DAYS not in frame.columns and transactions is not None:
        source = calibration_holdout(
            transactions, attrs[C.ATTR_CALIBRATION_END], attrs[C.ATTR_OBSERVATION_END],
            time_unit=unit, merge_period=attrs.get(C.ATTR_MERGE_PERIOD, "D"),
            tracking_columns=True, storage_level=None)
    if REPEAT_PURCHASE_DAYS in source.columns:
        track = _tracking(source, purchase_model, unit, cal_day, end_day,
                          (float(stats["f_cal"]), float(stats["f_hold"])))
    else:
        notes.append("tracking: not computed (build the split with tracking_columns=True or "
                     "pass transactions=).")
    if storage_level is not None:
        preds.unpersist()
    return SparkEvaluation(
        metrics=metrics, by_frequency=by_frequency, by_recency=by_recency, tracking=track,
        deciles=deciles, chi_square=chi, n_customers=n, horizon=t, time_unit=unit,
        discount_rate=float(discount_rate), margin=float(margin), notes=notes,
    )
