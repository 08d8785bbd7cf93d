"""The holdout verdict in words: which forecast wins on which metric, and why.

Pure functions of an :class:`~clvlab.evaluation.Evaluation` (its ``metrics``,
``customers``, ``deciles`` and ``chi_square``); the report context puts their sentences in
the summary and the holdout section. Nothing here fits or predicts.

Metrics are grouped into what a reader cares about -- the totals, squared error, absolute
error, linear and rank correlation, the top-decile capture and the proper log predictive
score -- and each is won by the probabilistic model or by the formula baseline. The
sentences name both sides and explain the usual surprise: mean absolute error is smallest
for a forecast of the *median*, and with most customers buying nothing in a holdout the
formula's zeros for one-time buyers win it, while its totals are far off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

__all__ = [
    "Aspect",
    "compare_forecasts",
    "baseline_log_score",
    "verdict_sentences",
    "chi_square_reading",
    "decile_reading",
]

#: Probability floor of the log score (as ``clvlab.evaluation``: log(2.2e-308) = -708.4).
_TINY = np.finfo(float).tiny


@dataclass
class Aspect:
    """One thing a forecast can be good at, judged on one or more metrics."""

    key: str
    words: str  # "the totals", "mean absolute error (MAE)" ...
    winner: str | None = None  # "model", "baseline", "tie" or None (not comparable)
    details: list[str] = field(default_factory=list)  # "0.741 vs 0.819 purchases"


def _get(metrics: pd.DataFrame, row: str | None, col: str) -> float:
    if row is None or row not in metrics.index or col not in metrics.columns:
        return math.nan
    value = metrics.loc[row, col]
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _better(a: float, b: float, how: str) -> str | None:
    """``"model"`` if ``a`` is better, ``"baseline"`` if ``b`` is, ``"tie"``, or None."""
    if not (math.isfinite(a) or math.isfinite(b)):
        return None
    if how == "higher":
        a, b = (-a if math.isfinite(a) else math.inf), (-b if math.isfinite(b) else math.inf)
    elif how == "closer to 0":
        a, b = abs(a), abs(b)
    a = a if math.isfinite(a) else math.inf
    b = b if math.isfinite(b) else math.inf
    if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
        return "tie"
    return "model" if a < b else "baseline"


def _floats(values: Any) -> np.ndarray:
    """Return ``values`` as a float array (a Series through ``to_numpy``, not ``np.asarray``).

    ``np.asarray`` probes a Series for ``__array_*__`` attributes, which pandas looks up
    in its index: in a text index of a million ids that builds a hash table (~100 MiB)
    the index keeps.
    """
    to_numpy = getattr(values, "to_numpy", None)
    return to_numpy(dtype=float) if to_numpy is not None else np.asarray(values, dtype=float)


def baseline_log_score(actual: Sequence[float], mean: Sequence[float]) -> tuple[float, int]:
    """Log score of the formula's purchase forecast read as Poisson means.

    The formula gives each customer an expected number of purchases and no distribution;
    read as a Poisson forecast with that mean it gets the proper log score
    ``sum log P(X = x_holdout)``. A mean of 0 gives a purchase probability 0: such terms
    count at ``log(2.2e-308)`` and their number is returned.

    Returns
    -------
    (float, int)
        The total log score and the number of customers whose holdout count had
        probability 0 under the formula.
    """
    x, mu = _floats(actual), _floats(mean)
    impossible = (mu <= 0) & (x > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(mu > 0, x * np.log(np.where(mu > 0, mu, 1.0)) - mu
                        - special.gammaln(x + 1), np.where(x > 0, -np.inf, 0.0))
    logp = np.maximum(logp, np.log(_TINY))
    return float(logp.sum()), int(impossible.sum())


def compare_forecasts(
    metrics: pd.DataFrame,
    model: str,
    baseline: str,
    *,
    purchase_row: str | None = None,
    log_scores: tuple[float | None, float | None] = (None, None),
    money: Callable[[Any], str] = lambda v: f"{float(v):,.2f}",
) -> list[Aspect]:
    """Judge ``model`` against ``baseline`` on each aspect of ``Evaluation.metrics``.

    Parameters
    ----------
    metrics : DataFrame
        ``Evaluation.metrics`` (one row per forecast).
    model, baseline : str
        Rows of the probabilistic forecast with value (purchase + spend model) and of the
        formula baseline.
    purchase_row : str, optional
        Row holding the purchase metrics of the model when ``model`` has none (default
        ``model``).
    log_scores : (float or None, float or None)
        Holdout log predictive scores of the model and of the baseline.
    money : callable
        Formats an amount (the report's currency).

    Returns
    -------
    list of Aspect
        In a fixed order: totals, squared error, absolute error, linear correlation, rank
        correlation, top-decile capture, log score.
    """
    prow = purchase_row or model

    def pair(col: str, row: str | None = None) -> tuple[float, float]:
        return _get(metrics, row or (prow if col.startswith("purchases") else model), col), \
            _get(metrics, baseline, col)

    def num(v: float, digits: int = 3) -> str:
        return f"{v:,.{digits}f}"

    def pct(v: float) -> str:
        return f"{v:+.1f}%"

    # (aspect, its words, [(metric column, better when, formatter, what it measures)])
    spec: list[tuple[str, str, list[tuple[str, str, Callable[[float], str], str]]]] = [
        ("totals", "the totals", [("purchases_aggregate_pct_error", "closer to 0", pct,
                                   "purchases"),
                                  ("value_aggregate_pct_error", "closer to 0", pct, "value")]),
        ("rmse", "squared error (RMSE)", [("purchases_rmse", "lower", num, "purchases"),
                                          ("value_rmse", "lower", money, "value")]),
        ("mae", "mean absolute error (MAE)", [("purchases_mae", "lower", num, "purchases"),
                                              ("value_mae", "lower", money, "value")]),
        ("pearson", "linear correlation with what happened (Pearson)",
         [("purchases_pearson", "higher", num, "purchases"),
          ("value_pearson", "higher", num, "value")]),
        ("spearman", "rank correlation (Spearman)",
         [("purchases_spearman", "higher", num, "purchases"),
          ("value_spearman", "higher", num, "value")]),
        ("capture", "the share of value in its top 10%",
         [("top_decile_capture", "higher", lambda v: f"{100 * v:.1f}%", "")]),
    ]
    aspects = []
    for key, words, cols in spec:
        aspect = Aspect(key, words)
        votes = []
        for col, how, fmt, what in cols:
            a, b = pair(col, model if col == "top_decile_capture" else None)
            vote = _better(a, b, how)
            if vote is None:
                continue
            votes.append(vote)
            label = f"{what} " if what else ""
            aspect.details.append(f"{label}{fmt(a)} vs {fmt(b)}")
        if votes:
            real = [v for v in votes if v != "tie"]
            aspect.winner = (real[0] if real and all(v == real[0] for v in real)
                             else ("tie" if not real else "split"))
        aspects.append(aspect)
    ls_model, ls_base = log_scores
    score = Aspect("log_score", "the proper log predictive score")
    if ls_model is not None and math.isfinite(ls_model) and ls_base is not None:
        score.winner = _better(ls_model, ls_base, "higher")
        score.details.append(f"{_score_text(ls_model)} vs {_score_text(ls_base)}")
    aspects.append(score)
    return aspects


def _score_text(value: float) -> str:
    """Write a log score for text: ``-35,210``, or ``-∞`` for an impossible outcome."""
    return "-∞" if value == -math.inf else f"{value:,.0f}"


def _join(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def verdict_sentences(
    aspects: Sequence[Aspect],
    model: str,
    baseline: str,
    *,
    holdout: str,
    zero_share: float,
    one_time_share: float,
    value_error: tuple[float, float] = (math.nan, math.nan),
    detailed: bool = True,
) -> list[str]:
    """Say which forecast wins on what, and why MAE and rank correlation may disagree.

    Parameters
    ----------
    aspects : list of Aspect
        From :func:`compare_forecasts`.
    model, baseline : str
        Names of the two forecasts.
    holdout : str
        The holdout's length in words (``"39-week"``).
    zero_share : float
        Share of customers with no purchase in the holdout.
    one_time_share : float
        Share of customers without a repeat purchase in the calibration period (the
        formula predicts 0 for them).
    value_error : (float, float)
        Aggregate value error (%) of the model and of the baseline.
    detailed : bool, default=True
        Add why the formula wins the absolute error or the rank correlation, when it does
        (for the holdout section, next to the table of every metric); ``False`` gives the
        summary's three sentences.

    Returns
    -------
    list of str
    """
    by = {a.key: a for a in aspects}
    wins = {side: [a for a in aspects if a.winner == side] for side in ("model", "baseline")}
    split = [a for a in aspects if a.winner == "split"]

    short = _short_sentences(by, wins, split, model, baseline, zero_share, one_time_share,
                             holdout=holdout, explain=not detailed)
    if not detailed:
        return short
    out = short[:-1] if short and short[-1].startswith(("For totals", "On this log")) else short
    mae = by.get("mae")
    if mae is not None and mae.winner in ("baseline", "split") and zero_share > 0.5:
        text = (
            f"Why the formula wins the absolute error: mean absolute error favours forecasts "
            f"near the median, and {zero_share:.0%} of customers bought nothing in the "
            f"holdout. The formula predicts exactly 0 for every customer without a repeat "
            f"purchase ({one_time_share:.0%} of all), which is right for most of them, while "
            f"{model} gives each a small expected number. That wins the absolute error "
            "without saying how much will be bought"
        )
        if math.isfinite(value_error[1]):
            text += (f": the formula's total is off by {value_error[1]:+.0f}% "
                     f"({value_error[0]:+.0f}% for {model})")
        out.append(text + ".")
    spearman = by.get("spearman")
    if spearman is not None and spearman.winner in ("baseline", "split"):
        out.append(
            "Rank correlation compares orderings only: ranking customers by their past "
            "purchase rate, as the formula does, orders them about as well, but gives no "
            "number to plan with."
        )
    totals = by.get("totals")
    if totals is not None and totals.winner == "model":
        out.append(f"For totals and budgets rely on {model}; to rank customers, the two "
                   "are close." if spearman is not None and spearman.winner != "model"
                   else f"For totals and budgets rely on {model}.")
    elif totals is not None and totals.winner == "baseline":
        out.append(f"On this log the {baseline}'s totals are closer than the model's: check "
                   "the model's assumptions (see the caveats) before relying on it.")
    return out


def _short_sentences(
    by: dict[str, Aspect], wins: dict[str, list[Aspect]], split: list[Aspect], model: str,
    baseline: str, zero_share: float, one_time_share: float, *, holdout: str,
    explain: bool = True,
) -> list[str]:
    """Three sentences for a summary: who wins what, why the formula wins MAE, what to use."""

    def words(items: Sequence[Aspect], quote: str) -> str:
        return _join([
            f"{a.words} ({a.details[-1]})" if a.key == quote and a.details else a.words
            for a in items
        ])

    out = []
    if wins["model"]:
        out.append(f"On the {holdout} holdout {model} is better on "
                   f"{words(wins['model'], 'totals')}.")
    if wins["baseline"]:
        text = f"The {baseline} is better on {words(wins['baseline'], 'mae')}"
        mae = by.get("mae")
        if explain and mae is not None and mae.winner in ("baseline", "split") \
                and zero_share > 0.5:
            text += (f": it predicts 0 for the {one_time_share:.0%} of customers without a "
                     f"repeat purchase, and {zero_share:.0%} of customers bought nothing in "
                     "the holdout, which absolute error rewards")
        out.append(text + ".")
    if split:
        out.append(f"Mixed: {words(split, '')}.")
    totals = by.get("totals")
    if totals is not None and totals.winner == "model":
        out.append(f"For totals and budgets rely on {model}.")
    elif totals is not None and totals.winner == "baseline":
        out.append(f"On this log the {baseline}'s totals are closer: check the model's "
                   "assumptions before relying on it.")
    return out


def chi_square_reading(chi: Any, model: str, n_customers: int) -> str:
    """One line on the χ² test of the frequency histogram, with its largest gap."""
    stat = getattr(chi, "statistic", math.nan)
    p = getattr(chi, "p_value", math.nan)
    if chi is None or not (math.isfinite(stat) and math.isfinite(p)):
        return ""
    table = getattr(chi, "table", None)
    gap = ""
    if isinstance(table, pd.DataFrame) and len(table) and "contribution" in table.columns:
        worst = table["contribution"].astype(float).idxmax()
        row = table.loc[worst]
        noun = "repeat purchase" if str(worst) == "1" else "repeat purchases"
        gap = (f"; the largest gap is at {worst} {noun} ({float(row['observed']):,.0f}"
               f" customers, {float(row['expected']):,.0f} expected)")
    head = f"χ² = {stat:,.1f} on {chi.dof} degrees of freedom, p = {p:.2g}"
    if p >= 0.05:
        return f"{head}: the histogram of repeat purchases is consistent with {model}{gap}."
    return (f"{head}: the histogram of repeat purchases differs from {model} by more than "
            f"chance allows -- with {n_customers:,} customers even small misfits are "
            f"significant{gap}. Judge the size of the gaps in the figure, not the p-value.")


def decile_reading(deciles: pd.DataFrame, word: str = "actual") -> str:
    """One line on a decile table: the top decile's share, and where the means drift."""
    if deciles is None or len(deciles) == 0:
        return ""
    d = deciles.sort_values("decile")
    top = float(d["actual_share"].iloc[0])
    with np.errstate(divide="ignore", invalid="ignore"):  # an actual mean of 0: no ratio
        ratio = (d["predicted_mean"].to_numpy(dtype=float)
                 / d["actual_mean"].to_numpy(dtype=float))
        off = (ratio - 1) * 100
    dec = d["decile"].astype(int).to_numpy()
    under = [int(k) for k, o in zip(dec, off, strict=True) if np.isfinite(o) and o < -20]
    over = [int(k) for k, o in zip(dec, off, strict=True) if np.isfinite(o) and o > 20]
    within = [int(k) for k, o in zip(dec, off, strict=True) if np.isfinite(o) and abs(o) <= 20]
    parts = [f"the 10% of customers ranked highest brought {top:.0%} of the {word} value "
             "(10% if the ranking were random)"]
    if within:
        parts.append(f"predicted means are within 20% of {word} in {_deciles(within)}")
    if under:
        lo = min(off[np.isin(dec, under)])
        hi = max(off[np.isin(dec, under)])
        parts.append(f"under-predicted in {_deciles(under)} (by {-hi:.0f}-{-lo:.0f}%)"
                     if len(under) > 1 else f"under-predicted in {_deciles(under)} "
                     f"(by {-lo:.0f}%)")
    if over:
        lo = min(off[np.isin(dec, over)])
        hi = max(off[np.isin(dec, over)])
        parts.append(f"over-predicted in {_deciles(over)} (by {lo:.0f}-{hi:.0f}%)"
                     if len(over) > 1 else f"over-predicted in {_deciles(over)} "
                     f"(by {hi:.0f}%)")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def _deciles(ks: Sequence[int]) -> str:
    """``[2, 3, 4, 7]`` -> ``"deciles 2-4 and 7"``."""
    ks = sorted(ks)
    runs: list[list[int]] = []
    for k in ks:
        if runs and k == runs[-1][-1] + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    words = [f"{r[0]}-{r[-1]}" if len(r) > 2 else _join([str(k) for k in r]) for r in runs]
    return ("decile " if len(ks) == 1 else "deciles ") + _join(words)
