"""BG/NBD model of repeat purchasing: :class:`BetaGeoFitter`.

The maths lives in :mod:`clvlab.models.likelihoods` (pure functions); this module adds
the fitter (maximum likelihood through :class:`~clvlab.models.base.BaseFitter`) and the
predictors that take an RFM summary and return Series indexed by ``customer_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from clvlab import _columns as C
from clvlab._time import unit_days
from clvlab.models import likelihoods as lk
from clvlab.models.base import BaseFitter

__all__ = ["BetaGeoFitter", "simulate_bgnbd_rfm"]


def _check_horizon(t: Any, name: str = "t") -> np.ndarray:
    """Validate a horizon (scalar or array): finite and >= 0."""
    try:
        arr = np.asarray(t, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or an array of numbers; got {t!r}.") from None
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        shown = ", ".join(map(str, arr[bad].reshape(-1)[:5]))
        raise ValueError(
            f"{name} must be finite and >= 0 (a duration in the model's time unit); "
            f"{int(bad.sum())} value(s) are not ({shown})."
        )
    return arr


def _check_per_customer(arr: np.ndarray, n_customers: int, name: str = "t") -> np.ndarray:
    """Check that a horizon is a scalar or holds one value per customer."""
    if arr.ndim == 0 or (arr.ndim == 1 and arr.shape[0] == n_customers):
        return arr
    raise ValueError(
        f"{name} must be a single number or hold one value per customer ({n_customers}); "
        f"got shape {arr.shape}."
    )


def _check_counts(n: Any) -> np.ndarray:
    arr = np.asarray(n, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 0) | (arr != np.floor(arr))
    if bad.any():
        shown = ", ".join(map(str, arr[bad].reshape(-1)[:5]))
        raise ValueError(
            f"n must be a whole number of purchases >= 0; {int(bad.sum())} value(s) are not "
            f"({shown})."
        )
    return arr


def _is_datelike(arr: np.ndarray) -> bool:
    """Whether an array holds dates (datetime64, Timestamps, dates or date strings)."""
    if arr.dtype.kind == "M":
        return True
    if arr.dtype.kind in "OU" and arr.size:
        import datetime as _dt

        return isinstance(arr[0], (str, _dt.date, np.datetime64))
    return False


def _scalar_or_array(values: np.ndarray) -> float | np.ndarray:
    return float(values) if np.ndim(values) == 0 else values


def simulate_bgnbd_rfm(
    params: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    random_state: int | np.random.Generator | None = None,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Draw RFM summaries exactly from the BG/NBD story (no event-by-event loop).

    For each customer: ``lambda ~ Gamma(r, 1/alpha)``, ``p ~ Beta(a, b)``; the number of
    Poisson(``lambda``) purchase opportunities in ``(0, T]`` is ``m ~ Poisson(lambda T)``;
    the customer drops out right after the ``K``-th repeat purchase with
    ``K ~ Geometric(p)``, so ``frequency = min(m, K)``; given ``m`` the purchase times are
    uniform order statistics, so ``recency = T * Beta(x, m - x + 1)`` (0 when ``x = 0``).

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, a, b)``.
    T : array-like of shape (n_customers,)
        Age of each customer at the end of observation (time since the first purchase).
    random_state : int or numpy Generator, optional
        Seed or generator (no global state is touched).
    time_unit : str, optional
        Stored in ``attrs["time_unit"]`` of the result.

    Returns
    -------
    DataFrame
        Columns ``frequency, recency, T``, index ``customer_id`` ``0..n-1``.
    """
    r, alpha, a, b = (float(v) for v in np.asarray(params, dtype=float)[:4])
    rng = np.random.default_rng(random_state)
    age = np.asarray(T, dtype=float).reshape(-1)
    n = age.shape[0]
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    m = rng.poisson(lam * age)
    k = rng.geometric(np.clip(p, 1e-300, 1.0))
    x = np.minimum(m, k)
    has = x > 0
    frac = np.zeros(n)
    frac[has] = rng.beta(x[has], m[has] - x[has] + 1)
    frame = pd.DataFrame(
        {C.FREQUENCY: x.astype(float), C.RECENCY: frac * age, C.T: age},
        index=pd.RangeIndex(n, name=C.CUSTOMER_ID),
    )
    if time_unit is not None:
        frame.attrs[C.ATTR_TIME_UNIT] = time_unit
    return frame


