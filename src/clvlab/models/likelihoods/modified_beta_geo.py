r"""MBG/NBD: pure log-likelihood, gradient and predictors (Batislam, Denizel & Filiztekin 2007).

The story (in the notation of FHL 2005 for BG/NBD): while alive a customer buys at the
times of a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; **at the first purchase
(age 0)** and after every repeat purchase she drops out for good with probability
``p ~ Beta(a, b)``. The only difference from BG/NBD is the dropout opportunity at age 0,
so a customer without a repeat purchase can be gone.

Derivations (each checked against simulation and 60-digit mpmath in
``tests/models/test_likelihoods_mbgnbd.py``), following the steps of the BG/NBD
derivations in FHL (2005) and Hardie's notes 021 and 027:

* **Likelihood.** Given ``(lambda, p)``, ``x`` repeat purchases at ages ``t_1 < ... < t_x =
  t_x`` in ``(0, T]`` mean: survive the age-0 coin and the coins after the first ``x - 1``
  purchases, and after the ``x``-th either leave (``p``) or stay and make no purchase in
  ``(t_x, T]``:

  .. math::

      L(\lambda, p) = \lambda^x (1-p)^x e^{-\lambda t_x}
                      \left[p + (1-p) e^{-\lambda (T - t_x)}\right],

  which also holds at ``x = 0`` (``p + (1-p) e^{-\lambda T}``: no indicator, unlike
  BG/NBD). Integrating over the gamma and beta mixing distributions,

  .. math::

      L = \frac{\Gamma(r+x)\alpha^r}{\Gamma(r)}
          \left[\frac{B(a, b+x+1)}{B(a, b)} (\alpha+T)^{-(r+x)}
              + \frac{B(a+1, b+x)}{B(a, b)} (\alpha+t_x)^{-(r+x)}\right]

  (Batislam et al. 2007). As in Hardie's note 027 it is evaluated as
  ``A1 + A2 + A3 + softplus(D)`` with
  ``D = ln(a/(b+x)) + (r+x) ln((alpha+T)/(alpha+t_x))``.
* **P(alive).** The first bracketed term is the part of the likelihood in which the
  customer is still alive at ``T``; by Bayes (as in note 021)
  ``P(alive | x, t_x, T) = 1 / (1 + exp(D)) = expit(-D)``. At ``x = 0`` this is
  ``1 / (1 + a/b ((alpha+T)/alpha)^r) < 1``; at ``T = 0`` it is ``b / (a + b)``, the
  probability of surviving the age-0 coin.
* **The future of a customer alive at T.** A customer alive at ``T`` drops out only after
  future purchases -- exactly the BG/NBD story -- with posterior ``lambda ~ Gamma(r + x,
  alpha + T)`` and ``p ~ Beta(a, b + x + 1)`` (the likelihood of "alive" is
  ``lambda^x e^{-lambda T} (1-p)^{x+1}``). Hence every conditional prediction is
  ``P(alive) x`` the BG/NBD new-customer prediction at ``(r + x, alpha + T, a, b + x + 1)``:

  .. math::

      E[X(T, T+t] \mid x, t_x, T] = P(\text{alive}) \frac{a+b+x}{a-1}
        \left[1 - \left(\frac{\alpha+T}{\alpha+T+t}\right)^{r+x}
        {}_2F_1\left(r+x, b+x+1; a+b+x; \frac{t}{\alpha+T+t}\right)\right]

  (Batislam et al. 2007 with the correction of Wagner & Hoppe 2008), and
  ``P(X(T, T+t] = n | history) = P(alive) P_BG(n; r+x, alpha+T, a, b+x+1) + (1 -
  P(alive)) [n = 0]``.
* **A new customer** is the history ``(x, t_x, T) = (0, 0, 0)``: alive with probability
  ``b / (a + b)``, then BG/NBD with ``b + 1``. So
  ``E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))]`` and
  ``P(X(t) = n) = B(a, b+n+1)/B(a, b) NB(n) + B(a+1, b+n)/B(a, b) P(NB >= n)`` with ``NB``
  the gamma-Poisson count (as in Batislam et al. 2007).

The hypergeometric bracket and the BG/NBD new-customer pmf are the stable (log-space,
Euler-transformed) ones of :mod:`clvlab.models.likelihoods.beta_geo`, called with the
shifted parameters above, so every prediction inherits their accuracy at frequency
0 ... 20,000, ``T = 0`` and ``a`` next to 1.

References
----------
.. [1] Batislam, E. P., Denizel, M., & Filiztekin, A. (2007). Empirical validation and
   comparison of models for customer base analysis. International Journal of Research
   in Marketing, 24(3), 201-209.
.. [2] Wagner, U., & Hoppe, D. (2008). Erratum on the MBG/NBD model. International
   Journal of Research in Marketing, 25(3), 225-226.
.. [3] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting your customers" the
   easy way: An alternative to the Pareto/NBD model. Marketing Science, 24(2), 275-284.
.. [4] Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2008). Computing P(alive) using the
   BG/NBD model. http://brucehardie.com/notes/021/
.. [5] Hardie, B. G. S. (2013). Overcoming the BG/NBD model's #NUM! error problem.
   http://brucehardie.com/notes/027/
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy import special

from clvlab.models.likelihoods._numerics import (
    _bg_bracket,
    _distinct_plan,
    _on_distinct_rows,
    _per_frequency,
    _softplus,
    _softplus_sigmoid,
)
from clvlab.models.likelihoods.beta_geo import _bgnbd_log_pmf_new, _posterior_log_pmf_new

__all__ = [
    "MBGNBD_PARAM_NAMES",
    "mbgnbd_expected_purchases",
    "mbgnbd_expected_purchases_new_customer",
    "mbgnbd_log_conditional_probability_of_purchases",
    "mbgnbd_log_likelihood",
    "mbgnbd_log_likelihood_grad",
    "mbgnbd_log_probability_of_purchases",
    "mbgnbd_probability_alive",
]

MBGNBD_PARAM_NAMES = ("r", "alpha", "a", "b")



def _unpack(params: npt.ArrayLike) -> tuple[float, float, float, float]:
    r, alpha, a, b = (float(v) for v in np.asarray(params, dtype=float).reshape(-1)[:4])
    return r, alpha, a, b


def _arrays(*values: npt.ArrayLike) -> tuple[np.ndarray, ...]:
    return tuple(np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values)))


def _log_odds_dead(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """``D = ln(a/(b+x)) + (r+x) ln((alpha+T)/(alpha+t_x))``: log odds of "left at t_x".

    ``ln((alpha+T)/(alpha+t_x))`` is taken as ``log1p((T-t_x)/(alpha+t_x))`` so that it is
    exact when ``T - t_x`` is small next to ``alpha + t_x``.
    """
    return np.log(a / (b + x)) + (r + x) * np.log1p((T - tx) / (alpha + tx))


def mbgnbd_log_likelihood(
    params: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> np.ndarray:
    r"""Per-customer MBG/NBD log-likelihood (Batislam et al. 2007), in log space.

    .. math::

        L = \frac{\Gamma(r+x)\alpha^r}{\Gamma(r)}
            \left[\frac{B(a, b+x+1)}{B(a, b)} (\alpha+T)^{-(r+x)}
                + \frac{B(a+1, b+x)}{B(a, b)} (\alpha+t_x)^{-(r+x)}\right]

    evaluated as ``A1 + A2 + A3 + softplus(D)`` (Hardie's rewrite for BG/NBD, note 027),
    finite for any frequency.

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, a, b)``, all > 0.
    frequency, recency, T : array-like
        Repeat purchases ``x``, age at the last repeat purchase ``t_x`` (0 when ``x = 0``)
        and age at the end of observation ``T`` (same time unit as ``alpha``); broadcast
        together.

    Returns
    -------
    ndarray
        Log-likelihood of each customer (a log density in the purchase times).
    """
    return mbgnbd_log_likelihood_grad(params, frequency, recency, T, gradient=False)[0]


def mbgnbd_log_likelihood_grad(
    params: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    gradient: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    r"""Per-customer MBG/NBD log-likelihood and its analytic gradient.

    With ``w = expit(D)`` (the posterior probability that the customer left right after
    the last purchase) and :math:`\psi` the digamma function:

    .. math::

        \partial_r \ell &= \psi(r+x) - \psi(r) + \ln\alpha - \ln(\alpha+T)
                           + w \ln\frac{\alpha+T}{\alpha+t_x} \\
        \partial_\alpha \ell &= \frac{r}{\alpha} - \frac{r+x}{\alpha+T}
                           + w (r+x)\left(\frac{1}{\alpha+T} - \frac{1}{\alpha+t_x}\right) \\
        \partial_a \ell &= \psi(a+b) - \psi(a+b+x+1) + \frac{w}{a} \\
        \partial_b \ell &= \psi(b+x+1) - \psi(a+b+x+1) - \psi(b) + \psi(a+b)
                           - \frac{w}{b+x}

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, a, b)``.
    frequency, recency, T : array-like
        As in :func:`mbgnbd_log_likelihood`.
    gradient : bool, default=True
        Also compute the gradient (else ``None`` is returned in its place).

    Returns
    -------
    ll : ndarray
        Log-likelihood per customer (shape of the broadcast inputs).
    grad : ndarray of shape (n, 4) or None
        Derivatives of ``ll`` with respect to ``(r, alpha, a, b)`` (natural parameters),
        one row per element of the flattened inputs.
    """
    r, alpha, a, b = _unpack(params)
    x, tx, age = _arrays(frequency, recency, T)
    shape = x.shape
    x, tx, age = (np.ravel(v) for v in (x, tx, age))
    fns: list[Callable[[np.ndarray], np.ndarray]] = [
        lambda v: np.log(b + v),
        lambda v: special.gammaln(r + v) + special.betaln(a, b + v + 1.0),
    ]
    if gradient:
        fns += [
            lambda v: special.digamma(r + v),
            lambda v: special.digamma(b + v + 1.0) - special.digamma(a + b + v + 1.0),
            lambda v: special.digamma(a + b + v + 1.0),
            lambda v: 1.0 / (b + v),
        ]
    tables = _per_frequency(x, *fns)
    log_bx, lg = tables[0], tables[1]
    log_aT = np.log(alpha + age)
    log_ratio = np.log1p((age - tx) / (alpha + tx))  # ln((alpha+T)/(alpha+t_x)) >= 0
    D = (math.log(a) - log_bx) + (r + x) * log_ratio
    const = -special.gammaln(r) + r * math.log(alpha) - special.betaln(a, b)
    soft, w = _softplus_sigmoid(D)
    ll = lg + const - (r + x) * log_aT + soft
    if not gradient:
        return ll.reshape(shape), None
    psi_rx, psi_b_ab, psi_abx, inv_bx = tables[2:]
    psi_ab = float(special.digamma(a + b))
    inv_aT = 1.0 / (alpha + age)
    rx = r + x
    grad = np.empty((4, x.size)).T  # column-major (n, 4): contiguous columns
    grad[:, 0] = (psi_rx - special.digamma(r) + math.log(alpha)) - log_aT + w * log_ratio
    grad[:, 1] = r / alpha - rx * inv_aT + (w * rx) * (inv_aT - 1.0 / (alpha + tx))
    grad[:, 2] = (psi_ab - psi_abx) + w * (1.0 / a)
    grad[:, 3] = (psi_b_ab + (psi_ab - special.digamma(b))) - w * inv_bx
    return ll.reshape(shape), grad


def mbgnbd_probability_alive(
    params: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> np.ndarray:
    r"""P(alive at T | x, t_x, T) under MBG/NBD (Batislam et al. 2007, appendix A).

    .. math::

        P(\text{alive}) = \left[1 + \frac{a}{b+x}
            \left(\frac{\alpha+T}{\alpha+t_x}\right)^{r+x}\right]^{-1} = \mathrm{expit}(-D)

    Below 1 for every customer, including those without a repeat purchase (for whom it
    decays with ``T`` from ``b/(a+b)`` at ``T = 0``); never NaN for heavy buyers.

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, a, b)``.
    frequency, recency, T : array-like
        Customer histories, broadcast together.

    Returns
    -------
    ndarray
        Probabilities in [0, 1].
    """
    r, alpha, a, b = _unpack(params)
    x, tx, age = _arrays(frequency, recency, T)
    D = _log_odds_dead(r, alpha, a, b, x, tx, age)
    return special.expit(-D)


def mbgnbd_expected_purchases(
    params: npt.ArrayLike,
    t: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
) -> np.ndarray:
    r"""E[X(T, T+t] | x, t_x, T]: expected repeat purchases in the next ``t``.

    .. math::

        P(\text{alive}) \frac{a+b+x}{a-1}
        \left[1 - \left(\frac{\alpha+T}{\alpha+T+t}\right)^{r+x}
              {}_2F_1\left(r+x, b+x+1; a+b+x; \frac{t}{\alpha+T+t}\right)\right]

    (Wagner & Hoppe 2008's corrected form of Batislam et al. 2007): the BG/NBD
    new-customer expectation at the posterior ``(r+x, alpha+T, a, b+x+1)`` times
    P(alive). The bracket is BG/NBD's Euler-transformed, series-backed one, so the result
    is finite and accurate for any frequency, and ``a = 1`` is handled.

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, a, b)``.
    t : array-like
        Horizon(s), >= 0, in the time unit of the data.
    frequency, recency, T : array-like
        Customer histories; everything broadcasts together.

    Returns
    -------
    ndarray
        Expected repeat purchases, >= 0; 0 at ``t = 0``.
    """
    r, alpha, a, b = _unpack(params)
    t_in = np.asarray(t, dtype=float)
    # the factors without t on the histories' shape (once, however many horizons t holds)
    x, tx, age = _arrays(frequency, recency, T)
    lead = mbgnbd_probability_alive(params, x, tx, age) * (a + b + x)
    if t_in.ndim == 2 and t_in.shape[1] == 1 and x.ndim == 1:
        # k horizons for n histories (k, n): the bracket once per horizon and distinct
        # (x, T), the same numbers as k calls with one horizon each
        plan = _distinct_plan(x, age)
        xs, ages = (x, age) if plan is None else plan[0]
        k, m = t_in.shape[0], xs.shape[0]
        per = _bg_bracket(r, alpha, a, b + 1.0, np.repeat(t_in[:, 0], m), np.tile(xs, k),
                          np.tile(ages, k)).reshape(k, m)
        out = lead * (per if plan is None else per[:, plan[1]])
        return np.where(t_in > 0, np.maximum(out, 0.0), 0.0)
    t, x, age, lead = _arrays(t_in, x, age, lead)
    # the bracket of BG/NBD's eq. (10) with b -> b + 1 (its lower parameter is then a+b+x)
    if t_in.ndim == 0:  # one horizon for everybody: distinct (x, T) pairs suffice
        bracket = _on_distinct_rows(
            lambda xx, aa: _bg_bracket(r, alpha, a, b + 1.0, t_in, xx, aa), x, age
        )
    else:
        bracket = _on_distinct_rows(
            lambda tt, xx, aa: _bg_bracket(r, alpha, a, b + 1.0, tt, xx, aa), t, x, age
        )
    out = lead * bracket
    return np.where(t > 0, np.maximum(out, 0.0), 0.0)


def mbgnbd_expected_purchases_new_customer(params: npt.ArrayLike, t: npt.ArrayLike) -> np.ndarray:
    r"""E[X(t)] for a customer just acquired (Batislam et al. 2007).

    .. math::

        E[X(t)] = \frac{b}{a-1}\left[1 - \left(\frac{\alpha}{\alpha+t}\right)^r
            {}_2F_1\left(r, b+1; a+b; \frac{t}{\alpha+t}\right)\right]

    i.e. the conditional expectation at the history ``(0, 0, 0)``.

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, a, b)``.
    t : array-like
        Time(s) since the first purchase, >= 0.

    Returns
    -------
    ndarray
        Expected repeat purchases in ``(0, t]``.
    """
    t = np.asarray(t, dtype=float)
    zero = np.zeros_like(t)
    return mbgnbd_expected_purchases(params, t, zero, zero, zero)


def mbgnbd_log_probability_of_purchases(
    params: npt.ArrayLike, n: npt.ArrayLike, t: npt.ArrayLike
) -> np.ndarray:
    r"""Compute log P(X(t) = n) for a new customer (Batislam et al. 2007).

    .. math::

        P(X(t) = n) = \frac{B(a, b+n+1)}{B(a, b)} \mathrm{NB}(n)
                    + \frac{B(a+1, b+n)}{B(a, b)} P(\mathrm{NB} \ge n)

    with ``NB`` the gamma-Poisson (negative binomial) count of shape ``r`` and success
    probability ``alpha/(alpha+t)``. Evaluated as ``b/(a+b)`` times BG/NBD's pmf at
    ``b + 1`` (the customer survived the age-0 coin) plus ``a/(a+b)`` at ``n = 0``, in
    log space, with the negative-binomial tail as a regularised incomplete beta
    function (finite where lifetimes' finite sum overflows).

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, a, b)``.
    n : array-like of int
        Number of repeat purchases, >= 0.
    t : array-like
        Time since the first purchase, >= 0; broadcast with ``n``.

    Returns
    -------
    ndarray
        Log-probabilities (``-inf`` where the probability is exactly 0).
    """
    r, alpha, a, b = _unpack(params)
    n_arr, t_arr = _arrays(n, t)
    log_survive = math.log(b) - math.log(a + b)
    log_gone = math.log(a) - math.log(a + b)
    alive = log_survive + _bgnbd_log_pmf_new(r, alpha, a, b + 1.0, n_arr, t_arr)
    with np.errstate(invalid="ignore"):
        return np.where(n_arr == 0, np.logaddexp(alive, log_gone), alive)


def mbgnbd_log_conditional_probability_of_purchases(
    params: npt.ArrayLike,
    n: npt.ArrayLike,
    t: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
) -> np.ndarray:
    r"""Compute log P(X(T, T+t] = n | x, t_x, T) for customers with a history.

    A customer alive at ``T`` behaves like a new BG/NBD customer with posterior
    parameters ``(r+x, alpha+T, a, b+x+1)``; one who has left buys nothing:

    .. math::

        P(n) = P(\text{alive})\, P_{BG}(n; r+x, \alpha+T, a, b+x+1)
             + (1 - P(\text{alive}))\, \delta_{n=0}

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, a, b)``.
    n, t : array-like
        Purchase count(s) and horizon(s).
    frequency, recency, T : array-like
        Customer histories; everything broadcasts together.

    Returns
    -------
    ndarray
        Log-probabilities.
    """
    r, alpha, a, b = _unpack(params)
    t_in = t
    n, t, x, tx, age = _arrays(n, t, frequency, recency, T)
    D = _log_odds_dead(r, alpha, a, b, x, tx, age)
    log_alive = -_softplus(D)  # log expit(-D)
    log_dead = -_softplus(-D)  # log expit(D)
    # (once per distinct (n, t, x, T): it does not depend on t_x)
    log_new = _posterior_log_pmf_new(r, alpha, a, b, 1.0, n, t_in, x, age)
    alive_part = log_alive + log_new
    with np.errstate(invalid="ignore"):
        with_dead = np.logaddexp(alive_part, log_dead)
    return np.where(n == 0, with_dead, alive_part)
