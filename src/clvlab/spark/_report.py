"""The report of a Spark run, built from small aggregated results.

:func:`clvlab.reporting.build_context` reads per-customer tables; a Spark run has
millions of customers in the cluster and only aggregates on the driver. This module
builds a report context of the same documented shape (sections of ``kpis``, ``paragraph``,
``bullets``, ``heading``, ``facts``, ``table`` and ``figure`` blocks) from those
aggregates -- :class:`SparkReportInputs` -- and the same renderers
(:func:`clvlab.reporting.render_html`, :func:`clvlab.reporting.render_pdf`) lay it out,
so the HTML and the PDF show the same numbers. Models are described through the model
contract (:func:`clvlab.models.contract.describe`), never by their class.
"""

from __future__ import annotations

import datetime as _dt
import io
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clvlab._time import GREGORIAN_YEAR_DAYS, UNIT_NAMES, unit_days
from clvlab.models.contract import describe
from clvlab.reporting.context import (
    _holdout_ranges_blocks,
    clean_text,
    fmt_int,
    fmt_money,
    fmt_money_prose,
    fmt_num,
    fmt_pct,
    fmt_pct_points,
    fmt_sig,
    missed_range_caveat,
)

__all__ = ["SparkReportInputs", "build_context"]

_DPI = 130
_SEGMENT_ACTIONS: dict[str, str] = {
    "Champions": "Retain and reward: loyalty perks, early access, referrals.",
    "High value, at risk": "Win back now: personal outreach, a reason to return.",
    "Promising": "Nurture: recommendations, offers for the next purchase.",
    "Needs attention": "Re-engage cheaply: reminders, low-cost e-mail.",
    "One-time buyers": "Nudge a second purchase: a follow-up offer soon after the first.",
    "Lapsed / low value": "Low-cost channels only; do not overspend.",
}
_METRIC_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("purchases_mae", "Purchases: mean absolute error", fmt_num),
    ("purchases_rmse", "Purchases: RMSE", fmt_num),
    ("purchases_bias", "Purchases: mean bias", fmt_num),
    ("purchases_pearson", "Purchases: Pearson r", fmt_num),
    ("purchases_spearman", "Purchases: Spearman rho", fmt_num),
    ("purchases_aggregate_pct_error", "Purchases: aggregate error %", fmt_pct_points),
    ("predicted_total_purchases", "Purchases: predicted total", lambda v: fmt_num(v, 1)),
    ("actual_total_purchases", "Purchases: actual total", fmt_int),
    ("value_mae", "Value: mean absolute error", fmt_money),
    ("value_rmse", "Value: RMSE", fmt_money),
    ("value_bias", "Value: mean bias", fmt_money),
    ("value_spearman", "Value: Spearman rho", fmt_num),
    ("value_aggregate_pct_error", "Value: aggregate error %", fmt_pct_points),
    ("predicted_total_value", "Value: predicted total", fmt_money),
    ("actual_total_value", "Value: actual total", fmt_money),
    ("top_decile_capture", "Share of value in top 10% by prediction", fmt_pct),
)


@dataclass
class SparkReportInputs:
    """Everything the Spark report shows: models and small aggregated results.

    Attributes
    ----------
    purchase_model, spend_model, baseline
        The fitted models (baseline optional).
    evaluation : SparkEvaluation or None
        Holdout evaluation (:func:`clvlab.spark.evaluate`).
    totals : mapping
        ``n_customers``, ``total_clv``, ``total_clv_baseline``, ``historical_spend``,
        ``repeat_rate``.
    segments : DataFrame
        :func:`clvlab.spark.segment_summary`.
    thresholds : mapping
        Segment thresholds (with ``relative_error``).
    top : DataFrame
        Top customers by CLV (index customer_id, the scoring columns).
    rfm_quantiles : DataFrame
        Index quantity label; columns ``n``, ``mean``, ``q25``, ``median``, ``q75``,
        ``q90``, ``max``.
    clv_histogram : DataFrame
        ``lower``, ``upper`` (bin edges of CLV, log-spaced), ``count``; plus ``zero``
        customers with CLV 0 in ``attrs["n_zero"]``.
    facts : mapping
        ``source``, ``n_transactions``, ``first_day``, ``observation_end``,
        ``calibration_end``, ``spark`` (engine text), ``fit_rows`` (model name -> rows
        that reached the driver), ``predictions`` (where the full table is).
    unit, horizon, discount_rate, margin, acquisition_cost_ceiling
        Settings and the model-only figure.
    notes : list of str
        Extra lines for the methodology section.
    ranges : mapping or None
        The predictive ranges of the scores (``scores_attrs(scores)["intervals"]``:
        ``level``, ``totals``, ``segments``), or None without ranges.
    holdout_check, holdout_fan, holdout_ranges_note
        How the ranges held on the holdout and the fan of the holdout forecast
        (:func:`clvlab.spark._intervals.holdout_ranges`), or a sentence saying why not.
    """

    purchase_model: Any
    spend_model: Any
    baseline: Any
    evaluation: Any
    totals: Mapping[str, float]
    segments: pd.DataFrame
    thresholds: Mapping[str, Any]
    top: pd.DataFrame
    rfm_quantiles: pd.DataFrame
    clv_histogram: pd.DataFrame
    facts: Mapping[str, Any]
    unit: str
    horizon: float
    discount_rate: float
    margin: float
    acquisition_cost_ceiling: float = math.nan
    notes: list[str] = field(default_factory=list)
    ranges: Mapping[str, Any] | None = None
    holdout_check: dict[str, Any] | None = None
    holdout_fan: pd.DataFrame | None = None
    holdout_ranges_note: str = ""


