"""Which purchase model fits *these* data? :func:`compare_models` puts them side by side.

Every candidate is fitted on the calibration columns of one calibration/holdout split (or
passed in already fitted), evaluated on the same holdout with :func:`clvlab.evaluate`,
and summarised in one table with one column per model, like statsmodels' ``summary_col``:
parameters, log-likelihood, AIC and BIC on the calibration period; on the holdout the
log predictive score, the aggregate error, RMSE, MAE and correlation of purchases, and
the χ² of the calibration frequency histogram.

The best model is the one with the highest **holdout log predictive score**,
``sum_i log P(X_holdout = x_i | calibration history_i)``
(:func:`clvlab.evaluation.log_predictive_score`). It is a proper scoring rule: its
expected value is highest for the model that forecasts the true distribution of each
customer's future count, so it cannot be gamed. Mean absolute error can: it is
minimised by the *median* forecast, and on a holdout where most customers buy nothing
(60% on CDNOW) a model that predicts less for everyone looks better on MAE while it
under-forecasts the total. Models that do not offer the conditional distribution
(``conditional_probability_of_purchases``) have no log score; they are ranked after the
scored models by holdout RMSE of purchases (squared error is a proper score for the
mean), and flagged. How to read the table: ``docs/evaluation.md``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from clvlab._memory import release_unused
from clvlab.evaluation import Evaluation, _evaluate, _Memo, _Prefetch
from clvlab.exceptions import ConvergenceError, reissue_warnings
from clvlab.models.base import shared_compression
from clvlab.models.contract import describe, unsuited_data

__all__ = ["ModelComparison", "compare_models", "CRITERION", "FALLBACK_CRITERION"]

#: How the best model is chosen (said in reports and summaries).
CRITERION = (
    "highest holdout log predictive score, sum over customers of "
    "log P(holdout purchases = observed | calibration history)"
)
#: How models without a log score are ranked.
FALLBACK_CRITERION = "lowest holdout RMSE of purchases"

#: Statistic rows after the parameters: (row name, label for people).
STATISTICS: tuple[tuple[str, str], ...] = (
    ("n_parameters", "Parameters (k)"),
    ("log_likelihood", "Log-likelihood (calibration)"),
    ("aic", "AIC"),
    ("bic", "BIC"),
    ("log_score", "Holdout log predictive score"),
    ("log_score_per_customer", "Holdout log predictive score per customer"),
    ("purchases_aggregate_pct_error", "Holdout purchases: aggregate error %"),
    ("purchases_rmse", "Holdout purchases: RMSE"),
    ("purchases_mae", "Holdout purchases: MAE"),
    ("purchases_pearson", "Holdout purchases: correlation"),
    ("chi_square", "χ² of calibration frequencies"),
    ("chi_square_dof", "χ² degrees of freedom"),
    ("chi_square_p_value", "χ² p-value"),
    ("value_aggregate_pct_error", "Holdout value: aggregate error %"),
    ("value_rmse", "Holdout value: RMSE"),
    ("top_decile_capture", "Holdout value: share in top 10%"),
    ("rank", "Rank"),
)
_LABELS = dict(STATISTICS)


@dataclass
class ModelComparison:
    """Purchase models compared on one calibration/holdout split.

    Built by :func:`compare_models`.

    Attributes
    ----------
    table : DataFrame
        One column per model (its registry key; ``"baseline"`` for the formula baseline
        when given), one row per statistic: first every parameter of any model (NaN where
        a model has no such parameter), then the rows of :data:`STATISTICS` that apply.
        NaN where a model does not provide the statistic.
    standard_errors : DataFrame
        Standard errors of the parameter rows, same layout.
    best : str
        Key of the chosen model.
    reason : str
        Why, in one or two sentences with the numbers.
    criterion : str
        The selection rule (:data:`CRITERION`).
    ranking : list of str
        Model keys, best first.
    flagged : list of str
        Models without a log score (ranked by :data:`FALLBACK_CRITERION`).
    evaluations : dict of str to Evaluation
        Each model's :func:`clvlab.evaluate` on the split (for plots such as
        :func:`clvlab.plotting.plot_tracking_comparison`).
    models : dict of str to model
        The fitted purchase models, by key.
    names : dict of str to str
        Display name of each column (``"BG/NBD"`` ...).
    notes : list of str
        Everything left out or flagged, in words.
    n_customers : int
        Customers in the split.
    """

    table: pd.DataFrame
    standard_errors: pd.DataFrame
    best: str
    reason: str
    criterion: str
    ranking: list[str]
    flagged: list[str]
    evaluations: dict[str, Evaluation]
    models: dict[str, Any]
    names: dict[str, str]
    notes: list[str] = field(default_factory=list)
    n_customers: int = 0

    def _drop_customers(self, keep: str) -> None:
        """Empty the per-customer tables of every evaluation but ``keep``'s.

        ``clvlab run`` reads only the other models' tables and tracking series after the
        choice; their ``customers`` (a few arrays per customer each) would otherwise be
        held to the end of the run. Each is replaced (not changed) by an evaluation whose
        ``customers`` has the same columns and no rows.
        """
        for key, ev in self.evaluations.items():
            if key != keep:
                self.evaluations[key] = replace(ev, customers=ev.customers.iloc[:0].copy())

    @property
    def best_model(self) -> Any:
        """The chosen fitted model."""
        return self.models[self.best]

    def labelled_table(self) -> pd.DataFrame:
        """Return the numbers of :attr:`table` with row labels for people (spreadsheets).

        Returns
        -------
        DataFrame
            Index ``statistic`` (labels such as "Holdout log predictive score"); one
            column per model, named for people, the chosen one marked `` *``; NaN where a
            model does not provide the statistic.
        """
        out = self.table.copy()
        out.index = pd.Index([_LABELS.get(str(s), str(s)) for s in self.table.index],
                             name="statistic")
        out.columns = [self.names.get(k, k) + (" *" if k == self.best else "")
                       for k in self.table.columns]
        return out

    def formatted(self) -> pd.DataFrame:
        """Format the table as text cells (estimates with standard errors in parentheses).

        Returns
        -------
        DataFrame
            Index: row labels for people; columns: the model names; a dash where a model
            does not provide the statistic.
        """
        rows: dict[str, list[str]] = {}
        for stat in self.table.index:
            cells = []
            for key in self.table.columns:
                value = self.table.loc[stat, key]
                se = (self.standard_errors.loc[stat, key]
                      if stat in self.standard_errors.index else math.nan)
                cells.append(_format_cell(str(stat), value, se))
            rows[_LABELS.get(str(stat), str(stat))] = cells
        columns = [self.names.get(k, k) + (" *" if k == self.best else "")
                   for k in self.table.columns]
        out = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
        out.index.name = "statistic"
        return out

    def summary(self) -> str:
        """Plain-text summary: the table, the choice and the notes."""
        lines = [
            f"Model comparison on {self.n_customers:,} customers "
            f"(* = chosen by {self.criterion})",
            "",
            self.formatted().to_string(),
            "",
            f"Chosen: {self.names.get(self.best, self.best)} ({self.best}). {self.reason}",
        ]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"ModelComparison(models=[{', '.join(self.table.columns)}], "
                f"best={self.best!r})")

    def _repr_html_(self) -> str:
        from html import escape

        notes = "".join(f"<p>{escape(n)}</p>" for n in self.notes)
        return (
            f"<p>Model comparison on {self.n_customers:,} customers; * = chosen by "
            f"{escape(self.criterion)}.</p>"
            + self.formatted().to_html()
            + f"<p><b>Chosen: {escape(self.names.get(self.best, self.best))}</b>. "
            f"{escape(self.reason)}</p>{notes}"
        )


def _format_cell(stat: str, value: Any, se: Any) -> str:
    if not (isinstance(value, (int, float, np.number)) and math.isfinite(float(value))):
        return "—"
    v = float(value)
    if stat in ("n_parameters", "chi_square_dof", "rank"):
        return f"{int(round(v))}"
    if stat.endswith("pct_error"):
        return f"{v:+.1f}%"
    if stat == "top_decile_capture":
        return f"{100 * v:.1f}%"
    if stat in ("log_likelihood", "aic", "bic", "log_score", "chi_square"):
        return f"{v:,.1f}"
    if stat in ("log_score_per_customer", "purchases_rmse", "purchases_mae",
                "purchases_pearson", "value_rmse", "chi_square_p_value"):
        return f"{v:.4f}" if stat != "chi_square_p_value" else f"{v:.3g}"
    text = f"{v:.4g}"  # a parameter
    if isinstance(se, (int, float, np.number)) and math.isfinite(float(se)):
        text += f" ({float(se):.3g})"
    return text


def _as_items(purchase_models: Any) -> list[tuple[str | None, Any]]:
    """``(label or None, model or key)`` pairs from the accepted input forms."""
    if isinstance(purchase_models, str) or not isinstance(purchase_models, (Sequence, Mapping)):
        purchase_models = [purchase_models]
    if isinstance(purchase_models, Mapping):
        return [(str(k), v) for k, v in purchase_models.items()]
    return [(None, m) for m in purchase_models]


def _fit_by_key(key: str, split: pd.DataFrame, notes: list[str]) -> Any | None:
    from clvlab.models.registry import MODELS, get_model_class, registered

    if MODELS.get(key) != "purchase":
        known = ", ".join(registered("purchase"))
        raise ValueError(
            f"{key!r} is not a registered purchase model; purchase models: {known}. "
            "Pass a registry key or a fitted purchase model."
        )
    cls = get_model_class(key)
    unsuited = unsuited_data(cls, split)
    if unsuited is not None:  # e.g. a discrete-time model on a day-merged summary
        notes.append(f"{key}: left out. {unsuited}")
        return None
    try:
        return cls().fit(split)
    except ConvergenceError as exc:
        notes.append(f"{key}: left out, its fit failed ({exc}).")
        return None


def compare_models(
    split: pd.DataFrame,
    purchase_models: Any,
    spend_model: Any = None,
    baseline: Any = None,
    transactions: pd.DataFrame | None = None,
    *,
    horizon: float | None = None,
    margin: float = 1.0,
) -> ModelComparison:
    """Fit (if needed), evaluate and compare purchase models on one holdout.

    Parameters
    ----------
    split : DataFrame
        :func:`clvlab.calibration_holdout` output.
    purchase_models : sequence or mapping
        Registry keys (``"bgnbd"``, ``"pnbd"``, ``"mbgnbd"`` ...; fitted here on the
        calibration columns of ``split`` with default options) and/or fitted purchase
        models (fitted on those calibration columns). A mapping gives each its column
        label. ``clvlab.models.registry.registered("purchase")`` lists every key.
    spend_model : fitted spend model, optional
        Adds holdout value rows (aggregate error, RMSE, top-decile capture).
    baseline : fitted FormulaCLVBaseline, optional
        Adds a ``"baseline"`` column with its holdout purchase and value metrics (it has
        no likelihood and no log score, and is never chosen).
    transactions : DataFrame, optional
        The log the split was built from: each evaluation gets its tracking series.
    horizon : float, optional
        Holdout length in the split's time unit; default ``duration_holdout``.
    margin : float, default=1.0
        Share of spend that is value, for the value rows (as in :func:`clvlab.evaluate`).

    Returns
    -------
    ModelComparison
        ``table``, ``best`` (key), ``reason``, ``evaluations`` and more.

    Raises
    ------
    ValueError
        No models, an unknown key, or a model that is not a purchase model.

    Examples
    --------
    >>> import clvlab
    >>> tx = clvlab.datasets.load_cdnow(sample=True)
    >>> split = clvlab.calibration_holdout(tx, "1997-09-30", "1998-06-30", time_unit="W")
    >>> cmp = clvlab.compare_models(split, ["bgnbd"], transactions=tx)  # doctest: +SKIP
    >>> cmp.best, cmp.table.loc["log_score"]  # doctest: +SKIP
    """
    items = _as_items(purchase_models)
    if not items:
        raise ValueError("purchase_models is empty; pass registry keys or fitted models.")
    notes: list[str] = []
    models: dict[str, Any] = {}
    # what the evaluations share (the actual tracking, the sorts of the actuals, the
    # log score's distinct histories) is computed beside the fits, on the second core
    prefetch = (_Prefetch(split, transactions, margin) if isinstance(split, pd.DataFrame)
                else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with shared_compression():  # the fits below merge the calibration rows once
            for label, item in items:
                model = _fit_by_key(item, split, notes) if isinstance(item, str) else item
                if model is None:
                    continue
                caps = getattr(model, "capabilities", None)
                if not callable(caps) or caps().role != "purchase":
                    raise ValueError(
                        f"{describe(model, distributions=False).name} is not a purchase model "
                        "(its capabilities say otherwise); compare_models compares purchase models."
                    )
                key = label or describe(model, distributions=False).key
                base, n = key, 2
                while key in models or key == "baseline":
                    key, n = f"{base}-{n}", n + 1
                models[key] = model
        if not models:
            raise ValueError("No model could be fitted: " + " ".join(notes))
        # what does not depend on the model (actuals, their ranks, the baseline's rows,
        # the distinct histories, the actual tracking) is computed once, for all of them
        memo = _Memo()
        if prefetch is not None:
            prefetch.into(memo)
        evaluations = {}
        for key, model in models.items():
            evaluations[key] = _evaluate(split, model, spend_model, baseline,
                                         transactions=transactions, horizon=horizon,
                                         margin=margin, memo=memo)
            release_unused()  # its temporaries' pages, before the next model's
        del memo
        release_unused()
    reissue_warnings(caught, stacklevel=2)

    names = {key: describe(m, distributions=False).name for key, m in models.items()}
    if len(set(names.values())) < len(names):  # e.g. two BG/NBD fits: name them by key
        names = {key: f"{name} ({key})" for key, name in names.items()}
    n_customers = len(next(iter(evaluations.values())).customers)
    table, ses = _table(models, evaluations, spend_model is not None, n_customers)
    if baseline is not None:
        _add_baseline(table, evaluations[next(iter(models))], spend_model is not None)
        names["baseline"] = describe(baseline, distributions=False).name
    ranking, flagged, best, reason = _choose(table, names, models, n_customers)
    table.loc["rank", ranking] = np.arange(1, len(ranking) + 1, dtype=float)
    ses = ses.reindex(columns=table.columns)
    for key in flagged:
        notes.append(
            f"{names[key]} does not provide the distribution of each customer's future "
            "purchase count, so it has no log predictive score; it is ranked by "
            f"{FALLBACK_CRITERION}, after the models that have one."
        )
    for key, model in models.items():
        if getattr(model, "converged_", True) is False:
            notes.append(f"{names[key]}: the fit did not converge; its figures may be off.")
    return ModelComparison(
        table=table, standard_errors=ses, best=best, reason=reason, criterion=CRITERION,
        ranking=ranking, flagged=flagged, evaluations=evaluations, models=models,
        names=names, notes=notes, n_customers=int(n_customers),
    )


def _table(
    models: Mapping[str, Any], evaluations: Mapping[str, Evaluation], with_value: bool,
    n_customers: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    params: list[str] = []
    for m in models.values():
        params += [str(p) for p in m.params_.index if str(p) not in params]
    stats = [s for s, _ in STATISTICS
             if with_value or not (s.startswith("value_") or s == "top_decile_capture")]
    table = pd.DataFrame(np.nan, index=pd.Index(params + stats, name="statistic"),
                         columns=list(models), dtype=float)
    ses = pd.DataFrame(np.nan, index=pd.Index(params, name="statistic"),
                       columns=list(models), dtype=float)
    for key, model in models.items():
        for p, v in model.params_.items():
            table.loc[str(p), key] = float(v)
        se = getattr(model, "standard_errors_", None)
        if se is not None:
            for p, v in se.items():
                ses.loc[str(p), key] = float(v)
        ev = evaluations[key]
        row = ev.metrics.iloc[0]
        values = {
            "n_parameters": float(len(model.params_)),
            "log_likelihood": getattr(model, "log_likelihood_", math.nan),
            "aic": getattr(model, "aic_", math.nan),
            "bic": getattr(model, "bic_", math.nan),
            "log_score": math.nan if ev.log_score is None else ev.log_score,
            "log_score_per_customer": (math.nan if ev.log_score is None
                                       else ev.log_score / max(n_customers, 1)),
            "purchases_aggregate_pct_error": row["purchases_aggregate_pct_error"],
            "purchases_rmse": row["purchases_rmse"],
            "purchases_mae": row["purchases_mae"],
            "purchases_pearson": row["purchases_pearson"],
        }
        if ev.chi_square is not None:
            values.update(chi_square=ev.chi_square.statistic,
                          chi_square_dof=float(ev.chi_square.dof),
                          chi_square_p_value=ev.chi_square.p_value)
        if with_value and len(ev.metrics) > 1:
            value_row = ev.metrics.iloc[1]
            values.update(
                value_aggregate_pct_error=value_row["value_aggregate_pct_error"],
                value_rmse=value_row["value_rmse"],
                top_decile_capture=value_row["top_decile_capture"],
            )
        for stat, v in values.items():
            if stat in table.index:
                table.loc[stat, key] = float(v)
    return table, ses


def _add_baseline(table: pd.DataFrame, ev: Evaluation, with_value: bool) -> None:
    """Fill a ``baseline`` column from the baseline row of an evaluation."""
    table["baseline"] = np.nan
    row = ev.metrics.iloc[-1]
    cols = ["purchases_aggregate_pct_error", "purchases_rmse", "purchases_mae",
            "purchases_pearson"]
    if with_value:
        cols += ["value_aggregate_pct_error", "value_rmse", "top_decile_capture"]
    for col in cols:
        if col in row.index and col in table.index:
            table.loc[col, "baseline"] = float(row[col])


def _choose(
    table: pd.DataFrame, names: Mapping[str, str], models: Mapping[str, Any],
    n_customers: int,
) -> tuple[list[str], list[str], str, str]:
    """Rank the models (log score, then the fallback) and say why the first wins."""
    keys = list(models)
    score = table.loc["log_score", keys]
    rmse = table.loc["purchases_rmse", keys]
    scored = [k for k in keys if math.isfinite(score[k])]
    flagged = [k for k in keys if k not in scored]
    scored.sort(key=lambda k: -score[k])  # stable: ties keep the order given
    flagged.sort(key=lambda k: rmse[k] if math.isfinite(rmse[k]) else math.inf)
    ranking = scored + flagged
    best = ranking[0]
    if scored:
        if len(scored) == 1:
            reason = (
                f"{names[best]} is the only model with a holdout log predictive score "
                f"({score[best]:,.0f})."
            )
        else:
            second = scored[1]
            gap = score[best] - score[second]
            reason = (
                f"{names[best]} has the highest holdout log predictive score: "
                f"{score[best]:,.0f} against {score[second]:,.0f} for {names[second]}, "
                f"{gap:,.1f} higher ({gap / max(n_customers, 1):.4f} per customer), a "
                f"likelihood ratio of e^{gap:.1f} for what the customers actually did."
                if gap < 700 else
                f"{names[best]} has the highest holdout log predictive score: "
                f"{score[best]:,.0f} against {score[second]:,.0f} for {names[second]}."
            )
    else:
        reason = (
            "No model provides the distribution of each customer's future purchase count, "
            f"so none has a log predictive score; {names[best]} has the "
            f"{FALLBACK_CRITERION} ({rmse[best]:.4f})."
        )
    return ranking, flagged, best, reason
