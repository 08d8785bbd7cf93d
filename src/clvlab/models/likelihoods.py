"""Pure likelihood and prediction functions of clvlab's models (no state).

Each function takes the parameters and per-customer arrays and returns one value per
customer, in log space wherever it matters for stability. The model classes in
:mod:`clvlab.models` are thin wrappers around these.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import special

# ======================================================================================
# BG/NBD (purchases and dropout) -- Fader, Hardie & Lee (2005)
# ======================================================================================

# (BG/NBD section: owned by the BG/NBD work)
#
# Notation of FHL (2005): x = frequency (repeat purchases), t_x = recency (age at the last
# repeat purchase), T = age at the end of observation; purchase rate lambda ~ Gamma(r, alpha),
# dropout probability after each purchase p ~ Beta(a, b).

BGNBD_PARAM_NAMES = ("r", "alpha", "a", "b")

#: Half-width of the band around a = 1 in which E[X(t)] is interpolated in a (the closed
#: form divides by a - 1; the function itself is smooth there).
_A_NEAR_ONE = 1e-6


def _bgnbd_unpack(params: npt.ArrayLike) -> tuple[float, float, float, float]:
    r, alpha, a, b = (float(v) for v in np.asarray(params, dtype=float).reshape(-1)[:4])
    return r, alpha, a, b


def _bgnbd_log_terms(
    params: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[np.ndarray, ...]:
    """Pieces shared by the likelihood, its gradient and P(alive) (Hardie's rewrite).

    ``ll = A1 + A2 + A3 + log(1 + [x > 0] exp(D))`` with
    ``A1 = lnG(r+x) - lnG(r) + r ln(alpha)``, ``A2 = ln B(a, b+x) - ln B(a, b)``,
    ``A3 = -(r+x) ln(alpha+T)`` and
    ``D = ln a - ln(b+x-1) + (r+x) ln((alpha+T)/(alpha+t_x))``.
    """
    r, alpha, a, b = _bgnbd_unpack(params)
    x, tx, T = np.broadcast_arrays(
        np.asarray(frequency, dtype=float), np.asarray(recency, dtype=float),
        np.asarray(T, dtype=float),
    )
    repeat = x > 0
    # b + x - 1 > 0 whenever x >= 1; the x = 0 rows use a harmless placeholder
    bx1 = np.where(repeat, b + x - 1.0, 1.0)
    log_ratio = np.log(alpha + T) - np.log(alpha + tx)  # >= 0 since t_x <= T
    D = np.log(a) - np.log(bx1) + (r + x) * log_ratio
    D = np.where(repeat, D, -np.inf)
    return x, tx, T, repeat, bx1, D


def bgnbd_log_likelihood(
    params: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> np.ndarray:
    r"""Per-customer BG/NBD log-likelihood, eq. (6) of FHL (2005), in log space.

    .. math::

        L = \frac{B(a, b+x)}{B(a, b)} \frac{\Gamma(r+x)\alpha^r}{\Gamma(r)(\alpha+T)^{r+x}}
          + \delta_{x>0} \frac{B(a+1, b+x-1)}{B(a, b)}
            \frac{\Gamma(r+x)\alpha^r}{\Gamma(r)(\alpha+t_x)^{r+x}}

    evaluated as ``A1 + A2 + A3 + log1p(exp(D))`` (Hardie's rewrite that avoids the
    spreadsheet #NUM! overflow), finite for any frequency.

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, a, b)``, all > 0.
    frequency, recency, T : array-like
        Repeat purchases ``x``, age at the last repeat purchase ``t_x`` and age at the end of
        observation ``T`` (same time unit as ``alpha``); broadcast together.

    Returns
    -------
    ndarray
        Log-likelihood of each customer (a log density in the purchase times, so it can be
        positive for heavy buyers).
    """
    r, alpha, a, b = _bgnbd_unpack(params)
    x, tx, T, repeat, bx1, D = _bgnbd_log_terms(params, frequency, recency, T)
    A1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    A2 = special.betaln(a, b + x) - special.betaln(a, b)
    A3 = -(r + x) * np.log(alpha + T)
    return A1 + A2 + A3 + np.logaddexp(0.0, D)


def bgnbd_log_likelihood_grad(
    params: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer BG/NBD log-likelihood and its analytic gradient.

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, a, b)``.
    frequency, recency, T : array-like of shape (n,)
        As in :func:`bgnbd_log_likelihood`.

    Returns
    -------
    ll : ndarray of shape (n,)
        Log-likelihood per customer.
    grad : ndarray of shape (n, 4)
        Derivatives of ``ll`` with respect to ``(r, alpha, a, b)`` (natural parameters).
    """
    r, alpha, a, b = _bgnbd_unpack(params)
    x, tx, T, repeat, bx1, D = _bgnbd_log_terms(params, frequency, recency, T)
    x, tx, T, repeat, bx1, D = (np.ravel(v) for v in (x, tx, T, repeat, bx1, D))
    A1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    A2 = special.betaln(a, b + x) - special.betaln(a, b)
    A3 = -(r + x) * np.log(alpha + T)
    ll = A1 + A2 + A3 + np.logaddexp(0.0, D)
    # weight of the "dropped out after the last purchase" component: expit(D) (0 if x = 0)
    w2 = special.expit(D)
    log_ratio = np.log(alpha + T) - np.log(alpha + tx)
    psi_ab = special.digamma(a + b)
    psi_abx = special.digamma(a + b + x)
    d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - np.log(alpha + T)
    d_r = d_r + w2 * log_ratio
    d_alpha = r / alpha - (r + x) / (alpha + T) + w2 * (r + x) * (1.0 / (alpha + T) - 1.0 / (alpha + tx))
    d_a = psi_ab - psi_abx + w2 / a
    d_b = special.digamma(b + x) - special.digamma(b) + psi_ab - psi_abx - w2 / bx1
    return ll, np.column_stack([d_r, d_alpha, d_a, d_b])


def bgnbd_probability_alive(
    params: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> np.ndarray:
    """P(alive at T | x, t_x, T), eq. (11) of FHL (2005) / Hardie note 021.

    ``1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) = expit(-D)``: exactly 1
    when ``x = 0``, never NaN for heavy buyers.

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
    *_, D = _bgnbd_log_terms(params, frequency, recency, T)
    return special.expit(-D)


def _hyp_bracket(r: float, alpha: float, a: float, b: float, t: np.ndarray,
                 x: np.ndarray, age: np.ndarray) -> np.ndarray:
    """``[1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)] / (a - 1)``.

    With ``z = t/(alpha+T+t)`` and Euler's transformation
    ``2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)`` the bracket becomes
    ``[1 - (1-z)^(a-1) F] / (a-1)`` with ``F = 2F1(a+b-1-r, a-1; a+b+x-1; z)``: small upper
    parameters, a lower parameter that grows with x, so the series is benign where the
    direct form overflows. Writing ``F = 1 + (a-1) G`` and ``L = ln(1-z)`` gives
    ``-L exprel((a-1) L) - (1-z)^(a-1) G`` with no division by ``a - 1`` except inside G,
    which is evaluated at ``a = 1 +- h`` and interpolated when ``|a - 1| < h``.
    """
    L = np.log(alpha + age) - np.log(alpha + age + t)  # ln(1 - z) <= 0
    z = -np.expm1(L)
    def g(a_: float) -> np.ndarray:
        F = special.hyp2f1(a_ + b - 1.0 - r, a_ - 1.0, a_ + b + x - 1.0, z)
        return (F - 1.0) / (a_ - 1.0)

    if abs(a - 1.0) >= _A_NEAR_ONE:
        G = g(a)
    else:
        lo, hi = 1.0 - _A_NEAR_ONE, 1.0 + _A_NEAR_ONE
        frac = (a - lo) / (hi - lo)
        G = (1.0 - frac) * g(lo) + frac * g(hi)
    return -L * special.exprel((a - 1.0) * L) - np.exp((a - 1.0) * L) * G


def bgnbd_expected_purchases(
    params: npt.ArrayLike,
    t: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
) -> np.ndarray:
    r"""E[X(T, T+t] | x, t_x, T]: expected repeat purchases in the next ``t``, eq. (10) of FHL.

    .. math::

        \frac{a+b+x-1}{a-1}
        \frac{1 - \left(\frac{\alpha+T}{\alpha+T+t}\right)^{r+x}
              {}_2F_1\left(r+x, b+x; a+b+x-1; \frac{t}{\alpha+T+t}\right)}
             {1 + \delta_{x>0} \frac{a}{b+x-1}\left(\frac{\alpha+T}{\alpha+t_x}\right)^{r+x}}

    The hypergeometric term is evaluated after Euler's transformation (see
    ``_hyp_bracket``), so the result stays finite and accurate for any frequency
    (the direct formula gives NaN at 2,000 purchases in 52 weeks); ``a = 1`` is handled.

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
    r, alpha, a, b = _bgnbd_unpack(params)
    t, x, tx, age = np.broadcast_arrays(
        np.asarray(t, dtype=float), np.asarray(frequency, dtype=float),
        np.asarray(recency, dtype=float), np.asarray(T, dtype=float),
    )
    p_alive = bgnbd_probability_alive(params, x, tx, age)
    bracket = _hyp_bracket(r, alpha, a, b, t, x, age)
    out = p_alive * (a + b + x - 1.0) * bracket
    return np.where(t > 0, np.maximum(out, 0.0), 0.0)


