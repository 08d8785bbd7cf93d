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
  amounts do not) -- the likelihood has no smaller sufficient statistic. Above
  :data:`DRIVER_ROWS` rows they do not reach the driver: they stay in Spark (persisted)
  and the fit runs there (:class:`SparkRows`, below);
- the formula baseline: as the purchase models (spend enters through sums).

Each collected row is a few floats (32 bytes plus one representative customer id).

Fitting where the rows are
--------------------------
A model that declares ``_fits_remote_rows`` (Gamma-Gamma) and has more than
:data:`DRIVER_ROWS` distinct rows is fitted on :class:`SparkRows`: the counted rows stay
in Spark and every evaluation of the weighted log-likelihood and its gradient -- at a
batch of parameter vectors: the Newton polish's trial steps, the ``2k`` points of the
finite-difference Hessian -- is one ``mapInPandas`` pass running the model's own numpy
code on each Arrow batch; each partition returns a few sums, which the driver adds in
partition order. The driver holds a warm-start subsample (about
:data:`clvlab.models.base.WARM_START_ROWS` rows), never the rows, so its memory does not
grow with the data; the optimiser and its convergence checks are those of the in-memory
fit, so the estimates equal it up to the order of floating-point sums.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab.exceptions import EmptyInputError, MissingColumnsError, reissue_warnings
from clvlab.models.base import RemoteRows
from clvlab.models.contract import fit_columns
from clvlab.spark._rfm import _is_dataframe, rfm_attrs
from clvlab.spark._session import require_pyspark

require_pyspark()

from pyspark import StorageLevel  # noqa: E402
from pyspark.sql import DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

__all__ = ["fit", "fit_rows", "count_rows", "fit_on_rows", "fit_counted", "FitInfo",
           "SparkRows", "WEIGHT", "DRIVER_ROWS"]

#: Name of the count column of :func:`fit_rows`.
WEIGHT = "n_customers"

#: Most distinct rows collected to the driver for a model that can be fitted where its
#: rows are (``_fits_remote_rows``: Gamma-Gamma); above it they stay in Spark. One
#: million collected rows hold about 150 MB on the driver (floats, an id each, pandas).
DRIVER_ROWS = 1_000_000

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
    return _collected(_grouped(rfm, keys, means), keys, means)


def _grouped(rfm: DataFrame, keys: Sequence[str], means: Sequence[str]) -> DataFrame:
    """Return the Spark aggregation of :func:`count_rows` (not collected)."""
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
    return rfm.groupBy(*[F.col(k) for k in keys]).agg(*aggs)


def _collected(grouped: DataFrame, keys: Sequence[str], means: Sequence[str]) -> pd.DataFrame:
    """Collect :func:`_grouped` as :func:`count_rows` returns it."""
    keys = tuple(keys)
    means = [c for c in dict.fromkeys(means) if c in grouped.columns]
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
    driver_rows: int | None = None,
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
    driver_rows : int, optional
        Most distinct rows collected to the driver (default :data:`DRIVER_ROWS`) for a
        model that can be fitted in Spark (Gamma-Gamma); above it the rows stay in
        Spark and only sums reach the driver. 0 always fits in Spark.

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
    if not _is_dataframe(rfm):
        raise TypeError(
            f"rfm must be a Spark DataFrame (clvlab.spark.rfm_summary); got {type(rfm).__name__}."
        )
    unit = time_unit or rfm_attrs(rfm).get(C.ATTR_TIME_UNIT)
    fit_counted(model, rfm, unit, driver_rows=driver_rows, stacklevel=3)
    return model


@dataclass(frozen=True)
class FitInfo:
    """How :func:`fit_counted` fitted a model.

    Attributes
    ----------
    n_rows : int
        Distinct rows (customers counted per distinct key combination).
    in_spark : bool
        The rows stayed in Spark (:class:`SparkRows`); else they were collected.
    n_collected : int
        Rows that reached the driver (all of them, or the warm-start subsample).
    n_passes : int
        Passes over the rows in Spark (0 when collected).
    """

    n_rows: int
    in_spark: bool
    n_collected: int
    n_passes: int = 0

    def note(self, name: str) -> str:
        """One line for people (the CLI's progress note)."""
        if not self.in_spark:
            return f"{name}: {self.n_rows:,} distinct rows reached the driver"
        return (f"{name}: {self.n_rows:,} distinct rows, kept in Spark (fitted from sums in "
                f"{self.n_passes} passes; {self.n_collected:,} rows reached the driver)")


