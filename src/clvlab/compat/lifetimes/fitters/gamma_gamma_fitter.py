"""lifetimes' ``GammaGammaFitter``, backed by :class:`clvlab.GammaGammaFitter`."""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clvlab.compat.lifetimes._checks import (
    LifetimesCompatWarning,
    as_arrays,
    check_histories,
    check_values,
)
from clvlab.compat.lifetimes.fitters import BaseFitter
from clvlab.compat.lifetimes.fitters._purchase import ConvergenceError, _first_start, _raw
from clvlab.exceptions import ConvergenceError as _ClvlabConvergenceError
from clvlab.exceptions import InvalidValueError, describe_offenders

__all__ = ["GammaGammaFitter", "LIFETIMES_FREQ_MONTH"]

#: lifetimes' hidden month in each ``freq`` of ``customer_lifetime_value``: 30 days,
#: 4.345 weeks, 1 month, 720 hours.
LIFETIMES_FREQ_MONTH: dict[str, float] = {"D": 30.0, "W": 4.345, "M": 1.0, "H": 720.0}


class GammaGammaFitter(BaseFitter):
    """Gamma-Gamma model of spend per purchase with lifetimes' API.

    Backed by :class:`clvlab.GammaGammaFitter`, which keeps ``q > 1`` (a finite
    population mean spend) by construction: lifetimes' ``q_constraint=True`` is always
    on.

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        L2 penalty on ``(p, q, v)`` (lifetimes' definition).

    Attributes
    ----------
    params_ : Series
        ``p, q, v``.
    data : DataFrame
        ``monetary_value, frequency, weights`` as given to ``fit``.
    clvlab_model_ : clvlab.GammaGammaFitter

    Examples
    --------
    >>> from clvlab.compat.lifetimes import GammaGammaFitter
    >>> from clvlab.compat.lifetimes.datasets import (
    ...     load_cdnow_summary_data_with_monetary_value)
    >>> data = load_cdnow_summary_data_with_monetary_value()
    >>> repeat = data[data["frequency"] > 0]
    >>> ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    >>> ggf.params_.round(2).tolist()
    [6.25, 3.74, 15.45]
    """

    _param_names: ClassVar[tuple[str, ...]] = ("p", "q", "v")

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    def _native_class_name(self) -> str:
        return "GammaGammaFitter"

    def fit(
        self,
        frequency: Any,
        monetary_value: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        q_constraint: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Fit the model on repeat buyers by maximum likelihood (clvlab's optimiser).

        Parameters
        ----------
        frequency : array-like of shape (n_customers,)
            Repeat purchases, whole numbers > 0 (fit on repeat buyers, as lifetimes' docs
            say: ``summary[summary["frequency"] > 0]``).
        monetary_value : array-like of shape (n_customers,)
            Mean value of the repeat purchases, > 0.
        weights : array-like, optional
            Number of customers each row stands for.
        initial_params : array-like, optional
            Log of ``(p, q, v)`` (lifetimes' convention); tried first.
        verbose : bool, default=False
            Print the convergence diagnostics.
        tol : float, default=1e-7
            Accepted and not used (clvlab judges convergence itself).
        index : array-like, optional
            Index of ``self.data``.
        q_constraint : bool, default=False
            Accepted; clvlab always keeps ``q > 1`` (with a warning when the estimate is
            on that boundary), which is what lifetimes' ``True`` aimed at.
        **kwargs
            Accepted and not used (lifetimes passed them to scipy).

        Returns
        -------
        self

        Raises
        ------
        InvalidValueError
            Frequency 0 or non-whole, ``monetary_value <= 0``, NaN (lifetimes raised
            ``ValueError`` for these, or failed to converge).
        """
        (x, m), like = as_arrays(frequency=frequency, monetary_value=monetary_value)
        if len(like.shape) != 1 or like.shape[0] == 0:
            raise ValueError(f"fit needs one value per customer; got shape {like.shape}.")
        n = like.shape[0]
        check_values(like, frequency=x, monetary_value=m)
        for mask, column, rule, hint in (
            (x != np.floor(x), "frequency", "must be a whole number of repeat purchases",
             "frequency counts repeat purchases."),
            (x == 0, "frequency", "must be > 0 (the model is fitted on repeat buyers)",
             "Pass the repeat buyers only: summary[summary['frequency'] > 0] (lifetimes "
             "failed to converge on them)."),
            (m <= 0, "monetary_value", "must be > 0",
             "Spend per repeat purchase must be positive (lifetimes raised here too)."),
        ):
            if np.any(mask):
                k = int(np.count_nonzero(mask))
                raise InvalidValueError(
                    f"{column}: {rule}; {k} customer(s) violate this (at "
                    f"{describe_offenders(like.labels(mask), k)}). {hint}",
                    column=column, rule=rule, offenders=like.labels(mask), n_offending=k,
                )
        w = np.ones(n, dtype=int) if weights is None else np.asarray(weights)
        labels = like.index if like.index is not None and like.index.is_unique else None
        frame = pd.DataFrame({"frequency": x, "monetary_value": m},
                             index=pd.RangeIndex(n) if labels is None else labels)
        frame.index.name = "customer_id"
        from clvlab.models.gamma_gamma import GammaGammaFitter as NativeGammaGamma

        native = NativeGammaGamma(penalizer_coef=self.penalizer_coef)
        start = None
        if initial_params is not None:
            theta = np.asarray(initial_params, dtype=float).reshape(-1)
            if theta.shape != (3,) or not np.all(np.isfinite(theta)):
                raise ValueError("initial_params must hold 3 finite numbers (log p, log q, "
                                 f"log v, as in lifetimes); got {initial_params!r}.")
            start = np.exp(theta) if math.exp(theta[1]) > 1.0 else None  # needs q > 1
        try:
            with _first_start(native, start), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                native.fit(frame, weights=w)
        except _ClvlabConvergenceError as exc:
            raise ConvergenceError(str(exc), result=exc.result) from None
        for warning in caught:  # point them at the caller
            warnings.warn(warning.message, warning.category, stacklevel=2)
        self._set_fit_statistics(native)
        self.data = pd.DataFrame(
            {"monetary_value": _raw(monetary_value).astype(float),
             "frequency": _raw(frequency).astype(float), "weights": w},
            index=index,
        )
        self._negative_log_likelihood_ = float(native.optimizer_result_["objective"])
        if verbose:
            print(native.summary_table().as_text())  # noqa: T201 - asked for by verbose=True
        return self

    def conditional_expected_average_profit(
        self, frequency: Any = None, monetary_value: Any = None
    ) -> Any:
        """Predict the spend per future purchase given each customer's history.

        A weighted average of the customer's own mean spend and the population mean
        (Hardie note 025, eq. (5)); the population mean for customers with frequency 0.

        Parameters
        ----------
        frequency : array-like or Series, optional
            Repeat purchases; default ``data["frequency"]``.
        monetary_value : array-like or Series, optional
            Mean value of the repeat purchases; default ``data["monetary_value"]``.

        Returns
        -------
        numpy float, ndarray or Series
            Shaped like the inputs (a Series on ``data``'s index by default).
        """
        return self._expected_spend(frequency, monetary_value, stacklevel=5)

    def _expected_spend(self, frequency: Any, monetary_value: Any, stacklevel: int) -> Any:
        if frequency is None or monetary_value is None:
            data = getattr(self, "data", None)
            if not isinstance(data, pd.DataFrame):
                raise ValueError("Pass frequency and monetary_value: the model holds no "
                                 "training data to default to.")
            frequency = data["frequency"] if frequency is None else frequency
            monetary_value = data["monetary_value"] if monetary_value is None else monetary_value
        (x, m), like = as_arrays(frequency=frequency, monetary_value=monetary_value)
        check_histories(like, x, None, None, function="conditional_expected_average_profit",
                        stacklevel=stacklevel)
        check_values(like, monetary_value=m)
        return like.wrap(self._expected_spend_arrays(x, m))

    def _expected_spend_arrays(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        from clvlab.models.likelihoods.gamma_gamma import gg_expected_spend

        return np.asarray(gg_expected_spend(self._params_array(), x, m), dtype=float)

    def customer_lifetime_value(
        self,
        transaction_prediction_model: Any,
        frequency: Any,
        recency: Any,
        T: Any,
        monetary_value: Any,
        time: float = 12,
        discount_rate: float = 0.01,
        freq: str = "D",
    ) -> pd.Series:
        """Discounted value of each customer's purchases over ``time`` months (lifetimes' CLV).

        lifetimes' convention, reproduced exactly: ``time`` counts "months" of a fixed
        length in the unit ``freq`` of the data (30 days, 4.345 weeks, 1 month, 720
        hours), purchases expected in month ``k`` are discounted by
        ``(1 + discount_rate) ** k``, and each is worth the Gamma-Gamma expected spend.
        (clvlab's own :func:`clvlab.customer_lifetime_value` uses the model's time unit and
        no hidden month; ``method="lifetimes"`` there is this same computation.)

        Parameters
        ----------
        transaction_prediction_model : fitted purchase model
            A fitted ``BetaGeoFitter`` (or any model with lifetimes'
            ``predict(t, frequency, recency, T)``).
        frequency, recency, T : array-like or Series
            Customer histories, in the unit ``freq``.
        monetary_value : array-like or Series
            Mean value of the repeat purchases.
        time : float, default=12
            Horizon in lifetimes months (a fraction counts as a whole month, as in
            lifetimes, with a warning).
        discount_rate : float, default=0.01
            Discount rate per lifetimes month, >= 0.
        freq : {"D", "W", "M", "H"}, default="D"
            Unit of ``recency`` and ``T``.

        Returns
        -------
        Series
            ``clv``, on ``frequency``'s index (0..n-1 if it is not a Series).
        """
        return _discounted_value(transaction_prediction_model, frequency, recency, T,
                                 monetary_value, time, discount_rate, freq, stacklevel=3,
                                 spend=self._expected_spend_arrays)


def _discounted_value(
    model: Any, frequency: Any, recency: Any, T: Any, monetary_value: Any, time: Any,
    discount_rate: Any, freq: Any, stacklevel: int, spend: Any = None,
) -> pd.Series:
    """Run lifetimes' CLV loop: ``sum_k spend x (E(k m) - E((k-1) m)) / (1 + d)^k``, month ``m``.

    ``spend`` maps ``(frequency, monetary_value)`` to the value of one purchase (default:
    ``monetary_value`` as given).
    """
    from clvlab.clv import discount_schedule

    if freq not in LIFETIMES_FREQ_MONTH:
        raise ValueError(
            f"freq must be one of {', '.join(map(repr, LIFETIMES_FREQ_MONTH))} (lifetimes' "
            f"units: day, week, month, hour); got {freq!r}."
        )
    for name, value in (("time", time), ("discount_rate", discount_rate)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or (
                not math.isfinite(float(value)) or float(value) < 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
    months = len(np.arange(1, float(time) + 1))  # lifetimes' steps
    if months != float(time):
        warnings.warn(
            f"customer_lifetime_value: time={time!r} is not a whole number of months; "
            f"as in lifetimes, {months} whole months are used.",
            LifetimesCompatWarning,
            stacklevel=stacklevel,
        )
    (x, tx, age, m), like = as_arrays(frequency=frequency, recency=recency, T=T,
                                      monetary_value=monetary_value)
    if len(like.shape) != 1:
        raise ValueError(
            f"customer_lifetime_value needs one value per customer; got shape {like.shape}."
        )
    check_histories(like, x, tx, age, function="customer_lifetime_value",
                    stacklevel=stacklevel + 1)
    check_values(like, minimum=None, monetary_value=m)
    value = np.broadcast_to(m if spend is None else spend(x, m), like.shape)
    # lifetimes' months as clvlab's "lifetimes" schedule (its hour month is 24 of its days)
    unit = "D" if freq == "H" else freq
    times, weights = discount_schedule(months, float(discount_rate), "lifetimes", unit)
    if freq == "H":
        times = times * 24.0
    expected = _expectation(model)
    total = np.zeros(like.shape)
    for t, w in zip(times, weights, strict=True):
        total += w * np.asarray(expected(float(t), x, tx, age), dtype=float)
    index = like.index if like.index is not None else pd.RangeIndex(like.shape[0])
    return pd.Series(total * value, index=index, name="clv")


def _expectation(model: Any) -> Any:
    """``(t, x, t_x, T) -> expected purchases`` of a lifetimes-style purchase model."""
    inner = getattr(model, "_expected_arrays", None)
    if callable(inner):  # a compat fitter: histories already checked
        return inner
    predict = getattr(model, "predict", None)
    if not callable(predict):
        raise TypeError(
            "transaction_prediction_model must be a fitted purchase model with lifetimes' "
            "predict(t, frequency, recency, T), e.g. clvlab.compat.lifetimes.BetaGeoFitter; "
            f"got {type(model).__name__}."
        )
    return lambda t, x, tx, age: predict(t, x, tx, age)
