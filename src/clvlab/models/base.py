"""Shared machinery of every clvlab model.

:class:`BaseModel` gives the scikit-learn surface (``get_params`` / ``set_params``, fitted
attributes ending in ``_``, ``NotFittedError`` before ``fit``) and JSON persistence.
:class:`BaseFitter` adds maximum likelihood once for all parametric models: it optimises
over unconstrained transformed parameters (logs by default) with the analytic gradient
the subclass supplies, compresses identical customers into weights, judges convergence
by the gradient norm (not by the optimiser's message), and derives the variance matrix,
standard errors, confidence intervals, AIC and BIC.

A subclass declares ``_param_names``, ``_data_columns`` and ``_model_name`` and implements
``_loglik_and_grad`` (a thin wrapper around a pure function of
:mod:`clvlab.models.likelihoods`) and ``_initial_params``.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import datetime as _dt
import functools
import hashlib
import inspect
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Self, cast

import numpy as np
import pandas as pd
from scipy import optimize, special

from clvlab import _columns as C
from clvlab._checks import check_level
from clvlab._memory import release_unused
from clvlab._time import check_time_unit
from clvlab.exceptions import (
    ConvergenceError,
    ConvergenceWarning,
    DegenerateFitWarning,
    NotFittedError,
)
from clvlab.models.contract import Capabilities, FitColumns, Heterogeneity, ModelDescription
from clvlab.models.likelihoods._numerics import _distinct_rows
from clvlab.validation import validate_rfm

__all__ = ["BaseModel", "BaseFitter", "RemoteRows", "SummaryTable", "data_fingerprint"]

#: Gradient inf-norm (of the mean negative log-likelihood per customer, with respect to the
#: transformed parameters) below which a fit counts as converged.
GRADIENT_TOLERANCE = 1e-5

#: Largest Newton step (inf-norm, transformed i.e. log parameters) still counted as
#: converged: estimates would move by less than 0.01%.
STEP_TOLERANCE = 1e-4

#: Above this many distinct data rows, a fit on a systematic subsample of this size
#: supplies the starting point of the full fit.
WARM_START_ROWS = 20_000

#: Step (in log parameter) of the numerical gradient used when a model has no analytic one.
NUMERIC_GRADIENT_STEP = 1e-5

#: Box on the transformed (log) parameters: natural values within exp(+-30).
THETA_BOUND = 30.0

#: Largest total log-likelihood gain a further Newton step may still promise at a
#: converged optimum (a second, scale-free witness next to the gradient norm).
LOGLIK_CHANGE_TOLERANCE = 1e-4


def _single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread while optimising, when ``threadpoolctl`` is installed.

    The optimiser's linear algebra is tiny (k x k), and OpenBLAS threads that wake up for
    it spin and compete with the vectorised likelihood on a busy machine (measured: up to
    3x slower fits on 2 shared cores). The limit is scoped to the ``with`` block. Also
    used around the prediction ranges' short, wide products (``clvlab.intervals``).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional dependency
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


#: Compressions kept by :func:`shared_compression` (None outside its block; per thread).
_SHARED_ROWS: contextvars.ContextVar[list[tuple[tuple[np.ndarray, ...], Any]] | None] = (
    contextvars.ContextVar("clvlab_shared_rows", default=None)
)


@contextlib.contextmanager
def shared_compression() -> Iterator[None]:
    """Within the block, fits on equal rows merge their identical rows once.

    :func:`clvlab.compare_models` fits several models on the same calibration columns;
    each fit would hash the same million rows into the same distinct rows and counts. In
    the block, a fit whose columns (and unit weights) equal an earlier fit's -- checked
    element by element, not guessed from identity -- reuses that compression (copies of
    its arrays), so the estimates are the same as without the block. Scoped to the
    current thread (a context variable); nothing is kept after the block.
    """
    token = _SHARED_ROWS.set([])
    try:
        yield
    finally:
        _SHARED_ROWS.reset(token)


def _newton_gain(grad: np.ndarray, hess: np.ndarray) -> tuple[float, float]:
    """Newton step ``H^-1 g`` at the estimate: its promised gain ``g'H^-1 g / 2`` and size.

    Returns ``(gain, step inf-norm)``, both ``inf`` when ``H`` is not positive definite.
    A large step with a tiny gain is the signature of an estimate sliding towards the
    edge of the parameter space (e.g. ``log r -> -inf``), which the gradient alone misses.
    """
    grad = np.asarray(grad, dtype=float)
    if not np.all(np.isfinite(grad)) or not np.all(np.isfinite(hess)):
        return math.inf, math.inf
    try:
        chol = np.linalg.cholesky(0.5 * (hess + hess.T))
    except np.linalg.LinAlgError:
        return math.inf, math.inf
    y = np.linalg.solve(chol, grad)
    step = np.linalg.solve(chol.T, y)
    return 0.5 * float(y @ y), float(np.max(np.abs(step)))


def _bfgs_update(hess: np.ndarray, step: np.ndarray, change: np.ndarray) -> np.ndarray:
    """BFGS update of a Hessian approximation after ``theta += step``, ``grad += change``.

    Skipped (the matrix is kept) when the curvature condition ``change' step > 0`` fails,
    so the approximation stays positive definite.
    """
    curv = float(change @ step)
    hs = hess @ step
    shs = float(step @ hs)
    if not (curv > 1e-12 * np.linalg.norm(change) * np.linalg.norm(step) and shs > 0):
        return hess
    return hess + np.outer(change, change) / curv - np.outer(hs, hs) / shs


def data_fingerprint(*arrays: np.ndarray) -> str:
    """Short SHA-256 fingerprint of the numeric arrays a model was fitted on."""
    h = hashlib.sha256()
    for arr in arrays:
        a = np.ascontiguousarray(np.asarray(arr, dtype=float))
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def resolve_time_unit(time_unit: str | None, data: Any) -> str:
    """Pick the time unit: the explicit argument, else ``data.attrs['time_unit']``."""
    if time_unit is not None:
        return check_time_unit(time_unit)
    attrs = getattr(data, "attrs", None) or {}
    if C.ATTR_TIME_UNIT in attrs:
        return check_time_unit(attrs[C.ATTR_TIME_UNIT])
    raise ValueError(
        "time_unit is unknown: the data carry no 'time_unit' attribute (set by "
        "clvlab.rfm_summary). Pass it explicitly, e.g. fit(rfm, time_unit='W'), so every "
        "horizon and discount rate is read in the right unit."
    )


class RemoteRows(abc.ABC):
    """Distinct fit rows and their weights, held outside this process (e.g. in Spark).

    A fitter that declares ``_fits_remote_rows = True`` accepts such an object in place of
    the data in ``fit``: it reads the rows only through additive reductions computed where
    the rows live (:meth:`reduce`: the log-likelihood and its gradient at a batch of
    parameter vectors, counts, moments) and a small subsample (:meth:`subsample`) for its
    starting point, so the memory of the fitting process does not grow with the rows. The
    optimiser, its convergence checks and the fitted attributes are those of the in-memory
    fit, so the estimates equal it up to the order of floating-point sums.

    An implementation gives each reduction function the rows in batches of the model's
    ``_data_columns`` (as float arrays) and their weights, *all* rows including those the
    model's :meth:`BaseFitter._row_mask` leaves out; it sums the returned arrays in a fixed
    order (so repeated evaluations at one point agree exactly).

    Attributes
    ----------
    n_rows : int
        Number of rows (before the model's selection).
    attrs : dict
        Settings of the data, as on an RFM frame (e.g. ``time_unit``).
    """

    n_rows: int
    attrs: dict[str, Any]

    @abc.abstractmethod
    def reduce(
        self, fn: Callable[[tuple[np.ndarray, ...], np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """Return the sum over all batches of ``fn(arrays, weights)`` (a 1-d float array).

        ``fn`` is a picklable function (module-level functions and ``functools.partial``
        of them, holding plain values and classes): it runs where the rows are.
        """

    @abc.abstractmethod
    def subsample(
        self, stride: int, n_heavy: int
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
        """Return the ``n_heavy`` heaviest rows and about one in ``stride`` of the others.

        The rule of the in-memory warm start (``BaseFitter._fit_compressed``):
        ``(arrays, weights, heavy)`` -- arrays of the data columns, the weights as stored
        (not rescaled) and a flag marking the heavy rows. The selection is deterministic
        and does not depend on how the rows are partitioned.
        """

    @abc.abstractmethod
    def example_ids(
        self, fn: Callable[[tuple[np.ndarray, ...]], np.ndarray], n: int
    ) -> list[Any]:
        """Return up to ``n`` representative customer ids of rows where ``fn`` is true."""


def _remote_batch(
    cls: type, options: dict[str, Any], task: str, payload: Any,
    arrays: tuple[np.ndarray, ...], weights: np.ndarray,
) -> np.ndarray:
    """One batch of a remote reduction: rebuild the model from its class and options.

    ``task`` is ``"totals"`` (weighted log-likelihood and gradient of the selected rows at
    each parameter vector of ``payload``, flattened ``[ll, g_1 .. g_k]`` per vector) or
    ``"summary"`` (:meth:`BaseFitter._remote_sums`).
    """
    model = cls(**options)
    if task == "summary":
        return model._remote_sums(arrays, weights)
    mask = model._row_mask(arrays)
    if mask is not None:
        arrays = tuple(a[mask] for a in arrays)
        weights = weights[mask]
    k = len(model._param_names)
    if weights.size == 0:
        return np.zeros(len(payload) * (k + 1))
    with np.errstate(all="ignore"):
        res = model._totals_at([np.asarray(p, dtype=float) for p in payload], arrays, weights)
    return np.concatenate([np.concatenate(([total], grad)) for total, grad in res])


class SummaryTable:
    """A model summary for people: text for consoles, HTML for notebooks and reports.

    Parameters
    ----------
    title : str
        Heading, e.g. ``"BG/NBD (BetaGeoFitter)"``.
    info : list of (str, str)
        Model-level facts (customers, time unit, log-likelihood, ...), already formatted.
    table : DataFrame
        Per-parameter rows (for fitters: ``estimate, se, lower, upper``).
    notes : list of str, optional
        Footnotes (e.g. the confidence level, a convergence warning).
    """

    def __init__(
        self,
        title: str,
        info: Sequence[tuple[str, str]],
        table: pd.DataFrame,
        notes: Sequence[str] = (),
    ) -> None:
        self.title = title
        self.info = [(str(k), str(v)) for k, v in info]
        self.table = table
        self.notes = list(notes)

    def as_text(self) -> str:
        """Plain-text rendering (fixed width)."""
        width_key = max((len(k) for k, _ in self.info), default=0)
        lines = [self.title, "=" * len(self.title)]
        lines += [f"{k:<{width_key}}  {v}" for k, v in self.info]
        lines.append("")
        lines.append(self.table.to_string(float_format=lambda v: f"{v:.6g}"))
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_html(self) -> str:
        """HTML rendering (one ``<div>`` with a facts table and a parameter table)."""
        from html import escape

        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(v)}</td></tr>"
            for k, v in self.info
        )
        params = self.table.to_html(
            float_format=lambda v: f"{v:.6g}", classes="clvlab-params", border=0
        )
        notes = "".join(f"<p class='clvlab-note'>{escape(n)}</p>" for n in self.notes)
        return (
            f"<div class='clvlab-summary'><h4>{escape(self.title)}</h4>"
            f"<table class='clvlab-info'>{rows}</table>{params}{notes}</div>"
        )

    def _repr_html_(self) -> str:
        return self.as_html()

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()


class BaseModel:
    """scikit-learn surface and JSON persistence shared by all models."""

    _param_names: ClassVar[tuple[str, ...]] = ()
    _model_name: ClassVar[str] = "model"
    _format_version: ClassVar[int] = 1

    # fitted metadata shared by every model (declared for type checkers; set by fit/load)
    time_unit_: str | None
    fit_date_: str | None
    data_fingerprint_: str | None

    # description for people (see clvlab.models.contract.ModelDescription)
    _long_name: ClassVar[str] = ""
    _story: ClassVar[str] = ""
    _glossary: ClassVar[dict[str, str]] = {}
    _references: ClassVar[tuple[str, ...]] = ()

    # -- the model contract (clvlab.models.contract) --------------------------------------
    @classmethod
    def capabilities(cls) -> Capabilities:
        """Return what the model offers; see :class:`clvlab.models.contract.Capabilities`."""
        raise NotImplementedError(f"{cls.__name__} does not declare its capabilities.")

    @classmethod
    def fit_columns(cls) -> FitColumns:
        """Return the columns ``fit`` reads (:class:`clvlab.models.contract.FitColumns`)."""
        raise NotImplementedError(f"{cls.__name__} does not declare the columns it fits on.")

    def _heterogeneity(self) -> tuple[Heterogeneity, ...]:
        """Fitted mixing distributions (subclasses with latent traits override)."""
        return ()

    def describe(self, *, distributions: bool = True) -> ModelDescription:
        """Describe the model for people: name, story, parameter glossary, distributions.

        Parameters
        ----------
        distributions : bool, default=True
            False leaves ``heterogeneity`` empty (no scipy.stats distributions are built):
            for callers that need only the name, key or glossary.

        Returns
        -------
        ModelDescription
            ``heterogeneity`` holds the fitted mixing distributions (scipy.stats frozen
            distributions) once the model is fitted (and ``distributions``), and is empty
            before.
        """
        from clvlab.models.registry import model_key

        try:
            key = model_key(self)
        except ValueError:
            key = type(self).__name__
        fitted = hasattr(self, "params_")
        return ModelDescription(
            key=key,
            name=self._model_name,
            long_name=self._long_name or self._model_name,
            story=self._story,
            parameters=dict(self._glossary),
            heterogeneity=self._heterogeneity() if fitted and distributions else (),
            references=tuple(self._references),
        )

    # -- scikit-learn conventions ---------------------------------------------------
    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor options of this model (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set constructor options; returns ``self``."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid option {key!r} for {type(self).__name__}; valid: {', '.join(valid)}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        if getattr(self, "params_", None) is not None and hasattr(self, "params_"):
            fitted = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            return f"{type(self).__name__}({opts}) fitted: {fitted}"
        return f"{type(self).__name__}({opts})"

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet. Call fit(rfm) first, or load a "
                "saved model with clvlab.load_model(path)."
            )

    # -- persistence --------------------------------------------------------------
    def _state_dict(self) -> dict[str, Any]:
        """Fitted state as JSON-compatible values (subclasses extend)."""
        return {}

    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore the fitted state written by :meth:`_state_dict`."""

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted model as a JSON-compatible dict (see :mod:`clvlab.persistence`)."""
        self._check_is_fitted()
        from clvlab.persistence import model_to_dict

        return model_to_dict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Self:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        from clvlab.persistence import model_from_dict

        model = model_from_dict(payload)
        if not isinstance(model, cls):
            from clvlab.exceptions import ModelFileError

            raise ModelFileError(
                f"The saved model is a {type(model).__name__}, not a {cls.__name__}. "
                "Use clvlab.load_model(path) to load any model."
            )
        return model

    def save(self, path: str | Any) -> None:
        """Write the fitted model to ``path`` as JSON (never pickle)."""
        from clvlab.persistence import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: str | Any) -> Self:
        """Load a model of this class saved with :meth:`save`."""
        from clvlab.persistence import load_model

        model = load_model(path)
        if not isinstance(model, cls):
            from clvlab.exceptions import ModelFileError

            raise ModelFileError(
                f"{path} holds a {type(model).__name__}, not a {cls.__name__}. "
                "Use clvlab.load_model(path) to load any model."
            )
        return model


class BaseFitter(BaseModel):
    """Maximum-likelihood fitter shared by the parametric models.

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        L2 penalty on the parameters added to the mean negative log-likelihood per
        customer (the same scaling as lifetimes). 0 gives the maximum-likelihood estimate.
    ci_level : float, default=0.95
        Confidence level of the intervals in :attr:`summary`.
    """

    _data_columns: ClassVar[tuple[str, ...]] = ()

    #: Whether ``fit`` accepts :class:`RemoteRows` (rows too many for this process). A
    #: model opts in when its starting points (``_initial_params``), ``_penalty_scale``
    #: and ``_degeneracy`` work from a subsample or the parameters alone, and its
    #: selection of rows is a per-row rule (``_row_mask``).
    _fits_remote_rows: ClassVar[bool] = False

    @classmethod
    def fit_columns(cls) -> FitColumns:
        """Fit columns: the likelihood's data columns (customers with equal values merge)."""
        return FitColumns(keys=tuple(cls._data_columns))

    def __init__(self, *, penalizer_coef: float = 0.0, ci_level: float = 0.95) -> None:
        self.penalizer_coef = penalizer_coef
        self.ci_level = ci_level

    # -- hooks for subclasses -----------------------------------------------------
    def _loglik(self, params: np.ndarray, data: Sequence[np.ndarray]) -> np.ndarray:
        """Per-row log-likelihood ``(n,)`` (needed only without ``_loglik_and_grad``)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement _loglik or _loglik_and_grad."
        )

    def _loglik_and_grad(
        self, params: np.ndarray, data: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-row log-likelihood ``(n,)`` and its gradient ``(n, k)`` in natural parameters.

        Models with an analytic gradient override this. The default differentiates
        :meth:`_loglik` numerically: central differences in the log of each parameter
        (step ``NUMERIC_GRADIENT_STEP``, relative error about 1e-10 for smooth
        likelihoods), i.e. ``2k`` extra likelihood evaluations per call.
        """
        ll = self._loglik(params, data)
        k = len(params)
        grad = np.empty((np.shape(ll)[0], k))
        h = NUMERIC_GRADIENT_STEP
        for j in range(k):
            up, down = params.copy(), params.copy()
            up[j] *= math.exp(h)
            down[j] *= math.exp(-h)
            # d ll / d p = (d ll / d log p) / p
            grad[:, j] = (self._loglik(up, data) - self._loglik(down, data)) / (
                2.0 * h * params[j]
            )
        return ll, grad

    def _total_loglik_and_grad(
        self, params: np.ndarray, data: Sequence[np.ndarray], weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Weighted total log-likelihood and its gradient ``(k,)`` in natural parameters.

        The optimiser's only contact with the data. The default sums the per-row
        :meth:`_loglik_and_grad` with the weights; a model whose likelihood has
        sufficient statistics (Gamma-Gamma) overrides it to skip the per-row arrays.
        """
        ll, grad = self._loglik_and_grad(params, data)
        # einsum's own loops, not BLAS: multithreaded BLAS on tall-thin products
        # thrashes on busy machines and is no faster here
        return float(np.einsum("i,i->", weights, ll)), np.einsum("i,ij->j", weights, grad)

    def _initial_params(self, data: Sequence[np.ndarray], weights: np.ndarray) -> list[np.ndarray]:
        """Return starting points in natural parameters, preferred first (deterministic)."""
        raise NotImplementedError

    def _degeneracy(
        self, params: np.ndarray, data: Sequence[np.ndarray], weights: np.ndarray
    ) -> str | None:
        """Describe a degenerate fit, or return ``None`` for a regular one.

        Called once after the optimiser with the estimate (natural parameters) and the
        compressed data. A model whose estimate can run to a limit of its parameter space
        because the data hold no evidence for one of its processes (no churn, no repeat
        purchase, one purchase day, no spread between customers) returns one or two
        sentences: the cause, in terms of the data, and the simpler model the fit reduces
        to. The base issues it as a :class:`~clvlab.exceptions.DegenerateFitWarning`,
        stores it as ``degeneracy_`` (also in ``optimizer_result_["degeneracy"]``, so it
        survives saving) and leaves out the convergence warnings it explains.
        """
        return None

    def _penalty_scale(self, data: Sequence[np.ndarray]) -> np.ndarray | None:
        """Per-parameter factors applied before the L2 penalty (``None``: penalise as is).

        Subclasses use it to reproduce lifetimes' scaling, which penalises time-scale
        parameters in units where the oldest customer's age is 1.
        """
        return None

    def _check_data(self, frame: pd.DataFrame) -> None:
        """Model-specific rules on a frame that passed :func:`~clvlab.validation.validate_rfm`.

        Called by ``fit`` and every predictor (through ``_prediction_frame``). The default
        adds nothing; a discrete-time model (BG/BB) requires whole periods and at most one
        purchase per period. Raise :class:`~clvlab.exceptions.InvalidValueError` naming
        the column, the rule, the offending customers and a fix.
        """

    def _select(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Boolean mask of the rows the model is fitted on; ``None`` keeps every row.

        All rows by default; Gamma-Gamma keeps the repeat buyers. Models whose rule is
        per row override :meth:`_row_mask` instead (also used on :class:`RemoteRows`).
        """
        return self._row_mask(tuple(frame[c].to_numpy(dtype=float) for c in self._data_columns))

    def _row_mask(self, arrays: Sequence[np.ndarray]) -> np.ndarray | None:
        """Per-row rule on the data columns: rows the likelihood reads (``None``: all)."""
        return None

    # -- remote rows (RemoteRows: the data live elsewhere, e.g. in Spark) ------------
    def _remote_sums(self, arrays: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
        """Additive summary of one batch of remote rows (all rows, before the selection).

        Base: per data column the number of non-finite and of negative values, then for
        the selected rows their number, total weight and per column ``sum w c`` and
        ``sum w c^2`` (the fingerprint of the fit). Subclasses append their own sums
        after these (:meth:`_remote_selection` reads them).
        """
        checks = []
        for a in arrays:
            checks += [float((~np.isfinite(a)).sum()), float((a < 0).sum())]
        mask = self._row_mask(arrays)
        sel = arrays if mask is None else tuple(a[mask] for a in arrays)
        w = weights if mask is None else weights[mask]
        moments = [float(len(w)), float(w.sum())]
        with np.errstate(all="ignore"):
            for a in sel:
                moments += [float(w @ a), float(w @ (a * a))]
        return np.array(checks + moments)

    def _remote_selection(self, rows: RemoteRows, sums: np.ndarray) -> tuple[int, float, str]:
        """Check remote rows from :meth:`_remote_sums`; return rows, weight, fingerprint.

        Raises ``ValueError`` naming the column when values are non-finite or negative
        (the in-memory path's :func:`~clvlab.validation.validate_rfm` rules on ranges).
        """
        n_cols = len(self._data_columns)
        checks = sums[: 2 * n_cols]
        for j, col in enumerate(self._data_columns):
            bad, negative = int(checks[2 * j]), int(checks[2 * j + 1])
            if bad or negative:
                raise ValueError(
                    f"{col}: {bad} rows are missing or not finite and {negative} are negative "
                    f"in the {self._model_name} fit rows; {col} must be a finite number >= 0. "
                    "Build the summary with clvlab.spark.rfm_summary."
                )
        moments = sums[2 * n_cols: 2 * n_cols + 2 + 2 * n_cols]
        return int(moments[0]), float(moments[1]), data_fingerprint(moments)

    def _remote_summary(self, rows: RemoteRows) -> np.ndarray:
        """Reduce :meth:`_remote_sums` over the remote rows (one pass)."""
        return rows.reduce(functools.partial(
            _remote_batch, type(self), self.get_params(), "summary", None))

    def _totals_at(
        self, params_list: Sequence[np.ndarray], data: Sequence[np.ndarray], weights: np.ndarray
    ) -> list[tuple[float, np.ndarray]]:
        """Weighted totals (:meth:`_total_loglik_and_grad`) at several parameter vectors.

        One call per data batch of a remote fit; a model whose parameter-free statistics
        are costly (Gamma-Gamma) overrides it to compute them once for the batch.
        """
        return [self._total_loglik_and_grad(p, data, weights) for p in params_list]

    def _totals(
        self, params_list: Sequence[np.ndarray], data: Any, weights: np.ndarray | None
    ) -> list[tuple[float, np.ndarray]]:
        """Weighted totals at several parameter vectors, in memory or in one remote pass."""
        if not isinstance(data, RemoteRows):
            return self._totals_at(params_list, data, weights)  # type: ignore[arg-type]
        # a pass per call; points already evaluated in this fit are remembered (e.g. the
        # final log-likelihood at the accepted Newton point costs no pass)
        memo: dict[tuple[float, ...], tuple[float, np.ndarray]] = getattr(
            self, "_remote_memo_", {})
        keys = [tuple(np.asarray(p, dtype=float).tolist()) for p in params_list]
        todo = list(dict.fromkeys(key for key in keys if key not in memo))
        if todo:
            k = len(self._param_names)
            flat = data.reduce(functools.partial(
                _remote_batch, type(self), self.get_params(), "totals",
                [list(key) for key in todo]))
            for key, row in zip(todo, flat.reshape(len(todo), k + 1), strict=True):
                memo[key] = (float(row[0]), row[1:].copy())
        return [(memo[key][0], memo[key][1].copy()) for key in keys]

    def _to_natural(self, theta: np.ndarray) -> np.ndarray:
        """Map unconstrained parameters to natural ones (default: ``exp``)."""
        return np.exp(theta)

    def _natural_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """Diagonal of d natural / d theta."""
        return np.exp(theta)

    def _to_theta(self, params: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`_to_natural`."""
        return np.log(params)

    # -- fitting ------------------------------------------------------------------
    def _validate_options(self) -> None:
        pen = self.penalizer_coef
        if not (isinstance(pen, (int, float)) and math.isfinite(pen) and pen >= 0):
            raise ValueError(f"penalizer_coef must be a finite number >= 0; got {pen!r}.")
        check_level(self.ci_level, "ci_level")

    @staticmethod
    def _check_weights(weights: Any, n: int) -> np.ndarray:
        if weights is None:
            return np.ones(n)
        w = np.asarray(weights, dtype=float).reshape(-1)
        if w.shape[0] != n:
            raise ValueError(f"weights must have one entry per customer ({n}); got {w.shape[0]}.")
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            raise ValueError(
                f"weights must be finite and >= 0; {int(bad.sum())} are not "
                f"(positions {', '.join(map(str, np.flatnonzero(bad)[:5]))})."
            )
        if w.sum() <= 0:
            raise ValueError("weights sum to 0: at least one customer must carry weight.")
        return w

    @staticmethod
    def _compress(
        arrays: Sequence[np.ndarray], weights: np.ndarray
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """Merge identical rows, summing their weights (rows with weight 0 are dropped).

        Hash-based (``pd.factorize`` per column, then on the combined code), so it is
        linear in the number of rows; the order of the merged rows is irrelevant to the fit.
        """
        n = len(weights)
        if n == 0:
            return tuple(np.asarray(a, dtype=float) for a in arrays), np.asarray(weights, float)
        shared = _SHARED_ROWS.get()
        if shared is not None and bool(np.all(weights == 1.0)):  # the usual, unweighted fit
            columns = tuple(np.asarray(a, dtype=float) for a in arrays)
            found = next((result for kept, result in shared if len(kept) == len(columns)
                          and all(a is b or np.array_equal(a, b)
                                  for a, b in zip(kept, columns, strict=True))), None)
            if found is None:
                found = BaseFitter._compress_rows(columns, weights)
                shared.append((columns, found))
            data_u, w = found
            # each fit gets its own merged rows (rows that did not merge are the columns)
            return (tuple(col if any(col is c for c in columns) else col.copy()
                          for col in data_u), w.copy())
        return BaseFitter._compress_rows(arrays, weights)

    @staticmethod
    def _compress_rows(
        arrays: Sequence[np.ndarray], weights: np.ndarray
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """:meth:`_compress` of rows with at least one row, always computed."""
        n = len(weights)
        inverse, rep = _distinct_rows(arrays)
        w = np.bincount(inverse, weights=weights, minlength=len(rep))
        keep = w > 0
        if keep.all() and len(rep) == n:  # nothing to merge or drop
            return tuple(np.asarray(a, dtype=float) for a in arrays), w
        rep, w = rep[keep], w[keep]
        return tuple(np.asarray(a, dtype=float)[rep] for a in arrays), w

    def _objective(
        self, theta: np.ndarray, data: Sequence[np.ndarray], weights: np.ndarray, n_total: float
    ) -> tuple[float, np.ndarray]:
        """Penalised mean negative log-likelihood and its gradient in theta."""
        return self._objective_many([theta], data, weights, n_total)[0]

    def _objective_many(
        self, thetas: Sequence[np.ndarray], data: Any, weights: Any, n_total: float
    ) -> list[tuple[float, np.ndarray]]:
        """:meth:`_objective` at several points (one pass over remote rows)."""
        thetas = [np.asarray(t, dtype=float) for t in thetas]
        params_list = [self._to_natural(t) for t in thetas]
        with np.errstate(all="ignore"):
            totals = self._totals(params_list, data, weights)
        return [self._penalised(t, p, total, g, n_total)
                for t, p, (total, g) in zip(thetas, params_list, totals, strict=True)]

    def _penalised(
        self, theta: np.ndarray, params: np.ndarray, total: float, g_nat: np.ndarray,
        n_total: float,
    ) -> tuple[float, np.ndarray]:
        if not np.isfinite(total) or not np.all(np.isfinite(g_nat)):
            return np.inf, np.zeros_like(theta)
        jac = self._natural_jacobian(theta)
        pen = float(self.penalizer_coef)
        if pen == 0.0:
            return -total / n_total, -(g_nat * jac) / n_total
        scale = getattr(self, "_penalty_scale_", None)
        scaled = params if scale is None else params * scale
        value = -total / n_total + pen * float(scaled @ scaled)
        gradient = -(g_nat * jac) / n_total + pen * 2.0 * scaled * (
            jac if scale is None else scale * jac
        )
        return value, gradient

    def _newton(
        self,
        theta: np.ndarray,
        data: Sequence[np.ndarray],
        weights: np.ndarray,
        n_total: float,
        max_steps: int = 20,
    ) -> tuple[np.ndarray, float, np.ndarray, int]:
        """Damped Newton steps from ``theta``.

        The finite-difference Hessian is computed once and then carried along with BFGS
        secant updates (one gradient per step instead of ``2k``: superlinear instead of
        the linear convergence of a frozen Hessian); it is recomputed only when a step
        fails. Returns ``(theta, value, grad, n_accepted_steps)``.
        """
        hess: np.ndarray | None = None
        remote = isinstance(data, RemoteRows)
        if remote:  # value and Hessian in one pass over the rows
            value, grad, hess = self._objective_and_hessian(theta, data, weights, n_total)
        else:
            value, grad = self._objective(theta, data, weights, n_total)
        n_steps = 0
        for i_step in range(max_steps):
            if not np.isfinite(value) or np.max(np.abs(grad)) < 1e-12:
                break
            fresh = hess is None or (remote and i_step == 0)
            if hess is None:
                hess = self._numeric_hessian_theta(theta, data, weights, n_total)
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:
                break
            accepted = False
            if np.all(np.isfinite(step)) and float(step @ grad) > 0:  # a descent direction
                cands = [np.clip(theta - scale * step, -THETA_BOUND, THETA_BOUND)
                         for scale in (1.0, 0.5, 0.25, 0.125)]
                # remote rows: the four trial points in one pass (same choice as in turn)
                batch = (self._objective_many(cands, data, weights, n_total)
                         if isinstance(data, RemoteRows) else None)
                for i, cand in enumerate(cands):
                    cval, cgrad = (batch[i] if batch is not None
                                   else self._objective(cand, data, weights, n_total))
                    if np.isfinite(cval) and cval <= value + 1e-15 * abs(value):
                        hess = _bfgs_update(hess, cand - theta, cgrad - grad)
                        theta, value, grad, accepted = cand, cval, cgrad, True
                        n_steps += 1
                        break
            if not accepted:
                if fresh:
                    break
                hess = None  # stale Hessian: recompute once at the current point
        return theta, value, grad, n_steps

    def _minimise(
        self, start: np.ndarray, data: Sequence[np.ndarray], weights: np.ndarray, n_total: float,
        warm: bool = False,
    ) -> optimize.OptimizeResult:
        """Minimise the objective from ``start`` (natural parameters).

        L-BFGS-B on the transformed parameters, then Newton steps on the exact gradient
        (with a finite-difference Hessian) polish the optimum to machine precision.
        A ``warm`` start (already close, e.g. from a subsample fit) tries Newton first and
        falls back to L-BFGS-B only if Newton does not reach the gradient tolerance.
        """
        theta0 = self._to_theta(np.asarray(start, dtype=float))
        if warm:
            theta, value, grad, _ = self._newton(theta0, data, weights, n_total)
            if np.isfinite(value) and np.max(np.abs(grad)) < GRADIENT_TOLERANCE * 1e-3:
                return optimize.OptimizeResult(
                    x=theta, fun=value, jac=grad, nit=0, success=True,
                    message="Newton from a subsample warm start",
                )
        res = optimize.minimize(
            self._objective,
            theta0,
            args=(data, weights, n_total),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-THETA_BOUND, THETA_BOUND)] * len(theta0),
            options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-8, "maxcor": 20},
        )
        theta, value, grad, _ = self._newton(res.x, data, weights, n_total)
        res.x, res.fun, res.jac = theta, value, grad
        return res

    def _numeric_hessian_theta(
        self, theta: np.ndarray, data: Sequence[np.ndarray], weights: np.ndarray, n_total: float
    ) -> np.ndarray:
        return self._objective_and_hessian(theta, data, weights, n_total, center=False)[2]

    def _objective_and_hessian(
        self, theta: np.ndarray, data: Any, weights: Any, n_total: float, center: bool = True
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Objective, gradient (if ``center``; else NaN, empty) and finite-difference Hessian.

        Central differences of the analytic gradient in each transformed parameter: ``2k``
        gradients, evaluated together (one pass over remote rows, with the centre).
        """
        k = len(theta)
        points, steps = [], []
        for j in range(k):
            h = 1e-5 * max(1.0, abs(theta[j]))
            tp, tm = theta.copy(), theta.copy()
            tp[j] += h
            tm[j] -= h
            points += [tp, tm]
            steps.append(h)
        values = self._objective_many(([theta] if center else []) + points, data, weights,
                                      n_total)
        value, grad = values.pop(0) if center else (math.nan, np.empty(0))
        hess = np.empty((k, k))
        for j in range(k):
            hess[:, j] = (values[2 * j][1] - values[2 * j + 1][1]) / (2 * steps[j])
        return value, grad, 0.5 * (hess + hess.T)

    def fit(
        self,
        data: Any,
        *,
        weights: Any = None,
        time_unit: str | None = None,
    ) -> Self:
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        data : DataFrame, mapping or RemoteRows
            RFM summary with the model's columns, index ``customer_id`` (see
            :func:`clvlab.rfm_summary`). Not modified and not stored on the model. Models
            with ``_fits_remote_rows`` also take :class:`RemoteRows` (distinct rows with
            their weights held elsewhere, e.g. by :func:`clvlab.spark.fit`).
        weights : array-like of shape (n_customers,), optional
            Number of customers each row stands for (e.g. an aggregated table). Identical
            rows are merged automatically in any case. Not with :class:`RemoteRows`
            (they carry their weights).
        time_unit : {"D", "W", "M", "Y"}, optional
            Unit of the recency and T columns. Defaults to ``data.attrs["time_unit"]``,
            which :func:`clvlab.rfm_summary` sets.

        Returns
        -------
        self
        """
        if isinstance(data, RemoteRows):
            self._validate_options()
            if not self._fits_remote_rows:
                raise TypeError(
                    f"{type(self).__name__} cannot be fitted on remote rows; collect the "
                    "counted rows and fit on them (clvlab.spark.fit does this)."
                )
            if weights is not None:
                raise ValueError("weights: remote rows carry their own weights; pass none.")
            unit = resolve_time_unit(time_unit, data)
            n_rows, n_total, fingerprint = self._remote_selection(
                data, self._remote_summary(data))
            self._remote_fit_ = (n_rows, fingerprint)
            self._remote_memo_: dict[tuple[float, ...], tuple[float, np.ndarray]] = {}
            self._penalty_scale_ = self._penalty_scale(data)  # type: ignore[arg-type]
            try:
                with _single_threaded_blas():
                    return self._fit_compressed(data, (), data, None, None,  # type: ignore
                                                n_total, unit)
            finally:
                del self._remote_fit_, self._remote_memo_
        self._validate_options()
        frame = validate_rfm(data, require=self._data_columns, model=self._model_name)
        self._check_data(frame)
        unit = resolve_time_unit(time_unit, data)
        w_all = self._check_weights(weights, len(frame))
        arrays = tuple(frame[c].to_numpy(dtype=float) for c in self._data_columns)
        arrays, w_all = self._select_with_weights(frame, arrays, w_all)
        data_u, w = self._compress(arrays, w_all)
        release_unused()  # the checks' and the compression's row-sized temporaries
        n_total = float(w.sum())
        self._penalty_scale_ = self._penalty_scale(data_u)

        with _single_threaded_blas():
            fitted = self._fit_compressed(data, arrays, data_u, w, w_all, n_total, unit)
        release_unused()
        return fitted

    def _fit_compressed(
        self,
        data: Any,
        arrays: tuple[np.ndarray, ...],
        data_u: tuple[np.ndarray, ...] | RemoteRows,
        w: np.ndarray,
        w_all: np.ndarray,
        n_total: float,
        unit: str,
    ) -> Self:
        """Optimise on the compressed rows and set the fitted attributes.

        ``data_u`` may be :class:`RemoteRows` (``w``, ``w_all`` then ``None``): the starting
        points and the warm start come from its subsample, every evaluation on all rows
        is one remote pass (the Hessian's ``2k`` points and Newton's trial steps batched).
        """
        if isinstance(data_u, RemoteRows):
            return self._fit_remote_start(data, data_u, n_total, unit)
        starts = [(np.asarray(p, dtype=float), False) for p in self._initial_params(data_u, w)]
        if len(w) > WARM_START_ROWS:
            # many distinct rows: fit a systematic subsample first (cheap) and start the
            # full fit from its estimate; convergence is still judged on all the data
            stride = -(-len(w) // WARM_START_ROWS)
            # heavy rows (many identical customers) all enter with weight / stride, the
            # rest systematically with their weight: unbiased, and the few heavy rows
            # (e.g. one-time buyers) no longer make the subsample's composition noisy
            n_heavy = WARM_START_ROWS // 4
            heavy = np.zeros(len(w), dtype=bool)
            heavy[np.argpartition(w, len(w) - n_heavy)[-n_heavy:]] = True
            light = np.flatnonzero(~heavy)[::stride]
            pick = np.concatenate([np.flatnonzero(heavy), light])
            sub = tuple(col[pick] for col in data_u)
            sub_w = np.concatenate([w[heavy] / stride, w[light]])
            self._add_subsample_start(starts, sub, sub_w)
        # warnings point at the caller of fit: fit -> _fit_compressed -> _fit_from_starts
        return self._fit_from_starts(starts, arrays, data_u, w, w_all, n_total, unit, level=4)

    def _fit_remote_start(
        self, data: Any, rows: RemoteRows, n_total: float, unit: str
    ) -> Self:
        """Start remote rows from a fit on their subsample (always), then the defaults.

        The subsample follows the in-memory warm start's rule (the heaviest rows with
        weight / stride, about one in ``stride`` of the others with theirs), drawn where
        the rows are; only it reaches this process.
        """
        n_rows = self._remote_fit_[0]
        stride = max(1, -(-n_rows // WARM_START_ROWS))
        arrays, weights, heavy = rows.subsample(stride, WARM_START_ROWS // 4)
        mask = self._row_mask(arrays)
        if mask is not None:
            arrays, weights, heavy = (tuple(a[mask] for a in arrays), weights[mask],
                                      heavy[mask])
        sub_w = np.where(heavy, weights / stride, weights)
        sub, sub_w = self._compress(arrays, sub_w)
        starts = [(np.asarray(p, dtype=float), False) for p in self._initial_params(sub, sub_w)]
        self._add_subsample_start(starts, sub, sub_w)
        # fit -> _fit_compressed -> _fit_remote_start -> _fit_from_starts
        return self._fit_from_starts(starts, (), rows, None, None, n_total, unit, level=5)

    def _add_subsample_start(
        self, starts: list[tuple[np.ndarray, bool]], sub: Sequence[np.ndarray],
        sub_w: np.ndarray,
    ) -> None:
        """Put the fit on a subsample first among ``starts`` (as a warm start), if it works."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sub_res = self._minimise(starts[0][0], sub, sub_w, float(sub_w.sum()))
            if np.isfinite(sub_res.fun):
                starts.insert(0, (self._to_natural(sub_res.x), True))
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            pass

    def _fit_from_starts(
        self,
        starts: list[tuple[np.ndarray, bool]],
        arrays: tuple[np.ndarray, ...],
        data_u: Any,
        w: np.ndarray | None,
        w_all: np.ndarray | None,
        n_total: float,
        unit: str,
        level: int = 4,
    ) -> Self:
        """Minimise from each start in turn until converged; set the fitted attributes.

        ``level`` is the ``stacklevel`` of the warnings, so they name the caller of ``fit``.
        """
        remote = isinstance(data_u, RemoteRows)
        # RemoteRows carry their own counts (``w`` is then None); every objective below
        # dispatches on the rows' type, so the weights pass through untouched
        w = cast(np.ndarray, w)
        best: optimize.OptimizeResult | None = None
        check: dict[str, Any] = {}
        n_starts = 0
        for start, warm in starts:
            n_starts += 1
            res = self._minimise(start, data_u, w, n_total, warm=warm)
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun - 1e-12):
                best = res
                check = self._assess(best, data_u, w, n_total)
            if check.get("converged"):
                break  # further starts only if needed
        if best is None or not np.isfinite(best.fun):
            raise ConvergenceError(
                f"{self._model_name} fit failed: the log-likelihood is not finite at any of "
                f"{n_starts} starting points. Check the data for extreme values, or set "
                "penalizer_coef > 0.",
                result=best,
            )
        theta = best.x
        params = self._to_natural(theta)
        with np.errstate(all="ignore"):
            log_likelihood = float(self._totals([params], data_u, w)[0][0])
        hess_theta = check["hessian"]
        grad_norm, ll_gain, step_norm = check["grad_norm"], check["ll_gain"], check["step_norm"]
        at_bound, converged = check["at_bound"], check["converged"]

        # a degenerate fit (the data hold no evidence for part of the model) sits at a
        # limit of the parameter space: one warning names the cause and the limit, and the
        # convergence and singular-Hessian warnings it explains are not issued
        self.time_unit_ = unit  # the degeneracy note may name it
        degeneracy = self._degeneracy(params, data_u, w)
        cov = self._variance(theta, data_u, w, n_total, hess_theta=hess_theta,
                             quiet=degeneracy is not None, level=level + 1)
        self.params_ = pd.Series(params, index=list(self._param_names), name="estimate")
        self.variance_matrix_ = pd.DataFrame(
            cov, index=list(self._param_names), columns=list(self._param_names)
        )
        self.standard_errors_ = pd.Series(
            np.sqrt(np.clip(np.diag(cov), 0, None)), index=list(self._param_names), name="se"
        )
        self.log_likelihood_ = log_likelihood
        self.n_customers_ = int(round(n_total)) if float(n_total).is_integer() else n_total
        self.n_unique_rows_ = int(self._remote_fit_[0] if remote else len(w))  # type: ignore
        self.time_unit_ = unit
        self.converged_ = bool(converged)
        self.optimizer_result_ = {
            "method": "L-BFGS-B on transformed parameters + Newton polish",
            "gradient_inf_norm": grad_norm,
            "gradient_tolerance": GRADIENT_TOLERANCE,
            "predicted_loglik_gain": ll_gain,
            "loglik_change_tolerance": LOGLIK_CHANGE_TOLERANCE,
            "newton_step_inf_norm": step_norm,
            "step_tolerance": STEP_TOLERANCE,
            "parameters_at_bound": at_bound,
            "n_starts": n_starts,
            "n_iterations": int(getattr(best, "nit", -1)),
            "message": str(getattr(best, "message", "")),
            "objective": float(best.fun),
        }
        self.optimizer_result_["degeneracy"] = degeneracy
        self.degeneracy_ = degeneracy
        self.fit_date_ = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        self.data_fingerprint_ = (self._remote_fit_[1] if remote
                                  else data_fingerprint(*arrays, cast(np.ndarray, w_all)))
        self._theta_ = theta
        if degeneracy is not None:
            warnings.warn(
                f"{self._model_name}: {degeneracy}",
                DegenerateFitWarning,
                stacklevel=level,
            )
        elif not converged:
            warnings.warn(
                f"{self._model_name} fit did not converge: gradient norm {grad_norm:.3g} "
                f"(tolerance {GRADIENT_TOLERANCE:g}), log-likelihood gain still available "
                f"{ll_gain:.3g} (tolerance {LOGLIK_CHANGE_TOLERANCE:g}), next Newton step "
                f"{step_norm:.3g} on the log scale (tolerance {STEP_TOLERANCE:g})"
                + (f", parameter(s) {', '.join(at_bound)} at the edge of the search box "
                   "(the data do not identify them)" if at_bound else "")
                + f" after {n_starts} start(s) "
                f"(optimiser: {self.optimizer_result_['message']}). The estimates may be off; "
                "inspect optimizer_result_, or try penalizer_coef > 0.",
                ConvergenceWarning,
                stacklevel=level,
            )
        return self

    def _assess(
        self,
        res: optimize.OptimizeResult,
        data: Sequence[np.ndarray],
        weights: np.ndarray,
        n_total: float,
    ) -> dict[str, Any]:
        """Convergence checks at an optimiser's result.

        Converged means all of: gradient inf-norm (mean objective, log parameters) below
        ``GRADIENT_TOLERANCE``; the total log-likelihood gain a further Newton step would
        promise, ``g' H^-1 g / 2``, below ``LOGLIK_CHANGE_TOLERANCE``; that step below
        ``STEP_TOLERANCE`` on the log scale; no parameter at the edge of the search box.
        A flat or indefinite surface (unidentified parameter, estimate sliding to a
        boundary) fails the second or third test even when the gradient is tiny.
        """
        theta = res.x
        hess = self._numeric_hessian_theta(theta, data, weights, n_total)
        grad_norm = float(np.max(np.abs(res.jac)))
        gain, step_norm = _newton_gain(res.jac, hess)
        ll_gain = gain * n_total
        at_bound = [
            name
            for name, th in zip(self._param_names, theta, strict=True)
            if abs(th) >= THETA_BOUND - 0.01
        ]
        converged = (
            grad_norm < GRADIENT_TOLERANCE
            and ll_gain < LOGLIK_CHANGE_TOLERANCE
            and step_norm < STEP_TOLERANCE
            and not at_bound
        )
        return {
            "hessian": hess,
            "grad_norm": grad_norm,
            "ll_gain": ll_gain,
            "step_norm": step_norm,
            "at_bound": at_bound,
            "converged": bool(converged),
        }

    def _select_with_weights(
        self, frame: pd.DataFrame, arrays: tuple[np.ndarray, ...], weights: np.ndarray
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """Keep the rows :meth:`_select` marks, in the data arrays and the weights alike.

        Positional (a boolean mask), so no lookup of customer ids is needed.
        """
        keep = self._select(frame)
        if keep is None or bool(keep.all()):
            return arrays, weights
        return tuple(a[keep] for a in arrays), weights[keep]

    def _variance(
        self,
        theta: np.ndarray,
        data: Sequence[np.ndarray],
        weights: np.ndarray,
        n_total: float,
        hess_theta: np.ndarray | None = None,
        quiet: bool = False,
        level: int = 4,
    ) -> np.ndarray:
        """Inverse Hessian of the total negative log-likelihood, in natural parameters.

        A singular Hessian gives NaN standard errors with a ConvergenceWarning, unless
        ``quiet`` (a degenerate fit, already explained by its own warning).
        """
        k = len(theta)
        if hess_theta is None:
            hess_theta = self._numeric_hessian_theta(theta, data, weights, n_total)
        hess_theta = hess_theta * n_total
        jac = self._natural_jacobian(theta)
        # d2/dp2 = J^-1 H_theta J^-1 at the optimum (the gradient term vanishes there)
        hess = hess_theta / np.outer(jac, jac)
        hess = 0.5 * (hess + hess.T)
        try:
            cov = np.linalg.inv(hess)
            if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            cov = np.full((k, k), np.nan)
            if quiet:
                return cov
            warnings.warn(
                f"{self._model_name}: the Hessian is singular or not positive definite at the "
                "estimate; standard errors are not available (NaN). The likelihood is flat in "
                "some direction: more data or penalizer_coef > 0 may help.",
                ConvergenceWarning,
                stacklevel=level,
            )
            cov = np.full((k, k), np.nan)
        return 0.5 * (cov + cov.T)

    # -- fitted summaries -----------------------------------------------------------
    @property
    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and ``ci_level`` confidence bounds.

        The interval is a Wald interval on the optimisation scale (log for positive
        parameters) mapped back, so bounds always respect the parameter's constraints.
        """
        self._check_is_fitted()
        z = special.ndtri(0.5 + self.ci_level / 2)
        theta = self._to_theta(self.params_.to_numpy())
        jac = self._natural_jacobian(theta)
        se = self.standard_errors_.to_numpy()
        se_theta = se / jac
        with np.errstate(over="ignore"):  # an unbounded interval (huge SE) ends at inf
            lower = self._to_natural(theta - z * se_theta)
            upper = self._to_natural(theta + z * se_theta)
        return pd.DataFrame(
            {
                "estimate": self.params_.to_numpy(),
                "se": se,
                "lower": lower,
                "upper": upper,
            },
            index=pd.Index(list(self._param_names), name="parameter"),
        )

    @property
    def aic_(self) -> float:
        """Akaike information criterion, ``2k - 2 LL``."""
        self._check_is_fitted()
        return 2 * len(self._param_names) - 2 * self.log_likelihood_

    @property
    def bic_(self) -> float:
        """Bayesian information criterion, ``k ln(n) - 2 LL`` with n customers."""
        self._check_is_fitted()
        return len(self._param_names) * math.log(self.n_customers_) - 2 * self.log_likelihood_

    def summary_table(self) -> SummaryTable:
        """Summary for people: ``as_text()``, ``as_html()`` and notebook display.

        Returns
        -------
        SummaryTable
            Facts (customers, time unit, log-likelihood, AIC, BIC, convergence, fit date,
            data fingerprint) and the :attr:`summary` parameter table.
        """
        self._check_is_fitted()
        from clvlab._time import UNIT_NAMES

        unit = getattr(self, "time_unit_", None)
        info = [
            ("model", f"{self._model_name} ({type(self).__name__})"),
            ("customers", f"{self.n_customers_:,}"),
            ("time unit", f"{unit} ({UNIT_NAMES.get(unit, '?')})" if unit else "unknown"),
            ("log-likelihood", f"{self.log_likelihood_:.4f}"),
            ("AIC", f"{self.aic_:.4f}"),
            ("BIC", f"{self.bic_:.4f}"),
            ("converged", "yes" if self.converged_ else "NO"),
            ("penalizer_coef", f"{self.penalizer_coef:g}"),
            ("fitted", str(getattr(self, "fit_date_", None))),
            ("data fingerprint", str(getattr(self, "data_fingerprint_", None))),
        ]
        notes = [
            f"lower/upper: {self.ci_level:.0%} Wald intervals on the log scale "
            "(bounds stay positive)."
        ]
        degeneracy = getattr(self, "degeneracy_", None)
        if degeneracy:
            notes.append(f"Degenerate fit: {degeneracy}")
        elif not self.converged_:
            notes.append("The optimiser did not meet the convergence criteria; see "
                         "optimizer_result_.")
        return SummaryTable(f"{self._model_name} ({type(self).__name__})", info,
                            self.summary, notes)

    # -- helpers for predictors -----------------------------------------------------
    def _params_array(self) -> np.ndarray:
        self._check_is_fitted()
        return self.params_.to_numpy(dtype=float)

    def _prediction_frame(self, data: Any, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Return the validated RFM frame for a predictor (never modified)."""
        self._check_is_fitted()
        frame = validate_rfm(
            data, require=tuple(columns or self._data_columns), model=self._model_name
        )
        self._check_data(frame)
        attrs = getattr(data, "attrs", None) or {}
        unit = attrs.get(C.ATTR_TIME_UNIT)
        fitted_unit = getattr(self, "time_unit_", None)
        if unit is not None and fitted_unit is not None and unit != fitted_unit:
            raise ValueError(
                f"The data are in time unit {unit!r} but the model was fitted in "
                f"{fitted_unit!r}; recency, T and every horizon must use the model's unit. "
                f"Rebuild the summary with rfm_summary(..., time_unit={fitted_unit!r})."
            )
        return frame

    # -- persistence hooks ---------------------------------------------------------
    def _state_dict(self) -> dict[str, Any]:
        return {
            "params": {k: float(v) for k, v in self.params_.items()},
            "variance_matrix": [
                [None if not np.isfinite(x) else float(x) for x in row]
                for row in self.variance_matrix_.to_numpy()
            ],
            "log_likelihood": self.log_likelihood_,
            "n_customers": self.n_customers_,
            "n_unique_rows": self.n_unique_rows_,
            "converged": self.converged_,
            "optimizer_result": self.optimizer_result_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._validate_options()
        names = list(self._param_names)
        params = state["params"]
        values = np.array([float(params[n]) for n in names], dtype=float)
        with np.errstate(all="ignore"):
            theta = self._to_theta(values)
        if not np.all(np.isfinite(values)) or not np.all(np.isfinite(theta)):
            raise ValueError(
                f"parameters must be finite and inside their domain; got "
                f"{dict(zip(names, values.tolist(), strict=True))}"
            )
        self.params_ = pd.Series(values, index=names, name="estimate")
        cov = np.array(
            [[np.nan if x is None else float(x) for x in row] for row in state["variance_matrix"]],
            dtype=float,
        )
        if cov.shape != (len(names), len(names)):
            raise ValueError(f"variance_matrix must be {len(names)}x{len(names)}")
        self.variance_matrix_ = pd.DataFrame(cov, index=names, columns=names)
        self.standard_errors_ = pd.Series(
            np.sqrt(np.clip(np.diag(cov), 0, None)), index=names, name="se"
        )
        self.log_likelihood_ = float(state["log_likelihood"])
        self.n_customers_ = state["n_customers"]
        self.n_unique_rows_ = int(state.get("n_unique_rows", 0))
        self.converged_ = bool(state["converged"])
        self.optimizer_result_ = dict(state.get("optimizer_result", {}))
        self.degeneracy_ = self.optimizer_result_.get("degeneracy")
        self._theta_ = self._to_theta(self.params_.to_numpy())