def bgnbd_expected_purchases_new_customer(params: npt.ArrayLike, t: npt.ArrayLike) -> np.ndarray:
    """E[X(t)] for a customer just acquired, eq. (9) of FHL (2005).

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
    return bgnbd_expected_purchases(params, t, zero, zero, zero)


def _bgnbd_log_pmf_new(r: npt.ArrayLike, alpha: npt.ArrayLike, a: float, b: npt.ArrayLike,
                       n: np.ndarray, t: np.ndarray) -> np.ndarray:
    """log P(X(t) = n) for a new customer (eq. (8) of FHL), all in log space.

    ``r``, ``alpha`` and ``b`` may be arrays (posterior parameters per customer).
    """
    n, t = np.broadcast_arrays(np.asarray(n, dtype=float), np.asarray(t, dtype=float))
    log_p0 = np.log(alpha) - np.log(alpha + t)  # ln(alpha/(alpha+t))
    log_q = np.log(t) - np.log(alpha + t)  # ln(t/(alpha+t)); -inf at t = 0
    # log NB pmf: Gamma(r+n)/(Gamma(r) n!) p0^r q^n  (0 * -inf -> 0 at n = 0)
    nb_log_pmf = (special.gammaln(r + n) - special.gammaln(r) - special.gammaln(n + 1.0)
                  + r * log_p0 + special.xlogy(n, np.exp(log_q)))
    nb_log_pmf = np.where(n == 0, r * log_p0, nb_log_pmf)
    term1 = special.betaln(a, b + n) - special.betaln(a, b) + nb_log_pmf
    # P(NB >= n) = I_q(n, r): regularised incomplete beta; underflow-safe fallback uses
    # P(NB >= n) = pmf(n) 2F1(1, r+n; n+1; q) (sum of the tail ratios), in log space.
    repeat = n > 0
    n_safe = np.where(repeat, n, 1.0)
    q = np.exp(log_q)
    with np.errstate(divide="ignore"):
        log_sf = np.log(special.betainc(n_safe, r, q))
    tail = nb_log_pmf + np.log(special.hyp2f1(1.0, r + n_safe, n_safe + 1.0, q))
    log_sf = np.where(log_sf > -650.0, log_sf, tail)
    bn1 = np.where(repeat, b + n - 1.0, 1.0)
    term2 = special.betaln(a + 1.0, bn1) - special.betaln(a, b) + log_sf
    term2 = np.where(repeat & (t > 0), term2, -np.inf)
    out = np.logaddexp(term1, term2)
    # at t = 0 nobody has purchased yet
    return np.where(t > 0, out, np.where(n == 0, 0.0, -np.inf))


def bgnbd_log_probability_of_purchases(
    params: npt.ArrayLike, n: npt.ArrayLike, t: npt.ArrayLike
) -> np.ndarray:
    """log P(X(t) = n) for a new customer, eq. (8) of FHL (2005), in log space.

    Finite where lifetimes overflows (it returns NaN at n = 200): the negative-binomial
    tail in the second term is the regularised incomplete beta function
    ``I_{t/(alpha+t)}(n, r)`` instead of ``1 - sum_{j<n}``.

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
    r, alpha, a, b = _bgnbd_unpack(params)
    return _bgnbd_log_pmf_new(r, alpha, a, b, np.asarray(n, dtype=float), np.asarray(t, dtype=float))