def fit_counted(
    model: Any,
    frame: DataFrame,
    time_unit: str | None,
    *,
    driver_rows: int | None = None,
    counted: pd.DataFrame | None = None,
    stacklevel: int = 2,
) -> FitInfo:
    """Fit ``model`` on the distinct rows of ``frame``: collected, or kept in Spark.

    Models that cannot be fitted in Spark, and any model whose rows are at most
    ``driver_rows`` (default :data:`DRIVER_ROWS`), are fitted on the driver from the
    collected :func:`count_rows` (``counted``: rows already collected, e.g. shared with
    another model). Otherwise the rows are counted and persisted in Spark and the model
    is fitted on :class:`SparkRows`. The model's warnings are issued again at
    ``stacklevel`` (as :func:`clvlab.exceptions.reissue_warnings`: 2 names the caller).
    """
    spec = fit_columns(model)
    keys = tuple(spec.keys)
    if counted is not None or not getattr(model, "_fits_remote_rows", False):
        rows = counted if counted is not None else count_rows(frame, keys, spec.means)
        rows = rows[[*keys, *[c for c in dict.fromkeys(spec.means) if c in rows.columns],
                     WEIGHT]]
        fit_on_rows(model, rows, time_unit, stacklevel=stacklevel + 1)
        return FitInfo(len(rows), False, len(rows))
    limit = DRIVER_ROWS if driver_rows is None else int(driver_rows)
    grouped = _grouped(frame, keys, spec.means).persist(StorageLevel.DISK_ONLY)
    try:
        n_rows = grouped.count()
        if n_rows <= limit:
            rows = _collected(grouped, keys, spec.means)
            fit_on_rows(model, rows, time_unit, stacklevel=stacklevel + 1)
            return FitInfo(n_rows, False, n_rows)
        if n_rows == 0:
            raise EmptyInputError(
                "The Spark RFM frame holds no customers; nothing to fit.",
                rule="at least one customer",
            )
        remote = SparkRows(grouped, keys, n_rows,
                           {} if time_unit is None else {C.ATTR_TIME_UNIT: time_unit})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(remote, time_unit=time_unit)
        reissue_warnings(caught, stacklevel=stacklevel)
        return FitInfo(n_rows, True, remote.n_collected, remote.n_passes)
    finally:
        grouped.unpersist()


def fit_on_rows(model: Any, rows: pd.DataFrame, time_unit: str | None,
                stacklevel: int = 3) -> Any:
    """Fit ``model`` on :func:`fit_rows` output (weights = the counts) on the driver.

    Warnings are issued again at ``stacklevel`` (default: the caller's caller).
    """
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
    reissue_warnings(caught, stacklevel=stacklevel)
    return model


