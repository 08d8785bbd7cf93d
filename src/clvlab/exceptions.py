"""Every exception and warning clvlab raises, in one place.

Errors about the user's data subclass :class:`ValueError` (so ``except ValueError`` keeps
working) and carry structured fields -- the column, the rule, what was found and what to
do -- besides a readable message. Warnings subclass :class:`ClvlabWarning` so a user can
filter all of clvlab's warnings, or one family, with the standard :mod:`warnings` module.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "ClvlabError",
    "DataValidationError",
    "MissingColumnsError",
    "EmptyInputError",
    "NotATableError",
    "InvalidValueError",
    "InvalidArgumentError",
    "PredictionError",
    "NotFittedError",
    "ConvergenceError",
    "ModelFileError",
    "SparkUnavailableError",
    "ClvlabWarning",
    "DataQualityWarning",
    "ModelWarning",
    "ConvergenceWarning",
    "AssumptionWarning",
    "DegenerateFitWarning",
    "describe_offenders",
    "reissue_warnings",
]


def describe_offenders(values: Iterable[Any], n_total: int | None = None, limit: int = 5) -> str:
    """Format the first few offending ids, row numbers or values for an error message.

    Parameters
    ----------
    values : iterable
        Offending items (customer ids, row numbers, raw values), in the order found.
    n_total : int, optional
        How many offend in all; defaults to the number of ``values``.
    limit : int, default=5
        How many to show.

    Returns
    -------
    str
        For example ``"17, 42, 97 and 12 more"``.
    """
    items = list(values)
    total = len(items) if n_total is None else int(n_total)
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in items[:limit])
    rest = total - min(limit, len(items))
    return f"{shown} and {rest} more" if rest > 0 else shown


class ClvlabError(Exception):
    """Base class of every exception raised by clvlab."""


class DataValidationError(ClvlabError, ValueError):
    """Input data break a rule clvlab relies on.

    Parameters
    ----------
    message : str
        Full human-readable message: column, rule, what was found, what to do.
    column : str, optional
        The offending column, when there is one.
    rule : str, optional
        Short statement of the rule, e.g. ``"recency <= T"``.
    offenders : sequence, optional
        The first few offending ids, row numbers or values.
    n_offending : int, optional
        How many rows or customers offend in all.
    """

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        rule: str | None = None,
        offenders: Sequence[Any] | None = None,
        n_offending: int | None = None,
    ) -> None:
        super().__init__(message)
        self.column = column
        self.rule = rule
        self.offenders = list(offenders) if offenders is not None else []
        self.n_offending = n_offending


class MissingColumnsError(DataValidationError):
    """A required column is absent (the message lists the columns that are present)."""


class EmptyInputError(DataValidationError):
    """The input holds no rows (or none survive the documented policies)."""


class NotATableError(DataValidationError):
    """The source cannot be read as a table (binary file, unknown format, unreadable)."""


class InvalidValueError(DataValidationError):
    """Values in a column break a rule: bad dates, blank ids, NaN amounts, recency > T ..."""


class InvalidArgumentError(ClvlabError, ValueError):
    """A scalar argument (margin, discount rate, horizon, level, date) is out of its range.

    Raised by the checks of :mod:`clvlab._checks`, which the API and the command line
    share, so ``margin=30`` and ``--margin 30`` fail with the same message.

    Parameters
    ----------
    message : str
        The argument, the rule, the value found and (when it is a likely slip, such as a
        percentage typed for a share) the value probably meant.
    argument : str, optional
        The argument's name as the caller wrote it (``"margin"``, ``"--margin"``).
    rule : str, optional
        Short statement of the rule, e.g. ``"0 < margin <= 1"``.
    """

    def __init__(self, message: str, *, argument: str | None = None,
                 rule: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.rule = rule


class PredictionError(ClvlabError, ArithmeticError):
    """A fitted model cannot produce a finite prediction (e.g. at a degenerate estimate).

    The message names the model, the prediction and the reason; the data are not at
    fault. Raised instead of letting NaN or infinity reach CLV, scores or exports.
    """


class NotFittedError(ClvlabError, ValueError, AttributeError):
    """A model method that needs fitted parameters was called before ``fit``."""


class ConvergenceError(ClvlabError, RuntimeError):
    """Maximum-likelihood estimation failed to produce a usable optimum.

    Parameters
    ----------
    message : str
        What failed and what to try.
    result : object, optional
        The optimiser's result (``scipy.optimize.OptimizeResult``) for inspection.
    """

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class ModelFileError(ClvlabError, ValueError):
    """A saved-model file is missing, corrupt, of another class or of an unsupported format."""


class SparkUnavailableError(ClvlabError, RuntimeError):
    """The Spark engine cannot start: PySpark or Java 17+ is missing.

    The message says how to install them.
    """


class ClvlabWarning(UserWarning):
    """Base class of every warning issued by clvlab."""


class DataQualityWarning(ClvlabWarning):
    """Rows were dropped, netted or changed by a documented data policy (always with a count)."""


class ModelWarning(ClvlabWarning):
    """Something about a fitted model deserves attention."""


class ConvergenceWarning(ModelWarning):
    """The optimiser stopped without meeting the convergence criteria; estimates may be off."""


class AssumptionWarning(ModelWarning):
    """The data contradict a model assumption (e.g. Gamma-Gamma's spend/frequency independence)."""


class DegenerateFitWarning(ModelWarning):
    """The data hold no evidence for part of the model, so the fit reduced to a limit.

    For example BG/NBD on a log without any sign of churn: the dropout probability goes to
    0 and the model becomes the NBD (Gamma-Poisson purchases, nobody leaves). The message
    names the cause and the limit; predictions are those of the limit and stay finite.
    """


def reissue_warnings(caught: list[warnings.WarningMessage], stacklevel: int) -> None:
    """Issue recorded warnings again, each distinct message once, at the caller's line.

    Functions that call models (``customer_lifetime_value``, ``score_customers``,
    ``evaluate``) record the models' warnings with ``warnings.catch_warnings(record=True)``
    and re-issue them with this, so that a warning names the user's line rather than a
    line inside clvlab, and a warning that several model calls raise is shown once.

    Parameters
    ----------
    caught : list of warnings.WarningMessage
        The recorded warnings, in order.
    stacklevel : int
        As for :func:`warnings.warn`, counted from the function that calls this one
        (2: the line that called it).
    """
    seen: set[tuple[type[Warning], str]] = set()
    for w in caught:
        key = (w.category, str(w.message))
        if key not in seen:
            seen.add(key)
            warnings.warn(w.message, w.category, stacklevel=stacklevel + 1)
