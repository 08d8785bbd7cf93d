"""MBG/NBD model of repeat purchasing: :class:`ModifiedBetaGeoFitter`.

The maths lives in :mod:`clvlab.models.likelihoods.modified_beta_geo` (pure functions);
this module adds the fitter (maximum likelihood through
:class:`~clvlab.models.base.BaseFitter`), the prediction hooks of
:class:`~clvlab.models.purchase.PurchaseFitter` and exact simulation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from clvlab import _columns as C
from clvlab.models.beta_geo import DEGENERACY_LIMITS
from clvlab.models.contract import Heterogeneity
from clvlab.models.likelihoods import modified_beta_geo as lk
from clvlab.models.purchase import PurchaseFitter, _beta_geo_degeneracy, _unit_word

__all__ = ["ModifiedBetaGeoFitter", "simulate_mbgnbd_rfm"]


def _draw_latent(
    params: np.ndarray, age: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw each customer's repeat-purchase count ``x`` and opportunity count ``m``.

    ``lambda ~ Gamma(r, 1/alpha)``, ``p ~ Beta(a, b)``; the Poisson(``lambda``) purchase
    opportunities in ``(0, T]`` number ``m ~ Poisson(lambda T)``. The customer survives
    the age-0 coin with probability ``1 - p``; a survivor makes ``K ~ Geometric(p)``
    purchases (on 1, 2, ...) before leaving, so ``x = min(m, K)``, and ``x = 0`` for a
    customer gone at age 0. ``K`` is drawn by inversion,
    ``K = 1 + floor(ln U / ln(1 - p))``, in floating point, so ``p`` near 0 or 1 cannot
    overflow an integer.
    """
    r, alpha, a, b = (float(v) for v in params[:4])
    n = age.shape[0]
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    gone_at_0 = rng.random(n) < p
    m = rng.poisson(lam * age).astype(float)
    u = 1.0 - rng.random(n)  # in (0, 1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = 1.0 + np.floor(np.log(u) / np.log1p(-p))
    k = np.where(np.isnan(k), np.inf, k)  # p = 0 exactly: never leaves
    x = np.where(gone_at_0, 0.0, np.minimum(m, k))
    return x, m


