"""Choose the purchase model on Spark: holdout log predictive score from counted rows.

The pandas run's ``--purchase-model auto`` fits every registered purchase model on the
calibration period and keeps the one with the highest holdout log predictive score,
``sum_i log P(X_holdout = x_i | calibration history_i)`` (:func:`clvlab.compare_models`).
Both the fits and the score depend on a customer only through
``(frequency, recency, T, frequency_holdout, duration_holdout)``, so Spark counts the
customers per distinct combination and only those rows reach the driver (a few more
than the purchase fit's rows: one per holdout count). There every model is fitted with
the counts as weights (the rows summed over the holdout columns; the same fit as
:func:`clvlab.spark.fit`) and scored by :func:`clvlab.evaluation.log_predictive_score`
on the distinct rows, each log probability multiplied by its count. The ranking and the
reason are those of :func:`clvlab.compare_models` (the same sentence).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab.exceptions import ConvergenceError, reissue_warnings
from clvlab.models.contract import describe, fit_columns, offers, unsuited_data
from clvlab.spark._fit import WEIGHT, fit_on_rows, to_pandas
from clvlab.spark._rfm import check_rfm, rfm_attrs
from clvlab.spark._session import require_pyspark

require_pyspark()

from pyspark.sql import DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

__all__ = ["SparkModelChoice", "choose_purchase_model", "score_rows"]

_KEYS = (C.FREQUENCY, C.RECENCY, C.T)
_HOLD = (C.FREQUENCY_HOLDOUT, C.DURATION_HOLDOUT)


@dataclass
class SparkModelChoice:
    """Purchase models compared on a Spark split by holdout log predictive score.

    Attributes
    ----------
    best : str
        Registry key of the chosen model.
    reason : str
        Why, with the numbers (the sentence of :func:`clvlab.compare_models`).
    log_scores : dict
        Registry key -> holdout log predictive score (sum over customers).
    models : dict
        Registry key -> the model fitted on the calibration period.
    names : dict
        Registry key -> display name.
    ranking : list of str
        Keys, best first.
    n_customers : int
        Customers in the split.
    n_rows : int
        Distinct rows that reached the driver.
    notes : list of str
        Models left out (their fit failed) and similar.
    """

    best: str
    reason: str
    log_scores: dict[str, float]
    models: dict[str, Any]
    names: dict[str, str]
    ranking: list[str]
    n_customers: int
    n_rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def best_model(self) -> Any:
        """The chosen model, fitted on the calibration period."""
        return self.models[self.best]


def _score_rows(split: DataFrame) -> pd.DataFrame:
    """Count the customers per distinct (frequency, recency, T, holdout count and length)."""
    grouped = split.groupBy(*[F.col(c) for c in (*_KEYS, *_HOLD)]).agg(
        F.count(F.lit(1)).alias(WEIGHT),
        F.min(F.col(C.CUSTOMER_ID).cast("string")).alias(C.CUSTOMER_ID),
    )
    rows = to_pandas(grouped).set_index(C.CUSTOMER_ID)
    return rows.sort_values([*_KEYS, *_HOLD], kind="stable")


def score_rows(model: Any, rows: pd.DataFrame, time_unit: str | None) -> float:
    """Holdout log predictive score of ``model`` on counted rows (sum over customers).

    Parameters
    ----------
    model : fitted purchase model
        Offers ``conditional_probability_of_purchases``.
    rows : DataFrame
        ``frequency``, ``recency``, ``T``, ``frequency_holdout``, ``duration_holdout`` and
        the count ``n_customers``.
    time_unit : str or None
        Unit of recency, T and the holdout length.

    Returns
    -------
    float
        ``sum_rows n_customers x log P(X_holdout = frequency_holdout | history)``; equals
        :func:`clvlab.evaluation.log_predictive_score` summed over every customer (up to
        the order of the floating-point sum).
    """
    from clvlab.evaluation import log_predictive_score

    frame = rows.drop(columns=[WEIGHT])
    if time_unit is not None:
        frame.attrs[C.ATTR_TIME_UNIT] = time_unit
    total = 0.0
    # one holdout length per evaluation (a split has one; group in case it has several)
    for length, part in frame.groupby(C.DURATION_HOLDOUT, sort=True):
        sub = part.copy()
        sub.attrs = dict(frame.attrs)
        logp = log_predictive_score(model, sub, horizon=float(length))
        total += float(np.dot(logp.to_numpy(dtype=float),
                              rows.loc[part.index, WEIGHT].to_numpy(dtype=float)))
    return total


def choose_purchase_model(
    split: DataFrame,
    keys: Sequence[str] | None = None,
    *,
    time_unit: str | None = None,
) -> SparkModelChoice:
    """Fit purchase models on a Spark split's calibration period; pick by holdout log score.

    Parameters
    ----------
    split : pyspark.sql.DataFrame
        :func:`clvlab.spark.calibration_holdout` output.
    keys : sequence of str, optional
        Registry keys of the candidates; default every registered purchase model.
    time_unit : str, optional
        Default: the split's (its ``T`` column metadata).

    Returns
    -------
    SparkModelChoice

    Raises
    ------
    ValueError
        An unknown key, or no candidate could be fitted or scored.
    """
    from clvlab.comparison import _choose
    from clvlab.models.registry import MODELS, get_model_class, registered

    frame = check_rfm(split, (*_KEYS, *_HOLD), model="the model comparison")
    unit = time_unit or rfm_attrs(frame).get(C.ATTR_TIME_UNIT)
    keys = list(registered("purchase") if keys is None else keys)
    for key in keys:
        if MODELS.get(key) != "purchase":
            raise ValueError(
                f"{key!r} is not a registered purchase model; purchase models: "
                f"{', '.join(registered('purchase'))}."
            )
    rows = _score_rows(frame)
    n_customers = int(rows[WEIGHT].sum())
    notes: list[str] = []
    models: dict[str, Any] = {}
    scores: dict[str, float] = {}
    probe = pd.DataFrame()  # the split's settings, as the pandas summary carries them
    probe.attrs.update(rfm_attrs(frame))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for key in keys:
            model = get_model_class(key)()
            unsuited = unsuited_data(model, probe)
            if unsuited is not None:  # e.g. a discrete-time model on a day-merged split
                notes.append(f"{key}: left out. {unsuited}")
                continue
            spec = fit_columns(model)
            fit_data = _fit_rows(rows, tuple(spec.keys))
            try:
                fit_on_rows(model, fit_data, unit)
            except ConvergenceError as exc:
                notes.append(f"{key}: left out, its fit failed ({exc}).")
                continue
            models[key] = model
            scores[key] = (score_rows(model, rows, unit)
                           if offers(model, "conditional_probability_of_purchases")
                           else math.nan)
    reissue_warnings(caught, stacklevel=2)
    if not models:
        raise ValueError("No purchase model could be fitted: " + " ".join(notes))
    names = {key: describe(m).name for key, m in models.items()}
    table = pd.DataFrame({k: [scores[k], math.nan] for k in models},
                         index=["log_score", "purchases_rmse"])
    ranking, flagged, best, reason = _choose(table, names, models, n_customers)
    if flagged and not math.isfinite(scores[best]):
        raise ValueError(
            "No candidate offers the conditional distribution of holdout purchases, so none "
            "has a log predictive score; name the model with --purchase-model."
        )
    return SparkModelChoice(best=best, reason=reason, log_scores=scores, models=models,
                            names=names, ranking=ranking, n_customers=n_customers,
                            n_rows=len(rows), notes=notes)


def _fit_rows(rows: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """Return the rows :func:`clvlab.spark.fit_rows` gives for a model fitted on ``keys``."""
    missing = [k for k in keys if k not in rows.columns]
    if missing:
        raise ValueError(
            f"the model comparison counts rows by {', '.join(_KEYS)}; a model fitted on "
            f"{', '.join(missing)} cannot be compared here."
        )
    frame = rows.reset_index()
    grouped = frame.groupby(list(keys), sort=True).agg(
        **{WEIGHT: (WEIGHT, "sum"), C.CUSTOMER_ID: (C.CUSTOMER_ID, "min")})
    out = grouped.reset_index().set_index(C.CUSTOMER_ID)
    out = out.sort_values(list(keys), kind="stable")
    return out[[*keys, WEIGHT]]
