"""The seed formula of customer lifetime value, as a function and as a baseline model.

``CLV = average order value x purchases per year x lifespan in years`` is what business
users compute in a spreadsheet. :class:`FormulaCLVBaseline` applies it with the same
surface as the fitted models (``fit / predict / summary / save``) and over the same
horizon, time unit and discounting as :func:`clvlab.customer_lifetime_value`, so reports
can show how much the probabilistic models add, number for number.
"""

from __future__ import annotations

import datetime as _dt
import math
import warnings
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import pandas as pd

from clvlab import _columns as C
from clvlab import _time
from clvlab.exceptions import EmptyInputError, InvalidValueError, ModelWarning
from clvlab.models.base import (
    BaseFitter,
    BaseModel,
    SummaryTable,
    data_fingerprint,
    resolve_time_unit,
)
from clvlab.models.contract import Capabilities, FitColumns
from clvlab.validation import validate_rfm

__all__ = ["formula_clv", "FormulaCLVBaseline"]

_MODES = ("customer", "cohort")


def formula_clv(
    average_order_value: npt.ArrayLike,
    purchases_per_year: npt.ArrayLike,
    lifespan_years: npt.ArrayLike,
) -> float | np.ndarray:
    """Compute the textbook formula ``average_order_value x purchases_per_year x lifespan_years``.

    No discounting, no margin: multiply by a margin yourself, or use
    :class:`FormulaCLVBaseline` for discounting and horizons.

    Parameters
    ----------
    average_order_value : float or array-like
        Mean value of one purchase (currency), >= 0.
    purchases_per_year : float or array-like
        Purchases per year, >= 0.
    lifespan_years : float or array-like
        Years a customer stays, >= 0.

    Returns
    -------
    float or ndarray
        A float when all three are scalars, else the broadcast array.

    Examples
    --------
    >>> formula_clv(100, 10, 2)
    2000.0
    """
    arrays = []
    for name, value in (
        ("average_order_value", average_order_value),
        ("purchases_per_year", purchases_per_year),
        ("lifespan_years", lifespan_years),
    ):
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a number or array of numbers; got {value!r}."
            ) from None
        bad = ~np.isfinite(arr) | (arr < 0)
        if bad.any():
            first = arr.reshape(-1)[np.flatnonzero(bad.reshape(-1))[:3]].tolist()
            raise InvalidValueError(
                f"{name} must be finite and >= 0; {int(bad.sum())} value(s) are not "
                f"(first: {', '.join(map(str, first))}).",
                column=name,
                rule="finite and >= 0",
                offenders=first,
                n_offending=int(bad.sum()),
            )
        arrays.append(arr)
    out = arrays[0] * arrays[1] * arrays[2]
    return float(out) if out.ndim == 0 else out


def _looks_like_transactions(data: Any) -> bool:
    return (
        isinstance(data, pd.DataFrame)
        and C.FREQUENCY not in data.columns
        and C.DATE in data.columns
        and C.AMOUNT in data.columns
    )