def bgnbd_log_conditional_probability_of_purchases(
    params: npt.ArrayLike,
    n: npt.ArrayLike,
    t: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
) -> np.ndarray:
    """log P(X(T, T+t] = n | x, t_x, T) for customers with a history.

    A customer alive at ``T`` behaves like a new customer with posterior parameters
    ``(r+x, alpha+T, a, b+x)`` (memoryless purchases, dropout only after purchases); a
    customer who has dropped out buys nothing. Hence
    ``P(n) = P(alive) P_new(n; r+x, alpha+T, a, b+x) + (1 - P(alive)) [n = 0]``.

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
    r, alpha, a, b = _bgnbd_unpack(params)
    n, t, x, tx, age = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                             for v in (n, t, frequency, recency, T)))
    *_, D = _bgnbd_log_terms(params, x, tx, age)
    log_alive = -np.logaddexp(0.0, D)  # log expit(-D)
    log_dead = -np.logaddexp(0.0, -D)  # log expit(D); -inf when x = 0
    # new-customer pmf with the posterior parameters (r, alpha, b vary by row)
    log_new = _bgnbd_log_pmf_new(r + x, alpha + age, a, b + x, n, t)
    alive_part = log_alive + log_new
    return np.where(n == 0, np.logaddexp(alive_part, log_dead), alive_part)

# ======================================================================================
# Gamma-Gamma (spend per purchase) -- Fader, Hardie & Lee (2005), Colombo & Jiang (1999)
# ======================================================================================

# Notation (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves"; Hardie's note
# 025 "The Gamma-Gamma model of monetary value"): a repeat buyer with x > 0 repeat purchases
# of mean value m. Each purchase value is Gamma(p, nu); the customer's nu is Gamma(q, v)
# across customers. Then E[spend | nu] = p / nu, the population mean spend is p v / (q - 1)
# (finite only for q > 1) and, given nu, the mean m of x purchases is Gamma(p x, nu x).


def _gg_arrays(frequency: object, monetary_value: object) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    return x, m


def gg_loglik(params: object, frequency: object, monetary_value: object) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend of repeat buyers.

    .. math::

        \\ell = \\ln\\Gamma(px+q) - \\ln\\Gamma(px) - \\ln\\Gamma(q) + q\\ln v
                + (px-1)\\ln m + px\\ln x - (px+q)\\ln(xm+v)

    (the density of the mean ``m`` of ``x`` Gamma(p, nu) purchase values with nu
    ~ Gamma(q, v); Hardie note 025, eq. (3), up to the Jacobian of the mean).

    Parameters
    ----------
    params : sequence of float
        ``(p, q, v)``, all > 0.
    frequency : array-like of shape (n,)
        Repeat purchases ``x``; must be > 0.
    monetary_value : array-like of shape (n,)
        Mean value ``m`` of the repeat purchases; must be > 0.

    Returns
    -------
    ndarray of shape (n,)
        Log-likelihood of each customer.
    """
    p, q, v = (float(t) for t in params)
    x, m = _gg_arrays(frequency, monetary_value)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


