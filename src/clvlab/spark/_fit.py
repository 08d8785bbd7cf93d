"""Fit any clvlab model from a Spark RFM frame: rows counted in Spark, fitted on the driver.

Every model declares the columns its fit reads (:func:`clvlab.models.contract.fit_columns`):
``keys`` whose distinct combinations are the rows of the likelihood, and ``means`` it
uses only through weighted sums. Spark groups the customers by the keys, counts them and
averages the means; only those rows reach the driver, where ``model.fit(rows,
weights=counts)`` runs. Every clvlab fitter merges identical rows into weights anyway, so
the estimates equal the fit on all customers (up to the order of floating-point sums).

What reaches the driver
-----------------------
One row per distinct key combination, never more than the customers:

- purchase models (keys ``frequency, recency, T``): ages are kept at their exact
  resolution (whole days in the summary's unit; nothing is rounded to coarser units,
  which would bias the estimates: Databricks' accelerator also drops the counts), so a
  window of ``D`` days has at most ``(D + 1)(D + 2) / 2`` distinct (recency, T) pairs per
  frequency, and in practice far fewer: e.g. 10M simulated transactions over 78 weeks
  (3.6M customers) give 379,136 rows, 1M transactions 116,476 (``benchmarks/README.md``);
- Gamma-Gamma (keys ``frequency, monetary_value``): one row per distinct mean spend, so
  up to the number of repeat buyers (amounts in cents repeat, continuous simulated
  amounts do not) -- the likelihood has no smaller sufficient statistic;
- the formula baseline: as the purchase models (spend enters through sums).

Each row is a few floats (32 bytes plus one representative customer id).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from clvlab import _columns as C
from clvlab.exceptions import EmptyInputError, MissingColumnsError, reissue_warnings
from clvlab.models.contract import fit_columns
from clvlab.spark._rfm import _is_dataframe, rfm_attrs
from clvlab.spark._session import require_pyspark

require_pyspark()

from pyspark.sql import DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

__all__ = ["fit", "fit_rows", "count_rows", "fit_on_rows", "WEIGHT"]

#: Name of the count column of :func:`fit_rows`.
WEIGHT = "n_customers"

_PANDAS_WARNING = "PySpark does not yet fully support pandas"


def to_pandas(sdf: DataFrame) -> pd.DataFrame:
    """``sdf.toPandas()`` without PySpark's pandas-version warning (driver side)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        return sdf.toPandas()


def fit_rows(rfm: DataFrame, model: Any) -> pd.DataFrame:
    """Count the distinct rows a model is fitted on, in Spark, and collect them.

    Parameters
    ----------
    rfm : pyspark.sql.DataFrame
        RFM frame (:func:`clvlab.spark.rfm_summary` or :func:`calibration_holdout`).
    model : clvlab model (instance or class)
        Declares its fit columns (:func:`clvlab.models.contract.fit_columns`).

    Returns
    -------
    DataFrame
        One row per distinct combination of the model's key columns, with the means
        columns present in ``rfm`` averaged over its customers and ``n_customers`` (the
        weight); index: one representative ``customer_id`` per row (the smallest), so
        messages about a row name a real customer.
    """
    if not _is_dataframe(rfm):
        raise TypeError(
            f"rfm must be a Spark DataFrame (clvlab.spark.rfm_summary); got {type(rfm).__name__}."
        )
    spec = fit_columns(model)
    return count_rows(rfm, spec.keys, spec.means)


