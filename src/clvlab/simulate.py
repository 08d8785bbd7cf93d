"""Simulate transaction logs from the BG/NBD purchase story with Gamma-Gamma spend.

The story, per customer, with all rates per ``time_unit``:

1. **Acquisition.** The first purchase happens at a time drawn uniformly from the
   acquisition window ``[start, start + acquisition_period)``. This is the customer's
   time 0; the first purchase is *not* a repeat purchase.
2. **Purchase rate.** ``lambda ~ Gamma(shape=r, rate=alpha)``. While alive, repeat
   purchases arrive as a Poisson process with rate ``lambda`` per ``time_unit``.
3. **Dropout.** ``p_drop ~ Beta(a, b)``. Immediately after each *repeat* purchase the
   customer becomes inactive with probability ``p_drop`` (so the number of repeat
   purchases made while alive is ``Geometric(p_drop)`` on 1, 2, ...). This is assumption
   (iii) of Fader, Hardie & Lee (2005): nobody drops out at time 0, hence
   ``P(X(t) = 0) = (alpha / (alpha + t))**r``.
4. **Spend.** ``nu ~ Gamma(shape=q, rate=v)`` per customer; every purchase, the first
   included, has value ``z ~ Gamma(shape=p, rate=nu)``, so the mean spend per purchase
   is ``p * v / (q - 1)`` (Fader, Hardie & Lee 2005b; Hardie note 025).

Observation runs to the end of the calendar day ``observation_end``. Timestamps are
continuous times floored to the second.

Sampling (no per-customer Python loop): given ``lambda`` and the customer's observed
horizon ``tau``, the number of Poisson arrivals in ``(0, tau]`` is
``N ~ Poisson(lambda * tau)`` and their times are ``N`` sorted uniforms on ``(0, tau]``.
The sorted uniforms of every customer are made at once from exponential spacings
(``U_(k) = S_k / S_(N+1)`` with ``S`` the within-customer cumulative sum of ``N + 1``
standard exponentials), and a customer keeps the first ``min(N, J)`` of them, ``J`` the
geometric number of repeat purchases before dropout.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting your customers" the
   easy way: An alternative to the Pareto/NBD model. Marketing Science, 24(2), 275-284.
.. [2] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). RFM and CLV: Using iso-value
   curves for customer base analysis. Journal of Marketing Research, 42(4), 415-430.
"""

from __future__ import annotations

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


def simulate_transactions(
    n_customers: int,
    *,
    r: float = 0.243,
    alpha: float = 4.414,
    a: float = 0.793,
    b: float = 2.426,
    p: float = 6.25,
    q: float = 3.74,
    v: float = 15.44,
    start: Any = "1997-01-01",
    acquisition_period: float | None = None,
    observation_end: Any = None,
    time_unit: str = "W",
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate a transaction log from the BG/NBD story with Gamma-Gamma spend.

    The exact story is in the module docstring. Defaults are the CDNOW estimates in
    weeks (BG/NBD: Fader, Hardie & Lee 2005; Gamma-Gamma: Hardie note 025) with a
    CDNOW-like design: first purchases over 12 weeks from 1997-01-01, observation for
    78 weeks from ``start``.

    Parameters
    ----------
    n_customers : int
        Number of customers (each makes a first purchase in the acquisition window).
    r, alpha : float, default=0.243, 4.414
        Gamma shape and rate of the purchase rate ``lambda`` (purchases per ``time_unit``).
    a, b : float, default=0.793, 2.426
        Beta parameters of the dropout probability after each repeat purchase.
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
        Unit in which ``lambda`` is a rate and ``acquisition_period`` a length.
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
        Non-positive parameters or ``n_customers``, bad dates, or an observation end
        before the end of the acquisition window.

    Examples
    --------
    >>> tx = simulate_transactions(1000, random_state=1)
    >>> tx["customer_id"].nunique()
    1000
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
    r, alpha, a, b, p, q, v = (
        _positive(name, val)
        for name, val in (("r", r), ("alpha", alpha), ("a", a), ("b", b), ("p", p), ("q", q),
                          ("v", v))
    )
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

    # per-customer latent variables
    birth = rng.uniform(0.0, acq, size=n) if acq > 0 else np.zeros(n)
    lam = rng.gamma(shape=r, scale=1.0 / alpha, size=n)
    p_drop = np.clip(rng.beta(a, b, size=n), 1e-12, 1.0)
    nu = rng.gamma(shape=q, scale=1.0 / v, size=n)
    tau = horizon - birth  # observed horizon of each customer, in time_unit
    n_arrivals = rng.poisson(lam * tau)  # Poisson arrivals in (0, tau], alive or not
    n_alive = rng.geometric(p_drop)  # repeat purchases before dropout
    n_repeat = np.minimum(n_arrivals, n_alive)

    # sorted uniforms per customer from exponential spacings (N + 1 per customer)
    seg_len = n_arrivals + 1
    seg_end = np.cumsum(seg_len)  # exclusive end of each customer's spacings
    seg_start = seg_end - seg_len
    cs = np.cumsum(rng.standard_exponential(int(seg_end[-1])))
    base = np.where(seg_start > 0, cs[np.maximum(seg_start - 1, 0)], 0.0)
    total = cs[seg_end - 1] - base

    rows_per = 1 + n_repeat
    n_rows = int(rows_per.sum())
    cust = np.repeat(np.arange(n), rows_per)
    row_start = np.cumsum(rows_per) - rows_per
    rank = np.arange(n_rows) - np.repeat(row_start, rows_per)  # 0 = first purchase
    is_repeat = rank > 0
    cr = cust[is_repeat]
    u = (cs[seg_start[cr] + rank[is_repeat] - 1] - base[cr]) / total[cr]
    t = birth[cust]  # time of each purchase since start, in time_unit
    t[is_repeat] += tau[cr] * u

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
