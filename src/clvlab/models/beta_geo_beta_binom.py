"""BG/BB model of repeat purchasing in discrete time: :class:`BetaGeoBetaBinomFitter`.

The maths lives in :mod:`clvlab.models.likelihoods.beta_geo_beta_binom` (pure functions);
this module adds the fitter (maximum likelihood through
:class:`~clvlab.models.base.BaseFitter`), the checks that make a summary a discrete one,
the prediction hooks of :class:`~clvlab.models.purchase.PurchaseFitter` and exact
simulation.

Data: one row per customer with ``frequency`` (x: periods with a repeat purchase),
``recency`` (t_x: the period of the last of them, 0 if none) and ``T`` (n: the number of
transaction opportunities after the first purchase), all whole numbers. From a
transaction log, merge purchases per period of the time unit::

    rfm = clvlab.rfm_summary(tx, time_unit="Y", merge_period="Y",
                             observation_end="2001-12-31")

Periods are calendar periods (Monday-to-Sunday weeks, calendar months or years); the
first purchase's period is period 0 and the period holding ``observation_end`` is the
last opportunity, so end the observation on the last day of a period.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from clvlab import _columns as C
from clvlab.models.contract import Heterogeneity
from clvlab.models.likelihoods import beta_geo_beta_binom as lk
from clvlab.models.purchase import PurchaseFitter, _unit_word
from clvlab.validation import _fail

__all__ = ["BetaGeoBetaBinomFitter", "simulate_bgbb_rfm"]


def _draw_alive_periods(
    params: np.ndarray, n: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw each customer's purchase probability ``p`` and periods alive, ``min(n, A)``.

    ``p ~ Beta(alpha, beta)``, ``theta ~ Beta(gamma, delta)``, then ``A`` with
    ``P(A >= t) = (1 - theta)^t``, in that order from ``rng`` (both simulators share it).
    """
    alpha, beta, gamma, delta = (float(v) for v in params[:4])
    n = lk.whole_periods(n)
    size = n.shape[0]
    p = np.asarray(rng.beta(alpha, beta, size=size))
    theta = np.asarray(rng.beta(gamma, delta, size=size))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        alive = np.floor(np.log(1.0 - rng.random(size)) / np.log1p(-theta))
    return p, np.minimum(np.where(np.isnan(alive), np.inf, alive), n)


