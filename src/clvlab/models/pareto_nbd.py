"""Pareto/NBD model of repeat purchasing: :class:`ParetoNBDFitter`.

The maths lives in :mod:`clvlab.models.likelihoods.pareto_nbd` (pure functions); this
module adds the fitter (maximum likelihood through :class:`~clvlab.models.base.BaseFitter`)
and the prediction hooks of :class:`~clvlab.models.purchase.PurchaseFitter`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import pandas as pd

from clvlab import _columns as C
from clvlab.models.contract import Heterogeneity
from clvlab.models.likelihoods import pareto_nbd as lk
from clvlab.models.purchase import (
    PurchaseFitter,
    _limit_message,
    _no_repeat_note,
    _one_rate_note,
    _unit_word,
)

__all__ = ["ParetoNBDFitter", "simulate_pnbd_rfm"]



#: Where a Pareto/NBD estimate counts as having reached a limit of the model:
#: ``mean_dropout``: the mean dropout rate s/beta times the longest customer age below it
#: is "no churn" (the NBD: nobody leaves within anything the data can show);
#: ``dropout_cv``: a coefficient of variation 1/sqrt(s) of the Gamma(s, beta) dropout
#: rates below it is one common dropout rate (exponential lifetimes); ``rate_cv``: the
#: same for the Gamma(r, alpha) purchase rates (Poisson purchasing). The likelihood is
#: flat towards these limits, so the optimiser stops somewhere on the way.
DEGENERACY_LIMITS: dict[str, float] = {
    "mean_dropout": 1e-6,
    "dropout_cv": 0.03,
    "rate_cv": 0.03,
}


def _draw_latent(params: np.ndarray, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Purchase rates ``lambda ~ Gamma(r, alpha)`` and dropout rates ``mu ~ Gamma(s, beta)``."""
    r, alpha, s, beta = (float(v) for v in params)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    mu = rng.gamma(s, 1.0 / beta, size=n)
    return {"lambda": lam, "mu": mu}