def gg_loglik_and_grad(
    params: object, frequency: object, monetary_value: object
) -> tuple[np.ndarray, np.ndarray]:
    """Gamma-Gamma log-likelihood per customer and its analytic gradient.

    Parameters
    ----------
    params : sequence of float
        ``(p, q, v)``.
    frequency, monetary_value : array-like of shape (n,)
        As in :func:`gg_loglik`.

    Returns
    -------
    loglik : ndarray of shape (n,)
    grad : ndarray of shape (n, 3)
        Derivatives of each customer's log-likelihood with respect to ``p``, ``q``, ``v``.
    """
    p, q, v = (float(t) for t in params)
    x, m = _gg_arrays(frequency, monetary_value)
    px = p * x
    log_xm_v = np.log(x * m + v)
    psi_pxq = special.digamma(px + q)
    ll = gg_loglik((p, q, v), x, m)
    d_p = x * (psi_pxq - special.digamma(px) + np.log(m) + np.log(x) - log_xm_v)
    d_q = psi_pxq - special.digamma(q) + np.log(v) - log_xm_v
    d_v = q / v - (px + q) / (x * m + v)
    return ll, np.column_stack([d_p, np.broadcast_to(d_q, x.shape), d_v])


def gg_population_mean_spend(params: object) -> float:
    """Population mean spend per purchase, ``p v / (q - 1)``.

    Parameters
    ----------
    params : sequence of float
        ``(p, q, v)`` with ``q > 1`` (the mean is infinite otherwise).

    Returns
    -------
    float
        ``inf`` when ``q <= 1``.
    """
    p, q, v = (float(t) for t in params)
    return p * v / (q - 1.0) if q > 1.0 else float("inf")


def gg_expected_spend(params: object, frequency: object, monetary_value: object) -> np.ndarray:
    """Conditional expected spend per purchase given a customer's history.

    .. math::

        E[Z \\mid x, m] = \\frac{p (v + x m)}{p x + q - 1}
        = \\frac{q-1}{px+q-1}\\,\\frac{pv}{q-1} + \\frac{px}{px+q-1}\\, m

    a weighted average of the population mean and the customer's own mean (Hardie note
    025, eq. (5)). At ``x = 0`` it is the population mean. Finite and positive for any
    ``x >= 0``, ``m >= 0`` when ``q > 1``.

    Parameters
    ----------
    params : sequence of float
        ``(p, q, v)`` with ``q > 1``.
    frequency : array-like of shape (n,)
        Repeat purchases ``x >= 0``.
    monetary_value : array-like of shape (n,)
        Mean value of the repeat purchases (ignored where ``x = 0``).

    Returns
    -------
    ndarray of shape (n,)
    """
    p, q, v = (float(t) for t in params)
    x, m = _gg_arrays(frequency, monetary_value)
    xm = np.where(x > 0, x * m, 0.0)
    return p * (v + xm) / (p * x + (q - 1.0))