class BetaGeoFitter(BaseFitter):
    r"""BG/NBD model (Fader, Hardie & Lee 2005) of repeat purchases and dropout.

    Assumptions: while alive, a customer buys at the times of a Poisson process with
    rate :math:`\lambda`; after each repeat purchase she drops out for good with
    probability :math:`p`; across customers :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`
    and :math:`p \sim \mathrm{Beta}(a, b)`, independently. With ``x`` repeat purchases, the
    last at age ``t_x``, observed up to age ``T``, the likelihood is (eq. 6 of [1]_)

    .. math::

        L = \frac{B(a, b+x)}{B(a, b)} \frac{\Gamma(r+x)\alpha^r}{\Gamma(r)(\alpha+T)^{r+x}}
          + \delta_{x>0} \frac{B(a+1, b+x-1)}{B(a, b)}
            \frac{\Gamma(r+x)\alpha^r}{\Gamma(r)(\alpha+t_x)^{r+x}} .

    Parameters (``params_``): ``r`` shape and ``alpha`` scale (in the data's time unit) of
    the purchase-rate distribution (mean rate ``r/alpha`` per time unit); ``a`` and ``b``
    of the dropout-probability distribution (mean ``a/(a+b)``).

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        L2 penalty ``penalizer_coef * (r^2 + (alpha/max T)^2 + a^2 + b^2)`` added to the mean
        negative log-likelihood per customer: exactly lifetimes' ``penalizer_coef`` (which
        measures alpha in units of the oldest customer's age), so the same value gives the
        same estimates. 0 = maximum likelihood.
    ci_level : float, default=0.95
        Confidence level of the intervals in :attr:`summary`.

    Attributes
    ----------
    params_ : Series
        Estimates of ``r, alpha, a, b``.
    log_likelihood_ : float
        Total log-likelihood at the estimate (comparable with the paper's -9582.4 on CDNOW).
    variance_matrix_ : DataFrame
        Inverse Hessian of the total negative log-likelihood (natural parameters).
    standard_errors_ : Series
    converged_ : bool
        Whether the gradient-norm and log-likelihood-change criteria are met; details in
        ``optimizer_result_``.
    n_customers_, time_unit_, fit_date_, data_fingerprint_
        Training-data size, time unit, fit time stamp and fingerprint.

    Examples
    --------
    >>> import clvlab
    >>> from clvlab.models.beta_geo import simulate_bgnbd_rfm
    >>> rfm = simulate_bgnbd_rfm([0.25, 4.0, 0.8, 2.5], [40.0] * 2000, random_state=1,
    ...                          time_unit="W")
    >>> bg = clvlab.BetaGeoFitter().fit(rfm)
    >>> bg.expected_purchases(rfm, t=52).shape
    (2000,)

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting your customers"
       the easy way: An alternative to the Pareto/NBD model. Marketing Science, 24(2), 275-284.
    .. [2] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2008). Computing P(alive) using the
       BG/NBD model. http://brucehardie.com/notes/021/
    .. [3] Hardie, B. G. S. (2013). Overcoming the BG/NBD model's #NUM! error problem.
       http://brucehardie.com/notes/027/
    """

    _param_names: ClassVar[tuple[str, ...]] = lk.BGNBD_PARAM_NAMES
    _data_columns: ClassVar[tuple[str, ...]] = (C.FREQUENCY, C.RECENCY, C.T)
    _model_name: ClassVar[str] = "BG/NBD"

    def __init__(self, *, penalizer_coef: float = 0.0, ci_level: float = 0.95) -> None:
        self.penalizer_coef = penalizer_coef
        self.ci_level = ci_level

    # -- BaseFitter hooks -------------------------------------------------------------
    def _loglik_and_grad(
        self, params: np.ndarray, data: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        frequency, recency, T = data
        ll, grad = lk.bgnbd_log_likelihood_grad(params, frequency, recency, T)
        assert grad is not None  # gradient=True
        return ll, grad

    def _initial_params(self, data: Sequence[np.ndarray], weights: np.ndarray) -> list[np.ndarray]:
        frequency, _, T = data
        # purchase-rate scale from the pooled rate: r/alpha ~ sum(x) / sum(T)
        rate = float(np.einsum("i,i->", weights, frequency)) / max(
            float(np.einsum("i,i->", weights, T)), 1e-12
        )
        alpha0 = 1.0 / max(rate, 1e-6)
        alpha0 = float(np.clip(alpha0, 1e-6, 1e6))
        return [
            np.array([1.0, alpha0, 1.0, 1.0]),
            np.array([0.3, 0.3 * alpha0, 0.5, 2.0]),
            np.array([3.0, 3.0 * alpha0, 3.0, 10.0]),
        ]

    def _penalty_scale(self, data: Sequence[np.ndarray]) -> np.ndarray:
        # lifetimes penalises alpha in time units where the oldest customer's age is 1
        T = data[2]
        max_T = float(np.max(T)) if len(T) else 1.0
        return np.array([1.0, 1.0 / max_T if max_T > 0 else 1.0, 1.0, 1.0])

    # -- predictors -------------------------------------------------------------------
    def _histories(self, data: Any) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
        frame = self._prediction_frame(data)
        return (
            frame,
            frame[C.FREQUENCY].to_numpy(dtype=float),
            frame[C.RECENCY].to_numpy(dtype=float),
            frame[C.T].to_numpy(dtype=float),
        )

    def expected_purchases(self, data: Any, t: float | npt.ArrayLike) -> pd.Series:
        """Predict repeat purchases in the next ``t`` given each history, eq. (10) of [1]_.

        Parameters
        ----------
        data : DataFrame or mapping
            RFM summary (columns ``frequency, recency, T``), index ``customer_id``.
        t : float or array-like of shape (n_customers,)
            Horizon in ``time_unit_`` (e.g. 52 for a year when fitted in weeks).

        Returns
        -------
        Series
            ``expected_purchases``, indexed like ``data``; 0 at ``t = 0``.
        """
        frame, x, tx, T = self._histories(data)
        horizon = _check_per_customer(_check_horizon(t), len(frame))
        values = lk.bgnbd_expected_purchases(self._params_array(), horizon, x, tx, T)
        return pd.Series(values, index=frame.index, name="expected_purchases")

    def probability_alive(self, data: Any) -> pd.Series:
        """P(customer still alive at the end of observation | history), eq. (11) of [1]_.

        Parameters
        ----------
        data : DataFrame or mapping
            RFM summary, index ``customer_id``.

        Returns
        -------
        Series
            ``probability_alive`` in [0, 1]; exactly 1 for customers with no repeat purchase.
        """
        frame, x, tx, T = self._histories(data)
        values = lk.bgnbd_probability_alive(self._params_array(), x, tx, T)
        return pd.Series(values, index=frame.index, name="probability_alive")

    def probability_of_purchases(
        self, n: int | npt.ArrayLike, t: float | npt.ArrayLike
    ) -> float | np.ndarray:
        """P(X(t) = n): probability that a new customer makes ``n`` repeat purchases by ``t``.

        Eq. (8) of [1]_, evaluated in log space (finite for any ``n``).

        Parameters
        ----------
        n : int or array-like of int
            Number(s) of repeat purchases.
        t : float or array-like
            Time(s) since the first purchase in ``time_unit_``; broadcast with ``n``.

        Returns
        -------
        float or ndarray
        """
        self._check_is_fitted()
        counts, horizon = _check_counts(n), _check_horizon(t)
        log_p = lk.bgnbd_log_probability_of_purchases(self._params_array(), counts, horizon)
        return _scalar_or_array(np.exp(log_p))

    def conditional_probability_of_purchases(
        self, data: Any, n: int, t: float | npt.ArrayLike
    ) -> pd.Series:
        """P(X(T, T+t] = n | history): ``n`` repeat purchases in the next ``t`` per customer.

        Parameters
        ----------
        data : DataFrame or mapping
            RFM summary, index ``customer_id``.
        n : int
            Number of purchases.
        t : float or array-like of shape (n_customers,)
            Horizon in ``time_unit_``.

        Returns
        -------
        Series
            ``probability_of_purchases``, indexed like ``data``.
        """
        frame, x, tx, T = self._histories(data)
        counts = _check_counts(n)
        if counts.ndim != 0:
            raise ValueError("n must be a single whole number here; loop over n for several.")
        log_p = lk.bgnbd_log_conditional_probability_of_purchases(
            self._params_array(), counts, _check_per_customer(_check_horizon(t), len(frame)),
            x, tx, T,
        )
        return pd.Series(np.exp(log_p), index=frame.index, name="probability_of_purchases")

    def expected_purchases_new_customer(self, t: float | npt.ArrayLike) -> float | np.ndarray:
        """E[X(t)]: expected repeat purchases of a newly acquired customer, eq. (9) of [1]_.

        Parameters
        ----------
        t : float or array-like
            Time(s) since the first purchase, in ``time_unit_``.

        Returns
        -------
        float or ndarray
        """
        self._check_is_fitted()
        horizon = _check_horizon(t)
        return _scalar_or_array(
            lk.bgnbd_expected_purchases_new_customer(self._params_array(), horizon)
        )

    def expected_cumulative_purchases(
        self,
        first_purchase: npt.ArrayLike,
        times: npt.ArrayLike,
        *,
        weights: npt.ArrayLike | None = None,
        origin: Any = None,
    ) -> pd.Series:
        """Predict cumulative repeat purchases of a cohort over calendar time (tracking).

        ``sum_i w_i E[X(tau - s_i)]`` over customers ``i`` with first purchase at ``s_i``
        (0 before it), as in the cumulative tracking plot of [1]_ (Figure 3).

        Parameters
        ----------
        first_purchase : array-like
            Each customer's first-purchase time: numbers (in ``time_unit_`` from any
            origin) or dates. With ``weights`` it may instead list acquisition periods.
        times : array-like
            Calendar times at which to evaluate: numbers in ``time_unit_`` from the same
            origin, or dates.
        weights : array-like, optional
            Number of customers per ``first_purchase`` entry (default 1 each), e.g. the
            count acquired on each day.
        origin : date-like, optional
            Time zero when dates are given; default the earliest first purchase. Numeric
            ``times`` are then measured from it.

        Returns
        -------
        Series
            ``expected_cumulative_purchases`` indexed by ``times``.

        Notes
        -----
        Work grows with (distinct first-purchase times) x (times); ages repeat across
        cohorts on a daily grid and are evaluated once each, so daily dates are cheap.
        """
        self._check_is_fitted()
        starts = self._as_calendar(first_purchase, origin, first_purchase, "first_purchase")
        taus = self._as_calendar(times, origin, first_purchase, "times")
        if starts.size == 0:
            raise ValueError("first_purchase is empty: pass one entry per customer (or cohort).")
        w = BaseFitter._check_weights(weights, starts.size)
        uniq, inverse = np.unique(starts, return_inverse=True)
        counts = np.bincount(inverse.reshape(-1), weights=w, minlength=uniq.size)
        params = self._params_array()
        out = np.empty(taus.size)
        # chunk over times so the (cohorts x times) matrix stays small
        chunk = max(1, int(2_000_000 // max(uniq.size, 1)))
        for lo in range(0, taus.size, chunk):
            tt = taus[lo : lo + chunk]
            age = np.clip(tt[None, :] - uniq[:, None], 0.0, None)
            out[lo : lo + chunk] = counts @ lk.bgnbd_expected_purchases_new_customer(params, age)
        index = pd.Index(np.asarray(times).reshape(-1), name="time")
        return pd.Series(out, index=index, name="expected_cumulative_purchases")

    def _days_per_unit(self) -> float:
        if self.time_unit_ is None:
            raise ValueError(
                "This model carries no time unit, so dates cannot be converted; pass ages "
                "as numbers in the unit the model was fitted in."
            )
        return unit_days(self.time_unit_)

    def _as_calendar(self, values: Any, origin: Any, reference: Any, name: str) -> np.ndarray:
        """Numbers in ``time_unit_`` from the origin (dates converted, numbers kept)."""
        arr = np.asarray(values).reshape(-1)
        if not _is_datelike(arr):
            try:
                num = arr.astype(float)
            except (TypeError, ValueError):
                raise TypeError(
                    f"{name} must hold numbers or dates; got dtype {arr.dtype}."
                ) from None
            if not np.all(np.isfinite(num)):
                raise ValueError(
                    f"{name} must be finite; {int((~np.isfinite(num)).sum())} value(s) are not."
                )
            return num
        dates = pd.to_datetime(arr)
        if origin is not None:
            origin_ts = pd.Timestamp(origin)
        else:
            ref = np.asarray(reference).reshape(-1)
            if not _is_datelike(ref):
                raise ValueError(
                    f"{name} are dates but first_purchase is numeric; pass both as dates, "
                    "or both as numbers, or give origin."
                )
            origin_ts = pd.to_datetime(ref).min()
        days = np.asarray((dates - origin_ts) / pd.Timedelta(days=1), dtype=float)
        return days / self._days_per_unit()

    def probability_alive_history(
        self,
        purchases: npt.ArrayLike,
        *,
        end: Any = None,
        grid: npt.ArrayLike | None = None,
        n_points: int = 200,
    ) -> pd.DataFrame:
        """P(alive) along one customer's history, for plotting.

        At each age ``s`` the history is cut at ``s``: ``frequency`` = repeat purchases up
        to ``s`` (a purchase at ``s`` counts), ``recency`` = age at the last of them,
        ``T = s``. P(alive) decays between purchases and jumps up at each one.

        Parameters
        ----------
        purchases : array-like
            All purchase times of the customer, the first purchase included: dates
            (merged per calendar day, as ``rfm_summary`` does with ``merge_period="D"``) or
            ages in ``time_unit_`` (first purchase at the smallest value).
        end : date or float, optional
            End of observation (a date if ``purchases`` are dates, else an age measured
            from the first purchase). Default: the last purchase.
        grid : array-like, optional
            Ages (in ``time_unit_`` since the first purchase) at which to evaluate.
            Default: ``n_points`` evenly spaced ages on ``[0, end]`` plus every purchase age.
        n_points : int, default=200
            Size of the default grid.

        Returns
        -------
        DataFrame
            Index ``age`` (sorted); columns ``frequency, recency, T, probability_alive``
            and, when ``purchases`` are dates, ``date``.
        """
        self._check_is_fitted()
        arr = np.asarray(purchases).reshape(-1)
        if arr.size == 0:
            raise ValueError("purchases is empty: pass at least the first purchase.")
        dates_given = _is_datelike(arr)
        days_per_unit = self._days_per_unit()
        if dates_given:
            try:
                dates = pd.to_datetime(arr).normalize()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"purchases could not be read as dates ({exc}).") from None
            if dates.isna().any():
                raise ValueError(f"purchases hold {int(dates.isna().sum())} missing date(s).")
            if end is not None and isinstance(end, (int, float, np.number)):
                raise TypeError(
                    "purchases are dates, so end must be a date too (e.g. '1997-09-30'); "
                    f"got the number {end!r}."
                )
            first = dates.min()
            ages = np.unique(np.asarray((dates - first) / pd.Timedelta(days=1), dtype=float))
            ages = ages / days_per_unit
            end_age = (
                ages[-1] if end is None
                else float((pd.Timestamp(end) - first) / pd.Timedelta(days=1)) / days_per_unit
            )
        else:
            raw = arr.astype(float)
            if not np.all(np.isfinite(raw)):
                raise ValueError("purchases must be finite ages.")
            ages = np.unique(raw - raw.min())
            end_age = ages[-1] if end is None else float(end)
        if end_age < ages[-1]:
            raise ValueError(
                f"end ({end!r}) is before the last purchase; it must be at or after it."
            )
        if grid is None:
            s = np.union1d(np.linspace(0.0, end_age, max(int(n_points), 2)), ages)
        else:
            s = np.sort(_check_horizon(grid, "grid").reshape(-1))
        k = np.searchsorted(ages, s, side="right") - 1  # index of the last purchase <= s
        k = np.clip(k, 0, None)
        frequency = k.astype(float)
        recency = ages[k]
        p_alive = lk.bgnbd_probability_alive(self._params_array(), frequency, recency, s)
        out = pd.DataFrame(
            {C.FREQUENCY: frequency, C.RECENCY: recency, C.T: s, "probability_alive": p_alive},
            index=pd.Index(s, name="age"),
        )
        if dates_given:
            out["date"] = first + pd.to_timedelta(s * days_per_unit, unit="D")
        return out

    def sample(
        self, T: npt.ArrayLike, *, random_state: int | np.random.Generator | None = None
    ) -> pd.DataFrame:
        """Simulate RFM summaries from the fitted model (see :func:`simulate_bgnbd_rfm`).

        Parameters
        ----------
        T : array-like of shape (n_customers,)
            Ages at the end of observation, in ``time_unit_``.
        random_state : int or numpy Generator, optional
            Seed or generator.

        Returns
        -------
        DataFrame
            Columns ``frequency, recency, T``; ``attrs["time_unit"] = time_unit_``.
        """
        self._check_is_fitted()
        return simulate_bgnbd_rfm(
            self._params_array(), T, random_state=random_state, time_unit=self.time_unit_
        )
