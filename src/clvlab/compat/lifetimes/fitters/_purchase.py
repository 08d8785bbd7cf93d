"""One lifetimes-compatible wrapper for every clvlab purchase model.

lifetimes' BG/NBD, MBG/NBD and Pareto/NBD fitters share one surface (``fit(frequency,
recency, T, ...)``, ``conditional_expected_number_of_purchases_up_to_time``, ...).
:class:`PurchaseFitter` implements it once on top of the pure array hooks of
:class:`clvlab.models.purchase.PurchaseFitter` (``_p_alive``, ``_expected``,
``_expected_new``, ``_log_pmf_new``, ``_log_pmf_conditional``, ``_simulate``). What differs
between lifetimes' models is listed in one :class:`LifetimesModel` per model, so a compat
class is a few lines::

    class ModifiedBetaGeoFitter(NewCustomerPmfMixin, PurchaseFitter):
        _model = LifetimesModel(key="mbgnbd", name="MBG/NBD", params=("r", "alpha", "a", "b"),
                                time_params=("alpha",), p_alive_at_least_1d=True)

The clvlab model is looked up in :mod:`clvlab.models.registry` by ``key`` when the compat
class is instantiated; a model clvlab does not have yet raises ``NotImplementedError``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
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
from clvlab.exceptions import ConvergenceError as _ClvlabConvergenceError
from clvlab.exceptions import InvalidValueError

__all__ = [
    "LifetimesModel",
    "PurchaseFitter",
    "NewCustomerPmfMixin",
    "ConditionalPmfMixin",
    "ConvergenceError",
]


class ConvergenceError(_ClvlabConvergenceError, ValueError):
    """The fit failed (lifetimes' ``lifetimes.utils.ConvergenceError``, a ``ValueError``)."""


@dataclass(frozen=True)
class LifetimesModel:
    """What one lifetimes purchase fitter does differently from the generic wrapper.

    Parameters
    ----------
    key : str
        Registry key of the clvlab model (:mod:`clvlab.models.registry`), e.g. ``"bgnbd"``.
    name : str
        Model name for messages, e.g. ``"BG/NBD"``.
    params : tuple of str
        lifetimes' parameter names in lifetimes' order; must equal the clvlab model's.
    time_params : tuple of str
        Parameters measured in time units. lifetimes optimises on data rescaled so that
        the oldest customer's age is 1, so its ``initial_params`` hold the log of these
        parameters in that scale; they are converted back before use.
    p_alive_at_least_1d : bool
        lifetimes wraps ``conditional_probability_alive`` in ``np.atleast_1d`` (BG/NBD,
        MBG/NBD: always an array) instead of following the input (Pareto/NBD).
    zero_frequency_note : str, optional
        How the model's formulas treat recency when frequency is 0 (said in the warning
        about impossible histories).
    """

    key: str
    name: str
    params: tuple[str, ...]
    time_params: tuple[str, ...]
    p_alive_at_least_1d: bool
    zero_frequency_note: str = ""


@contextlib.contextmanager
def _first_start(native: Any, start: np.ndarray | None) -> Iterator[None]:
    """Make ``start`` the first starting point of ``native.fit`` inside the block."""
    if start is None:
        yield
        return
    default = native._initial_params

    def with_start(data: Any, weights: np.ndarray) -> list[np.ndarray]:
        return [start, *default(data, weights)]

    native._initial_params = with_start
    try:
        yield
    finally:
        del native._initial_params


def _one_dimensional(like: Any, what: str) -> int:
    if len(like.shape) != 1 or like.shape[0] == 0:
        raise ValueError(
            f"{what} needs one value per customer (non-empty 1-d arrays or Series); got "
            f"shape {like.shape}."
        )
    return int(like.shape[0])


def _raw(value: Any) -> np.ndarray:
    """Return the values as lifetimes stored them in ``data`` (``np.asarray``, dtype kept)."""
    return np.asarray(value.to_numpy() if isinstance(value, pd.Series) else value)


class PurchaseFitter(BaseFitter):
    """lifetimes' purchase-model surface over any clvlab purchase model.

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        lifetimes' L2 penalty (same scaling: the same value gives the same estimates).
    """

    _model: ClassVar[LifetimesModel]
    _scale: float | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_model" in cls.__dict__:
            cls._param_names = cls._model.params

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef
        self._native_class()  # fails early when clvlab lacks the model

    # -- the clvlab model ---------------------------------------------------------------
    @classmethod
    def _native_class(cls) -> type[Any]:
        from clvlab.models.registry import get_model_class

        try:
            native = get_model_class(cls._model.key)
        except ValueError:
            raise NotImplementedError(
                f"clvlab.compat.lifetimes.{cls.__name__} needs clvlab's {cls._model.name} model "
                f"(registry key {cls._model.key!r}), which this version of clvlab does not "
                "have yet."
            ) from None
        if tuple(native._param_names) != cls._model.params:
            raise RuntimeError(  # pragma: no cover - guards the table against the model
                f"{native.__name__} has parameters {native._param_names}; lifetimes' "
                f"{cls.__name__} has {cls._model.params}. Update its LifetimesModel entry."
            )
        return native

    def _native_class_name(self) -> str:
        return self._native_class().__name__

    @property
    def _hooks(self) -> Any:
        """An instance of the clvlab model, for its pure array hooks (any parameters)."""
        return self._native_class()()

    def _require(self, prediction: str) -> None:
        if prediction not in self._native_class().capabilities().predictions:
            raise NotImplementedError(
                f"clvlab's {self._model.name} model does not provide {prediction} yet, so "
                f"{type(self).__name__} cannot offer lifetimes' equivalent."
            )

    # -- fit ----------------------------------------------------------------------------
    def fit(
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Fit the model by maximum likelihood (clvlab's optimiser).

        Parameters
        ----------
        frequency : array-like of shape (n_customers,)
            Repeat purchases (lifetimes truncates fractions to integers; so does this,
            with a warning).
        recency : array-like of shape (n_customers,)
            Age at the last repeat purchase (0 without one), in the unit of ``T``.
        T : array-like of shape (n_customers,)
            Age at the end of observation.
        weights : array-like of shape (n_customers,), optional
            Number of customers each row stands for.
        initial_params : array-like, optional
            lifetimes' starting point: the log of the parameters, with time-scale ones
            measured on data rescaled so the oldest age is 1. Tried first; clvlab's own
            starting points follow.
        verbose : bool, default=False
            Print the convergence diagnostics.
        tol : float, default=1e-7
            Accepted for compatibility and not used: convergence is judged by clvlab's
            gradient, Newton-step and log-likelihood criteria, tighter than lifetimes'.
        index : array-like, optional
            Index of ``self.data``.
        **kwargs
            lifetimes passed them to ``scipy.optimize.minimize``; accepted and not used.

        Returns
        -------
        self

        Raises
        ------
        InvalidValueError
            NaN, negative values, recency > T, or recency > 0 where frequency is 0 (lifetimes
            raised ``ValueError`` for the last three too).
        ConvergenceError
            The likelihood cannot be optimised (a ``ValueError``, like lifetimes').
        """
        return self._fit(frequency, recency, T, weights, initial_params, verbose, index)

    def _fit(
        self, frequency: Any, recency: Any, T: Any, weights: Any, initial_params: Any,
        verbose: bool, index: Any,
    ) -> Any:
        (x, tx, age), like = as_arrays(frequency=frequency, recency=recency, T=T)
        n = _one_dimensional(like, "fit")
        check_values(like, frequency=x, recency=tx, T=age)
        x_int = np.trunc(x)
        fractional = x != x_int
        if fractional.any():
            warnings.warn(
                f"fit: {int(fractional.sum())} frequency value(s) are not whole numbers (at "
                f"{like.labels(fractional)[:5]}); they are truncated to integers, as lifetimes "
                "did. frequency counts repeat purchases: check how it was computed.",
                LifetimesCompatWarning,
                stacklevel=3,
            )
        w = np.ones(n, dtype=int) if weights is None else np.asarray(weights)
        labels = like.index if like.index is not None and like.index.is_unique else None
        frame = pd.DataFrame(
            {"frequency": x_int, "recency": tx, "T": age},
            index=pd.RangeIndex(n) if labels is None else labels,
        )
        frame.index.name = "customer_id"
        native = self._native_class()(penalizer_coef=self.penalizer_coef)
        start = self._start(initial_params, age, native)
        try:
            with _first_start(native, start):
                native.fit(frame, weights=w, time_unit="D")  # unit unknown; reset below
        except _ClvlabConvergenceError as exc:
            raise ConvergenceError(str(exc), result=exc.result) from None
        native.time_unit_ = None  # lifetimes' summaries do not say which unit they are in
        self._set_fit_statistics(native)
        self._scale = 1.0 / float(np.max(age))
        self.data = pd.DataFrame(
            {"frequency": x_int.astype(np.int64), "recency": _raw(recency), "T": _raw(T),
             "weights": w},
            index=index,
        )
        # lifetimes reports its objective on the rescaled data: each repeat purchase time
        # contributes a factor 1/scale to the likelihood
        mean_x = float(np.dot(w, x_int) / np.sum(w))
        self._negative_log_likelihood_ = (
            float(native.optimizer_result_["objective"]) - mean_x * math.log(float(np.max(age)))
        )
        if verbose:
            print(native.summary_table().as_text())  # noqa: T201 - asked for by verbose=True
        return self

    def _start(self, initial_params: Any, age: np.ndarray, native: Any) -> np.ndarray | None:
        if initial_params is None:
            return None
        theta = np.asarray(initial_params, dtype=float).reshape(-1)
        k = len(self._param_names)
        if theta.shape != (k,) or not np.all(np.isfinite(theta)):
            raise ValueError(
                f"initial_params must hold {k} finite numbers (the log of "
                f"{', '.join(self._param_names)}, as in lifetimes); got {initial_params!r}."
            )
        start = np.exp(theta)
        scale = 1.0 / float(np.max(age))
        for i, name in enumerate(self._param_names):
            if name in self._model.time_params:
                start[i] /= scale
        with np.errstate(all="ignore"):
            usable = np.all(np.isfinite(native._to_theta(start)))
        return start if usable else None

    # -- predictions ----------------------------------------------------------------------
    def _histories(self, function: str, stacklevel: int = 4, **named: Any) -> tuple[
            list[np.ndarray], Any]:
        arrays, like = as_arrays(**named)
        *extra, x, tx, age = arrays
        check_histories(like, x, tx, age, function=function,
                        zero_frequency_note=self._model.zero_frequency_note,
                        stacklevel=stacklevel)
        return arrays, like

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> Any:
        """Predict repeat purchases in the next ``t`` given each history.

        Parameters
        ----------
        t : float or array-like
            Horizon(s), in the unit of ``T``, >= 0.
        frequency, recency, T : float, array-like or Series
            Customer histories; everything broadcasts together.

        Returns
        -------
        numpy float, ndarray or Series
            As lifetimes: a Series (on the input's index) if any input is a Series, a
            number for numbers, else an array.
        """
        return self._conditional_expected(t, frequency, recency, T, stacklevel=5)

    def predict(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        """Alias of :meth:`conditional_expected_number_of_purchases_up_to_time` (as lifetimes)."""
        return self._conditional_expected(t, frequency, recency, T, stacklevel=5)

    def _conditional_expected(self, t: Any, frequency: Any, recency: Any, T: Any,
                              stacklevel: int) -> Any:
        (t_, x, tx, age), like = self._histories(
            "conditional_expected_number_of_purchases_up_to_time", stacklevel=stacklevel,
            t=t, frequency=frequency, recency=recency, T=T)
        check_values(like, t=t_)
        return like.wrap(self._expected_arrays(t_, x, tx, age))

    def _expected_arrays(self, t: Any, x: Any, tx: Any, age: Any) -> np.ndarray:
        """Unchecked conditional expectation on arrays (used by CLV)."""
        return np.asarray(self._hooks._expected(self._params_array(), np.asarray(t, float),
                                                x, tx, age), dtype=float)

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        """P(alive at ``T``) given each history.

        Parameters
        ----------
        frequency, recency, T : float, array-like or Series
            Customer histories; broadcast together.

        Returns
        -------
        ndarray or as the input
            BG/NBD and MBG/NBD: always an array of at least one dimension (lifetimes
            applies ``np.atleast_1d``); Pareto/NBD: shaped like the input.
        """
        (x, tx, age), like = self._histories(
            "conditional_probability_alive", frequency=frequency, recency=recency, T=T)
        p = np.asarray(self._hooks._p_alive(self._params_array(), x, tx, age), dtype=float)
        if self._model.p_alive_at_least_1d:
            return np.atleast_1d(np.broadcast_to(p, like.shape).copy())
        return like.wrap(p)

    def conditional_probability_alive_matrix(
        self, max_frequency: int | None = None, max_recency: int | None = None
    ) -> np.ndarray:
        """P(alive) for every whole frequency and recency of a customer aged ``max_recency``.

        Parameters
        ----------
        max_frequency : int, optional
            Largest frequency; default the largest in ``data``.
        max_recency : int, optional
            Largest recency, also the customers' age ``T``; default the largest ``T`` in
            ``data`` (truncated to an integer).

        Returns
        -------
        ndarray of shape (max_recency + 1, max_frequency + 1)
            ``Z[t_x, x]``; the ``x = 0`` column uses every recency as given, like lifetimes.
        """
        if not max_frequency or not max_recency:
            data = getattr(self, "data", None)
            if not isinstance(data, pd.DataFrame):
                raise ValueError(
                    "Pass max_frequency and max_recency: the model holds no training data "
                    "to take them from (it was loaded without data or never fitted)."
                )
            max_frequency = max_frequency or int(data["frequency"].max())
            max_recency = max_recency or int(data["T"].max())
        rec, freq = np.meshgrid(np.arange(int(max_recency) + 1, dtype=float),
                                np.arange(int(max_frequency) + 1, dtype=float), indexing="ij")
        return np.asarray(self._hooks._p_alive(self._params_array(), freq, rec,
                                               float(max_recency)), dtype=float)

    def expected_number_of_purchases_up_to_time(self, t: Any) -> Any:
        """Predict repeat purchases of a new customer by time ``t``.

        Parameters
        ----------
        t : float, array-like or Series
            Time(s) since the first purchase, >= 0.

        Returns
        -------
        numpy float, ndarray or Series
            Shaped like ``t``.
        """
        (t_,), like = as_arrays(t=t)
        check_values(like, t=t_)
        return like.wrap(self._hooks._expected_new(self._params_array(), t_))

    def generate_new_data(self, size: int = 1, random_state: Any = None) -> pd.DataFrame:
        """Simulate ``size`` customers with the ages of the training data.

        lifetimes stored this as a function in ``fit``; here it is a method that draws from
        clvlab's simulator of the model, with its own random generator.

        Parameters
        ----------
        size : int, default=1
            Number of customers; they take the first ``size`` ages ``T`` of ``data``
            (cycling through them if ``size`` is larger).
        random_state : int or numpy Generator, optional
            Seed (not part of lifetimes' signature; lifetimes used numpy's global state).

        Returns
        -------
        DataFrame
            Columns ``frequency``, ``recency``, ``T``, index ``customer_id`` 0..size-1
            (lifetimes also returned the latent ``lambda``, ``p`` and ``alive``).
        """
        self._require("sample")
        data = getattr(self, "data", None)
        if not isinstance(data, pd.DataFrame):
            raise ValueError("generate_new_data takes the ages T of the training data, which "
                             "this model does not hold (loaded without data).")
        ages = np.resize(data["T"].to_numpy(dtype=float), int(size))
        x, tx = self._hooks._simulate(self._params_array(), ages,
                                      np.random.default_rng(random_state))
        return pd.DataFrame({"frequency": x, "recency": tx, "T": ages},
                            index=pd.RangeIndex(int(size), name="customer_id"))

    # -- persistence ------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        state = super()._state()
        state["scale"] = getattr(self, "_scale", None)
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        super()._restore(state)
        scale = state.get("scale")
        self._scale = None if scale is None else float(scale)

    def _restore_from_native(self, native: Any) -> None:
        super()._restore_from_native(native)
        self._scale = None


def _check_counts(like: Any, n: np.ndarray) -> None:
    bad = n != np.floor(n)
    if np.any(bad):
        raise InvalidValueError(
            f"n must be a whole number of purchases; got {n[bad].reshape(-1)[:5].tolist()}.",
            column="n", rule="whole number",
        )


class NewCustomerPmfMixin:
    """lifetimes' ``probability_of_n_purchases_up_to_time`` (BG/NBD, MBG/NBD)."""

    def probability_of_n_purchases_up_to_time(self, t: Any, n: Any) -> Any:
        """P(a new customer makes exactly ``n`` repeat purchases by time ``t``).

        Same argument order as lifetimes, ``(t, n)``. (clvlab's native
        ``probability_of_purchases`` takes them as keywords, ``n=..., t=...``.)

        Parameters
        ----------
        t : float or array-like
            Time since the first purchase, >= 0.
        n : int or array-like of int
            Number of repeat purchases, >= 0.

        Returns
        -------
        numpy float or ndarray
            Finite where lifetimes' own formula overflowed to NaN (large ``n``).
        """
        self_: Any = self
        self_._require("probability_of_purchases")
        (t_, n_), like = as_arrays(t=t, n=n)
        check_values(like, t=t_, n=n_)
        _check_counts(like, n_)
        log_p = self_._hooks._log_pmf_new(self_._params_array(), n_, t_)
        return like.wrap(np.exp(log_p))


class ConditionalPmfMixin:
    """lifetimes' ``conditional_probability_of_n_purchases_up_to_time`` (Pareto/NBD)."""

    def conditional_probability_of_n_purchases_up_to_time(
        self, n: Any, t: Any, frequency: Any, recency: Any, T: Any
    ) -> Any:
        """P(exactly ``n`` repeat purchases in the next ``t`` | history).

        Same argument order as lifetimes, ``(n, t, frequency, recency, T)``.

        Parameters
        ----------
        n : int
            Number of purchases, >= 0.
        t : float
            Horizon, >= 0. (lifetimes returned 0 for ``t = 0`` even when ``n = 0``; here
            P(0 purchases in no time) is 1.)
        frequency, recency, T : float, array-like or Series
            Customer histories.

        Returns
        -------
        numpy float, ndarray or Series
            Shaped like the inputs.
        """
        self_: Any = self
        self_._require("conditional_probability_of_purchases")
        (n_, t_, x, tx, age), like = self_._histories(
            "conditional_probability_of_n_purchases_up_to_time",
            n=n, t=t, frequency=frequency, recency=recency, T=T)
        check_values(like, n=n_, t=t_)
        _check_counts(like, n_)
        log_p = self_._hooks._log_pmf_conditional(self_._params_array(), n_, t_, x, tx, age)
        # no time, no purchase: P(0) = 1 whatever the model's formula does at t = 0
        p = np.where(t_ == 0, (n_ == 0).astype(float), np.exp(log_p))
        return like.wrap(p)
