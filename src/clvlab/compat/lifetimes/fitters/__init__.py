"""Base class of the lifetimes-compatible fitters (lifetimes' ``lifetimes.fitters``).

:class:`BaseFitter` holds what every lifetimes fitter shares: ``params_`` (a Series that
predictions read, so setting it by hand works as in lifetimes), ``summary``,
``_unload_params``, the ``repr`` and ``save_model`` / ``load_model``. Files are JSON, not
dill: a fitted model is saved as a clvlab model file (readable by
:func:`clvlab.load_model`) plus a ``"lifetimes"`` section with what only this API needs
(the training data, ``_scale``, ...).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clvlab.exceptions import ModelFileError, NotFittedError

__all__ = ["BaseFitter"]

#: Name of the section of a model file that holds the lifetimes-only state.
FILE_SECTION = "lifetimes"
#: ``format`` of a file holding a compat model without a clvlab fit (parameters set by hand).
COMPAT_FORMAT = "clvlab-lifetimes-compat"
COMPAT_FORMAT_VERSION = 1

#: lifetimes' fixed 95% normal quantile for its confidence intervals.
_Z95 = 1.96


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars to Python and non-finite floats to None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _frame_to_json(frame: Any) -> Any:
    """Training data as JSON: ``{"index": [...], "columns": {name: [...]}, "dtypes": {...}}``."""
    if not isinstance(frame, pd.DataFrame):
        try:
            json.dumps(frame)
        except TypeError:
            raise TypeError(
                "values_to_save must hold JSON values (None, numbers, strings, lists); got "
                f"{type(frame).__name__}."
            ) from None
        return {"placeholder": frame}
    index = frame.index
    if isinstance(index, pd.RangeIndex):
        idx: Any = {"range": [int(index.start), int(index.stop), int(index.step)]}
    else:
        values = [_jsonable(v) for v in index.tolist()]
        try:
            json.dumps(values)
        except TypeError:
            raise TypeError(
                "The training data's index holds values JSON cannot store (e.g. dates); "
                "save with save_model(path, save_data=False), or fit with index=None."
            ) from None
        idx = {"values": values, "name": _jsonable(index.name)}
    return {
        "index": idx,
        "columns": {str(c): [_jsonable(v) for v in frame[c].tolist()] for c in frame.columns},
        "dtypes": {str(c): str(frame[c].dtype) for c in frame.columns},
    }


def _frame_from_json(payload: Any) -> Any:
    if payload is None:
        return None
    if "placeholder" in payload:
        return payload["placeholder"]
    idx = payload["index"]
    if "range" in idx:
        index: pd.Index = pd.RangeIndex(*idx["range"])
    else:
        index = pd.Index(idx["values"], name=idx.get("name"))
    columns = {
        c: pd.Series([np.nan if v is None else v for v in vals], index=index).astype(
            payload["dtypes"][c])
        for c, vals in payload["columns"].items()
    }
    return pd.DataFrame(columns, index=index)


class BaseFitter:
    """Shared surface of the lifetimes-compatible fitters.

    Attributes
    ----------
    params_ : Series
        Parameter estimates, indexed by lifetimes' (and the papers') names. Predictions
        read it, so it may be set by hand as in lifetimes' own tests.
    data : DataFrame or None
        What ``fit`` received (lifetimes' attribute), index from ``fit(index=...)``.
    clvlab_model_ : clvlab model
        The fitted clvlab model behind this one (its time unit is unknown, ``None``,
        because lifetimes' summaries carry none; see :meth:`to_clvlab`).
    """

    #: Parameter names, in lifetimes' order.
    _param_names: ClassVar[tuple[str, ...]] = ()

    penalizer_coef: float
    data: Any

    def __repr__(self) -> str:
        classname = type(self).__name__
        try:
            subjects = f" fitted with {self.data.shape[0]:d} subjects,"
        except AttributeError:
            subjects = ""
        params = getattr(self, "params_", None)
        if params is None:
            return f"<clvlab.compat.lifetimes.{classname}>"
        described = ", ".join(f"{k}: {float(v):.2f}" for k, v in sorted(params.items()))
        return f"<clvlab.compat.lifetimes.{classname}:{subjects} {described}>"

    # -- parameters -------------------------------------------------------------------
    def _unload_params(self, *args: str) -> list[float]:
        """Return the named parameters as floats (lifetimes' helper, used by its plots)."""
        params = getattr(self, "params_", None)
        if params is None:
            raise NotFittedError(
                f"This {type(self).__name__} has not been fit yet. Call fit(...) first, or "
                "load a saved model with load_model(path)."
            )
        missing = [a for a in args if a not in params.index]
        if missing:
            raise ValueError(
                f"params_ lacks {', '.join(missing)}; {type(self).__name__} needs "
                f"{', '.join(self._param_names)}."
            )
        return [float(params[a]) for a in args]

    def _params_array(self) -> np.ndarray:
        """Parameters in ``_param_names`` order, checked finite and > 0."""
        values = np.array(self._unload_params(*self._param_names), dtype=float)
        if not np.all(np.isfinite(values) & (values > 0)):
            shown = dict(zip(self._param_names, values.tolist(), strict=True))
            raise ValueError(f"params_ must be finite and > 0; got {shown}.")
        return values

    def _set_fit_statistics(self, native: Any) -> None:
        """Copy the estimate and its uncertainty from a fitted clvlab model."""
        names = list(self._param_names)
        self.params_ = pd.Series(native.params_[names].to_numpy(dtype=float), index=names)
        cov = native.variance_matrix_.loc[names, names]
        self.variance_matrix_ = pd.DataFrame(cov.to_numpy(dtype=float), index=names,
                                             columns=names)
        self._set_intervals()
        self.clvlab_model_ = native

    def _set_intervals(self) -> None:
        names = list(self._param_names)
        se = np.sqrt(np.clip(np.diag(self.variance_matrix_.to_numpy(dtype=float)), 0, None))
        self.standard_errors_ = pd.Series(se, index=names)
        self.confidence_intervals_ = pd.DataFrame(
            {
                "lower 95% bound": self.params_ - _Z95 * self.standard_errors_,
                "upper 95% bound": self.params_ + _Z95 * self.standard_errors_,
            },
            index=names,
        )

    @property
    def summary(self) -> pd.DataFrame:
        """Estimates, standard errors and lifetimes' symmetric 95% intervals.

        Returns
        -------
        DataFrame
            Index: parameters; columns ``coef``, ``se(coef)``, ``lower 95% bound``,
            ``upper 95% bound`` (``coef -+ 1.96 se``, as lifetimes computes them; clvlab's
            own ``summary`` gives intervals on the log scale that stay positive).
        """
        self._unload_params()
        if getattr(self, "standard_errors_", None) is None:
            raise NotFittedError(
                "summary needs standard errors, which come from fit(...); this model's "
                "parameters were set by hand."
            )
        df = pd.DataFrame(index=self.params_.index)
        df["coef"] = self.params_
        df["se(coef)"] = self.standard_errors_
        df["lower 95% bound"] = self.confidence_intervals_["lower 95% bound"]
        df["upper 95% bound"] = self.confidence_intervals_["upper 95% bound"]
        return df

    # -- migration ------------------------------------------------------------------------
    def to_clvlab(self, time_unit: str) -> Any:
        """Return the clvlab model behind this one, with its time unit set.

        lifetimes' summaries carry no time unit, so the clvlab model fitted here has
        ``time_unit_ = None``. Naming the unit the recency and T columns were in (the
        ``freq`` of ``summary_data_from_transaction_data``) gives a model that the rest of
        clvlab (CLV, evaluation, reports, ``clvlab.load_model``) can use.

        Parameters
        ----------
        time_unit : {"D", "W", "M", "Y"}
            Unit of the data this model was fitted on.

        Returns
        -------
        clvlab model
            A copy (e.g. :class:`clvlab.BetaGeoFitter`); this object is not changed.
        """
        from clvlab._time import check_time_unit
        from clvlab.persistence import model_from_dict

        native = getattr(self, "clvlab_model_", None)
        if native is None:
            raise NotFittedError(
                "to_clvlab needs a model fitted with fit(...) (or loaded from a file saved "
                "after fit); this one has no clvlab fit behind it."
            )
        ours = self.params_[list(self._param_names)].to_numpy(dtype=float)
        if not np.array_equal(ours, native.params_.to_numpy(dtype=float)):
            raise ValueError(
                "params_ were changed after fit, so they are no longer the clvlab estimate; "
                "refit, or build the clvlab model yourself."
            )
        copy = model_from_dict(native.to_dict())
        copy.time_unit_ = check_time_unit(time_unit)
        return copy

    # -- persistence ----------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        """lifetimes-only state of a fitted model (subclasses extend)."""
        state: dict[str, Any] = {
            "penalizer_coef": float(self.penalizer_coef),
            "params": {k: float(v) for k, v in self.params_.items()},
            "negative_log_likelihood": getattr(self, "_negative_log_likelihood_", None),
        }
        cov = getattr(self, "variance_matrix_", None)
        state["variance_matrix"] = None if cov is None else cov.to_numpy().tolist()
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        self.penalizer_coef = float(state["penalizer_coef"])
        params = state["params"]
        self.params_ = pd.Series({k: float(params[k]) for k in params})
        nll = state.get("negative_log_likelihood")
        self._negative_log_likelihood_ = None if nll is None else float(nll)
        cov = state.get("variance_matrix")
        if cov is not None:
            names = list(self.params_.index)
            self.variance_matrix_ = pd.DataFrame(
                np.array([[np.nan if v is None else v for v in row] for row in cov], float),
                index=names, columns=names,
            )
            self._set_intervals()

    def save_model(
        self,
        path: str | os.PathLike[str],
        save_data: bool = True,
        save_generate_data_method: bool = True,
        values_to_save: list[Any] | None = None,
    ) -> None:
        """Save the model to ``path`` as JSON (lifetimes used dill).

        The file is a clvlab model file -- ``clvlab.load_model(path)`` returns the clvlab
        model -- with a ``"lifetimes"`` section for this API (parameters, training data,
        ``_scale``...). No code is stored, so nothing runs when the file is read.

        Parameters
        ----------
        path : str or path-like
            File to write (parent folders are created).
        save_data : bool, default=True
            Store ``data`` (the training frame). Without it ``load_model`` sets ``data``
            to ``values_to_save[0]`` (default ``None``).
        save_generate_data_method : bool, default=True
            Accepted for lifetimes compatibility; there is no method to store
            (``generate_new_data`` is an ordinary method here).
        values_to_save : list, optional
            ``values_to_save[0]`` replaces ``data`` when ``save_data=False``; it must be a
            JSON value (e.g. ``""``).
        """
        self._unload_params()
        from clvlab import __version__
        from clvlab.persistence import model_to_dict

        native = getattr(self, "clvlab_model_", None)
        payload: dict[str, Any]
        if native is not None and np.array_equal(
            self.params_[list(self._param_names)].to_numpy(dtype=float),
            native.params_.to_numpy(dtype=float),
        ):
            payload = model_to_dict(native)
        else:  # parameters set by hand: no clvlab fit to store
            payload = {"format": COMPAT_FORMAT, "format_version": COMPAT_FORMAT_VERSION,
                       "clvlab_version": __version__}
        section = self._state()
        section["class"] = type(self).__name__
        if save_data:
            section["data"] = _frame_to_json(getattr(self, "data", None)) if getattr(
                self, "data", None) is not None else None
        else:
            placeholder = values_to_save[0] if values_to_save else None
            section["data"] = None if placeholder is None else _frame_to_json(placeholder)
        payload[FILE_SECTION] = _jsonable(section)
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(payload, indent=2, allow_nan=False)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text + "\n", encoding="utf-8")
            os.replace(tmp, p)
        finally:
            if tmp.exists():
                tmp.unlink()

    def load_model(self, path: str | os.PathLike[str]) -> Any:
        """Load a model saved with :meth:`save_model` into this object (replacing its state).

        Also reads a plain clvlab model file of the matching model (e.g. one written by
        ``clvlab.BetaGeoFitter().fit(rfm).save(path)``); ``data`` is then ``None``.

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        self
            (lifetimes returned ``None``; returning the model allows chaining.)

        Raises
        ------
        ModelFileError
            Missing, unreadable or corrupt file, or a model of another class.
        """
        from clvlab.persistence import FORMAT_NAME, model_from_dict, read_model_file

        payload = read_model_file(path)
        source = f"Model file {payload.pop('_source')!r}"
        section = payload.pop(FILE_SECTION, None)
        native = None
        if payload.get("format") == FORMAT_NAME:
            native = model_from_dict(payload, source=source)
        elif payload.get("format") != COMPAT_FORMAT:
            raise ModelFileError(f"{source} is not a clvlab model file.")
        expected_native = self._native_class_name()
        if section is None:
            if native is None or type(native).__name__ != expected_native:
                found = type(native).__name__ if native is not None else "no model"
                raise ModelFileError(
                    f"{source} holds {found}, not a model {type(self).__name__} can read "
                    f"(a {expected_native} or a file saved by {type(self).__name__}.save_model)."
                )
            self._restore_from_native(native)
            return self
        if section.get("class") != type(self).__name__:
            raise ModelFileError(
                f"{source} holds a {section.get('class')}, not a {type(self).__name__}; load "
                f"it with clvlab.compat.lifetimes.{section.get('class')}().load_model(path)."
            )
        try:
            self._restore(section)
            self.data = _frame_from_json(section.get("data"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"{source} has a corrupt 'lifetimes' section ({type(exc).__name__}: {exc})."
            ) from None
        self.clvlab_model_ = native
        return self

    # -- hooks for subclasses ---------------------------------------------------------------
    def _native_class_name(self) -> str:
        raise NotImplementedError

    def _restore_from_native(self, native: Any) -> None:
        """Take parameters and uncertainty from a plain clvlab model (no training data)."""
        self.penalizer_coef = float(native.penalizer_coef)
        self._set_fit_statistics(native)
        self.data = None
        self._negative_log_likelihood_ = None