def _collect_quietly(sdf: DataFrame) -> pd.DataFrame:
    """Collect a small Spark result without PySpark's own pandas notes.

    The remote fit runs inside the model's ``fit``, whose warnings are recorded and
    re-issued to the user; PySpark's notes about pandas versions are not about the data.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sdf.toPandas()


class SparkRows(RemoteRows):
    """Counted fit rows persisted in Spark, fitted from sums (:class:`RemoteRows`).

    Parameters
    ----------
    rows : pyspark.sql.DataFrame
        :func:`count_rows`' aggregation, persisted: the key columns, ``n_customers`` and
        one representative ``customer_id`` per row.
    columns : sequence of str
        The model's data columns, in its order.
    n_rows : int
        Number of rows.
    attrs : dict
        Settings (``time_unit``).

    Attributes
    ----------
    n_passes : int
        Reductions run so far (each one Spark job over the rows).
    n_collected : int
        Rows that reached the driver (the warm-start subsample and example rows).
    """

    def __init__(self, rows: DataFrame, columns: Sequence[str], n_rows: int,
                 attrs: dict[str, Any]) -> None:
        self._rows = rows
        self.columns = tuple(columns)
        self.n_rows = int(n_rows)
        self.attrs = dict(attrs)
        self.n_passes = 0
        self.n_collected = 0

    def reduce(
        self, fn: Callable[[tuple[np.ndarray, ...], np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """Sum ``fn(arrays, weights)`` over every Arrow batch, per partition then in order."""
        columns = list(self.columns)

        def partial_sums(batches: Any) -> Any:
            from pyspark import TaskContext

            acc = None
            for batch in batches:
                arrays = tuple(batch[c].to_numpy(dtype=float) for c in columns)
                value = np.asarray(fn(arrays, batch[WEIGHT].to_numpy(dtype=float)),
                                   dtype=float)
                acc = value if acc is None else acc + value
            if acc is not None:
                context = TaskContext.get()
                part = context.partitionId() if context is not None else 0
                yield pd.DataFrame({"part": [part], "sums": [acc.tolist()]})

        self.n_passes += 1
        out = _collect_quietly(self._rows.select(*columns, WEIGHT)
                        .mapInPandas(partial_sums, "part int, sums array<double>"))
        if len(out) == 0:  # no rows at all: the sums of nothing
            empty = tuple(np.empty(0) for _ in columns)
            return np.asarray(fn(empty, np.empty(0)), dtype=float)
        out = out.sort_values("part", kind="stable")
        total = np.zeros(len(out["sums"].iloc[0]))
        for sums in out["sums"]:  # partition order: the same sum at every call
            total += np.asarray(sums, dtype=float)
        return total

    def subsample(
        self, stride: int, n_heavy: int
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
        """Return the ``n_heavy`` heaviest rows and the others hashing to 0 mod ``stride``.

        Returns ``(arrays, weights, heavy)``; deterministic (ties broken by the keys, a
        hash of the values instead of a random draw), whatever the partitioning.
        """
        keys = [F.col(c) for c in self.columns]
        cols = [*self.columns, WEIGHT]
        heavy = _collect_quietly(self._rows.orderBy(F.desc(WEIGHT), *keys).limit(n_heavy)
                          .select(*cols))
        light_sdf = self._rows.select(*cols)
        if stride > 1:
            light_sdf = light_sdf.filter(F.pmod(F.xxhash64(*keys), F.lit(stride)) == 0)
        light = _collect_quietly(light_sdf)
        marked = light.merge(heavy[list(self.columns)].assign(_heavy=True),
                             on=list(self.columns), how="left")
        light = light[marked["_heavy"].isna().to_numpy()]
        light = light.sort_values(list(self.columns), kind="stable")
        both = pd.concat([heavy, light], ignore_index=True)
        self.n_collected += len(both)
        flags = np.zeros(len(both), dtype=bool)
        flags[: len(heavy)] = True
        arrays = tuple(both[c].to_numpy(dtype=float) for c in self.columns)
        return arrays, both[WEIGHT].to_numpy(dtype=float), flags

    def example_ids(
        self, fn: Callable[[tuple[np.ndarray, ...]], np.ndarray], n: int
    ) -> list[Any]:
        """Return the smallest representative ids of rows where ``fn`` holds."""
        if C.CUSTOMER_ID not in self._rows.columns:
            return []
        columns = list(self.columns)

        def matching(batches: Any) -> Any:
            for batch in batches:
                arrays = tuple(batch[c].to_numpy(dtype=float) for c in columns)
                yield batch[[C.CUSTOMER_ID]][np.asarray(fn(arrays), dtype=bool)]

        found = _collect_quietly(self._rows.select(C.CUSTOMER_ID, *columns)
                          .mapInPandas(matching, f"{C.CUSTOMER_ID} string")
                          .orderBy(C.CUSTOMER_ID).limit(n))
        self.n_collected += len(found)
        return found[C.CUSTOMER_ID].tolist()
