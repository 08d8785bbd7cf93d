"""Checks of scalar arguments, shared by the API and the command line.

One rule per kind of argument, so ``customer_lifetime_value(..., margin=30)``,
``score_customers(..., margin=30)``, ``evaluate(..., margin=30)`` and
``clvlab run --margin 30`` all fail with the same message (only the argument's name
differs: ``name="--margin"`` on the command line).

======================  ====================  ==========================================
argument                rule                  typical slip caught
======================  ====================  ==========================================
margin                  0 < margin <= 1       ``30`` for 30 % ("did you mean 0.30?")
discount rate           0 <= rate <= 1        ``10`` for 10 % a year ("did you mean 0.10?")
                        (per year, or per
                        time unit)
horizon                 finite, > 0           0, negative, NaN
level (ci_level, ...)   0 < level < 1         ``95`` for 95 % ("did you mean 0.95?")
date                    ISO 8601 text, a      ``'01/06/2024'`` (6 January or 1 June?)
                        datetime, or text in
                        the explicit format
======================  ====================  ==========================================

Every check returns the value as a Python ``float`` (or ``pd.Timestamp``) and raises
:class:`~clvlab.exceptions.InvalidArgumentError` (a ``ValueError``) for a value out of
range, ``TypeError`` for something that is not a number at all.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from clvlab.exceptions import InvalidArgumentError

__all__ = [
    "check_number",
    "check_margin",
    "check_discount_rate",
    "check_horizon",
    "check_level",
    "check_date",
    "check_finite_prediction",
    "ISO_DATE_PATTERN",
]

#: ISO 8601 calendar date, optionally with a time of day and a UTC offset.
ISO_DATE_PATTERN = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})\s*$")


def _fmt(value: float) -> str:
    """``0.3`` -> ``"0.30"``, ``0.125`` -> ``"0.125"``: a share as a person writes it."""
    text = f"{value:.2f}"
    return text if math.isclose(float(text), value, rel_tol=1e-12) else f"{value:g}"


def check_number(value: Any, name: str) -> float:
    """Return ``value`` as a finite ``float``.

    Parameters
    ----------
    value : Any
        The argument.
    name : str
        Its name in messages (``"margin"``, ``"--margin"``).

    Returns
    -------
    float

    Raises
    ------
    TypeError
        Not a real number (text, ``None``, a boolean, an array).
    InvalidArgumentError
        NaN or infinite.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a number; got {type(value).__name__} ({value!r}).")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidArgumentError(
            f"{name} must be a finite number; got {value!r}.", argument=name, rule="finite"
        )
    return number


def check_margin(value: Any, name: str = "margin") -> float:
    """Check a profit margin: the share of spend kept as profit, ``0 < margin <= 1``.

    ``1`` values revenue; ``0.3`` keeps 30 % of it. A value between 1 and 100 is almost
    certainly a percentage and the message says which share was probably meant.

    Parameters
    ----------
    value : Any
        The margin.
    name : str, default="margin"
        Its name in messages.

    Returns
    -------
    float

    Raises
    ------
    TypeError, InvalidArgumentError

    Examples
    --------
    >>> check_margin(0.3)
    0.3
    >>> try:
    ...     check_margin(30)
    ... except ValueError as exc:
    ...     print(str(exc).split("got ")[-1])
    30 (a percentage? did you mean 0.30?).
    """
    number = check_number(value, name)
    if 0.0 < number <= 1.0:
        return number
    hint = ""
    if 1.0 < number <= 100.0:
        hint = f" (a percentage? did you mean {_fmt(number / 100.0)}?)"
    raise InvalidArgumentError(
        f"{name} must be a share of spend with 0 < {name.lstrip('-')} <= 1 (1 = revenue, "
        f"0.3 = 30 % profit); got {value!r}{hint}.",
        argument=name,
        rule="0 < margin <= 1",
    )