def _draw_given_latent(
    latent: dict[str, np.ndarray], age: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat-purchase ages given the latent rates: the Pareto/NBD story, exactly.

    Lifetime ``tau ~ Exp(mu)``; purchases are a Poisson(``lambda``) process on
    ``(0, min(tau, T)]``: their number is ``Poisson(lambda min(tau, T))`` and, given it,
    their times are sorted uniforms, made for every customer at once from exponential
    spacings (``U_(k) = S_k / S_(N+1)``).
    """
    lam, mu = latent["lambda"], latent["mu"]
    with np.errstate(divide="ignore"):
        lifetime = rng.standard_exponential(lam.shape[0]) / mu  # mu = 0 lives forever
    active = np.minimum(lifetime, age)
    counts = rng.poisson(lam * active)
    seg_len = counts + 1
    seg_end = np.cumsum(seg_len)
    seg_start = seg_end - seg_len
    cs = np.cumsum(rng.standard_exponential(int(seg_end[-1]) if seg_end.size else 0))
    base = np.where(seg_start > 0, cs[np.maximum(seg_start - 1, 0)], 0.0)
    total = cs[seg_end - 1] - base if seg_end.size else np.zeros(0)
    cust = np.repeat(np.arange(counts.shape[0]), counts)
    rank = np.arange(cust.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    u = (cs[seg_start[cust] + rank] - base[cust]) / total[cust]
    return counts, active[cust] * u


def simulate_pnbd_rfm(
    params: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    random_state: int | np.random.Generator | None = None,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Draw RFM summaries exactly from the Pareto/NBD story (no event-by-event loop).

    For each customer: ``lambda ~ Gamma(r, alpha)``, ``mu ~ Gamma(s, beta)`` (rates),
    lifetime ``tau ~ Exp(mu)``; ``frequency ~ Poisson(lambda min(tau, T))`` and, given
    it, the purchase times are uniform on ``(0, min(tau, T)]``, so
    ``recency = min(tau, T) * Beta(x, 1)`` (0 when ``x = 0``).

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, s, beta)``.
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
    x, tx = _draw_rfm(np.asarray(params, dtype=float)[:4], age, rng)
    frame = pd.DataFrame(
        {C.FREQUENCY: x, C.RECENCY: tx, C.T: age},
        index=pd.RangeIndex(age.shape[0], name=C.CUSTOMER_ID),
    )
    if time_unit is not None:
        frame.attrs[C.ATTR_TIME_UNIT] = time_unit
    return frame


def _draw_rfm(
    params: np.ndarray, age: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Exact draws of ``(frequency, recency)`` (see :func:`simulate_pnbd_rfm`)."""
    latent = _draw_latent(params, age.shape[0], rng)
    with np.errstate(divide="ignore"):
        lifetime = rng.standard_exponential(age.shape[0]) / latent["mu"]
    active = np.minimum(lifetime, age)
    x = rng.poisson(latent["lambda"] * active)
    has = x > 0
    frac = np.zeros(age.shape[0])
    frac[has] = rng.beta(x[has], 1.0)  # the largest of x uniforms
    return x.astype(float), frac * active


class ParetoNBDFitter(PurchaseFitter):
    r"""Pareto/NBD model (Schmittlein, Morrison & Colombo 1987) of purchases and dropout.

    Assumptions: while alive, a customer buys at the times of a Poisson process with
    rate :math:`\lambda`; she stays alive for an exponentially distributed time with rate
    :math:`\mu` (dropout can happen at any moment, not only after a purchase); across
    customers :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)` and
    :math:`\mu \sim \mathrm{Gamma}(s, \beta)`, independently. With ``x`` repeat purchases,
    the last at age ``t_x``, observed up to age ``T``, the likelihood is (eq. 18 of [2]_)

    .. math::

        L = \frac{\Gamma(r+x)\alpha^r\beta^s}{\Gamma(r)} \left[
            \frac{1}{(\alpha+T)^{r+x}(\beta+T)^s} + s \int_{t_x}^{T}
            \frac{du}{(\alpha+u)^{r+x}(\beta+u)^{s+1}} \right],

    evaluated in a stable log-space form (see :mod:`clvlab.models.likelihoods.pareto_nbd`)
    that stays finite and accurate for any frequency, unlike the textbook hypergeometric
    expression. Parameters (``params_``): ``r`` shape and ``alpha`` scale (in the data's
    time unit) of the purchase-rate distribution (mean rate ``r/alpha`` per time unit);
    ``s`` shape and ``beta`` scale of the dropout-rate distribution (mean dropout rate
    ``s/beta`` per time unit).

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        L2 penalty ``penalizer_coef * (r^2 + (alpha/max T)^2 + s^2 + (beta/max T)^2)``
        added to the mean negative log-likelihood per customer (the scaling of
        lifetimes' BetaGeoFitter; lifetimes' ParetoNBDFitter adds the same term to the
        *total*, so its ``penalizer_coef`` equals this one times the number of
        customers). 0 = maximum likelihood.
    ci_level : float, default=0.95
        Confidence level of the intervals in :attr:`summary`.

    Attributes
    ----------
    params_ : Series
        Estimates of ``r, alpha, s, beta``.
    log_likelihood_ : float
        Total log-likelihood at the estimate (-9,595.0 on the CDNOW sample, [3]_).
    variance_matrix_ : DataFrame
        Inverse Hessian of the total negative log-likelihood (natural parameters).
    standard_errors_ : Series
    converged_ : bool
    n_customers_, time_unit_, fit_date_, data_fingerprint_

    Examples
    --------
    >>> import clvlab
    >>> from clvlab.models.pareto_nbd import simulate_pnbd_rfm
    >>> rfm = simulate_pnbd_rfm([0.55, 10.6, 0.61, 11.7], [39.0] * 2000, random_state=1,
    ...                         time_unit="W")
    >>> model = clvlab.ParetoNBDFitter().fit(rfm)
    >>> model.expected_purchases(rfm, t=52).shape
    (2000,)

    References
    ----------
    .. [1] Schmittlein, D. C., Morrison, D. G., & Colombo, R. (1987). Counting your
       customers: Who are they and what will they do next? Management Science, 33(1), 1-24.
    .. [2] Fader, P. S., & Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD model
       and related expressions. http://brucehardie.com/notes/009/
    .. [3] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). RFM and CLV: Using iso-value
       curves for customer base analysis. Journal of Marketing Research, 42(4), 415-430.
    .. [4] Fader, P. S., & Hardie, B. G. S. (2006). Deriving an expression for
       P(X(t) = x) under the Pareto/NBD model. http://brucehardie.com/notes/012/
    """

    _param_names: ClassVar[tuple[str, ...]] = lk.PNBD_PARAM_NAMES
    # the training rows and their prepared terms, kept while one fit's optimiser runs
    _rows_cache: tuple[tuple[np.ndarray, ...], lk.PnbdRows] | None = None
    _model_name: ClassVar[str] = "Pareto/NBD"
    _long_name: ClassVar[str] = "Pareto/negative binomial distribution model"
    _story: ClassVar[str] = (
        "While active, each customer buys at a steady rate of their own (a Poisson process); "
        "independently, each stays a customer for a random length of time with a dropout "
        "rate of their own, after which they leave for good, unobserved. Purchase rates vary "
        "across customers as a gamma distribution, and so do dropout rates. A customer can "
        "leave at any moment, so one who has not bought for a long time is probably gone, "
        "whether or not they ever bought again after their first purchase."
    )
    _glossary: ClassVar[dict[str, str]] = {
        "r": "shape of the purchase-rate distribution",
        "alpha": "scale of the purchase-rate distribution (in time units; mean rate r/alpha)",
        "s": "shape of the dropout-rate distribution",
        "beta": "scale of the dropout-rate distribution (in time units; mean dropout rate "
                "s/beta)",
    }
    #: Published estimates (FHL 2005, "RFM and CLV", CDNOW sample, weeks): the defaults
    #: of :func:`clvlab.simulate_transactions` for this model.
    _reference_params: ClassVar[dict[str, float]] = {
        "r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669,
    }
    _references: ClassVar[tuple[str, ...]] = (
        "Schmittlein, D. C., Morrison, D. G., & Colombo, R. (1987). Counting your customers: "
        "Who are they and what will they do next? Management Science, 33(1), 1-24.",
        "Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). RFM and CLV: Using iso-value "
        "curves for customer base analysis. Journal of Marketing Research, 42(4), 415-430.",
    )

    def __init__(self, *, penalizer_coef: float = 0.0, ci_level: float = 0.95) -> None:
        self.penalizer_coef = penalizer_coef
        self.ci_level = ci_level

    # -- BaseFitter hooks -------------------------------------------------------------
    def fit(self, data: Any, *, weights: Any = None, time_unit: str | None = None) -> Self:
        """Fit the model by maximum likelihood (see :meth:`BaseFitter.fit`).

        Parameters
        ----------
        data : DataFrame or mapping
            RFM summary with ``frequency, recency, T``, index ``customer_id``.
        weights : array-like of shape (n_customers,), optional
            Number of customers each row stands for.
        time_unit : {"D", "W", "M", "Y"}, optional
            Unit of recency and T; defaults to ``data.attrs["time_unit"]``.

        Returns
        -------
        self
        """
        try:
            return super().fit(data, weights=weights, time_unit=time_unit)
        finally:
            self._rows_cache = None  # the prepared rows reference the training data

    def _rows(self, data: Sequence[np.ndarray]) -> lk.PnbdRows:
        """Return the prepared rows of ``data`` (reused while the optimiser passes them)."""
        cache = getattr(self, "_rows_cache", None)
        if cache is not None and len(cache[0]) == len(data) and all(
            a is b for a, b in zip(cache[0], data, strict=True)
        ):
            return cache[1]
        rows = lk.pnbd_rows(*data)
        self._rows_cache = (tuple(data), rows)
        return rows

    def _loglik(self, params: np.ndarray, data: Sequence[np.ndarray]) -> np.ndarray:
        frequency, recency, T = data
        return lk.pnbd_log_likelihood(params, frequency, recency, T, rows=self._rows(data))

    def _loglik_and_grad(
        self, params: np.ndarray, data: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        frequency, recency, T = data
        ll, grad = lk.pnbd_log_likelihood_grad(
            params, frequency, recency, T, rows=self._rows(data)
        )
        assert grad is not None  # gradient=True
        return ll, grad

    def _initial_params(self, data: Sequence[np.ndarray], weights: np.ndarray) -> list[np.ndarray]:
        frequency, _, T = data
        total_t = max(float(np.einsum("i,i->", weights, T)), 1e-12)
        rate = float(np.einsum("i,i->", weights, frequency)) / total_t
        alpha0 = float(np.clip(1.0 / max(rate, 1e-6), 1e-6, 1e6))
        mean_t = float(np.clip(total_t / max(float(weights.sum()), 1e-12), 1e-6, 1e6))
        # first start: beta = alpha, where the likelihood's hypergeometric series is
        # cheapest (z = 0); the others spread out in case it ends at a poor optimum
        return [
            np.array([1.0, alpha0, 1.0, alpha0]),
            np.array([0.5, 0.5 * alpha0, 0.5, 0.5 * mean_t]),
            np.array([3.0, 3.0 * alpha0, 3.0, 10.0 * mean_t]),
        ]

    def _degeneracy(
        self, params: np.ndarray, data: Sequence[np.ndarray], weights: np.ndarray
    ) -> str | None:
        """Name the cause and the limit when the data leave part of Pareto/NBD unidentified.

        Limits recognised (thresholds in :data:`DEGENERACY_LIMITS`): no repeat purchase at
        all; no sign of churn (mean dropout rate ``s / beta`` -> 0: the NBD); dropout rates
        that do not vary (``s, beta -> inf`` at a fixed ratio: one exponential lifetime for
        everyone); purchase rates that do not vary (``r, alpha -> inf``: Poisson purchasing).
        """
        r, alpha, s, beta = (float(v) for v in params)
        x, _, T = data
        unit = _unit_word(getattr(self, "time_unit_", None))
        no_repeat = _no_repeat_note(x, T, weights, rate=r / alpha, unit=unit,
                                    dropout=f"s = {s:.3g}, beta = {beta:.3g}")
        if no_repeat is not None:
            return no_repeat
        notes: list[str | None] = []
        limits = DEGENERACY_LIMITS
        mean_dropout = s / beta
        longest = float(np.max(T[weights > 0])) if bool(np.any(weights > 0)) else 0.0
        if mean_dropout * max(longest, 1.0) < limits["mean_dropout"]:
            notes.append(
                "the data show no sign of churn (customers keep buying up to the end of "
                f"observation), so the mean dropout rate s/beta = {mean_dropout:.2g} per "
                f"{unit} went to 0 (s = {s:.3g}, beta = {beta:.3g}). Pareto/NBD reduces to "
                "the NBD (negative binomial: Gamma-Poisson purchasing, nobody ever leaves): "
                "expected purchases grow in proportion to the horizon and P(alive) is about "
                "1, so long-horizon CLV is an upper bound"
            )
        elif 1.0 / math.sqrt(s) < limits["dropout_cv"]:
            notes.append(
                "the data show no difference in churn between customers, so the dropout-rate "
                f"distribution Gamma(s, beta) collapsed to a point (s = {s:.3g}, beta = "
                f"{beta:.3g}). Pareto/NBD reduces to its limit with one dropout rate "
                f"mu = {mean_dropout:.3g} per {unit} (an exponential lifetime of mean "
                f"{1.0 / mean_dropout:.3g} {unit}s) for every customer"
            )
        notes.append(_one_rate_note(r, alpha, unit, limits["rate_cv"]))
        return _limit_message(notes)

    def _penalty_scale(self, data: Sequence[np.ndarray]) -> np.ndarray:
        # alpha and beta in time units where the oldest customer's age is 1 (lifetimes)
        T = data[2]
        max_T = float(np.max(T)) if len(T) else 1.0
        inv = 1.0 / max_T if max_T > 0 else 1.0
        return np.array([1.0, inv, 1.0, inv])

    # -- prediction hooks (pure functions of clvlab.models.likelihoods.pareto_nbd) -----
    def _p_alive(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        return lk.pnbd_probability_alive(params, x, tx, T)

    def _expected(
        self, params: np.ndarray, t: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        return lk.pnbd_expected_purchases(params, t, x, tx, T)

    def _expected_new(self, params: np.ndarray, t: np.ndarray) -> np.ndarray:
        return lk.pnbd_expected_purchases_new_customer(params, t)

    def _log_pmf_new(self, params: np.ndarray, n: np.ndarray, t: np.ndarray) -> np.ndarray:
        return lk.pnbd_log_probability_of_purchases(params, n, t)

    def _log_pmf_conditional(
        self, params: np.ndarray, n: np.ndarray, t: np.ndarray,
        x: np.ndarray, tx: np.ndarray, T: np.ndarray,
    ) -> np.ndarray:
        return lk.pnbd_log_conditional_probability_of_purchases(params, n, t, x, tx, T)

    def _dert(
        self, params: np.ndarray, delta: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        return lk.pnbd_expected_residual_purchases(params, delta, x, tx, T)

    # -- simulation ------------------------------------------------------------------
    def _draw_latent(
        self, params: np.ndarray, n: int, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        return _draw_latent(params, n, rng)

    def _draw_given_latent(
        self, params: np.ndarray, latent: dict[str, np.ndarray], T: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        return _draw_given_latent(latent, np.asarray(T, dtype=float), rng)

    def _draw_purchase_times(
        self, params: np.ndarray, T: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        age = np.asarray(T, dtype=float).reshape(-1)
        return _draw_given_latent(_draw_latent(params, age.shape[0], rng), age, rng)

    def _simulate(
        self, params: np.ndarray, T: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return _draw_rfm(params, np.asarray(T, dtype=float).reshape(-1), rng)

    def _heterogeneity(self) -> tuple[Heterogeneity, ...]:
        from scipy import stats  # lazily: scipy.stats costs ~20 MiB and 0.3 s to import

        r, alpha, s, beta = self._params_array()
        unit = _unit_word(self.time_unit_)
        return (
            Heterogeneity(
                "purchase rate", "λ", stats.gamma(r, scale=1.0 / alpha),
                f"Gamma(r, α): purchases per {unit} while the customer is active",
                unit=f"per {unit}",
            ),
            Heterogeneity(
                "dropout rate", "μ", stats.gamma(s, scale=1.0 / beta),
                f"Gamma(s, β): chance per {unit} of leaving for good (the mean lifetime "
                f"is 1/μ {unit}s)",
                unit=f"per {unit}",
            ),
        )