def _draw_mbgnbd(
    params: np.ndarray, age: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Exact draws of ``(frequency, recency)`` for ages ``age`` (see simulate_mbgnbd_rfm)."""
    x, m = _draw_latent(params, age, rng)
    has = x > 0
    frac = np.zeros(x.shape[0])
    # the x-th of m uniform order statistics on (0, 1] is Beta(x, m - x + 1)
    frac[has] = rng.beta(x[has], m[has] - x[has] + 1.0)
    return x, frac * age


def _draw_mbgnbd_purchase_times(
    params: np.ndarray, age: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Exact draws of every repeat-purchase age (the ``_draw_purchase_times`` hook).

    Given ``m`` opportunities in ``(0, T]`` their ages are ``m`` sorted uniforms, and the
    customer's purchases are the first ``x`` of them. The first ``x`` order statistics of
    ``m`` uniforms are ``S_j / (S_x + G)``, ``j = 1..x``, with ``S`` the cumulative sums of
    ``x`` standard exponentials and ``G ~ Gamma(m - x + 1)`` standing for the remaining
    ``m - x + 1`` spacings: ``x`` draws per customer instead of ``m``.
    """
    x, m = _draw_latent(params, age, rng)
    counts = x.astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return counts, np.zeros(0)
    owner = np.repeat(np.arange(counts.shape[0]), counts)
    spacings = rng.standard_exponential(total)
    csum = np.cumsum(spacings)
    ends = np.cumsum(counts)  # one past each customer's last purchase
    before = np.concatenate(([0.0], csum))[ends - counts]  # sum of earlier customers'
    partial = csum - before[owner]  # S_j within each customer
    has = counts > 0
    s_x = np.zeros(counts.shape[0])
    s_x[has] = partial[ends[has] - 1]
    rest = np.zeros(counts.shape[0])
    rest[has] = rng.gamma(m[has] - x[has] + 1.0)
    scale = np.zeros(counts.shape[0])
    scale[has] = age[has] / (s_x[has] + rest[has])
    return counts, partial * scale[owner]


def simulate_mbgnbd_rfm(
    params: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    random_state: int | np.random.Generator | None = None,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Draw RFM summaries exactly from the MBG/NBD story (no event-by-event loop).

    For each customer: ``lambda ~ Gamma(r, 1/alpha)``, ``p ~ Beta(a, b)``; the customer is
    gone right after the first purchase with probability ``p``; otherwise of the
    ``m ~ Poisson(lambda T)`` purchase opportunities in ``(0, T]`` she takes the first
    ``K ~ Geometric(p)``, so ``frequency = min(m, K)``; given ``m`` the opportunity times
    are uniform order statistics, so ``recency = T * Beta(x, m - x + 1)`` (0 when
    ``x = 0``).

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
    rng = np.random.default_rng(random_state)
    age = np.asarray(T, dtype=float).reshape(-1)
    x, tx = _draw_mbgnbd(np.asarray(params, dtype=float)[:4], age, rng)
    frame = pd.DataFrame(
        {C.FREQUENCY: x, C.RECENCY: tx, C.T: age},
        index=pd.RangeIndex(age.shape[0], name=C.CUSTOMER_ID),
    )
    if time_unit is not None:
        frame.attrs[C.ATTR_TIME_UNIT] = time_unit
    return frame


class ModifiedBetaGeoFitter(PurchaseFitter):
    r"""MBG/NBD model (Batislam, Denizel & Filiztekin 2007) of repeat purchases and dropout.

    Assumptions: while alive, a customer buys at the times of a Poisson process with
    rate :math:`\lambda`; at the first purchase and after each repeat purchase she drops
    out for good with probability :math:`p`; across customers
    :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)` and :math:`p \sim \mathrm{Beta}(a, b)`,
    independently. This differs from BG/NBD only in the dropout opportunity right after
    the first purchase, so a customer with no repeat purchase can already be gone and her
    P(alive) falls as time passes. With ``x`` repeat purchases, the last at age ``t_x``,
    observed up to age ``T``, the likelihood is

    .. math::

        L = \frac{\Gamma(r+x)\alpha^r}{\Gamma(r)}
            \left[\frac{B(a, b+x+1)}{B(a, b)} (\alpha+T)^{-(r+x)}
                + \frac{B(a+1, b+x)}{B(a, b)} (\alpha+t_x)^{-(r+x)}\right].

    Parameters (``params_``): ``r`` shape and ``alpha`` scale (in the data's time unit) of
    the purchase-rate distribution (mean rate ``r/alpha`` per time unit); ``a`` and ``b``
    of the dropout-probability distribution (mean ``a/(a+b)``).

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        L2 penalty ``penalizer_coef * (r^2 + (alpha/max T)^2 + a^2 + b^2)`` added to the mean
        negative log-likelihood per customer: exactly lifetimes' ``penalizer_coef`` for its
        ``ModifiedBetaGeoFitter`` (which measures alpha in units of the oldest customer's
        age), so the same value gives the same estimates. 0 = maximum likelihood.
    ci_level : float, default=0.95
        Confidence level of the intervals in :attr:`summary`.

    Attributes
    ----------
    params_ : Series
        Estimates of ``r, alpha, a, b``.
    log_likelihood_ : float
        Total log-likelihood at the estimate (-9582.14 on the CDNOW sample in weeks).
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
    >>> from clvlab.models.modified_beta_geo import simulate_mbgnbd_rfm
    >>> rfm = simulate_mbgnbd_rfm([0.5, 6.0, 0.9, 1.6], [40.0] * 2000, random_state=1,
    ...                           time_unit="W")
    >>> mbg = clvlab.ModifiedBetaGeoFitter().fit(rfm)
    >>> bool((mbg.probability_alive(rfm)[rfm["frequency"] == 0] < 1).all())
    True

    References
    ----------
    .. [1] Batislam, E. P., Denizel, M., & Filiztekin, A. (2007). Empirical validation and
       comparison of models for customer base analysis. International Journal of Research
       in Marketing, 24(3), 201-209.
    .. [2] Wagner, U., & Hoppe, D. (2008). Erratum on the MBG/NBD model. International
       Journal of Research in Marketing, 25(3), 225-226.
    .. [3] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting your customers"
       the easy way: An alternative to the Pareto/NBD model. Marketing Science, 24(2),
       275-284.
    """

    _param_names: ClassVar[tuple[str, ...]] = lk.MBGNBD_PARAM_NAMES
    _model_name: ClassVar[str] = "MBG/NBD"
    _long_name: ClassVar[str] = "modified beta-geometric/negative binomial distribution model"
    _story: ClassVar[str] = (
        "While active, each customer buys at a steady rate of their own (a Poisson process). "
        "Right after their first purchase, and again right after each repeat purchase, they "
        "may leave for good, with a probability of their own. Purchase rates vary across "
        "customers as a gamma distribution and dropout probabilities as a beta "
        "distribution. This is the BG/NBD story with one change: a customer can leave "
        "straight after the first purchase, so one who has not bought again is not "
        "counted as certainly still active -- the longer the silence, the more likely "
        "they are gone."
    )
    _glossary: ClassVar[dict[str, str]] = {
        "r": "shape of the purchase-rate distribution",
        "alpha": "scale of the purchase-rate distribution (in time units; mean rate r/alpha)",
        "a": "first shape of the dropout-probability distribution",
        "b": "second shape of the dropout-probability distribution (mean dropout a/(a+b))",
    }
    #: Estimates on the CDNOW 1/10 sample in weeks (BTYDplus and pymc-marketing's
    #: reference values, which lifetimes and clvlab reach): the defaults of
    #: :func:`clvlab.simulate_transactions` for this model.
    _reference_params: ClassVar[dict[str, float]] = {
        "r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614,
    }
    _references: ClassVar[tuple[str, ...]] = (
        "Batislam, E. P., Denizel, M., & Filiztekin, A. (2007). Empirical validation and "
        "comparison of models for customer base analysis. International Journal of "
        "Research in Marketing, 24(3), 201-209.",
        "Wagner, U., & Hoppe, D. (2008). Erratum on the MBG/NBD model. International "
        "Journal of Research in Marketing, 25(3), 225-226.",
    )

    def __init__(self, *, penalizer_coef: float = 0.0, ci_level: float = 0.95) -> None:
        self.penalizer_coef = penalizer_coef
        self.ci_level = ci_level

    # -- BaseFitter hooks -------------------------------------------------------------
    def _loglik_and_grad(
        self, params: np.ndarray, data: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        frequency, recency, T = data
        ll, grad = lk.mbgnbd_log_likelihood_grad(params, frequency, recency, T)
        assert grad is not None  # gradient=True
        return ll, grad

    def _initial_params(self, data: Sequence[np.ndarray], weights: np.ndarray) -> list[np.ndarray]:
        frequency, _, T = data
        # purchase-rate scale from the pooled rate: r/alpha ~ sum(x) / sum(T)
        rate = float(np.einsum("i,i->", weights, frequency)) / max(
            float(np.einsum("i,i->", weights, T)), 1e-12
        )
        alpha0 = float(np.clip(1.0 / max(rate, 1e-6), 1e-6, 1e6))
        return [
            np.array([1.0, alpha0, 1.0, 1.0]),
            np.array([0.3, 0.3 * alpha0, 0.5, 2.0]),
            np.array([3.0, 3.0 * alpha0, 3.0, 10.0]),
        ]

    def _degeneracy(
        self, params: np.ndarray, data: Sequence[np.ndarray], weights: np.ndarray
    ) -> str | None:
        """Name the cause and the limit when the data leave part of MBG/NBD unidentified.

        The limits of BG/NBD, with its thresholds (:data:`clvlab.models.beta_geo.
        DEGENERACY_LIMITS`): no repeat purchase at all; no sign of churn (``a / (a + b)``
        -> 0: the NBD); one common dropout probability (``a, b -> inf`` at a fixed
        ratio); one common purchase rate (``r, alpha -> inf``: Poisson purchasing).
        """
        unit = _unit_word(getattr(self, "time_unit_", None))
        return _beta_geo_degeneracy(
            "MBG/NBD", "at the first purchase and after each repeat purchase", params, data,
            weights, unit, DEGENERACY_LIMITS)

    def _penalty_scale(self, data: Sequence[np.ndarray]) -> np.ndarray:
        # lifetimes (ModifiedBetaGeoFitter inherits BetaGeoFitter.fit) penalises alpha in
        # time units where the oldest customer's age is 1
        T = data[2]
        max_T = float(np.max(T)) if len(T) else 1.0
        return np.array([1.0, 1.0 / max_T if max_T > 0 else 1.0, 1.0, 1.0])

    # -- prediction hooks (pure functions of clvlab.models.likelihoods.modified_beta_geo) -
    def _p_alive(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        return lk.mbgnbd_probability_alive(params, x, tx, T)

    def _expected(
        self, params: np.ndarray, t: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        return lk.mbgnbd_expected_purchases(params, t, x, tx, T)

    def _expected_new(self, params: np.ndarray, t: np.ndarray) -> np.ndarray:
        return lk.mbgnbd_expected_purchases_new_customer(params, t)

    def _log_pmf_new(self, params: np.ndarray, n: np.ndarray, t: np.ndarray) -> np.ndarray:
        return lk.mbgnbd_log_probability_of_purchases(params, n, t)

    def _log_pmf_conditional(
        self, params: np.ndarray, n: np.ndarray, t: np.ndarray,
        x: np.ndarray, tx: np.ndarray, T: np.ndarray,
    ) -> np.ndarray:
        return lk.mbgnbd_log_conditional_probability_of_purchases(params, n, t, x, tx, T)

    def _draw_purchase_times(
        self, params: np.ndarray, T: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return _draw_mbgnbd_purchase_times(params, np.asarray(T, dtype=float).reshape(-1), rng)

    def _simulate(
        self, params: np.ndarray, T: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return _draw_mbgnbd(params, np.asarray(T, dtype=float).reshape(-1), rng)

    def _heterogeneity(self) -> tuple[Heterogeneity, ...]:
        from scipy import stats  # lazily: scipy.stats costs ~20 MiB and 0.3 s to import

        r, alpha, a, b = self._params_array()
        unit = _unit_word(self.time_unit_)
        return (
            Heterogeneity(
                "purchase rate", "λ", stats.gamma(r, scale=1.0 / alpha),
                f"Gamma(r, α): purchases per {unit} while the customer is active",
                unit=f"per {unit}",
            ),
            Heterogeneity(
                "dropout probability", "p", stats.beta(a, b),
                "Beta(a, b): chance of leaving for good right after the first purchase "
                "and after each repeat purchase",
                unit="per purchase", support="unit",
            ),
        )
