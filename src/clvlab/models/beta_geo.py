"""BG/NBD model of repeat purchasing: :class:`BetaGeoFitter`.

The maths lives in :mod:`clvlab.models.likelihoods` (pure functions); this module adds
the fitter (maximum likelihood through :class:`~clvlab.models.base.BaseFitter`) and the
predictors that take an RFM summary and return Series indexed by ``customer_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from clvlab import _columns as C
from clvlab.models.contract import Heterogeneity
from clvlab.models.likelihoods import beta_geo as lk
from clvlab.models.purchase import PurchaseFitter, _beta_geo_degeneracy, _unit_word

__all__ = ["BetaGeoFitter", "simulate_bgnbd_rfm", "DEGENERACY_LIMITS"]

#: Where a BG/NBD estimate counts as having reached a limit of the model:
#: ``mean_dropout``: a/(a+b) below it is "no churn" (the NBD); ``dropout_cv``: a
#: coefficient of variation of the Beta(a, b) dropout probabilities below it is one common
#: dropout probability; ``rate_cv``: a coefficient of variation 1/sqrt(r) of the
#: Gamma(r, alpha) purchase rates below it is one common rate (Poisson purchasing). The
#: likelihood is flat towards these limits, so the optimiser stops somewhere on the way
#: (r in the thousands, a + b in the millions): a 3% spread is already "no difference".
DEGENERACY_LIMITS: dict[str, float] = {
    "mean_dropout": 1e-6,
    "dropout_cv": 0.03,
    "rate_cv": 0.03,
}


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
    rng = np.random.default_rng(random_state)
    age = np.asarray(T, dtype=float).reshape(-1)
    x, tx = _draw_bgnbd(np.asarray(params, dtype=float)[:4], age, rng)
    frame = pd.DataFrame(
        {C.FREQUENCY: x, C.RECENCY: tx, C.T: age},
        index=pd.RangeIndex(age.shape[0], name=C.CUSTOMER_ID),
    )
    if time_unit is not None:
        frame.attrs[C.ATTR_TIME_UNIT] = time_unit
    return frame


def _draw_bgnbd(
    params: np.ndarray, age: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Exact draws of ``(frequency, recency)`` for ages ``age`` (see simulate_bgnbd_rfm)."""
    r, alpha, a, b = (float(v) for v in params)
    n = age.shape[0]
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    m = rng.poisson(lam * age)
    k = rng.geometric(np.clip(p, 1e-300, 1.0))
    x = np.minimum(m, k)
    has = x > 0
    frac = np.zeros(n)
    frac[has] = rng.beta(x[has], m[has] - x[has] + 1)
    return x.astype(float), frac * age


