"""Per-customer scoring table and marketing segments.

:func:`score_customers` puts every per-customer number of a fitted pipeline in one
table -- the RFM summary, P(alive), expected purchases and spend, CLV, the formula
baseline's CLV, historical spend and a segment. The report, the spreadsheet and the CSV
all take their numbers from this one table, so they agree everywhere.

:func:`assign_segments` turns the table into six segments a marketer can act on. The
rules are plain thresholds on repeat purchases, CLV, historical spend and P(alive),
computed in one vectorised pass (a million customers take well under a second) and
deterministic: the same table gives the same segments whatever its row order.

Segments
--------
With ``clv_hi`` / ``clv_lo`` the ``value_quantiles`` (default 0.8 and 0.5) of ``clv``
over all customers, ``hist_hi`` the upper quantile of ``historical_spend``, and
``active`` meaning ``probability_alive >= alive_threshold`` (default 0.5):

=====================  ===============================================  ====================
segment                rule                                             typical action
=====================  ===============================================  ====================
Champions              high value (``clv >= clv_hi`` or                 retain, reward
                       ``historical_spend >= hist_hi``) and active
High value, at risk    high value and not active                        win-back campaign
Promising              not high value, ``clv >= clv_lo``, active        nurture
Needs attention        not high value, ``clv >= clv_lo``, not active    re-engage cheaply
One-time buyers        ``frequency == 0`` (no repeat purchase yet),     second-purchase nudge
                       whatever their CLV, spend or P(alive)
Lapsed / low value     not high value and ``clv < clv_lo``              low-cost channels
=====================  ===============================================  ====================

The one-time rule comes first: every customer with ``frequency == 0`` is a one-time
buyer, and only repeat buyers (``frequency >= 1``) go through the value and activity
rules. The reason is that no model has evidence about them: BG/NBD lets a customer drop
out only after a repeat purchase, so it gives P(alive) = 1 to everyone without one;
models that let customers leave earlier (Pareto/NBD, MBG/NBD) give them a P(alive) that
depends on their age alone. Either way "active" is an assumption, not evidence, and their
CLV is essentially the population's average for a customer of that age (on CDNOW with
BG/NBD nearly the same number for all of them, right at the median CLV). Sorting them by
those numbers into "Champions", "Promising" or "Lapsed" would be arbitrary and, with
BG/NBD's P(alive) = 1, contradictory; what they all need is the same: a reason to buy a
second time.

This holds for a one-time buyer with a large first order too: high *historical* spend
from a single purchase does not make a Champion or a "High value, at risk" customer --
one order shows what they can spend, not that they come back. They stay in "One-time
buyers"; sort that segment by ``historical_spend`` to see whose second purchase is worth
most. The thresholds themselves are still quantiles over *all* customers, one-time
buyers included, so taking the one-time buyers out changes no repeat buyer's segment:
a repeat buyer is "Lapsed / low value" when their CLV is below the median customer's
(and their historical spend is not in the top tier).

Without a ``frequency`` column (e.g. a table of CLV and P(alive) only) the one-time rule
cannot apply: nobody is a one-time buyer (the category is there but empty) and every
customer goes through the value and activity rules, as they would without this segment.
A missing frequency (NaN) likewise does not count as 0.

Value uses *predicted* CLV and *historical* spend alike, so a repeat buyer who spent a
lot but has probably left (low P(alive), hence low CLV) is flagged "High value, at risk"
rather than lost among the low-value ones. P(alive) uses a fixed probability rather
than a quantile, because "more likely alive than not" means the same in every data
set. Missing values (NaN) never satisfy a threshold.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab._checks import (
    check_discount_rate,
    check_horizon,
    check_margin,
)
from clvlab.exceptions import InvalidValueError, MissingColumnsError, reissue_warnings
from clvlab.validation import validate_rfm

__all__ = [
    "score_customers",
    "assign_segments",
    "segment_summary",
    "SCORE_COLUMNS",
    "SEGMENTS",
    "PROBABILITY_ALIVE",
    "EXPECTED_PURCHASES",
    "EXPECTED_SPEND",
    "CLV",
    "CLV_BASELINE",
    "HISTORICAL_SPEND",
    "SEGMENT",
]

# -- column names of the scoring table (besides the RFM columns) -------------------------
PROBABILITY_ALIVE = "probability_alive"
EXPECTED_PURCHASES = "expected_purchases"
EXPECTED_SPEND = "expected_spend"
CLV = "clv"
CLV_BASELINE = "clv_baseline"
HISTORICAL_SPEND = "historical_spend"
SEGMENT = "segment"

#: Columns of :func:`score_customers`, in order (index: ``customer_id``).
SCORE_COLUMNS: tuple[str, ...] = (
    C.FREQUENCY,
    C.RECENCY,
    C.T,
    C.MONETARY_VALUE,
    PROBABILITY_ALIVE,
    EXPECTED_PURCHASES,
    EXPECTED_SPEND,
    CLV,
    CLV_BASELINE,
    HISTORICAL_SPEND,
    SEGMENT,
)

CHAMPIONS = "Champions"
AT_RISK = "High value, at risk"
PROMISING = "Promising"
NEEDS_ATTENTION = "Needs attention"
ONE_TIME = "One-time buyers"
LAPSED = "Lapsed / low value"

#: Segment names, the categories of :func:`assign_segments` in order: the repeat buyers'
#: segments from most to least valuable, with the one-time buyers (value not yet
#: proven) just before "Lapsed / low value", which stays last.
SEGMENTS: tuple[str, ...] = (CHAMPIONS, AT_RISK, PROMISING, NEEDS_ATTENTION, ONE_TIME, LAPSED)


def _check_fraction(value: Any, name: str, *, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > 0 if open_low else v >= 0) and v <= 1
    if not ok:
        bound = "0 < x <= 1" if open_low else "0 <= x <= 1"
        raise ValueError(f"{name} must be a number with {bound}; got {value!r}.")
    return float(value)


def _quantile(values: np.ndarray, q: float) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.inf  # nothing can reach it
    return float(np.quantile(finite, q))


def assign_segments(
    scores: pd.DataFrame,
    *,
    value_quantiles: Sequence[float] = (0.5, 0.8),
    alive_threshold: float = 0.5,
) -> pd.Series:
    """Assign each customer to one of six actionable segments (see the module docstring).

    Customers without a repeat purchase (``frequency == 0``) are "One-time buyers",
    whatever their CLV, historical spend or P(alive); the others are placed by value
    (CLV or historical spend) and activity (P(alive)).

    Parameters
    ----------
    scores : DataFrame
        One row per customer with columns ``clv`` and ``probability_alive`` and,
        optionally, ``frequency`` and ``historical_spend`` (e.g. from
        :func:`score_customers`). Without ``frequency`` nobody is a one-time buyer: the
        category exists but stays empty and every customer is placed by value and
        activity.
    value_quantiles : (float, float), default=(0.5, 0.8)
        Lower and upper quantiles of ``clv`` (and upper quantile of ``historical_spend``)
        over all customers, one-time buyers included, that separate low, middle and high
        value. With the default the top 20% by CLV or by historical spend are "high
        value" and the bottom half by CLV, unless high by history, is "Lapsed / low
        value" (for repeat buyers).
    alive_threshold : float, default=0.5
        A customer is active when ``probability_alive >= alive_threshold``.

    Returns
    -------
    Series
        Ordered categorical named ``segment`` with categories :data:`SEGMENTS`, indexed
        like ``scores``; ``attrs["thresholds"]`` records the CLV, historical-spend and
        P(alive) cut-offs used and, under ``one_time_buyers``, whether the one-time rule
        applied (``True`` when ``scores`` has a ``frequency`` column).

    Raises
    ------
    MissingColumnsError
        ``clv`` or ``probability_alive`` is absent.
    ValueError
        Quantiles not ``0 <= low <= high <= 1`` or a threshold outside [0, 1].

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"clv": [500.0, 400.0, 40.0, 30.0, 1.0],
    ...                        "probability_alive": [0.9, 0.2, 0.8, 0.1, 0.9]})
    >>> assign_segments(scores, value_quantiles=(0.2, 0.6)).tolist()
    ['Champions', 'High value, at risk', 'Promising', 'Needs attention', 'Lapsed / low value']
    >>> scores["frequency"] = [4, 2, 1, 3, 0]
    >>> assign_segments(scores, value_quantiles=(0.2, 0.6)).tolist()
    ['Champions', 'High value, at risk', 'Promising', 'Needs attention', 'One-time buyers']
    """
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores must be a DataFrame; got {type(scores).__name__}.")
    missing = [c for c in (CLV, PROBABILITY_ALIVE) if c not in scores.columns]
    if missing:
        raise MissingColumnsError(
            f"assign_segments needs column(s) {', '.join(missing)}; columns present: "
            f"{', '.join(map(str, scores.columns)) or '(none)'}. Build the table with "
            "clvlab.scoring.score_customers.",
            column=missing[0],
            rule="required column",
        )
    if len(value_quantiles) != 2:
        raise ValueError(
            f"value_quantiles must be two numbers (low, high); got {value_quantiles!r}."
        )
    q_lo = _check_fraction(value_quantiles[0], "value_quantiles[0]")
    q_hi = _check_fraction(value_quantiles[1], "value_quantiles[1]")
    if q_lo > q_hi:
        raise ValueError(f"value_quantiles must be increasing; got {value_quantiles!r}.")
    alive_cut = _check_fraction(alive_threshold, "alive_threshold")

    clv = pd.to_numeric(scores[CLV], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    alive = pd.to_numeric(scores[PROBABILITY_ALIVE], errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    clv_hi, clv_lo = _quantile(clv, q_hi), _quantile(clv, q_lo)
    high = clv >= clv_hi
    hist_hi = math.nan
    if HISTORICAL_SPEND in scores.columns:
        hist = pd.to_numeric(scores[HISTORICAL_SPEND], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        if np.isfinite(hist).any():
            hist_hi = _quantile(hist, q_hi)
            high |= hist >= hist_hi
    middle = ~high & (clv >= clv_lo)
    active = alive >= alive_cut
    # one-time buyers: frequency exactly 0 (NaN is not 0); without the column, nobody
    has_frequency = C.FREQUENCY in scores.columns
    if has_frequency:
        frequency = pd.to_numeric(scores[C.FREQUENCY], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        one_time = frequency == 0
    else:
        one_time = np.zeros(len(scores), dtype=bool)

    codes = np.full(len(scores), SEGMENTS.index(LAPSED), dtype=np.int8)
    codes[middle & ~active] = SEGMENTS.index(NEEDS_ATTENTION)
    codes[middle & active] = SEGMENTS.index(PROMISING)
    codes[high & ~active] = SEGMENTS.index(AT_RISK)
    codes[high & active] = SEGMENTS.index(CHAMPIONS)
    codes[one_time] = SEGMENTS.index(ONE_TIME)  # overrides the value rules
    dtype = pd.CategoricalDtype(list(SEGMENTS), ordered=True)
    out = pd.Series(
        pd.Categorical.from_codes(codes, dtype=dtype), index=scores.index, name=SEGMENT
    )
    out.attrs["thresholds"] = {
        "clv_high": clv_hi,
        "clv_low": clv_lo,
        "historical_spend_high": hist_hi,
        "probability_alive": alive_cut,
        "value_quantiles": [q_lo, q_hi],
        "one_time_buyers": has_frequency,
    }
    return out


def segment_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Count, share and value of each segment (for reports and the end-of-run summary).

    Parameters
    ----------
    scores : DataFrame
        Output of :func:`score_customers` (needs ``segment`` and ``clv``; uses
        ``historical_spend`` and ``probability_alive`` when present).

    Returns
    -------
    DataFrame
        Index ``segment`` (all six, in :data:`SEGMENTS` order, empty ones included --
        "One-time buyers" has 0 customers when the segments were assigned without a
        ``frequency`` column); columns ``n_customers``, ``share_customers``,
        ``total_clv``, ``share_clv``, ``mean_clv``, ``mean_probability_alive``,
        ``total_historical_spend``. Under BG/NBD the one-time buyers' mean P(alive) is 1
        by the model's assumption, not by evidence (see the module docstring).
    """
    if SEGMENT not in scores.columns or CLV not in scores.columns:
        raise MissingColumnsError(
            "segment_summary needs the columns segment and clv (from score_customers).",
            column=SEGMENT if SEGMENT not in scores.columns else CLV,
            rule="required column",
        )
    seg = pd.Categorical(scores[SEGMENT], categories=list(SEGMENTS), ordered=True)
    frame = pd.DataFrame(
        {
            SEGMENT: seg,
            CLV: scores[CLV].to_numpy(dtype=float),
            PROBABILITY_ALIVE: (
                scores[PROBABILITY_ALIVE].to_numpy(dtype=float)
                if PROBABILITY_ALIVE in scores.columns
                else np.nan
            ),
            HISTORICAL_SPEND: (
                scores[HISTORICAL_SPEND].to_numpy(dtype=float)
                if HISTORICAL_SPEND in scores.columns
                else np.nan
            ),
        }
    )
    g = frame.groupby(SEGMENT, observed=False)
    out = pd.DataFrame(
        {
            "n_customers": g.size().astype(np.int64),
            "total_clv": g[CLV].sum(min_count=0),
            "mean_clv": g[CLV].mean(),
            "mean_probability_alive": g[PROBABILITY_ALIVE].mean(),
            "total_historical_spend": g[HISTORICAL_SPEND].sum(min_count=1),
        }
    ).reindex(list(SEGMENTS))
    out["n_customers"] = out["n_customers"].fillna(0).astype(np.int64)
    total_n = int(out["n_customers"].sum())
    total_clv = float(np.nansum(frame[CLV].to_numpy()))
    out.insert(1, "share_customers", out["n_customers"] / total_n if total_n else np.nan)
    out.insert(3, "share_clv", out["total_clv"] / total_clv if total_clv else np.nan)
    out.index.name = SEGMENT
    return out