# -- blocks (the documented context shape) ------------------------------------------------
def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
           align: Sequence[str] | None = None, id_column: int | None = None,
           caption: str = "", note: str = "") -> dict[str, Any]:
    return {
        "kind": "table", "columns": [str(c) for c in columns],
        "rows": [[str(v) for v in row] for row in rows],
        "align": list(align) if align is not None else ["l"] + ["r"] * (len(columns) - 1),
        "id_column": id_column, "caption": caption, "note": note,
    }


def _para(text: str) -> dict[str, Any]:
    return {"kind": "paragraph", "text": text}


def _bullets(items: Sequence[str]) -> dict[str, Any]:
    return {"kind": "bullets", "items": [str(i) for i in items]}


def _heading(text: str) -> dict[str, Any]:
    return {"kind": "heading", "text": text}


def _facts(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    return {"kind": "facts", "rows": [[str(a), str(b)] for a, b in rows]}


def _section(sid: str, title: str, blocks: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    return {"id": sid, "title": title, "blocks": [b for b in blocks if b is not None]}


def _figure(draw: Callable[[Any], Any], caption: str,
            figsize: tuple[float, float] = (7.0, 4.2)) -> dict[str, Any]:
    """Draw on a bare matplotlib Figure and keep the PNG (a note if drawing fails)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            draw(ax)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        return _para(f"Figure not available ({caption}): {clean_text(exc)}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return {"kind": "figure", "png": buf.getvalue(), "caption": caption, "alt": caption}


# -- figures from aggregates ----------------------------------------------------------------
def _draw_tracking(track: pd.DataFrame, unit: str, name: str,
                   fan: pd.DataFrame | None = None) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        if fan is not None:  # the pandas report's bands (drawn first, below the lines)
            from clvlab.plotting import _draw_fan

            _draw_fan(ax, track, float(fan.attrs.get("calibration_purchases", math.nan)), fan,
                      track.attrs.get("calibration_boundary"))
        ax.plot(track["period_end"], track["actual_cumulative"], color="#1f4e78", lw=2,
                label="Actual")
        ax.plot(track["period_end"], track["expected_cumulative"], color="#c55a11", lw=1.5,
                ls="--", label=name)
        boundary = float(track.attrs.get("calibration_boundary", math.nan))
        if math.isfinite(boundary):
            ax.axvline(boundary, color="grey", lw=1, ls=":")
        ax.set_xlabel(f"{UNIT_NAMES.get(unit, unit).capitalize()} since the first purchase")
        ax.set_ylabel("Cumulative repeat purchases")
        ax.set_title("Tracking: actual vs expected repeat purchases")
        ax.legend(frameon=False)
    return draw


def _draw_by_frequency(table: pd.DataFrame, names: Sequence[str], horizon: float,
                       unit: str) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        x = np.arange(len(table))
        ax.plot(x, table["actual_purchases"], "o-", color="#1f4e78", label="Actual")
        ax.plot(x, table["predicted_purchases"], "s--", color="#c55a11", label=names[0])
        if "baseline_purchases" in table.columns and len(names) > 1:
            ax.plot(x, table["baseline_purchases"], "^:", color="grey", label=names[-1])
        ax.set_xticks(x, list(table.index))
        ax.set_xlabel("Repeat purchases in the calibration period")
        ax.set_ylabel(f"Mean purchases in the {horizon:g}-{UNIT_NAMES.get(unit, unit)[:-1]} "
                      "holdout")
        ax.set_title("Conditional expectations")
        ax.legend(frameon=False)
    return draw


def _draw_deciles(table: pd.DataFrame) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        x = np.arange(1, len(table) + 1)
        ax.bar(x - 0.2, table["predicted_mean"], width=0.4, color="#c55a11", label="Predicted")
        ax.bar(x + 0.2, table["actual_mean"], width=0.4, color="#1f4e78", label="Actual")
        ax.set_xticks(x)
        ax.set_xlabel("Decile of predicted value (1 = highest)")
        ax.set_ylabel("Mean value per customer")
        ax.set_title("Holdout value by decile")
        ax.legend(frameon=False)
    return draw


def _draw_histogram(hist: pd.DataFrame) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        if len(hist) == 0:
            raise ValueError("no customer has a positive CLV")
        lower = hist["lower"].to_numpy(dtype=float)
        upper = hist["upper"].to_numpy(dtype=float)
        ax.bar(lower, hist["count"].to_numpy(dtype=float), width=upper - lower, align="edge",
               color="#1f4e78", edgecolor="white", linewidth=0.3)
        ax.set_xscale("log")
        ax.set_xlabel("Predicted CLV (log scale)")
        ax.set_ylabel("Customers")
        n_zero = int(hist.attrs.get("n_zero", 0))
        ax.set_title("Distribution of predicted CLV"
                     + (f" ({n_zero:,} customers at 0 not shown)" if n_zero else ""))
    return draw


def _draw_segments(seg: pd.DataFrame) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        y = np.arange(len(seg))[::-1]
        ax.barh(y, seg["total_clv"].to_numpy(dtype=float), color="#1f4e78")
        ax.set_yticks(y, list(seg.index))
        ax.set_xlabel("Total predicted CLV")
        ax.set_title("Predicted CLV by segment")
    return draw


# -- sections -------------------------------------------------------------------------------
def _summary_rows(summary: pd.DataFrame) -> list[list[str]]:
    return [[clean_text(k), fmt_sig(r["estimate"]), fmt_sig(r["se"]), fmt_sig(r["lower"]),
             fmt_sig(r["upper"])] for k, r in summary.iterrows()]


def build_context(inputs: SparkReportInputs, *, title: str = "Customer lifetime value report",
                  figures: bool = True) -> dict[str, Any]:
    """Build the report context of a Spark run (see the module docstring).

    Parameters
    ----------
    inputs : SparkReportInputs
        Models and aggregated results.
    title : str, default="Customer lifetime value report"
        Report title.
    figures : bool, default=True
        Draw the figures.

    Returns
    -------
    dict
        A report context for :func:`clvlab.reporting.render_html` and ``render_pdf``.
    """
    from clvlab import __version__

    x = inputs
    pm, sm, base, ev = x.purchase_model, x.spend_model, x.baseline, x.evaluation
    p_name, s_name = describe(pm).name, describe(sm).name
    b_name = describe(base).name if base is not None else None
    units = UNIT_NAMES.get(x.unit, x.unit)
    one_unit = units[:-1]
    h = f"{x.horizon:g} {one_unit if x.horizon == 1 else units}"
    annual = (1 + x.discount_rate) ** (GREGORIAN_YEAR_DAYS / unit_days(x.unit)) - 1
    t = x.totals
    n = float(t["n_customers"])
    facts = x.facts

    def fig(draw: Callable[[Any], Any], caption: str,
            figsize: tuple[float, float] = (7.0, 4.2)) -> dict[str, Any] | None:
        return _figure(draw, caption, figsize) if figures else None

    value_row = None
    if ev is not None and len(ev.metrics.index) > 1 and math.isfinite(
            float(ev.metrics.iloc[1].get("predicted_total_value", math.nan))):
        value_row = str(ev.metrics.index[1])
    numbers = {
        "total_clv": fmt_money(t["total_clv"]),
        "total_clv_baseline": fmt_money(t["total_clv_baseline"]),
        "historical_spend": fmt_money(t["historical_spend"]),
        "acquisition_cost_ceiling": fmt_money(x.acquisition_cost_ceiling),
        "n_customers": fmt_int(n),
        "n_transactions": fmt_int(facts.get("n_transactions", math.nan)),
        "repeat_rate": fmt_pct(t["repeat_rate"]),
        "mean_clv": fmt_money(t["total_clv"] / n if n else math.nan),
        "horizon": h,
    }
    values = {k: float(t[k]) for k in ("total_clv", "total_clv_baseline", "historical_spend",
                                       "repeat_rate", "n_customers")}
    values.update({"n_transactions": float(facts.get("n_transactions", math.nan)),
                   "acquisition_cost_ceiling": float(x.acquisition_cost_ceiling),
                   "horizon": x.horizon, "discount_rate": x.discount_rate,
                   "margin": x.margin})
    if value_row is not None:
        row = ev.metrics.loc[value_row]
        values["holdout_value_error_pct"] = float(row["value_aggregate_pct_error"])
        values["holdout_predicted_value"] = float(row["predicted_total_value"])
        values["holdout_actual_value"] = float(row["actual_total_value"])
        numbers["holdout_value_error_pct"] = fmt_pct_points(row["value_aggregate_pct_error"])
        numbers["holdout_predicted_value"] = fmt_money(row["predicted_total_value"])
        numbers["holdout_actual_value"] = fmt_money(row["actual_total_value"])
    if ev is not None:
        err = float(ev.metrics.iloc[0]["purchases_aggregate_pct_error"])
        values["holdout_purchases_error_pct"] = err
        numbers["holdout_purchases_error_pct"] = fmt_pct_points(err)

    # -- summary ------------------------------------------------------------------------
    ranges = x.ranges if x.ranges and (x.ranges.get("totals") or {}).get("clv") else None
    level_label = fmt_pct(float(ranges["level"]), 0) if ranges is not None else ""
    clv_note = f"{numbers['n_customers']} customers, mean {numbers['mean_clv']}"
    between = ""
    if ranges is not None:
        lo, hi = float(ranges["totals"]["clv"]["lower"]), float(ranges["totals"]["clv"]["upper"])
        values.update({"total_clv_lower": lo, "total_clv_upper": hi,
                       "interval_level": float(ranges["level"])})
        numbers["total_clv_range"] = f"{fmt_money(lo)} to {fmt_money(hi)}"
        clv_note = (f"{level_label} range {fmt_money_prose(lo)} to {fmt_money_prose(hi)}; "
                    + clv_note)
        between = f", {level_label} likely between {fmt_money_prose(lo)} and " \
                  f"{fmt_money_prose(hi)}"
    kpis = [
        {"label": f"Predicted CLV, next {h}", "value": numbers["total_clv"],
         "note": clv_note},
        {"label": "Formula baseline CLV", "value": numbers["total_clv_baseline"],
         "note": "simple average-order-value formula" if base is not None
         else "no baseline given"},
        {"label": "Historical spend (whole period)", "value": numbers["historical_spend"],
         "note": "first purchases included"},
        {"label": "Acquisition-cost ceiling", "value": numbers["acquisition_cost_ceiling"],
         "note": "per new customer"},
    ]
    if value_row is not None:
        kpis.insert(2, {"label": "Holdout check: value error",
                        "value": numbers["holdout_value_error_pct"],
                        "note": f"{numbers['holdout_predicted_value']} predicted vs "
                                f"{numbers['holdout_actual_value']} actual"})
    sentences = [
        f"The {numbers['n_customers']} customers are expected to bring {numbers['total_clv']} "
        f"over the next {h} (discounted at {fmt_pct(annual)} a year, margin {x.margin:g})"
        + between
        + (f"; the formula baseline says {numbers['total_clv_baseline']}."
           if base is not None else ".")
    ]
    if value_row is not None:
        sentences.append(
            f"Checked on a {ev.horizon:g}-{one_unit} holdout the models were fitted without, "
            f"they predicted {numbers['holdout_predicted_value']} against "
            f"{numbers['holdout_actual_value']} actually spent "
            f"({numbers['holdout_value_error_pct']})."
        )
    sentences.append(
        f"Paying more than {numbers['acquisition_cost_ceiling']} to acquire a customer like "
        f"these loses money in expectation over {h} (first purchase included)."
    )
    fan = x.holdout_fan if ranges is not None and ev is not None else None
    caveats = []
    missed = missed_range_caveat(x.holdout_check if ranges is not None else None, level_label)
    if missed:
        caveats.append(missed)
    if ev is None:
        caveats.append("No holdout period: the forecast has not been checked against "
                       "purchases it did not see; re-run with a calibration end date.")
    for model, name in ((pm, p_name), (sm, s_name)):
        if getattr(model, "converged_", True) is False:
            caveats.append(f"The {name} fit did not fully converge: its estimates may be off.")
    corr = getattr(sm, "frequency_spend_correlation_", math.nan)
    if math.isfinite(corr) and abs(corr) >= 0.3:
        caveats.append(f"Spend per purchase correlates with purchase frequency (r = "
                       f"{corr:.2f}); {s_name} assumes they are independent.")
    caveats.append(
        f"CLV counts repeat purchases of today's customers over the next {h} only: no new "
        "customers, no value beyond the horizon, and customers behaving as in the past.")
    if x.margin == 1.0:
        caveats.append("Margin 1: values are revenue, not profit. Pass a margin for profit.")
    if ranges is not None:
        from clvlab.intervals import plain_language_note

        range_blocks = [_heading("What the ranges mean"),
                        _para(plain_language_note(float(ranges["level"])))]
    else:
        range_blocks = []
    sections = [_section("summary", "Summary", [
        {"kind": "kpis", "items": kpis}, _para(" ".join(sentences)), *range_blocks,
        _heading("Key caveats"), _bullets(caveats)])]

    # -- data ---------------------------------------------------------------------------
    data_facts = [
        ["Source", clean_text(facts.get("source", "not stated"))],
        ["Period observed", f"{facts.get('first_day', '?')} to "
                            f"{facts.get('observation_end', '?')}"],
        ["Calibration end (holdout after it)", str(facts.get("calibration_end") or
                                                   "none: no holdout")],
        ["Customers", numbers["n_customers"]],
        ["Transactions", numbers["n_transactions"]],
        ["Repeat buyers (at least one repeat purchase)", numbers["repeat_rate"]],
        ["Total spend", numbers["historical_spend"]],
        ["Time unit", f"{x.unit} ({units})"],
        ["Engine", clean_text(facts.get("spark", "Apache Spark"))],
    ]
    if facts.get("n_transactions_after_end"):
        data_facts.append(["Transactions after the observation end (excluded)",
                           fmt_int(facts["n_transactions_after_end"])])
    sections.append(_section("data", "Data overview", [
        _facts(data_facts),
        _para("The Spark engine applies the RFM checks (missing ids and dates, non-finite "
              "amounts stop the run with counts and example rows) but not the load-time "
              "policies of the pandas path (netting returns, dropping exact duplicates): "
              "prepare the log for those in your ETL."),
    ]))

    # -- RFM --------------------------------------------------------------------------------
    q = x.rfm_quantiles
    q_rows = [[clean_text(k), fmt_int(r["n"]), fmt_num(r["mean"], 2), fmt_num(r["q25"], 2),
               fmt_num(r["median"], 2), fmt_num(r["q75"], 2), fmt_num(r["q90"], 2),
               fmt_num(r["max"], 2)] for k, r in q.iterrows()]
    sections.append(_section("rfm", "RFM distributions", [
        _para("Frequency is the number of repeat purchases (purchases after the first, one per "
              "day), recency the customer's age at the last purchase and T the age at the end "
              f"of the period, both in {units}; monetary value is the mean value of repeat "
              f"purchases. Figures as of {facts.get('observation_end', '?')}; quantiles are "
              "approximate (rank error below 0.1%), counts, means and maxima exact."),
        _table(["Quantity", "Customers", "Mean", "25%", "Median", "75%", "90%", "Max"], q_rows),
    ]))

    # -- models ---------------------------------------------------------------------------
    cols = ["Parameter", "Estimate", "Std. error", "95% lower", "95% upper"]
    fit_rows = facts.get("fit_rows", {}) or {}
    chi = ev.chi_square if ev is not None else None
    from clvlab.cli import describe_training

    pm_facts = [
        ["Fitted on", clean_text(describe_training(pm))],
        ["Customers", fmt_int(getattr(pm, "n_customers_", math.nan))],
        ["Distinct (frequency, recency, T) rows fitted", fmt_int(fit_rows.get(p_name,
                                                                              math.nan))],
        ["Log-likelihood", fmt_num(getattr(pm, "log_likelihood_", math.nan), 2)],
        ["AIC / BIC", f"{fmt_num(getattr(pm, 'aic_', math.nan), 2)} / "
                      f"{fmt_num(getattr(pm, 'bic_', math.nan), 2)}"],
        ["Converged", "yes" if getattr(pm, "converged_", False) else "NO"],
    ]
    if chi is not None:
        pm_facts.append(["Frequency histogram fit (calibration)",
                         f"chi-square {fmt_num(chi.statistic, 2)}, dof {chi.dof}, "
                         f"p = {fmt_sig(chi.p_value, 3)}"])
    sm_facts = [
        ["Repeat buyers used", fmt_int(getattr(sm, "n_customers_", math.nan))],
        ["Customers left out (no repeat purchase or zero spend)",
         fmt_int(getattr(sm, "n_excluded_", math.nan))],
        ["Distinct (frequency, spend) rows fitted", fmt_int(fit_rows.get(s_name, math.nan))],
        ["Log-likelihood", fmt_num(getattr(sm, "log_likelihood_", math.nan), 2)],
        ["Converged", "yes" if getattr(sm, "converged_", False) else "NO"],
        ["Correlation of frequency and spend (should be near 0)", fmt_num(corr, 3)],
        ["Mean spend per purchase (population)", fmt_money(sm.population_mean_spend())],
    ]
    blocks: list[dict[str, Any] | None] = [
        _para(f"{describe(pm).story} {describe(sm).story}".strip()),
        _para("Fitted on the driver from the distinct rows the fit reads, counted in Spark: "
              "only these counts left the cluster, and the estimates equal a fit on every "
              "customer."),
        _heading(f"{p_name} (purchases)"), _table(cols, _summary_rows(pm.summary)),
        _facts(pm_facts),
        _heading(f"{s_name} (spend per purchase)"), _table(cols, _summary_rows(sm.summary)),
        _facts(sm_facts),
    ]
    if base is not None:
        blocks += [
            _heading(f"{b_name} (for comparison)"),
            _table(["Parameter", "Estimate"],
                   [[clean_text(k), fmt_sig(v, 4)] for k, v in base.params_.items()]),
        ]
    for het in describe(pm).heterogeneity:
        blocks.append(fig(_draw_density(het), f"{het.name.capitalize()} across customers: "
                                              f"{het.description}."))
    sections.append(_section("models", "Model parameters and fit", blocks))

    # -- holdout ----------------------------------------------------------------------------
    if ev is not None:
        metrics = ev.metrics
        if value_row is not None:
            metrics = metrics.drop(index=metrics.index[0])
        rows = [[label, *(fmt(metrics.loc[m, col]) for m in metrics.index)]
                for col, label, fmt in _METRIC_ROWS if col in metrics.columns]
        track_text = ""
        if ev.tracking is not None and len(ev.tracking):
            last = ev.tracking.iloc[-1]
            act, exp = float(last["actual_cumulative"]), float(last["expected_cumulative"])
            track_text = (f" At the end of the holdout the customers had made {fmt_int(act)} "
                          f"repeat purchases in all; {p_name} expected {fmt_num(exp, 1)} "
                          f"({fmt_pct_points(100 * (exp - act) / act if act else math.nan)}).")
        names = list(ev.metrics.index)
        sections.append(_section("holdout", "Holdout validation", [
            _para(f"The models were fitted on purchases up to {facts.get('calibration_end')} "
                  f"and asked to predict the next {ev.horizon:g} {units}, which they had not "
                  f"seen. The table compares their predictions with what the "
                  f"{fmt_int(ev.n_customers)} customers actually did." + track_text),
            _table(["Metric", *map(str, metrics.index)], rows,
                   caption="Holdout metrics (a dash: the model does not predict that quantity)."),
            fig(_draw_tracking(ev.tracking, x.unit, p_name, fan),
                "Cumulative repeat purchases, actual vs expected, through calibration and "
                "holdout."
                + (f" Shaded: the {level_label} and 50% ranges of the holdout forecast given "
                   "the customers' calibration histories (the forecast the holdout metrics "
                   "score)." if fan is not None else ""))
            if ev.tracking is not None else None,
            _table(["Calibration purchases", "Customers", "Actual mean",
                    *[f"{c.replace('_', ' ')}" for c in ev.by_frequency.columns[2:]]],
                   [[str(k), fmt_int(r["n_customers"]),
                     *[fmt_num(v, 3) for v in r.to_numpy()[1:]]]
                    for k, r in ev.by_frequency.iterrows()],
                   caption="Mean holdout purchases by calibration purchases."),
            fig(_draw_by_frequency(ev.by_frequency, [names[0], names[-1]], ev.horizon,
                                   x.unit),
                "Mean holdout purchases by number of calibration purchases."),
            _bullets(ev.notes) if ev.notes else None,
            *_holdout_ranges_blocks(ranges, x.holdout_check, level_label,
                                    x.holdout_ranges_note or HOLDOUT_RANGES_MISSING),
        ]))

    # -- CLV vs history ------------------------------------------------------------------
    totals = [
        [f"Predicted CLV, next {h}, all customers", numbers["total_clv"]],
        ["Formula baseline CLV, same horizon", numbers["total_clv_baseline"]],
        ["Historical spend, whole observed period", numbers["historical_spend"]],
    ]
    cmp_blocks: list[dict[str, Any] | None] = [_facts(totals)]
    if value_row is not None:
        d = ev.deciles[ev.deciles["model"] == value_row]
        cmp_blocks += [
            _para("Customers ranked by predicted holdout value into ten equal groups (decile 1 "
                  "= highest) against what they actually spent in the holdout; customers tied "
                  "at a group boundary are shared between the groups pro rata."),
            _table(["Decile", "Customers", "Predicted mean", "Actual mean", "Predicted total",
                    "Actual total", "Share of actual total"],
                   [[fmt_int(r["decile"]), fmt_int(r["n_customers"]),
                     fmt_money(r["predicted_mean"]), fmt_money(r["actual_mean"]),
                     fmt_money(r["predicted_total"]), fmt_money(r["actual_total"]),
                     fmt_pct(r["actual_share"])] for _, r in d.iterrows()],
                   caption=f"Holdout value by decile of predicted value ({value_row})."),
            fig(_draw_deciles(d), "Predicted and actual holdout value per customer by decile."),
        ]
    cmp_blocks.append(fig(_draw_histogram(x.clv_histogram),
                          f"Distribution of predicted CLV over the next {h}."))
    sections.append(_section("clv-vs-history", "Predicted vs historical CLV", cmp_blocks))

    # -- top customers --------------------------------------------------------------------
    top = x.top
    top_rows = [[clean_text(cid), fmt_num(r["probability_alive"], 3),
                 fmt_num(r["expected_purchases"], 2), fmt_money(r["expected_spend"]),
                 fmt_money(r["clv"]), fmt_money(r["clv_baseline"]),
                 fmt_money(r["historical_spend"]), clean_text(r["segment"])]
                for cid, r in top.iterrows()]
    share = float(top["clv"].sum()) / t["total_clv"] if t["total_clv"] else math.nan
    sections.append(_section("top-customers", "Top customers", [
        _para(f"The {len(top)} customers with the highest predicted CLV hold {fmt_pct(share)} "
              f"of the total. The full table of every customer is in "
              f"{clean_text(facts.get('predictions', 'the predictions files'))}."),
        _table(["Customer id", "P(alive)", "Exp. purchases", "Exp. spend", "CLV",
                "Baseline CLV", "Hist. spend", "Segment"], top_rows,
               align=["l", "r", "r", "r", "r", "r", "r", "l"], id_column=0),
    ]))

    # -- segments -------------------------------------------------------------------------
    thr = x.thresholds
    seg = x.segments
    seg_ranges = (ranges or {}).get("segments") or {}
    with_ranges = bool(seg_ranges)

    def seg_range(name: Any) -> list[str]:
        if not with_ranges:
            return []
        rng = (seg_ranges.get(str(name)) or {}).get("clv")
        if rng is None:
            return ["-"]
        return [f"{fmt_money_prose(rng['lower'])} to {fmt_money_prose(rng['upper'])}"]

    seg_rows = [[str(k), fmt_int(r["n_customers"]), fmt_pct(r["share_customers"]),
                 fmt_money(r["total_clv"]), *seg_range(k), fmt_pct(r["share_clv"]),
                 fmt_num(r["mean_probability_alive"], 2), _SEGMENT_ACTIONS.get(str(k), "")]
                for k, r in seg.iterrows()]
    q_high = (thr.get("value_quantiles") or [0.5, 0.8])[1]
    rel = float(thr.get("relative_error", 0.0) or 0.0)
    sections.append(_section("segments", "Segments to act on", [
        _para(f"High value means predicted CLV of at least {fmt_money(thr.get('clv_high'))} or "
              f"historical spend of at least {fmt_money(thr.get('historical_spend_high'))} (the "
              f"top {fmt_pct(1 - q_high, 0)} of all customers by either); active means P(alive) "
              f"of at least {fmt_num(thr.get('probability_alive', 0.5), 2)}. Customers without "
              "a repeat purchase are 'One-time buyers' whatever their CLV. "
              + (f"The thresholds are quantiles computed in Spark with a rank error of at most "
                 f"{rel:g} x the number of customers ({fmt_int(rel * n)} customers)."
                 if rel > 0 else "The thresholds are exact quantiles.")),
        _table(["Segment", "Customers", "Share", "Total CLV",
                *([f"{level_label} range of total CLV"] if with_ranges else []),
                "Share of CLV", "Mean P(alive)", "What to do"], seg_rows,
               align=["l", "r", "r", "r", *(["r"] if with_ranges else []), "r", "r", "l"],
               note=(f"Range: the segment's total CLV is {level_label} likely to fall in it; "
                     "like the total's, it allows for the shared uncertainty of the fitted "
                     "parameters, and it is not a sum of the customers' ranges."
                     if with_ranges else "")),
        fig(_draw_segments(seg), "Total predicted CLV by segment."),
    ]))

    # -- methodology ------------------------------------------------------------------------
    sections.append(_section("methodology", "Methodology and assumptions", [_bullets([
        f"Each customer's purchase history is summarised by frequency, recency and age in "
        f"{units}, with the same definitions as the pandas path (purchases on the same day "
        "count as one); the row-wise step is the same numpy code.",
        f"{p_name}: {describe(pm).long_name}. {s_name}: {describe(sm).long_name}.",
        "CLV = margin x expected spend per purchase x expected purchases over the next "
        f"{h}, each purchase discounted at {fmt_num(x.discount_rate, 6)} per {one_unit} "
        f"({fmt_pct(annual)} a year).",
        "The models were fitted on the driver from counted distinct rows; every customer was "
        "scored in Spark by the same numpy code as the pandas path (mapInPandas).",
        "Everything in this report is an aggregate computed in Spark: totals, means and "
        "correlations exactly; segment thresholds and RFM quantiles from approximate "
        "quantiles with the stated rank error; decile boundaries as exact order statistics.",
        *([f"Ranges ({level_label} prediction ranges) come from the models' distributions of "
           "each customer's purchases and spend, mixed over the parameters' uncertainty where "
           "it matters, computed in Spark by the pandas path's code (the same range for every "
           "customer); totals (all customers, each segment) are normal ranges combining the "
           "parameters' shared uncertainty with the customers' own variation, added up over "
           "Spark batches (clvlab.predict_intervals; docs/intervals.md). They do not allow "
           "for model error."] if ranges is not None else []),
        *x.notes,
    ])]))

    # -- reproducibility ------------------------------------------------------------------
    generated = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()

    def params_text(model: Any) -> str:
        return ", ".join(f"{k} = {fmt_sig(v, 6)}" for k, v in model.params_.items())

    stamp = [["clvlab version", __version__], ["Generated (UTC)", generated]]
    for model, label in ((pm, p_name), (sm, s_name), (base, b_name)):
        if model is not None:
            name = str(label)
            stamp += [[f"{name} parameters", params_text(model)],
                      [f"{name} fitted on (fingerprint, date)",
                       f"{getattr(model, 'data_fingerprint_', '?')}, "
                       f"{getattr(model, 'fit_date_', '?')}"]]
    stamp += [["Time unit", f"{x.unit} ({units})"], ["Horizon", h],
              ["Discount rate", f"{x.discount_rate:.6g} per {one_unit}"],
              ["Margin", f"{x.margin:g}"],
              ["Observation end", str(facts.get("observation_end", "?"))],
              ["Calibration end", str(facts.get("calibration_end") or "none")],
              ["Engine", clean_text(facts.get("spark", "Apache Spark"))]]
    sections.append(_section("reproducibility", "Reproducibility", [_facts(stamp)]))

    subtitle = (f"{numbers['n_customers']} customers, observed to "
                f"{facts.get('observation_end', '?')}; CLV over the next {h}"
                + (f"; holdout check after {facts.get('calibration_end')}" if ev is not None
                   else "; no holdout") + "; computed on Apache Spark")
    return {
        "title": clean_text(title), "subtitle": subtitle, "generated": generated,
        "clvlab_version": __version__, "has_holdout": ev is not None,
        "numbers": numbers, "values": values, "sections": sections,
    }


#: What the report says when the holdout check of the ranges was not given.
HOLDOUT_RANGES_MISSING = (
    "Not computed for this report: the holdout check of the ranges (the share of customers "
    "whose holdout purchases and value fell inside their ranges, and whether the actual "
    "holdout totals fell inside the totals' ranges) comes from "
    "clvlab.spark._intervals.holdout_ranges, which clvlab run --engine spark calls."
)


def _draw_density(het: Any) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        dist = het.distribution
        lo, hi = dist.ppf(0.001), dist.ppf(0.995)
        grid = np.linspace(lo, hi, 400) if het.support == "unit" else np.geomspace(
            max(lo, 1e-6 * hi), hi, 400)
        ax.plot(grid, dist.pdf(grid), color="#1f4e78", lw=2)
        if het.support != "unit":
            ax.set_xscale("log")
        ax.set_xlabel(f"{het.name} ({het.symbol}) {het.unit}".strip())
        ax.set_ylabel("Density")
        ax.set_title(f"{het.name.capitalize()} across customers")
    return draw
