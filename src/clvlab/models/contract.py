"""The model contract: what every clvlab model offers and how it describes itself.

Downstream code (CLV, scoring, evaluation, plotting, the report, the CLI) talks to models
only through this module: it asks :func:`supports` whether a model offers a prediction,
skips what the model lacks with the note from :func:`missing_note`, and takes every word
about a model (name, story, parameter glossary, heterogeneity distributions) from
:meth:`describe`. It never checks a model's class and never assumes one model's parameters.

Roles
-----
``"purchase"``
    Models of when customers buy and whether they are still customers (BG/NBD,
    Pareto/NBD, MBG/NBD, ...): :class:`PurchaseModel`.
``"spend"``
    Models of the value of a purchase (Gamma-Gamma): :class:`SpendModel`.
``"baseline"``
    The formula baseline: :class:`BaselineModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy.typing as npt
import pandas as pd

__all__ = [
    "PREDICTIONS",
    "Capabilities",
    "FitColumns",
    "Heterogeneity",
    "ModelDescription",
    "PurchaseModel",
    "SpendModel",
    "BaselineModel",
    "supports",
    "offers",
    "missing_note",
    "describe",
    "fit_columns",
    "unsuited_data",
]

#: Every prediction name a model can offer, with what it means (for notes and docs).
PREDICTIONS: Mapping[str, str] = {
    # purchase models
    "expected_purchases": "expected purchases in the next t given each history",
    "probability_alive": "probability that each customer is still a customer",
    "probability_of_purchases": "distribution of a new customer's purchase count, P(X(t) = n)",
    "conditional_probability_of_purchases": (
        "distribution of each customer's future purchase count, P(X(T, T+t] = n | history)"
    ),
    "expected_purchases_new_customer": "expected purchases of a newly acquired customer",
    "expected_cumulative_purchases": "cumulative expected purchases of a cohort (tracking)",
    "probability_alive_history": "P(alive) along one customer's history",
    "expected_residual_purchases": (
        "discounted expected residual purchases over an unbounded horizon (DERT)"
    ),
    "sample": "simulation of RFM summaries from the fitted model",
    # spend models
    "expected_spend": "expected value of one future purchase given each history",
    "population_mean_spend": "mean value of a purchase across customers",
    "spend_distribution": (
        "distribution of the value of each customer's future purchases given the history"
    ),
    # baseline
    "predict": "formula CLV per customer",
}

Role = Literal["purchase", "spend", "baseline"]
TimeScale = Literal["continuous", "discrete", "none"]


@dataclass(frozen=True)
class Capabilities:
    """What a model can do.

    Attributes
    ----------
    role : {"purchase", "spend", "baseline"}
        Which part of CLV the model supplies.
    predictions : frozenset of str
        Names from :data:`PREDICTIONS` that the model offers.
    time : {"continuous", "discrete", "none"}
        Whether purchase opportunities are continuous in time (BG/NBD, Pareto/NBD) or
        discrete (BG/BB); ``"none"`` for models without a time dimension (spend).
    covariates : bool
        Whether the model takes customer covariates.
    """

    role: Role
    predictions: frozenset[str]
    time: TimeScale = "continuous"
    covariates: bool = False

    def __contains__(self, name: object) -> bool:
        return name in self.predictions


@dataclass(frozen=True)
class FitColumns:
    """The columns a model's ``fit`` reads, so an engine can hand it counted rows.

    Every model's ``fit(data, *, weights=None, time_unit=None)`` gives the same estimates
    on the customers as on these compressed rows with their counts as ``weights``, which
    is how the Spark engine fits: it counts the rows in the cluster and only the counts
    reach the driver (:func:`clvlab.spark.fit`).

    Attributes
    ----------
    keys : tuple of str
        Columns whose distinct combinations are the rows of the fit; customers with
        identical keys merge into one row weighted by their number (covariates belong
        here too).
    means : tuple of str
        Columns the fit uses only through weighted sums (linearly): within a row they
        are averaged over its customers, which leaves every such sum unchanged.
    """

    keys: tuple[str, ...]
    means: tuple[str, ...] = ()


@dataclass(frozen=True)
class Heterogeneity:
    """One distribution of a latent customer trait, for plots and prose.

    Attributes
    ----------
    name : str
        The trait, e.g. ``"purchase rate"`` or ``"dropout probability"``.
    symbol : str
        Its symbol in the model, e.g. ``"λ"``.
    distribution : scipy.stats frozen distribution
        The fitted mixing distribution (``.pdf``, ``.mean()``, ``.ppf`` ...).
    description : str
        E.g. ``"Gamma(r, α): purchases per week while alive"``.
    unit : str
        Unit of the trait's values, e.g. ``"per week"``, ``"per purchase"``, ``""``.
    support : {"positive", "unit"}
        ``"unit"`` for probabilities in (0, 1), ``"positive"`` for rates.
    """

    name: str
    symbol: str
    distribution: Any
    description: str
    unit: str = ""
    support: Literal["positive", "unit"] = "positive"


@dataclass(frozen=True)
class ModelDescription:
    """A model described for people (report prose, notebooks, CLI).

    Attributes
    ----------
    key : str
        Registry key (``"bgnbd"``, ``"pnbd"``, ...).
    name : str
        Short name, e.g. ``"BG/NBD"``.
    long_name : str
        E.g. ``"beta-geometric/negative binomial distribution model"``.
    story : str
        One paragraph: how the model thinks customers behave.
    parameters : Mapping[str, str]
        Parameter symbol -> meaning (with its unit where it has one).
    heterogeneity : tuple of Heterogeneity
        Fitted mixing distributions (empty when not fitted or not applicable).
    references : tuple of str
        Full references.
    """

    key: str
    name: str
    long_name: str
    story: str
    parameters: Mapping[str, str]
    heterogeneity: tuple[Heterogeneity, ...] = ()
    references: tuple[str, ...] = field(default=())


@runtime_checkable
class PurchaseModel(Protocol):
    """A fitted model of purchase counts and dropout (the ``"purchase"`` role).

    Required of every purchase model; further predictions are optional and announced in
    :meth:`capabilities`.
    """

    time_unit_: str | None
    params_: pd.Series

    def capabilities(self) -> Capabilities: ...  # noqa: D102

    def describe(self) -> ModelDescription: ...  # noqa: D102

    def expected_purchases(self, data: Any, t: float | npt.ArrayLike) -> pd.Series: ...  # noqa: D102

    def probability_alive(self, data: Any) -> pd.Series: ...  # noqa: D102


@runtime_checkable
class SpendModel(Protocol):
    """A fitted model of the value of a purchase (the ``"spend"`` role)."""

    params_: pd.Series

    def capabilities(self) -> Capabilities: ...  # noqa: D102

    def describe(self) -> ModelDescription: ...  # noqa: D102

    def expected_spend(self, data: Any) -> pd.Series: ...  # noqa: D102

    def population_mean_spend(self) -> float: ...  # noqa: D102


@runtime_checkable
class BaselineModel(Protocol):
    """A fitted benchmark formula (the ``"baseline"`` role)."""

    params_: pd.Series

    def capabilities(self) -> Capabilities: ...  # noqa: D102

    def describe(self) -> ModelDescription: ...  # noqa: D102

    def predict(self, data: Any, **kwargs: Any) -> Any: ...  # noqa: D102


def _capabilities(model: Any) -> Capabilities | None:
    get = getattr(model, "capabilities", None)
    if get is None or not callable(get):
        return None
    caps = get()
    return caps if isinstance(caps, Capabilities) else None


def supports(model: Any, prediction: str) -> bool:
    """Whether ``model`` offers ``prediction`` (a name from :data:`PREDICTIONS`).

    Parameters
    ----------
    model : object
        A clvlab model (fitted or not).
    prediction : str
        E.g. ``"probability_of_purchases"``.

    Returns
    -------
    bool
        False for objects that do not follow the contract.
    """
    if prediction not in PREDICTIONS:
        raise ValueError(
            f"unknown prediction {prediction!r}; known: {', '.join(sorted(PREDICTIONS))}."
        )
    caps = _capabilities(model)
    return caps is not None and prediction in caps.predictions


def describe(model: Any, *, distributions: bool = True) -> ModelDescription:
    """Return the model's :class:`ModelDescription`, or a minimal one for non-contract objects.

    With ``distributions=False`` the description may leave ``heterogeneity`` empty: a
    caller that needs only the name, key or glossary (tables, notes) then does not build
    the fitted mixing distributions (nor import ``scipy.stats`` for them). Models whose
    ``describe`` takes no ``distributions`` keyword are described in full.
    """
    get = getattr(model, "describe", None)
    if callable(get):
        light = not distributions and _takes_distributions(get)
        desc = get(distributions=False) if light else get()
        if isinstance(desc, ModelDescription):
            return desc
    name = type(model).__name__
    return ModelDescription(key=name.lower(), name=name, long_name=name, story="", parameters={})


def _takes_distributions(method: Any) -> bool:
    """Whether a ``describe`` method accepts the ``distributions`` keyword."""
    import inspect

    try:
        return "distributions" in inspect.signature(method).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def missing_note(model: Any, prediction: str, skipped: str) -> str:
    """One sentence saying that ``skipped`` is left out because ``model`` lacks a prediction.

    Parameters
    ----------
    model : object
        The model.
    prediction : str
        The missing prediction (a key of :data:`PREDICTIONS`).
    skipped : str
        What is left out, e.g. ``"the χ² test of the frequency distribution"``.

    Returns
    -------
    str
        E.g. ``"Pareto/NBD does not provide the distribution of a new customer's purchase
        count; the χ² test of the frequency distribution is left out."``
    """
    what = PREDICTIONS.get(prediction, prediction)
    name = describe(model, distributions=False).name
    return f"{name} does not provide the {what}; {skipped} is left out."


def offers(model: Any, prediction: str) -> bool:
    """Whether ``model`` can be asked for ``prediction``: the contract, else duck typing.

    A model that declares its capabilities (every clvlab model) is asked through
    :func:`supports`; any other object (a user's own class, an adapter) offers a prediction
    when it has a method of that name. Downstream code uses this to skip, with
    :func:`missing_note`, what a model cannot do.

    Parameters
    ----------
    model : object
        A model or model-like object.
    prediction : str
        A name from :data:`PREDICTIONS`.

    Returns
    -------
    bool
    """
    if _capabilities(model) is not None:
        return supports(model, prediction)
    if prediction not in PREDICTIONS:
        raise ValueError(
            f"unknown prediction {prediction!r}; known: {', '.join(sorted(PREDICTIONS))}."
        )
    return callable(getattr(model, prediction, None))


def fit_columns(model: Any) -> FitColumns:
    """Return the :class:`FitColumns` of a model (instance or class).

    Raises
    ------
    TypeError
        The object does not declare its fit columns (not a clvlab model).
    """
    get = getattr(model, "fit_columns", None)
    spec = get() if callable(get) else None
    if not isinstance(spec, FitColumns):
        name = model.__name__ if isinstance(model, type) else type(model).__name__
        raise TypeError(
            f"{name} does not declare the columns its fit reads (fit_columns()); only clvlab "
            "models can be fitted from counted rows."
        )
    return spec


def unsuited_data(model: Any, data: Any) -> str | None:
    """Say why ``model`` cannot be fitted on ``data`` by its time scale, or return ``None``.

    A discrete-time model (``capabilities().time == "discrete"``, e.g. BG/BB) counts
    transaction opportunities in whole periods, so it needs a summary whose purchases are
    merged per period of its time unit (``rfm_summary(..., merge_period=time_unit)``).
    A summary built otherwise (its ``attrs`` say so) is refused here with one sentence,
    before any fitting; without ``attrs`` the model's own data checks decide.

    Parameters
    ----------
    model : clvlab model class or instance
    data : DataFrame
        RFM summary or calibration/holdout split.

    Returns
    -------
    str or None
        The reason, naming the fix (``merge_period`` / ``--merge-period``).
    """
    caps = _capabilities(model)
    if caps is None or caps.time != "discrete":
        return None
    attrs = getattr(data, "attrs", None) or {}
    unit, merge = attrs.get("time_unit"), attrs.get("merge_period")
    if unit is None or merge is None or merge == unit:
        return None
    name = (getattr(model, "_model_name", None)
            or describe(model, distributions=False).name)
    return (
        f"{name} is a discrete-time model: it counts purchase opportunities in whole "
        f"periods, but these data merge purchases per {merge!r} and measure ages in "
        f"{unit!r}, in fractional periods. To use it, merge purchases per period of the "
        f"time unit: merge_period={unit!r}, the same as time_unit."
    )