def _draw_latent(params: np.ndarray, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Purchase rates ``lambda ~ Gamma(r, alpha)`` and dropout probabilities ``p ~ Beta(a, b)``."""
    r, alpha, a, b = (float(v) for v in params)
    lam = rng.gamma(shape=r, scale=1.0 / alpha, size=n)
    p_drop = np.clip(rng.beta(a, b, size=n), 1e-12, 1.0)
    return {"lambda": lam, "p": p_drop}


def _draw_given_latent(
    latent: dict[str, np.ndarray], age: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat-purchase ages given the latent traits: the BG/NBD story, exactly.

    The number of Poisson(``lambda``) purchase opportunities in ``(0, T]`` is
    ``N ~ Poisson(lambda T)`` (alive or not) and their times are ``N`` sorted uniforms,
    made for every customer at once from exponential spacings
    (``U_(k) = S_k / S_(N+1)``, ``S`` the within-customer cumulative sum of ``N + 1``
    standard exponentials); the customer keeps the first ``min(N, J)`` of them, ``J ~
    Geometric(p)`` the number of repeat purchases before dropout.
    """
    lam, p_drop = latent["lambda"], latent["p"]
    n_arrivals = rng.poisson(lam * age)  # Poisson arrivals in (0, T], alive or not
    n_alive = rng.geometric(p_drop)  # repeat purchases before dropout
    counts = np.minimum(n_arrivals, n_alive)
    seg_len = n_arrivals + 1
    seg_end = np.cumsum(seg_len)  # exclusive end of each customer's spacings
    seg_start = seg_end - seg_len
    cs = np.cumsum(rng.standard_exponential(int(seg_end[-1]) if seg_end.size else 0))
    base = np.where(seg_start > 0, cs[np.maximum(seg_start - 1, 0)], 0.0)
    total = cs[seg_end - 1] - base if seg_end.size else np.zeros(0)
    cust = np.repeat(np.arange(counts.shape[0]), counts)
    rank = np.arange(cust.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    u = (cs[seg_start[cust] + rank] - base[cust]) / total[cust]
    return counts, age[cust] * u


class BetaGeoFitter(PurchaseFitter):
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
    _model_name: ClassVar[str] = "BG/NBD"
    _long_name: ClassVar[str] = "beta-geometric/negative binomial distribution model"
    _story: ClassVar[str] = (
        "While active, each customer buys at a steady rate of their own (a Poisson process); "
        "right after each repeat purchase they may leave for good, with a probability of "
        "their own. Purchase rates vary across customers as a gamma distribution and "
        "dropout probabilities as a beta distribution. A customer can only leave after a "
        "purchase, so one who has not bought again since their first purchase is counted "
        "as certainly still active."
    )
    _glossary: ClassVar[dict[str, str]] = {
        "r": "shape of the purchase-rate distribution",
        "alpha": "scale of the purchase-rate distribution (in time units; mean rate r/alpha)",
        "a": "first shape of the dropout-probability distribution",
        "b": "second shape of the dropout-probability distribution (mean dropout a/(a+b))",
    }
    #: Published estimates (FHL 2005, CDNOW sample, weeks, rounded): the defaults of
    #: :func:`clvlab.simulate_transactions`.
    _reference_params: ClassVar[dict[str, float]] = {
        "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426,
    }
    _references: ClassVar[tuple[str, ...]] = (
        "Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). \"Counting your customers\" "
        "the easy way: An alternative to the Pareto/NBD model. Marketing Science, 24(2), "
        "275-284.",
    )

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

    def _degeneracy(
        self, params: np.ndarray, data: Sequence[np.ndarray], weights: np.ndarray
    ) -> str | None:
        """Name the cause and the limit when the data leave part of BG/NBD unidentified.

        Limits recognised (thresholds in :data:`DEGENERACY_LIMITS`): no repeat purchase at
        all (or one purchase day), so nothing is learnt about purchasing; no sign of churn
        (mean dropout probability ``a / (a + b)`` -> 0: the NBD); dropout probabilities
        that do not vary between customers (``a, b -> inf`` at a fixed ratio: one common
        dropout probability); purchase rates that do not vary (``r, alpha -> inf`` at a
        fixed ratio: Poisson purchasing).
        """
        unit = _unit_word(getattr(self, "time_unit_", None))
        return _beta_geo_degeneracy("BG/NBD", "after each purchase", params, data, weights,
                                    unit, DEGENERACY_LIMITS)

    def _penalty_scale(self, data: Sequence[np.ndarray]) -> np.ndarray:
        # lifetimes penalises alpha in time units where the oldest customer's age is 1
        T = data[2]
        max_T = float(np.max(T)) if len(T) else 1.0
        return np.array([1.0, 1.0 / max_T if max_T > 0 else 1.0, 1.0, 1.0])

    # -- prediction hooks (pure functions of clvlab.models.likelihoods.beta_geo) ---------
    def _p_alive(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        return lk.bgnbd_probability_alive(params, x, tx, T)

    def _expected(
        self, params: np.ndarray, t: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        return lk.bgnbd_expected_purchases(params, t, x, tx, T)

    def _expected_new(self, params: np.ndarray, t: np.ndarray) -> np.ndarray:
        return lk.bgnbd_expected_purchases_new_customer(params, t)

    def _log_pmf_new(self, params: np.ndarray, n: np.ndarray, t: np.ndarray) -> np.ndarray:
        return lk.bgnbd_log_probability_of_purchases(params, n, t)

    def _log_pmf_conditional(
        self, params: np.ndarray, n: np.ndarray, t: np.ndarray,
        x: np.ndarray, tx: np.ndarray, T: np.ndarray,
    ) -> np.ndarray:
        return lk.bgnbd_log_conditional_probability_of_purchases(params, n, t, x, tx, T)

    def _simulate(
        self, params: np.ndarray, T: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return _draw_bgnbd(params, T, rng)

    def _draw_latent(
        self, params: np.ndarray, n: int, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        return _draw_latent(params, n, rng)

    def _draw_given_latent(
        self, params: np.ndarray, latent: dict[str, np.ndarray], T: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        return _draw_given_latent(latent, np.asarray(T, dtype=float).reshape(-1), rng)

    def _draw_purchase_times(
        self, params: np.ndarray, T: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        age = np.asarray(T, dtype=float).reshape(-1)
        return _draw_given_latent(_draw_latent(params, age.shape[0], rng), age, rng)

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
                "Beta(a, b): chance of leaving for good right after each repeat purchase",
                unit="per purchase", support="unit",
            ),
        )