def _aligned(values: Any, index: pd.Index, what: str) -> np.ndarray:
    """Model output as floats aligned to ``index`` (by label when it is a Series)."""
    if isinstance(values, pd.Series):
        if not values.index.equals(index):
            missing = ~index.isin(values.index)
            if missing.any():
                ids = list(index[missing][:5])
                raise InvalidValueError(
                    f"{what} lacks {int(missing.sum())} of the customers being scored "
                    f"(customer_id {', '.join(map(str, ids))}). Pass values for every "
                    "customer of rfm, indexed by customer_id.",
                    column=C.CUSTOMER_ID,
                    rule="one value per customer",
                    offenders=ids,
                    n_offending=int(missing.sum()),
                )
            values = values.reindex(index)
        return values.to_numpy(dtype=float, na_value=np.nan)
    arr = np.asarray(values, dtype=float).reshape(-1)
    if arr.size == 1:
        return np.full(len(index), float(arr[0]))
    if arr.size != len(index):
        raise InvalidValueError(
            f"{what} has {arr.size} values for {len(index)} customers.",
            rule="one value per customer",
        )
    return arr


def score_customers(
    rfm: pd.DataFrame,
    purchase_model: Any,
    spend_model: Any,
    baseline: Any = None,
    *,
    horizon: float,
    discount_rate: float,
    margin: float = 1.0,
    historical: pd.Series | None = None,
    value_quantiles: Sequence[float] = (0.5, 0.8),
    alive_threshold: float = 0.5,
    interval: float | None = None,
) -> pd.DataFrame:
    """Score every customer: P(alive), expected purchases and spend, CLV, baseline, segment.

    Parameters
    ----------
    rfm : DataFrame
        RFM summary indexed by ``customer_id`` (:func:`clvlab.rfm_summary`): columns
        ``frequency``, ``recency``, ``T``, ``monetary_value``; ``total_spend`` is used
        for historical spend when present.
    purchase_model : fitted purchase model (:mod:`clvlab.models.contract`)
        Gives ``probability_alive`` and ``expected_purchases`` over ``horizon``.
    spend_model : fitted spend model (e.g. GammaGammaFitter)
        Gives ``expected_spend`` (expected value of one future purchase).
    baseline : fitted FormulaCLVBaseline, optional
        Its ``predict(rfm, horizon=..., discount_rate=...)`` times ``margin`` is
        ``clv_baseline`` (the same convention as :func:`clvlab.evaluate`); NaN without one.
    horizon : float
        Prediction horizon in the models' time unit (``purchase_model.time_unit_``),
        > 0, e.g. 52 for a year in weeks.
    discount_rate : float
        Discount rate per time unit, e.g. ``1.1 ** (7 / 365.2425) - 1`` for 10% a year
        in weeks. 0 gives undiscounted CLV.
    margin : float, default=1.0
        Share of spend that is profit; CLV and baseline CLV are value = spend x margin.
    historical : Series, optional
        Historical spend per customer (indexed by ``customer_id``). Default: the RFM
        summary's ``total_spend`` (all spend in the observed window, first purchase
        included, no margin), else NaN.
    value_quantiles, alive_threshold
        Segment thresholds, passed to :func:`assign_segments` (customers with
        ``frequency == 0`` are "One-time buyers").
    interval : float, optional
        Level (e.g. 0.8) of predictive intervals to add: columns ``purchases_lower``,
        ``purchases_upper`` (after ``expected_purchases``) and ``clv_lower``,
        ``clv_upper`` (after ``clv``), and ``attrs["intervals"]`` with the totals'
        intervals (see :func:`clvlab.intervals.score_interval_columns`) and of each
        segment's totals (``attrs["intervals"]["segments"]``). ``None`` (default) or 0:
        no intervals.

    Returns
    -------
    DataFrame
        Index ``customer_id`` (as in ``rfm``); columns :data:`SCORE_COLUMNS`:
        ``frequency``, ``recency``, ``T``, ``monetary_value`` (copied from ``rfm``),
        ``probability_alive``, ``expected_purchases`` (in the next ``horizon``),
        ``expected_spend`` (per purchase), ``clv`` (discounted, x margin, from
        :func:`clvlab.customer_lifetime_value`), ``clv_baseline``, ``historical_spend``
        and ``segment``. ``attrs`` records horizon, discount rate, margin, time unit and
        the segment thresholds.

    Raises
    ------
    MissingColumnsError, InvalidValueError
        Bad RFM data (via :func:`clvlab.validate_rfm`).
    InvalidArgumentError
        A horizon, discount rate or margin out of range (the shared rules of
        :mod:`clvlab._checks`: ``0 < margin <= 1``, ``0 <= discount_rate <= 1``,
        ``horizon > 0``).
    ValueError
        Models fitted in different time units.
    PredictionError
        A clvlab model gives NaN or infinity for some customer (its predictors refuse to
        return them).
    """
    from clvlab.clv import customer_lifetime_value

    frame = validate_rfm(rfm, require=(C.FREQUENCY, C.RECENCY, C.T), model="scoring")
    if C.MONETARY_VALUE not in frame.columns:
        raise MissingColumnsError(
            "score_customers needs monetary_value (mean repeat-purchase value) for the "
            "spend model; build the summary with clvlab.rfm_summary.",
            column=C.MONETARY_VALUE,
            rule="required column",
        )
    horizon = check_horizon(horizon, "horizon")
    margin = check_margin(margin, "margin")
    discount_rate = check_discount_rate(discount_rate, "discount_rate")
    unit = getattr(purchase_model, "time_unit_", None)
    for other, role in ((spend_model, "spend_model"), (baseline, "baseline")):
        other_unit = getattr(other, "time_unit_", None) if other is not None else None
        if unit is not None and other_unit is not None and other_unit != unit:
            raise ValueError(
                f"{role} was fitted in time unit {other_unit!r} but purchase_model in "
                f"{unit!r}; fit both on the same RFM summary."
            )

    index = frame.index
    # the models' warnings (e.g. repeat buyers without spend, seen by expected_spend and
    # again by customer_lifetime_value) are shown once, at the caller's line
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p_alive = _aligned(purchase_model.probability_alive(frame), index, "probability_alive")
        purchases = _aligned(
            purchase_model.expected_purchases(frame, horizon), index, "expected_purchases"
        )
        spend = _aligned(spend_model.expected_spend(frame), index, "expected_spend")
        clv = _aligned(
            customer_lifetime_value(
                purchase_model, spend_model, frame, horizon=horizon,
                discount_rate=discount_rate, margin=margin,
            ),
            index,
            "customer_lifetime_value",
        )
        if baseline is not None:
            base = _aligned(
                baseline.predict(frame, horizon=horizon, discount_rate=discount_rate),
                index,
                "baseline CLV",
            ) * margin
        else:
            base = np.full(len(index), np.nan)
        bounds = None
        if interval:
            from clvlab.intervals import score_interval_columns

            bounds, interval_summary, interval_result = score_interval_columns(
                purchase_model, spend_model, frame, horizon=horizon,
                discount_rate=discount_rate, margin=margin, level=interval,
            )
    reissue_warnings(caught, stacklevel=2)
    if historical is not None:
        hist = _aligned(historical, index, "historical")
    elif C.TOTAL_SPEND in frame.columns:
        hist = frame[C.TOTAL_SPEND].to_numpy(dtype=float, na_value=np.nan)
    else:
        hist = np.full(len(index), np.nan)

    # Each column is an array of its own, taken as it is (copy=False): a consolidated
    # table would copy all of them at once while the originals are still alive. The RFM
    # columns are copied (the table must not share memory with ``rfm``).
    scores = pd.DataFrame(
        {
            C.FREQUENCY: np.array(frame[C.FREQUENCY].to_numpy(dtype=float)),
            C.RECENCY: np.array(frame[C.RECENCY].to_numpy(dtype=float)),
            C.T: np.array(frame[C.T].to_numpy(dtype=float)),
            C.MONETARY_VALUE: np.array(
                frame[C.MONETARY_VALUE].to_numpy(dtype=float, na_value=np.nan)
            ),
            PROBABILITY_ALIVE: p_alive,
            EXPECTED_PURCHASES: purchases,
            EXPECTED_SPEND: spend,
            CLV: clv,
            CLV_BASELINE: base,
            HISTORICAL_SPEND: np.array(hist),
        },
        index=index.copy(),
        copy=False,
    )
    del p_alive, purchases, spend, clv, base, hist
    scores.index.name = C.CUSTOMER_ID
    segments = assign_segments(
        scores, value_quantiles=value_quantiles, alive_threshold=alive_threshold
    )
    scores[SEGMENT] = segments.array
    if interval:
        from clvlab.intervals import SCORE_INTERVAL_COLUMNS, group_ranges

        if bounds is not None:
            # the segments' ranges first, then the columns (their copies are not alive
            # beside the ranges' temporaries: a lower peak, the same numbers)
            interval_summary["segments"] = group_ranges(interval_result, scores[SEGMENT])
            del interval_result
            for col, after in SCORE_INTERVAL_COLUMNS.items():
                scores.insert(scores.columns.get_loc(after) + 1, col, bounds[col].to_numpy())
            del bounds
        scores.attrs["intervals"] = interval_summary
    scores.attrs.update(
        {
            "horizon": float(horizon),
            "discount_rate": float(discount_rate),
            "margin": float(margin),
            "time_unit": unit,
            "segment_thresholds": segments.attrs["thresholds"],
        }
    )
    return scores