def _draw_bgbb(
    params: np.ndarray, n: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Exact draws of ``(x, t_x)`` for ``n`` opportunities each (see simulate_bgbb_rfm)."""
    p, alive = _draw_alive_periods(params, n, rng)
    size = p.shape[0]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # silent periods at the end of the alive ones: P(G >= g) = (1 - p)^g
        gap = np.floor(np.log(1.0 - rng.random(size)) / np.log1p(-p))
        gap = np.where(np.isnan(gap), np.inf, gap)
    bought = gap < alive
    tx = np.where(bought, alive - np.where(bought, gap, 0.0), 0.0)
    x = np.zeros(size)
    x[bought] = 1.0 + rng.binomial((tx[bought] - 1.0).astype(np.int64), p[bought])
    return x, tx


def _draw_bgbb_purchase_periods(
    params: np.ndarray, n: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Exact draws of every purchase period (the ``_draw_purchase_times`` hook).

    Period by period, as the story goes: each customer is alive for ``min(n, A)``
    periods (``P(A >= t) = (1 - theta)^t``) and buys in each of them with probability
    ``p``. Returns ``(counts, periods)``: purchases per customer and their periods
    (whole numbers ``1 .. n``, ascending within each customer). Work grows with the
    total number of periods alive.
    """
    p, alive_periods = _draw_alive_periods(params, n, rng)
    size = p.shape[0]
    alive = alive_periods.astype(np.int64)
    owner = np.repeat(np.arange(size), alive)
    starts = np.concatenate(([0], np.cumsum(alive)[:-1]))
    period = np.arange(owner.size, dtype=np.int64) - starts[owner] + 1
    bought = rng.random(owner.size) < p[owner]
    counts = np.bincount(owner[bought], minlength=size).astype(np.int64)
    return counts, period[bought].astype(float)


def simulate_bgbb_rfm(
    params: npt.ArrayLike,
    n: npt.ArrayLike,
    *,
    random_state: int | np.random.Generator | None = None,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Draw discrete RFM summaries exactly from the BG/BB story.

    For each customer ``p ~ Beta(alpha, beta)`` and ``theta ~ Beta(gamma, delta)``; the
    number of periods alive is ``min(n, A)`` with ``P(A >= t) = (1 - theta)^t``; counting
    back from the last of them, the silent periods before the last purchase number
    ``G`` with ``P(G >= g) = (1 - p)^g``, so ``t_x = alive - G`` (no purchase when
    ``G >= alive``) and the earlier periods hold ``Binomial(t_x - 1, p)`` more.

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(alpha, beta, gamma, delta)``.
    n : array-like of shape (n_customers,)
        Transaction opportunities of each customer (whole numbers).
    random_state : int or numpy Generator, optional
        Seed or generator (no global state is touched).
    time_unit : str, optional
        The period, stored in ``attrs["time_unit"]``.

    Returns
    -------
    DataFrame
        Columns ``frequency, recency, T`` (whole numbers), index ``customer_id`` ``0..``.
    """
    rng = np.random.default_rng(random_state)
    periods = np.asarray(n, dtype=float).reshape(-1)
    x, tx = _draw_bgbb(np.asarray(params, dtype=float), periods, rng)
    frame = pd.DataFrame(
        {C.FREQUENCY: x, C.RECENCY: tx, C.T: lk.whole_periods(periods)},
        index=pd.RangeIndex(periods.shape[0], name=C.CUSTOMER_ID),
    )
    if time_unit is not None:
        frame.attrs[C.ATTR_TIME_UNIT] = time_unit
    return frame


class BetaGeoBetaBinomFitter(PurchaseFitter):
    r"""BG/BB model (Fader, Hardie & Shang 2010) of repeat purchases at discrete occasions.

    Assumptions: after the first purchase a customer has a sequence of transaction
    opportunities (periods: a yearly appeal, a weekly market day). At the start of each
    period a customer still alive leaves for good with probability :math:`\theta`; while
    alive she makes a purchase in a period with probability :math:`p`. Across customers
    :math:`p \sim \mathrm{Beta}(\alpha, \beta)` and
    :math:`\theta \sim \mathrm{Beta}(\gamma, \delta)`, independently. With ``x`` periods
    with a purchase among ``n`` opportunities, the last in period ``t_x``:

    .. math::

        L = \frac{B(\alpha+x, \beta+n-x)}{B(\alpha,\beta)}
            \frac{B(\gamma, \delta+n)}{B(\gamma,\delta)}
          + \sum_{i=0}^{n-t_x-1} \frac{B(\alpha+x, \beta+t_x-x+i)}{B(\alpha,\beta)}
            \frac{B(\gamma+1, \delta+t_x+i)}{B(\gamma,\delta)}.

    Data columns (whole numbers, in periods of ``time_unit_``): ``frequency`` = x,
    ``recency`` = t_x, ``T`` = n; build them with
    ``rfm_summary(tx, time_unit=U, merge_period=U)`` (see the module docstring). Every
    horizon is a number of opportunities (a fractional horizon counts the whole ones).
    ``probability_alive`` is the paper's P(alive in period n + 1) (eq. 11).

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        L2 penalty ``penalizer_coef * (alpha^2 + beta^2 + gamma^2 + delta^2)`` added to
        the mean negative log-likelihood per customer (lifetimes' scaling). 0 = MLE.
    ci_level : float, default=0.95
        Confidence level of the intervals in :attr:`summary`.

    Attributes
    ----------
    params_ : Series
        Estimates of ``alpha, beta, gamma, delta``.
    log_likelihood_ : float
        Total log-likelihood at the estimate (-33,225.58 on the donations data).
    variance_matrix_, standard_errors_, converged_, n_customers_, time_unit_
        As for every clvlab fitter.

    Examples
    --------
    >>> from clvlab.models.beta_geo_beta_binom import (
    ...     BetaGeoBetaBinomFitter, simulate_bgbb_rfm)
    >>> rfm = simulate_bgbb_rfm([1.2, 0.75, 0.66, 2.78], [6] * 5000, random_state=1,
    ...                         time_unit="Y")
    >>> bgbb = BetaGeoBetaBinomFitter().fit(rfm)
    >>> bool(bgbb.probability_alive(rfm).between(0, 1).all())
    True

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S., & Shang, J. (2010). Customer-base analysis in a
       discrete-time noncontractual setting. Marketing Science, 29(6), 1086-1108.
    """

    _param_names: ClassVar[tuple[str, ...]] = lk.BGBB_PARAM_NAMES
    _model_name: ClassVar[str] = "BG/BB"
    _long_name: ClassVar[str] = "beta-geometric/beta-binomial model"
    _time_scale: ClassVar[str] = "discrete"
    _story: ClassVar[str] = (
        "Customers can buy only at discrete occasions -- one chance per period, such as a "
        "yearly fundraising appeal or a weekly visit. While active, each customer buys at "
        "an occasion with a probability of their own; at the start of every period an "
        "active customer may leave for good, again with a probability of their own. Both "
        "probabilities vary across customers as beta distributions. A customer who has "
        "not bought for several occasions is either still active but unlikely to buy, or "
        "gone -- the model weighs the two."
    )
    _glossary: ClassVar[dict[str, str]] = {
        "alpha": "first shape of the purchase-probability distribution",
        "beta": "second shape of the purchase-probability distribution "
                "(mean purchase probability per period alpha/(alpha+beta))",
        "gamma": "first shape of the dropout-probability distribution",
        "delta": "second shape of the dropout-probability distribution "
                 "(mean dropout probability per period gamma/(gamma+delta))",
    }
    #: Published estimates (FHS 2010, donations data, one opportunity per year): the
    #: defaults of :func:`clvlab.simulate_transactions` for this model (probabilities per
    #: period, so they apply to whatever period ``time_unit`` names).
    _reference_params: ClassVar[dict[str, float]] = {
        "alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783,
    }
    _references: ClassVar[tuple[str, ...]] = (
        "Fader, P. S., Hardie, B. G. S., & Shang, J. (2010). Customer-base analysis in a "
        "discrete-time noncontractual setting. Marketing Science, 29(6), 1086-1108.",
    )

    def __init__(self, *, penalizer_coef: float = 0.0, ci_level: float = 0.95) -> None:
        self.penalizer_coef = penalizer_coef
        self.ci_level = ci_level

    # -- data checks (discrete histories) --------------------------------------------------
    def _check_data(self, frame: pd.DataFrame) -> None:
        """Check that the summary is a discrete one: whole periods, ``x <= t_x <= n``."""
        hint = (
            "BG/BB counts periods (transaction opportunities): build the summary with "
            "rfm_summary(tx, time_unit=U, merge_period=U), e.g. U='W' for weekly occasions."
        )
        for col in (C.RECENCY, C.T):
            v = frame[col].to_numpy(dtype=float)
            bad = v != np.floor(v)
            if bad.any():
                shown = ", ".join(f"{val:g}" for val in v[bad][:3])
                _fail(frame, bad, col,
                      f"must be a whole number of periods for BG/BB (found {shown})", hint)
        x = frame[C.FREQUENCY].to_numpy(dtype=float)
        tx = frame[C.RECENCY].to_numpy(dtype=float)
        bad = x > tx
        if bad.any():
            _fail(frame, bad, C.FREQUENCY,
                  "must be <= recency for BG/BB (at most one purchase per period, so x "
                  "periods with a purchase end no earlier than period x)",
                  "Were purchases merged per day instead of per period? " + hint)

    # -- BaseFitter hooks -------------------------------------------------------------
    def _loglik_and_grad(
        self, params: np.ndarray, data: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        x, tx, n = data
        ll, grad = lk.bgbb_log_likelihood_grad(params, x, tx, n)
        assert grad is not None  # gradient=True
        return ll, grad

    def _initial_params(self, data: Sequence[np.ndarray], weights: np.ndarray) -> list[np.ndarray]:
        return [
            np.array([1.0, 1.0, 1.0, 1.0]),
            np.array([0.5, 2.0, 0.5, 5.0]),
            np.array([3.0, 3.0, 0.3, 10.0]),
        ]

    def _degeneracy(
        self, params: np.ndarray, data: Sequence[np.ndarray], weights: np.ndarray
    ) -> str | None:
        gamma, delta = float(params[2]), float(params[3])
        if delta > 1e4 and gamma / (gamma + delta) < 1e-3:
            return (
                f"the data show no sign of dropout: the mean dropout probability per period "
                f"gamma/(gamma+delta) ran to {gamma / (gamma + delta):.2g} with delta = "
                f"{delta:.3g}, the edge of the parameter space. The fit reduces to a "
                "beta-binomial model of purchases without churn; gamma and delta are not "
                "identified (no standard errors). A longer observation window may show churn."
            )
        return None

    # -- prediction hooks: ages are counted in whole periods ------------------------------
    @staticmethod
    def _periods(
        x: np.ndarray, tx: np.ndarray, n: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Whole-period histories (validated frames already are; P(alive) paths are not)."""
        tx_w, n_w = lk.whole_periods(tx), lk.whole_periods(n)
        return np.minimum(np.asarray(x, dtype=float), tx_w), tx_w, n_w

    def _p_alive(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        return lk.bgbb_probability_alive(params, *self._periods(x, tx, T))

    def _expected(
        self, params: np.ndarray, t: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        return lk.bgbb_expected_purchases(params, t, *self._periods(x, tx, T))

    def _expected_new(self, params: np.ndarray, t: np.ndarray) -> np.ndarray:
        return lk.bgbb_expected_purchases_new_customer(params, t)

    def _log_pmf_new(self, params: np.ndarray, n: np.ndarray, t: np.ndarray) -> np.ndarray:
        return lk.bgbb_log_probability_of_purchases(params, n, t)

    def _log_pmf_conditional(
        self, params: np.ndarray, n: np.ndarray, t: np.ndarray,
        x: np.ndarray, tx: np.ndarray, T: np.ndarray,
    ) -> np.ndarray:
        return lk.bgbb_log_conditional_probability_of_purchases(
            params, n, t, *self._periods(x, tx, T))

    def _dert(
        self, params: np.ndarray, delta: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        # ``delta`` is the continuous rate ln(1 + d); a purchase s periods ahead is
        # discounted by exp(-delta s) = (1 + d)^-s, which is eq. (15)
        return lk.bgbb_dert(params, float(np.expm1(delta)), *self._periods(x, tx, T))

    def _draw_purchase_times(
        self, params: np.ndarray, T: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return _draw_bgbb_purchase_periods(params, np.asarray(T, dtype=float).reshape(-1), rng)

    def _simulate(
        self, params: np.ndarray, T: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return _draw_bgbb(params, np.asarray(T, dtype=float).reshape(-1), rng)

    def _heterogeneity(self) -> tuple[Heterogeneity, ...]:
        from scipy import stats  # lazily: scipy.stats costs ~20 MiB and 0.3 s to import

        alpha, beta, gamma, delta = self._params_array()
        unit = _unit_word(self.time_unit_)
        return (
            Heterogeneity(
                "purchase probability", "p", stats.beta(alpha, beta),
                f"Beta(α, β): chance of a purchase in a {unit} while the customer is active",
                unit=f"per {unit}", support="unit",
            ),
            Heterogeneity(
                "dropout probability", "θ", stats.beta(gamma, delta),
                f"Beta(γ, δ): chance of leaving for good at the start of each {unit}",
                unit=f"per {unit}", support="unit",
            ),
        )

    # -- discrete-time conveniences ---------------------------------------------------------
    def probability_alive_in(self, data: Any, m: int = 1) -> pd.Series:
        """P(alive in period ``n + m``) given each history (``m = 0``: in period ``n``).

        Parameters
        ----------
        data : DataFrame
            Discrete RFM summary, index ``customer_id``.
        m : int, default=1
            Periods after the last observed one; ``probability_alive`` is ``m = 1``.

        Returns
        -------
        Series
            ``probability_alive``, indexed like ``data``.
        """
        if isinstance(m, bool) or not (isinstance(m, (int, np.integer)) and m >= 0):
            raise ValueError(f"m must be a whole number of periods >= 0; got {m!r}.")
        frame, x, tx, T = self._histories(data)
        values = lk.bgbb_probability_alive(self._params_array(), x, tx, T, m=int(m))
        return pd.Series(values, index=frame.index, name="probability_alive")