def count_rows(rfm: DataFrame, keys: Sequence[str], means: Sequence[str] = ()) -> pd.DataFrame:
    """Count the customers per distinct ``keys`` in Spark, average ``means``, collect.

    What :func:`fit_rows` does for one model, for any key and mean columns: models that
    share keys (the purchase models and the formula baseline) are then fitted from one
    Spark aggregation, each on its own columns of the result.

    Parameters
    ----------
    rfm : pyspark.sql.DataFrame
        RFM frame.
    keys : sequence of str
        Columns whose distinct combinations are the rows.
    means : sequence of str, default=()
        Columns averaged over each row's customers (those absent from ``rfm`` are skipped).

    Returns
    -------
    DataFrame
        ``keys``, the ``means`` present and ``n_customers``, sorted by ``keys``; index one
        representative ``customer_id`` per row (the smallest).
    """
    if not _is_dataframe(rfm):
        raise TypeError(
            f"rfm must be a Spark DataFrame (clvlab.spark.rfm_summary); got {type(rfm).__name__}."
        )
    keys = tuple(keys)
    missing = [c for c in keys if c not in rfm.columns]
    if missing:
        raise MissingColumnsError(
            f"RFM data lack column(s) {', '.join(missing)}; columns present: "
            f"{', '.join(rfm.columns)}. Build the summary with clvlab.spark.rfm_summary.",
            column=missing[0],
            rule="required column",
        )
    means = [c for c in dict.fromkeys(means) if c in rfm.columns]
    aggs = [F.count(F.lit(1)).alias(WEIGHT)]
    aggs += [F.avg(F.col(c).cast("double")).alias(c) for c in means]
    if C.CUSTOMER_ID in rfm.columns:
        aggs.append(F.min(F.col(C.CUSTOMER_ID).cast("string")).alias(C.CUSTOMER_ID))
    grouped = rfm.groupBy(*[F.col(k) for k in keys]).agg(*aggs)
    rows = to_pandas(grouped)
    if C.CUSTOMER_ID in rows.columns:
        rows = rows.set_index(C.CUSTOMER_ID)
    else:
        rows.index = pd.RangeIndex(len(rows), name=C.CUSTOMER_ID)
    # a deterministic row order, so the fit does not depend on Spark's partitioning
    rows = rows.sort_values(list(keys), kind="stable")
    return rows[[*keys, *means, WEIGHT]]


def fit(
    model: Any,
    rfm: DataFrame,
    *,
    time_unit: str | None = None,
) -> Any:
    """Fit a clvlab model on a Spark RFM frame: counted rows in Spark, the fit on the driver.

    Parameters
    ----------
    model : clvlab model
        Unfitted (or to refit) instance of any registered model: purchase, spend or
        baseline (e.g. ``clvlab.BetaGeoFitter()``).
    rfm : pyspark.sql.DataFrame
        RFM frame from :func:`clvlab.spark.rfm_summary` or
        :func:`clvlab.spark.calibration_holdout`.
    time_unit : {"D", "W", "M", "Y"}, optional
        Unit of recency and T; default: the frame's (:func:`clvlab.spark.rfm_attrs`).

    Returns
    -------
    model
        The same instance, fitted; ``n_customers_`` counts customers (not rows) and the
        estimates equal ``model.fit(rfm.toPandas())`` up to floating-point summation
        order.

    Raises
    ------
    TypeError
        ``model`` does not declare its fit columns, or ``rfm`` is not a Spark DataFrame.
    EmptyInputError
        No customers.

    Notes
    -----
    See the module docstring for the bound on what reaches the driver.
    """
    return fit_on_rows(model, fit_rows(rfm, model), time_unit or rfm_attrs(rfm).get(
        C.ATTR_TIME_UNIT))


def fit_on_rows(model: Any, rows: pd.DataFrame, time_unit: str | None) -> Any:
    """Fit ``model`` on :func:`fit_rows` output (weights = the counts) on the driver."""
    if len(rows) == 0:
        raise EmptyInputError(
            "The Spark RFM frame holds no customers; nothing to fit.",
            rule="at least one customer",
        )
    data = rows.drop(columns=[WEIGHT])
    if time_unit is not None:
        data.attrs[C.ATTR_TIME_UNIT] = time_unit
    weights = rows[WEIGHT].to_numpy(dtype=float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data, weights=weights, time_unit=time_unit)
    reissue_warnings(caught, stacklevel=3)
    return model
