"""Argument handling shared by the lifetimes-compatible API.

lifetimes computes its predictions with plain numpy/pandas arithmetic, so the type of a
result follows the inputs: numbers give a numpy float, arrays an array, and a pandas
Series gives a Series on that Series' index. :func:`as_arrays` records which case applies
(:class:`Like`) and converts every input to a float array for clvlab's array functions;
:meth:`Like.wrap` shapes the answer back.

lifetimes never checked its inputs, so NaN, negative values and impossible histories went
straight into its formulas. Here values that are not numbers at all (NaN, infinity,
negative ages) raise :class:`~clvlab.exceptions.InvalidValueError`; histories that are
impossible but that lifetimes' formulas accepted (frequency 0 with recency > 0, recency
after T, a fractional frequency) are computed exactly as lifetimes did, with one
:class:`LifetimesCompatWarning` per call that says which rule they break.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clvlab.exceptions import DataQualityWarning, InvalidValueError, describe_offenders

__all__ = ["LifetimesCompatWarning", "Like", "as_arrays", "check_values", "check_histories"]


class LifetimesCompatWarning(DataQualityWarning):
    """Inputs that lifetimes accepted but that no real purchase history can produce."""


@dataclass(frozen=True)
class Like:
    """How lifetimes' arithmetic would have shaped a result.

    Attributes
    ----------
    index : pandas.Index or None
        Index of the Series inputs (they all share it), or ``None`` without a Series.
    name : hashable or None
        The name the Series inputs share (pandas keeps a name only when both operands
        carry the same one), else ``None``.
    scalar : bool
        Every input was a single number.
    shape : tuple of int
        Broadcast shape of the inputs.
    """

    index: pd.Index | None
    name: Hashable | None
    scalar: bool
    shape: tuple[int, ...]

    def labels(self, mask: np.ndarray) -> list[Any]:
        """Return customer labels (index values, else positions) where ``mask`` is true."""
        flat = np.flatnonzero(np.broadcast_to(mask, self.shape).reshape(-1))
        if self.index is not None and self.shape == (len(self.index),):
            return list(self.index[flat[:5]])
        return [int(i) for i in flat[:5]]

    def wrap(self, values: Any) -> Any:
        """Return ``values`` as lifetimes would: numpy float, ndarray or Series."""
        arr = np.asarray(values, dtype=float)
        if self.index is not None:
            return pd.Series(np.broadcast_to(arr, self.shape).copy(), index=self.index,
                             name=self.name)
        if self.scalar and arr.size == 1:
            return np.float64(arr.reshape(-1)[0])
        return arr


def _to_float_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, pd.DataFrame):
        raise TypeError(
            f"{name} must be a number, an array or a pandas Series (one column); got a "
            f"DataFrame with columns {list(value.columns)[:5]}. Pass df[{name!r}]."
        )
    try:
        if isinstance(value, pd.Series):
            return value.to_numpy(dtype=float, na_value=np.nan)
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must hold numbers; got {type(value).__name__} that cannot be read as "
            f"numbers ({str(value)[:60]!r})."
        ) from None


def as_arrays(**named: Any) -> tuple[list[np.ndarray], Like]:
    """Convert lifetimes-style arguments to float arrays and remember the result's shape.

    Parameters
    ----------
    **named
        Argument name -> number, list, ndarray or Series, in the order of the signature.

    Returns
    -------
    arrays : list of ndarray
        Float arrays, in the order given (not broadcast).
    like : Like

    Raises
    ------
    ValueError
        Series with different indexes (lifetimes would have aligned them and returned NaN
        for unmatched customers), or shapes that do not broadcast.
    TypeError
        A DataFrame, or values that are not numbers.
    """
    index: pd.Index | None = None
    first = ""
    names: list[Hashable] = []
    arrays = []
    for key, value in named.items():
        if isinstance(value, pd.Series):
            if index is None:
                index, first = value.index, key
            elif not value.index.equals(index):
                raise ValueError(
                    f"{first} and {key} are Series with different indexes; lifetimes would "
                    "align them on the index and return NaN for the customers that do not "
                    "match. Pass columns of one DataFrame, or arrays in the same order."
                )
            names.append(value.name)
        arrays.append(_to_float_array(key, value))
    try:
        shape = tuple(np.broadcast_shapes(*(a.shape for a in arrays)))
    except ValueError:
        shapes = ", ".join(f"{k} {a.shape}" for k, a in zip(named, arrays, strict=True))
        raise ValueError(
            f"The arguments have shapes that do not combine ({shapes}): give one value per "
            "customer in each, or single numbers."
        ) from None
    if index is not None and shape != (len(index),):
        raise ValueError(
            f"{first} is a Series of {len(index)} customers but the arguments combine to "
            f"shape {shape}; give one value per customer in each argument, or single numbers."
        )
    name = names[0] if names and all(n == names[0] for n in names[1:]) else None
    return arrays, Like(index=index, name=name, scalar=shape == (), shape=shape)


def check_values(like: Like, minimum: float | None = 0.0, **named: np.ndarray) -> None:
    """Raise :class:`InvalidValueError` for NaN, infinite or (below ``minimum``) values.

    Parameters
    ----------
    like : Like
        From :func:`as_arrays` (for the customer labels in the message).
    minimum : float or None, default=0.0
        Smallest allowed value (``None``: no lower bound).
    **named : ndarray
        Argument name -> values.
    """
    for key, arr in named.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InvalidValueError(
                f"{key}: must be a finite number; {int(bad.sum())} value(s) are NaN or "
                f"infinite (at {describe_offenders(like.labels(bad), int(bad.sum()))}). "
                "lifetimes returned NaN for them; drop or fill these customers first.",
                column=key, rule="finite", offenders=like.labels(bad),
                n_offending=int(bad.sum()),
            )
        if minimum is not None:
            bad = arr < minimum
            if bad.any():
                raise InvalidValueError(
                    f"{key}: must be >= {minimum:g}; {int(bad.sum())} value(s) are not (at "
                    f"{describe_offenders(like.labels(bad), int(bad.sum()))}). Counts, ages "
                    "and horizons cannot be negative.",
                    column=key, rule=f">= {minimum:g}", offenders=like.labels(bad),
                    n_offending=int(bad.sum()),
                )


def check_histories(
    like: Like,
    frequency: np.ndarray,
    recency: np.ndarray | None,
    T: np.ndarray | None,
    *,
    function: str,
    zero_frequency_note: str = "",
    stacklevel: int = 3,
) -> None:
    """Check histories: errors for non-numbers, one warning for impossible but accepted ones.

    Parameters
    ----------
    like : Like
    frequency, recency, T : ndarray
        Histories (``recency`` and ``T`` may be ``None`` for spend-only functions).
    function : str
        Name of the lifetimes function, for the message.
    zero_frequency_note : str, optional
        How the model's formulas treat recency when frequency is 0 (e.g. BG/NBD ignores it).
    stacklevel : int, default=3
        Passed to :func:`warnings.warn` (3: the caller of the public method).
    """
    named = {"frequency": frequency}
    if recency is not None:
        named["recency"] = recency
    if T is not None:
        named["T"] = T
    check_values(like, 0.0, **named)
    rules: list[tuple[str, np.ndarray]] = []
    fractional = frequency != np.floor(frequency)
    rules.append(("frequency is not a whole number of repeat purchases", fractional))
    if recency is not None:
        zero = (frequency == 0) & (recency > 0)
        rules.append((
            "frequency is 0 but recency > 0 (recency is the age at the last repeat "
            "purchase, so it is 0 without one"
            + (f"; {zero_frequency_note}" if zero_frequency_note else "") + ")",
            zero,
        ))
    if recency is not None and T is not None:
        rules.append(("recency > T (a last purchase after the end of observation)",
                      recency > T * (1 + 1e-12) + 1e-12))
    found = [(text, mask) for text, mask in rules if np.any(mask)]
    if not found:
        return
    parts = []
    for text, mask in found:
        n = int(np.count_nonzero(np.broadcast_to(mask, like.shape)))
        where = "" if like.scalar else f" (at {describe_offenders(like.labels(mask), n)})"
        parts.append(f"{n} where {text}{where}")
    warnings.warn(
        f"{function}: impossible histories that lifetimes accepted: " + "; ".join(parts)
        + ". They are computed exactly as lifetimes did, with the values as given, but no "
        "real customer has such a history: rebuild the summary with "
        "utils.summary_data_from_transaction_data, or fix these rows.",
        LifetimesCompatWarning,
        stacklevel=stacklevel,
    )