class FormulaCLVBaseline(BaseModel):
    r"""The seed CLV formula as a model: average order value x purchase rate x lifespan.

    Over a horizon ``H`` (in the model's time unit) with discount rate ``d`` per unit,
    each customer is worth

    .. math::

        \mathrm{CLV} = \text{margin}\times \mathrm{AOV} \times \lambda \times
        \int_0^{\min(L, H)} (1+d)^{-t}\,dt

    i.e. purchases at a constant rate ``lambda`` for ``min(L, H)`` time units, ``L``
    being the lifespan -- the formula's deterministic lifespan, truncated at the
    horizon. With ``d = 0`` and ``H >= L`` this is exactly
    :func:`formula_clv` (AOV x purchases per year x lifespan in years).

    Definitions (``x`` = frequency, ``T`` = customer age, from the RFM summary):

    - **AOV** (average order value): ``total_spend / (x + 1)``, every purchase in the
      window including the first; without a ``total_spend`` column, ``monetary_value``
      (repeat purchases only).
    - **purchase rate** ``lambda = x / T``: repeat purchases per time unit since the first
      purchase (the first purchase marks the start of the clock, so it is not counted).
    - **cohort** values pool the customers: ``sum(total_spend) / sum(x + 1)`` and
      ``sum(x) / sum(T)``.
    - Customers with ``T == 0`` (just acquired: no rate observable) and customers without
      spend information (no ``total_spend`` and ``x == 0``) get the cohort value learnt in
      :meth:`fit`.

    **Lifespan** is given (``lifespan`` in ``lifespan_unit``) or ``"estimate"``d
    crudely from observed retention: a customer with no purchase in the last
    ``churn_window`` (``T - recency > churn_window``) counts as churned at their last
    purchase (lifetime = recency); the others are still active, observed for ``T``.
    Treating lifetimes as exponential, the maximum-likelihood churn rate is
    ``churned / (sum of observed active time)`` and the lifespan is its inverse. This
    confuses a long pause with churn and ignores that customers differ; it is a seed
    figure, not a model (BG/NBD models both properly).

    Parameters
    ----------
    mode : {"customer", "cohort"}, default="customer"
        Each customer's own AOV and rate, or the cohort's for everyone.
    lifespan : float or "estimate", default="estimate"
        Expected customer lifespan in ``lifespan_unit``, > 0, or ``"estimate"``.
    lifespan_unit : {"D", "W", "M", "Y"}, default="Y"
        Unit of ``lifespan`` and ``churn_window``.
    churn_window : float, default=0.5
        Silence after which a customer counts as churned (for ``lifespan="estimate"``),
        in ``lifespan_unit``; the default is half a year.

    Attributes
    ----------
    params_ : Series
        ``aov`` (currency per purchase), ``purchase_rate`` (repeat purchases per
        ``time_unit_``) and ``lifespan`` (in ``time_unit_``; may be ``inf``) of the cohort.
    time_unit_ : str
        Unit of the RFM data.
    n_customers_ : int
    lifespan_estimated_ : bool
    n_churned_ : int or None
        Customers counted as churned (``None`` when the lifespan was given).

    Examples
    --------
    >>> import pandas as pd
    >>> rfm = pd.DataFrame({"frequency": [9.0], "recency": [45.0], "T": [52.0],
    ...                     "total_spend": [1000.0]})
    >>> base = FormulaCLVBaseline(lifespan=2).fit(rfm, time_unit="W")
    >>> # AOV 1000 / 10 = 100; 9 repeat purchases in 52 weeks; 2 years = 104.355 weeks
    >>> round(float(base.predict(rfm).iloc[0]), 2)
    1806.14
    """

    _param_names: ClassVar[tuple[str, ...]] = ("aov", "purchase_rate", "lifespan")
    _model_name: ClassVar[str] = "Formula CLV baseline"
    _long_name: ClassVar[str] = "simple formula CLV (average order value x frequency x lifespan)"
    _story: ClassVar[str] = (
        "The textbook formula: a customer is worth their average order value times the "
        "purchases they make per year times the years they stay. It assumes every customer "
        "keeps buying at their past rate for a fixed lifespan and then stops, with no "
        "notion of customers who have already left."
    )
    _glossary: ClassVar[dict[str, str]] = {
        "aov": "average order value (currency)",
        "purchase_rate": "purchases per time unit",
        "lifespan": "customer lifespan (time units)",
    }

    @classmethod
    def capabilities(cls) -> Capabilities:
        """Baseline: ``predict`` only."""
        return Capabilities(role="baseline", predictions=frozenset({"predict"}), time="none")

    @classmethod
    def fit_columns(cls) -> FitColumns:
        """Fit columns: customers merge on (frequency, recency, T); spend enters as sums."""
        return FitColumns(
            keys=(C.FREQUENCY, C.RECENCY, C.T), means=(C.TOTAL_SPEND, C.MONETARY_VALUE)
        )

    def __init__(
        self,
        *,
        mode: str = "customer",
        lifespan: float | str = "estimate",
        lifespan_unit: str = "Y",
        churn_window: float = 0.5,
    ) -> None:
        self.mode = mode
        self.lifespan = lifespan
        self.lifespan_unit = lifespan_unit
        self.churn_window = churn_window

    # -- options ----------------------------------------------------------------------
    def _validate_options(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"mode must be 'customer' or 'cohort'; got {self.mode!r}.")
        _time.check_time_unit(self.lifespan_unit, "lifespan_unit")
        ls = self.lifespan
        if not (ls == "estimate" or (
            isinstance(ls, (int, float)) and not isinstance(ls, bool)
            and math.isfinite(ls) and ls > 0
        )):
            raise ValueError(
                f"lifespan must be a finite number > 0 (in lifespan_unit={self.lifespan_unit!r})"
                f" or 'estimate'; got {ls!r}."
            )
        cw = self.churn_window
        if not (isinstance(cw, (int, float)) and not isinstance(cw, bool)
                and math.isfinite(cw) and cw > 0):
            raise ValueError(f"churn_window must be a finite number > 0; got {cw!r}.")

    def _rfm(self, data: Any, time_unit: str | None) -> pd.DataFrame:
        if _looks_like_transactions(data):
            from clvlab.rfm import rfm_summary

            return rfm_summary(data, time_unit=time_unit or "W")
        return data

    @staticmethod
    def _aov_and_rate(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per-customer AOV and repeat-purchase rate; NaN where not observable."""
        x = frame[C.FREQUENCY].to_numpy(dtype=float)
        T = frame[C.T].to_numpy(dtype=float)
        if C.TOTAL_SPEND in frame.columns:
            aov = frame[C.TOTAL_SPEND].to_numpy(dtype=float) / (x + 1.0)
        else:
            m = frame[C.MONETARY_VALUE].to_numpy(dtype=float)
            aov = np.where(x > 0, m, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(T > 0, x / np.where(T > 0, T, 1.0), np.nan)
        return aov, rate

    def _check_frame(self, data: Any) -> pd.DataFrame:
        frame = validate_rfm(data, require=(C.FREQUENCY, C.RECENCY, C.T), model=self._model_name)
        spend_col = C.TOTAL_SPEND if C.TOTAL_SPEND in frame.columns else C.MONETARY_VALUE
        validate_rfm(frame, require=(spend_col,), model=self._model_name)
        return frame

    # -- fit --------------------------------------------------------------------------
    def fit(self, data: Any, *, weights: Any = None, time_unit: str | None = None) -> Self:
        """Learn the cohort's AOV, purchase rate and (if asked) lifespan.

        Parameters
        ----------
        data : DataFrame
            RFM summary (``frequency, recency, T`` and ``total_spend`` or
            ``monetary_value``), index ``customer_id``; or a canonical transaction log,
            summarised with :func:`clvlab.rfm_summary` in ``time_unit`` (default ``"W"``).
        weights : array-like of shape (n_rows,), optional
            Number of customers each row stands for (an aggregated table, e.g. from
            :func:`clvlab.spark.fit`; spend columns then hold the row's mean). Every
            estimate is a ratio of weighted sums, so counted rows give the same baseline
            as the customers themselves.
        time_unit : {"D", "W", "M", "Y"}, optional
            Unit of ``recency`` and ``T``; defaults to ``data.attrs["time_unit"]``.

        Returns
        -------
        self
        """
        self._validate_options()
        data = self._rfm(data, time_unit)
        frame = self._check_frame(data)
        unit = resolve_time_unit(time_unit, data)
        w = BaseFitter._check_weights(weights, len(frame))
        x = frame[C.FREQUENCY].to_numpy(dtype=float)
        r = frame[C.RECENCY].to_numpy(dtype=float)
        T = frame[C.T].to_numpy(dtype=float)
        if C.TOTAL_SPEND in frame.columns:
            spend = frame[C.TOTAL_SPEND].to_numpy(dtype=float)
            cohort_aov = float((w * spend).sum() / (w * (x + 1.0)).sum())
        else:
            m = frame[C.MONETARY_VALUE].to_numpy(dtype=float)
            wx = float((w * x).sum())
            cohort_aov = float((w * x * m).sum() / wx) if wx > 0 else float("nan")
        if not np.isfinite(cohort_aov):
            raise EmptyInputError(
                "The formula baseline needs spend: no customer has a repeat purchase and the "
                "data have no total_spend column. Build the summary with clvlab.rfm_summary "
                "(it adds total_spend).",
                column=C.MONETARY_VALUE,
                rule="some spend observed",
            )
        exposure_all = float((w * T).sum())
        if exposure_all <= 0:
            raise EmptyInputError(
                "The formula baseline needs customers observed for some time: T is 0 for all "
                f"{len(frame)} customers, so no purchase rate can be measured. Use a later "
                "observation_end.",
                column=C.T,
                rule="sum of T > 0",
            )
        cohort_rate = float((w * x).sum() / exposure_all)

        n_churned: int | None = None
        if self.lifespan == "estimate":
            window = _time.convert(float(self.churn_window), self.lifespan_unit, unit)
            churned = (T - r) > window
            churned_weight = float(w[churned].sum())
            n_churned = int(round(churned_weight))
            exposure = float((w * np.where(churned, r, T)).sum())
            if churned_weight == 0:
                lifespan = math.inf
                warnings.warn(
                    f"Formula baseline: no customer has been silent for more than churn_window="
                    f"{self.churn_window:g} {_time.UNIT_NAMES[self.lifespan_unit]}, so the "
                    "estimated lifespan is unbounded and CLV runs to the horizon. Give "
                    "lifespan explicitly or a shorter churn_window.",
                    ModelWarning,
                    stacklevel=2,
                )
            elif exposure <= 0:
                lifespan = 0.0
                warnings.warn(
                    "Formula baseline: every churned customer left at their first purchase and "
                    "no active customer has been observed for any time, so the estimated "
                    "lifespan is 0. Give lifespan explicitly.",
                    ModelWarning,
                    stacklevel=2,
                )
            else:
                lifespan = exposure / churned_weight
        else:
            lifespan = _time.convert(float(self.lifespan), self.lifespan_unit, unit)

        self.params_ = pd.Series(
            [cohort_aov, cohort_rate, lifespan], index=list(self._param_names), name="estimate"
        )
        self.time_unit_ = unit
        total_w = float(w.sum())
        self.n_customers_ = int(round(total_w)) if total_w.is_integer() else total_w
        self.lifespan_estimated_ = self.lifespan == "estimate"
        self.n_churned_ = n_churned
        self.fit_date_ = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        spend_col = C.TOTAL_SPEND if C.TOTAL_SPEND in frame.columns else C.MONETARY_VALUE
        fingerprint_arrays = [x, r, T, frame[spend_col].to_numpy(float)]
        if weights is not None:
            fingerprint_arrays.append(w)
        self.data_fingerprint_ = data_fingerprint(*fingerprint_arrays)
        return self

    # -- derived figures ------------------------------------------------------------------
    @property
    def purchases_per_year_(self) -> float:
        """Cohort repeat purchases per year (``purchase_rate`` converted to years)."""
        self._check_is_fitted()
        unit = _time.check_time_unit(self.time_unit_)  # None (unknown) raises, as convert would
        return float(self.params_["purchase_rate"]) * _time.convert(1.0, "Y", unit)

    @property
    def lifespan_years_(self) -> float:
        """Lifespan in years."""
        self._check_is_fitted()
        unit = _time.check_time_unit(self.time_unit_)  # None (unknown) raises, as convert would
        return _time.convert(float(self.params_["lifespan"]), unit, "Y")

    # -- predict ----------------------------------------------------------------------
    def predict(
        self,
        data: Any,
        horizon: float | None = None,
        discount_rate: float = 0.0,
        margin: float = 1.0,
        *,
        time_unit: str | None = None,
        method: str = "continuous",
        components: bool = False,
    ) -> pd.Series | pd.DataFrame:
        """Compute each customer's formula CLV over a horizon, comparable with the model CLV.

        Takes the same ``horizon``, ``discount_rate``, ``margin``, ``time_unit`` and
        ``method`` as :func:`clvlab.customer_lifetime_value`: discounted purchases are
        ``rate x sum_j w_j min(t_j, L)`` with the same :func:`clvlab.clv.discount_schedule`
        (for ``"continuous"`` the exact ``rate x (1 - (1+d)^-M) / ln(1+d)``,
        ``M = min(L, H)``).

        Parameters
        ----------
        data : DataFrame
            RFM summary (or a transaction log) as for :meth:`fit`, in ``time_unit_``.
        horizon : float, optional
            In ``time_unit`` (default the model's); default: the lifespan (the whole
            formula CLV; an error if the lifespan is unbounded).
        discount_rate : float, default=0.0
            Per ``time_unit``.
        margin : float, default=1.0
            Share of spend kept as profit.
        time_unit : {"D", "W", "M", "Y"}, optional
            Unit of ``horizon`` and ``discount_rate`` if not ``time_unit_``.
        method : {"continuous", "periods", "lifetimes"}, default="continuous"
            Discounting, as in :func:`clvlab.customer_lifetime_value`.
        components : bool, default=False
            Return ``aov``, ``purchase_rate``, ``expected_purchases`` (undiscounted,
            over ``min(L, H)``), ``discounted_purchases`` and ``clv_baseline``.

        Returns
        -------
        Series or DataFrame
            ``clv_baseline`` indexed like ``data``.
        """
        from clvlab._checks import check_discount_rate, check_horizon, check_margin
        from clvlab.clv import (
            _check_method,
            _to_model_unit,
            discount_schedule,
            lifetimes_month,
        )

        self._check_is_fitted()
        method = _check_method(method)
        data = self._rfm(data, self.time_unit_)
        frame = self._check_frame(data)
        data_unit = (getattr(data, "attrs", None) or {}).get(C.ATTR_TIME_UNIT)
        if data_unit is not None and data_unit != self.time_unit_:
            raise InvalidValueError(
                f"T: the data are in time unit {data_unit!r} but the baseline was fitted in "
                f"{self.time_unit_!r}. Rebuild the summary with rfm_summary(..., "
                f"time_unit={self.time_unit_!r}).",
                column=C.T,
                rule="same time unit as the model",
            )
        lifespan = float(self.params_["lifespan"])
        discount_rate = check_discount_rate(discount_rate, "discount_rate")
        margin = check_margin(margin, "margin")
        if horizon is None:
            if time_unit is not None or method == "lifetimes":
                raise ValueError("Pass horizon explicitly with time_unit or method='lifetimes'.")
            if not math.isfinite(lifespan):
                raise ValueError(
                    "The lifespan is unbounded (no churn observed); pass a horizon."
                )
            horizon = lifespan
        horizon = check_horizon(horizon, "horizon")
        h, d = _to_model_unit(horizon, discount_rate, time_unit, self.time_unit_, method)

        aov_c, rate_c = float(self.params_["aov"]), float(self.params_["purchase_rate"])
        if self.mode == "cohort":
            aov = np.full(len(frame), aov_c)
            rate = np.full(len(frame), rate_c)
        else:
            aov, rate = self._aov_and_rate(frame)
            aov = np.where(np.isnan(aov), aov_c, aov)
            rate = np.where(np.isnan(rate), rate_c, rate)

        h_calendar = (
            h * lifetimes_month(self.time_unit_)
            if method == "lifetimes" else h
        )
        active = min(lifespan, h_calendar)
        if method == "continuous":
            # active x (1 - e^-x) / x with x = ln(1+d) x active, written to stay exact when
            # x underflows (tiny rates or horizons): the factor tends to 1
            x = math.log1p(d) * active
            per_rate = active if x == 0 else active * (-math.expm1(-x) / x)
        else:
            times, weights = discount_schedule(h, d, method, self.time_unit_)
            per_rate = float(weights @ np.minimum(times, lifespan)) if times.size else 0.0
        discounted = rate * per_rate
        clv = pd.Series(margin * aov * discounted, index=frame.index, name="clv_baseline")
        if not components:
            return clv
        return pd.DataFrame(
            {
                "aov": aov,
                "purchase_rate": rate,
                "expected_purchases": rate * active,
                "discounted_purchases": discounted,
                "clv_baseline": clv.to_numpy(),
            },
            index=frame.index,
        )

    # -- summaries ----------------------------------------------------------------------
    @property
    def summary(self) -> pd.DataFrame:
        """Cohort AOV, purchase rate and lifespan (no standard errors: not a statistical fit)."""
        self._check_is_fitted()
        est = self.params_.to_numpy(dtype=float)
        nan = np.full(len(est), np.nan)
        return pd.DataFrame(
            {"estimate": est, "se": nan, "lower": nan, "upper": nan},
            index=pd.Index(list(self._param_names), name="parameter"),
        )

    def summary_table(self) -> SummaryTable:
        """Summary for people (``as_text()``, ``as_html()``), like the fitted models'."""
        self._check_is_fitted()
        # None (unknown) raises here, as purchases_per_year_ below would
        unit = _time.check_time_unit(self.time_unit_)
        names = _time.UNIT_NAMES.get(unit, unit)
        life = (
            f"estimated from retention (churn_window {self.churn_window:g} "
            f"{_time.UNIT_NAMES[self.lifespan_unit]}, {self.n_churned_} churned)"
            if self.lifespan_estimated_ else "given"
        )
        info = [
            ("model", f"{self._model_name} ({type(self).__name__})"),
            ("mode", self.mode),
            ("customers", f"{self.n_customers_:,}"),
            ("time unit", f"{unit} ({names})"),
            ("purchases per year", f"{self.purchases_per_year_:.4g}"),
            ("lifespan (years)", f"{self.lifespan_years_:.4g}"),
            ("lifespan", life),
            ("fitted", str(getattr(self, "fit_date_", None))),
            ("data fingerprint", str(getattr(self, "data_fingerprint_", None))),
        ]
        notes = [
            f"aov in currency per purchase; purchase_rate in repeat purchases per {names[:-1]}; "
            f"lifespan in {names}.",
            "CLV = margin x AOV x rate x discounted min(lifespan, horizon).",
        ]
        return SummaryTable(f"{self._model_name} ({type(self).__name__})", info,
                            self.summary[["estimate"]], notes)

    # -- persistence ----------------------------------------------------------------------
    def _state_dict(self) -> dict[str, Any]:
        lifespan = float(self.params_["lifespan"])
        return {
            "params": {
                "aov": float(self.params_["aov"]),
                "purchase_rate": float(self.params_["purchase_rate"]),
                "lifespan": lifespan if math.isfinite(lifespan) else "inf",
            },
            "n_customers": self.n_customers_,
            "lifespan_estimated": self.lifespan_estimated_,
            "n_churned": self.n_churned_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._validate_options()
        p = state["params"]
        lifespan = math.inf if p["lifespan"] == "inf" else float(p["lifespan"])
        values = [float(p["aov"]), float(p["purchase_rate"]), lifespan]
        if not (all(math.isfinite(v) and v >= 0 for v in values[:2]) and lifespan >= 0):
            raise ValueError(f"parameters must be >= 0 (aov, rate finite); got {values}")
        self.params_ = pd.Series(values, index=list(self._param_names), name="estimate")
        self.n_customers_ = int(state["n_customers"])
        self.lifespan_estimated_ = bool(state["lifespan_estimated"])
        n = state.get("n_churned")
        self.n_churned_ = None if n is None else int(n)