def check_discount_rate(
    value: Any, name: str = "discount_rate", *, per: str = "time unit"
) -> float:
    """Check a discount rate, ``0 <= rate <= 1`` per year or per time unit.

    A rate above 1 (more than 100 % per period) is almost certainly a percentage; the
    message suggests the share.

    Parameters
    ----------
    value : Any
        The rate.
    name : str, default="discount_rate"
        Its name in messages.
    per : str, default="time unit"
        What the rate is per, for the message (``"year"``, ``"week"``).

    Returns
    -------
    float

    Raises
    ------
    TypeError, InvalidArgumentError
    """
    number = check_number(value, name)
    if 0.0 <= number <= 1.0:
        return number
    if number < 0:
        raise InvalidArgumentError(
            f"{name} must be a finite number >= 0 (a discount rate per {per}); got {value!r}.",
            argument=name,
            rule="0 <= rate <= 1",
        )
    hint = f" (a percentage? did you mean {_fmt(number / 100.0)}?)" if number <= 100 else ""
    raise InvalidArgumentError(
        f"{name} must be a share per {per} with 0 <= {name.lstrip('-')} <= 1 (0.10 = 10 % "
        f"per {per}; more than 100 % per {per} is taken for a slip); got {value!r}{hint}.",
        argument=name,
        rule="0 <= rate <= 1",
    )


def check_horizon(value: Any, name: str = "horizon", *, allow_inf: bool = False) -> float:
    """Check a prediction horizon: a finite number of time units, > 0 (or ``inf``).

    Parameters
    ----------
    value : Any
        The horizon.
    name : str, default="horizon"
        Its name in messages.
    allow_inf : bool, default=False
        Accept ``np.inf`` (an unbounded horizon: residual CLV).

    Returns
    -------
    float

    Raises
    ------
    TypeError, InvalidArgumentError
    """
    if allow_inf and isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)) and float(value) == math.inf:
        return math.inf
    also = " (or np.inf for all future purchases)" if allow_inf else ""
    try:
        number = check_number(value, name)
    except InvalidArgumentError:
        raise InvalidArgumentError(
            f"{name} must be a finite number > 0{also} (a duration in the model's time unit, "
            f"e.g. 52 weeks); got {value!r}.", argument=name, rule="horizon > 0") from None
    if number > 0:
        return number
    raise InvalidArgumentError(
        f"{name} must be a finite number > 0{also} (a duration in the model's time unit, e.g. "
        f"52 weeks); got {value!r}.",
        argument=name,
        rule="horizon > 0",
    )


def check_level(value: Any, name: str = "ci_level") -> float:
    """Check a probability level such as a confidence level: ``0 < level < 1``.

    Parameters
    ----------
    value : Any
        The level.
    name : str, default="ci_level"
        Its name in messages.

    Returns
    -------
    float

    Raises
    ------
    TypeError, InvalidArgumentError
    """
    number = check_number(value, name)
    if 0.0 < number < 1.0:
        return number
    hint = ""
    if 1.0 < number < 100.0:
        hint = f" (a percentage? did you mean {_fmt(number / 100.0)}?)"
    raise InvalidArgumentError(
        f"{name} must be between 0 and 1, exclusive (e.g. 0.95); got {value!r}{hint}.",
        argument=name,
        rule="0 < level < 1",
    )


