"""Simulate transaction logs from any registered purchase model with Gamma-Gamma spend.

The story, per customer, with all rates per ``time_unit``:

1. **Acquisition.** The first purchase happens at a time drawn uniformly from the
   acquisition window ``[start, start + acquisition_period)``. This is the customer's
   time 0; the first purchase is *not* a repeat purchase.
2. **Repeat purchases** follow the chosen purchase model's own story, drawn exactly by
   its ``_draw_purchase_times`` hook (no event-by-event loop). The default, BG/NBD
   (``model="bgnbd"``): ``lambda ~ Gamma(shape=r, rate=alpha)``; while alive, repeat
   purchases arrive as a Poisson process with rate ``lambda``; ``p_drop ~ Beta(a, b)``,
   and immediately after each *repeat* purchase the customer becomes inactive with
   probability ``p_drop`` (assumption (iii) of Fader, Hardie & Lee 2005: nobody drops out
   at time 0, hence ``P(X(t) = 0) = (alpha / (alpha + t))**r``). Pareto/NBD
   (``model="pnbd"``): the same purchase rates, and an exponential lifetime with rate
   ``mu ~ Gamma(shape=s, rate=beta)``, which can end at any moment.
3. **Spend.** ``nu ~ Gamma(shape=q, rate=v)`` per customer; every purchase, the first
   included, has value ``z ~ Gamma(shape=p, rate=nu)``, so the mean spend per purchase
   is ``p * v / (q - 1)`` (Fader, Hardie & Lee 2005b; Hardie note 025).

Observation runs to the end of the calendar day ``observation_end``. Timestamps are
continuous times floored to the second.

Random numbers are drawn in a fixed order: acquisition times, the purchase model's
latent traits, the spend traits, the purchases, the amounts (models whose hooks do not
separate traits from purchases draw the spend traits after the purchases). For BG/NBD
this is the order of earlier clvlab versions, so a seed gives the same log as before.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting your customers" the
   easy way: An alternative to the Pareto/NBD model. Marketing Science, 24(2), 275-284.
.. [2] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). RFM and CLV: Using iso-value
   curves for customer base analysis. Journal of Marketing Research, 42(4), 415-430.
.. [3] Schmittlein, D. C., Morrison, D. G., & Colombo, R. (1987). Counting your
   customers: Who are they and what will they do next? Management Science, 33(1), 1-24.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from clvlab import _columns as C
from clvlab import _time
from clvlab.exceptions import InvalidValueError

__all__ = ["simulate_transactions"]

_NS_PER_SECOND = 1_000_000_000
_SECONDS_PER_DAY = 86_400
#: Default acquisition window and observation length, in days (CDNOW: 12 weeks, 78 weeks).
_DEFAULT_ACQUISITION_DAYS = 84.0
_DEFAULT_OBSERVATION_DAYS = 546


def _positive(name: str, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = np.nan
    if not (np.isfinite(x) and x > 0):
        raise InvalidValueError(
            f"{name} must be a finite number > 0; got {value!r}.", column=name, rule=f"{name} > 0"
        )
    return x


def _day(value: Any, name: str) -> int:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(
            f"{name} must be a date such as '1997-01-01'; got {value!r} ({exc}).",
            column=name, rule="parseable date",
        ) from None
    if pd.isna(ts):
        raise InvalidValueError(f"{name} must be a date such as '1997-01-01'; got {value!r}.",
                                column=name, rule="parseable date")
    return int(np.datetime64(ts.date(), "D").astype(np.int64))


def _customer_ids(n: int, width: int) -> pd.Series:
    """Return ids "1".."n" zero-padded to ``width`` (so text order = numeric order)."""
    return pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)


def _purchase_model(model: Any) -> tuple[Any, dict[str, float], str | None]:
    """Resolve ``model`` to (an instance with the simulation hooks, its fitted params, unit)."""
    from clvlab.models.purchase import PurchaseFitter
    from clvlab.models.registry import get_model_class, registered

    if isinstance(model, str):
        keys = registered("purchase")
        if model not in keys:
            raise InvalidValueError(
                f"model must be the key of a registered purchase model ({', '.join(keys)}); "
                f"got {model!r}.", column="model", rule="registered purchase model",
            )
        instance = get_model_class(model)()
    elif isinstance(model, type):
        instance = model()
    else:
        instance = model
    hook = getattr(type(instance), "_draw_purchase_times", None)
    if hook is None or hook is PurchaseFitter._draw_purchase_times:
        name = getattr(instance, "_model_name", type(instance).__name__)
        raise InvalidValueError(
            f"{name} cannot simulate purchase times (it has no _draw_purchase_times hook); "
            "pick another model.", column="model", rule="model simulates purchase times",
        )
    fitted: dict[str, float] = {}
    params_ = getattr(instance, "params_", None)
    if params_ is not None:
        fitted = {str(k): float(v) for k, v in params_.items()}
    return instance, fitted, getattr(instance, "time_unit_", None)


def _model_params(
    instance: Any, fitted: dict[str, float], params: Mapping[str, Any] | None,
    keywords: dict[str, Any],
) -> np.ndarray:
    """Build the parameter vector: given values over fitted values over the model defaults."""
    names = tuple(instance._param_names)
    model_name = getattr(instance, "_model_name", type(instance).__name__)
    given = dict(params or {})
    for key, value in keywords.items():
        if value is None:
            continue
        if key in given:
            raise InvalidValueError(
                f"{key} is given twice (as {key}= and in params); give it once.",
                column=key, rule="one value per parameter",
            )
        given[key] = value
    unknown = [k for k in given if k not in names]
    if unknown:
        raise InvalidValueError(
            f"{', '.join(map(str, unknown))} {'is' if len(unknown) == 1 else 'are'} not "
            f"{model_name} parameter(s); its parameters are {', '.join(names)}.",
            column=str(unknown[0]), rule=f"{model_name} parameter",
        )
    values = {**dict(getattr(instance, "_reference_params", {})), **fitted, **given}
    missing = [k for k in names if k not in values]
    if missing:
        raise InvalidValueError(
            f"{model_name} has no default for {', '.join(missing)}; pass params="
            "{" + ", ".join(f"{k!r}: ..." for k in missing) + "}.",
            column=missing[0], rule="parameter given",
        )
    return np.array([_positive(k, values[k]) for k in names])


def simulate_transactions(
    n_customers: int,
    *,
    model: Any = "bgnbd",
    params: Mapping[str, float] | None = None,
    r: float | None = None,
    alpha: float | None = None,
    a: float | None = None,
    b: float | None = None,
    p: float = 6.25,
    q: float = 3.74,
    v: float = 15.44,
    start: Any = "1997-01-01",
    acquisition_period: float | None = None,
    observation_end: Any = None,
    time_unit: str = "W",
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate a transaction log from a purchase model's story with Gamma-Gamma spend.

    The exact story is in the module docstring. Defaults are the CDNOW estimates in
    weeks (BG/NBD: Fader, Hardie & Lee 2005; Pareto/NBD: Fader, Hardie & Lee 2005b;
    Gamma-Gamma: Hardie note 025) with a CDNOW-like design: first purchases over 12
    weeks from 1997-01-01, observation for 78 weeks from ``start``.

    Parameters
    ----------
    n_customers : int
        Number of customers (each makes a first purchase in the acquisition window).
    model : str or purchase model, default="bgnbd"
        Registry key of a purchase model that can simulate purchase times (``"bgnbd"``,
        ``"pnbd"``, ...), or a model instance; a fitted one supplies its estimates as
        default parameters.
    params : mapping, optional
        The purchase model's parameters by name (e.g. ``{"r": 0.55, "alpha": 10.6,
        "s": 0.61, "beta": 11.7}`` for Pareto/NBD), rates per ``time_unit``; unnamed ones
        keep their defaults (the fitted values, else the model's published CDNOW
        estimates).
    r, alpha, a, b : float, optional
        Shorthand for ``params`` entries of the same names (BG/NBD: r=0.243,
        alpha=4.414, a=0.793, b=2.426 by default). A name the model does not have is an
        error.
    p : float, default=6.25
        Gamma shape of each purchase value.
    q, v : float, default=3.74, 15.44
        Gamma shape and rate of the per-customer spend rate ``nu``.
    start : date-like, default="1997-01-01"
        Start (midnight) of the acquisition window.
    acquisition_period : float, optional
        Length of the acquisition window in ``time_unit``. Default: 84 days (12 weeks)
        expressed in ``time_unit``.
    observation_end : date-like, optional
        Last observed calendar day (inclusive). Default: ``start`` + 546 days
        (78 weeks), minus one day, so the window is exactly 78 weeks long.
    time_unit : {"D", "W", "M", "Y"}, default="W"
        Unit in which the model's rates and ``acquisition_period`` are expressed.
    random_state : int, numpy Generator or None, default=None
        Seed or generator; the same seed gives the same log.

    Returns
    -------
    DataFrame
        Columns ``customer_id`` (str, zero-padded "1".."n"), ``date``
        (datetime64[ns], floored to the second) and ``amount`` (float > 0); sorted by
        customer, then date; each customer's first row is the first purchase.

    Raises
    ------
    InvalidValueError
        Non-positive parameters or ``n_customers``, an unknown model or parameter name,
        bad dates, or an observation end before the end of the acquisition window.

    Examples
    --------
    >>> tx = simulate_transactions(1000, random_state=1)
    >>> tx["customer_id"].nunique()
    1000
    >>> tx = simulate_transactions(1000, model="pnbd", params={"s": 0.8}, random_state=1)
    """
    try:
        n = int(n_customers)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or n != n_customers:
        raise InvalidValueError(
            f"n_customers must be a positive whole number; got {n_customers!r}.",
            column="n_customers", rule="n_customers >= 1",
        )
    try:
        unit_days = _time.unit_days(time_unit)
    except ValueError as exc:
        raise InvalidValueError(str(exc), column="time_unit", rule="time unit") from None
    purchase, fitted, fitted_unit = _purchase_model(model)
    if fitted and fitted_unit is not None and fitted_unit != time_unit:
        raise InvalidValueError(
            f"The model was fitted in time unit {fitted_unit!r} but time_unit={time_unit!r}; "
            f"its rates are per {fitted_unit!r}. Pass time_unit={fitted_unit!r}.",
            column="time_unit", rule="time unit of the fitted model",
        )
    theta = _model_params(purchase, fitted, params, {"r": r, "alpha": alpha, "a": a, "b": b})
    p, q, v = (_positive(name, val) for name, val in (("p", p), ("q", q), ("v", v)))
    start_day = _day(start, "start")
    if acquisition_period is None:
        acq = _DEFAULT_ACQUISITION_DAYS / unit_days
    else:
        acq = float(acquisition_period)
        if not (np.isfinite(acq) and acq >= 0):
            raise InvalidValueError(
                f"acquisition_period must be a finite length >= 0 in {time_unit!r}; got "
                f"{acquisition_period!r}.", column="acquisition_period",
                rule="acquisition_period >= 0",
            )
    end_day = (start_day + _DEFAULT_OBSERVATION_DAYS - 1 if observation_end is None
               else _day(observation_end, "observation_end"))
    horizon = (end_day + 1 - start_day) / unit_days  # in time_unit, to the end of end_day
    if horizon <= acq:
        raise InvalidValueError(
            f"observation_end ({np.datetime64(end_day, 'D')}) must be after the end of the "
            f"acquisition window ({acq:g} {_time.UNIT_NAMES[time_unit]} from "
            f"{np.datetime64(start_day, 'D')}). Pass a later observation_end or a shorter "
            "acquisition_period.",
            column="observation_end", rule="observation_end > start + acquisition_period",
        )
    rng = np.random.default_rng(random_state)

    # per-customer latent variables, then the purchases (see the module docstring)
    birth = rng.uniform(0.0, acq, size=n) if acq > 0 else np.zeros(n)
    tau = horizon - birth  # observed horizon of each customer, in time_unit
    two_stage = callable(getattr(purchase, "_draw_latent", None)) and callable(
        getattr(purchase, "_draw_given_latent", None))
    if two_stage:
        latent = purchase._draw_latent(theta, n, rng)
        nu = rng.gamma(shape=q, scale=1.0 / v, size=n)
        n_repeat, ages = purchase._draw_given_latent(theta, latent, tau, rng)
    else:
        n_repeat, ages = purchase._draw_purchase_times(theta, tau, rng)
        nu = rng.gamma(shape=q, scale=1.0 / v, size=n)
    n_repeat = np.asarray(n_repeat, dtype=np.int64)

    rows_per = 1 + n_repeat
    n_rows = int(rows_per.sum())
    cust = np.repeat(np.arange(n), rows_per)
    row_start = np.cumsum(rows_per) - rows_per
    rank = np.arange(n_rows) - np.repeat(row_start, rows_per)  # 0 = first purchase
    is_repeat = rank > 0
    t = birth[cust]  # time of each purchase since start, in time_unit
    t[is_repeat] += np.asarray(ages, dtype=float)

    seconds = np.floor(t * (unit_days * _SECONDS_PER_DAY)).astype(np.int64)
    stamps = (start_day * _SECONDS_PER_DAY + seconds) * _NS_PER_SECOND
    amount = rng.gamma(shape=p, scale=1.0 / nu[cust])

    width = len(str(n))
    ids = _customer_ids(n, width).array.take(cust)
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: ids,
            C.DATE: stamps.view("datetime64[ns]"),
            C.AMOUNT: amount,
        }
    )