def check_date(
    value: Any,
    name: str,
    *,
    date_format: str | None = None,
    error: type[ValueError] = InvalidArgumentError,
) -> pd.Timestamp:
    """Read a date argument: a datetime, ISO 8601 text, or text in ``date_format``.

    Text in any other form is refused rather than guessed: ``'01/06/2024'`` is 6 January
    to pandas and 1 June to most of the world.

    Parameters
    ----------
    value : Any
        ``pd.Timestamp``, ``datetime.datetime``, ``datetime.date``, ``numpy.datetime64``
        or text (``"2024-06-01"``, ``"2024-06-01 13:00"``, ``"2024-06-01T13:00:00Z"``).
    name : str
        Its name in messages (``"calibration_end"``, ``"--calibration-end"``).
    date_format : str, optional
        strftime format that text may also be written in (``"%d/%m/%Y"``); ISO 8601 is
        always accepted.
    error : type, default=InvalidArgumentError
        Exception class to raise (callers that document ``InvalidValueError`` pass it).

    Returns
    -------
    pandas.Timestamp
        The date (time zone kept when the value carries one).

    Raises
    ------
    InvalidArgumentError (or ``error``)
        Not a date, text in another format, or out of the range of ``datetime64[ns]``.
    """
    kwargs: dict[str, Any] = (
        {"column": name, "rule": "ISO 8601 date"} if error is not InvalidArgumentError
        else {"argument": name, "rule": "ISO 8601 date"}
    )
    ts: Any = None
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date, np.datetime64)):
        try:
            ts = pd.Timestamp(value)
        except (ValueError, OverflowError) as exc:
            raise error(f"{name} must be a date; got {value!r} ({exc}).", **kwargs) from None
    elif isinstance(value, str):
        text = value.strip()
        fmt = "ISO8601" if ISO_DATE_PATTERN.match(text) else None
        if fmt is None and date_format is not None:
            fmt = date_format
        if fmt is not None:
            try:
                ts = pd.to_datetime(text, format=fmt)
            except (ValueError, OverflowError):
                ts = None
        if ts is None:
            readings = ""
            m = _NUMERIC_DATE.match(text)
            if m:
                found = []
                for order, label in (("%d/%m/%Y", "day first"), ("%m/%d/%Y", "month first")):
                    canon = f"{m.group(1)}/{m.group(2)}/{m.group(3)}"
                    try:
                        year_fmt = order if len(m.group(3)) == 4 else order.replace("%Y", "%y")
                        found.append(f"{pd.to_datetime(canon, format=year_fmt).date()} "
                                     f"({label})")
                    except ValueError:
                        pass
                if found:
                    readings = f", which could be {' or '.join(found)}"
            allowed = "ISO 8601 (YYYY-MM-DD, e.g. '1997-09-30')"
            if date_format is not None:
                allowed += f" or the format {date_format!r}"
            raise error(
                f"{name} must be a date in {allowed}, or a Timestamp; got {value!r}{readings}. "
                "Write it as YYYY-MM-DD.",
                **kwargs,
            )
    else:
        raise error(
            f"{name} must be a date (ISO 8601 text such as '1997-09-30', or a Timestamp); got "
            f"{type(value).__name__} ({value!r}).",
            **kwargs,
        )
    if ts is pd.NaT or pd.isna(ts):
        raise error(f"{name} must be a date; got {value!r}.", **kwargs)
    return ts


def check_finite_prediction(values: Any, model: Any, what: str) -> np.ndarray:
    """Return ``values`` as floats, or raise if a model produced NaN or infinity.

    A non-finite prediction is the model's failure, never the data's: the message names
    the model, the prediction, how many customers and the fitted parameters.

    Parameters
    ----------
    values : array-like
        Predictions.
    model : object
        The model that made them (its ``_model_name`` or class name is shown).
    what : str
        The prediction (``"expected_purchases"``).

    Returns
    -------
    ndarray

    Raises
    ------
    clvlab.exceptions.PredictionError
    """
    from clvlab.exceptions import PredictionError

    arr = np.asarray(values, dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        label = getattr(model, "_model_name", None) or type(model).__name__
        params = getattr(model, "params_", None)
        shown = ""
        if params is not None:
            try:
                shown = " at " + ", ".join(f"{k} = {float(v):.4g}" for k, v in params.items())
            except (TypeError, ValueError, AttributeError):
                shown = ""
        note = getattr(model, "degeneracy_", None)
        raise PredictionError(
            f"{label} could not compute {what} for {int(bad.sum()):,} of {arr.size:,} "
            f"customers{shown}: the result is not a finite number. This is a numerical limit "
            f"of the model at these parameter values, not a problem in the data"
            + (f" ({note})" if note else "")
            + ". Refit with penalizer_coef > 0, or use another model."
        )
    return arr
