r"""BG/BB: pure log-likelihood, gradient and predictors (Fader, Hardie & Shang 2010).

The discrete-time story: after a first ("trial") purchase in period 0 a customer has
``n`` **transaction opportunities**, periods ``1 .. n`` (a year for a charity's annual
appeal, a week for a weekly shop). At the start of each period a customer who is still
alive leaves for good with probability ``theta``; while alive she buys in a period with
probability ``p`` (at most one purchase per period). Across customers
``p ~ Beta(alpha, beta)`` and ``theta ~ Beta(gamma, delta)``, independently.

A history is ``(x, t_x, n)``: ``x`` periods with a purchase among the ``n``
opportunities, the last of them in period ``t_x`` (``t_x = 0`` when ``x = 0``); so
``0 <= x <= t_x <= n`` and ``x >= 1`` whenever ``t_x >= 1``. In clvlab's RFM columns
``x = frequency``, ``t_x = recency`` and ``n = T`` (whole numbers, in periods).

Formulas (numbers refer to FHS 2010; ``B`` is the beta function, every sum is evaluated
in log space and every ratio of gamma functions through ``gammaln``/``betaln``):

* **Likelihood** (eq. 5). Alive through period ``n``, or alive through ``t_x + i`` and gone
  at the start of ``t_x + i + 1`` for some ``i = 0 .. n - t_x - 1``:

  .. math::

      L = \frac{B(\alpha+x, \beta+n-x)}{B(\alpha,\beta)}
          \frac{B(\gamma, \delta+n)}{B(\gamma,\delta)}
        + \sum_{i=0}^{n-t_x-1} \frac{B(\alpha+x, \beta+t_x-x+i)}{B(\alpha,\beta)}
          \frac{B(\gamma+1, \delta+t_x+i)}{B(\gamma,\delta)}.

  The ``n - t_x`` terms are summed exactly (no truncation) on flat arrays, so the cost
  is the total number of terms over the distinct histories.
* **P(alive).** ``P(alive in period n + m | history) = B(alpha+x, beta+n-x) B(gamma,
  delta+n+m) / (B(alpha, beta) B(gamma, delta) L)``; ``m = 1`` is the paper's eq. (11)
  (alive in the next opportunity), ``m = 0`` alive in the last observed one.
* **Expected purchases in the next** ``t`` **opportunities** (eq. 13):
  ``E = P(alive at n) (alpha+x)/(alpha+beta+n) S(delta+n, t)`` with
  ``S(b, t) = sum_{k=1}^t B(gamma, b+k)/B(gamma, b) = b/(gamma-1) [1 - Gamma(gamma+b)
  Gamma(1+b+t) / (Gamma(1+b) Gamma(gamma+b+t))]``. The closed form divides by
  ``gamma - 1``; near ``gamma = 1`` the log-gamma differences are written as integrals of
  the digamma function (8-point Gauss-Legendre) and the bracket as ``exprel``, so the
  value is exact to rounding at and around ``gamma = 1``.
* **A new customer** is the history ``(0, 0, 0)`` (``L = 1``): ``E[X(t)] = alpha/(alpha+beta)
  S(delta, t)`` (eq. 9), and (eq. 8)

  .. math::

      P(X(n) = x) = \binom{n}{x} \frac{B(\alpha+x, \beta+n-x)}{B(\alpha,\beta)}
                    \frac{B(\gamma, \delta+n)}{B(\gamma,\delta)}
        + \sum_{i=x}^{n-1} \binom{i}{x} \frac{B(\alpha+x, \beta+i-x)}{B(\alpha,\beta)}
                    \frac{B(\gamma+1, \delta+i)}{B(\gamma,\delta)}.

* **Purchases in the next** ``t`` **opportunities given the history** (derived the same
  way: a customer alive at ``n`` with posterior weight ``p^x (1-p)^{n-x} (1-theta)^n``
  follows the new-customer story over periods ``n+1 .. n+t``; a customer already gone
  buys nothing):
  ``P(X(n, n+t] = k | history) = [k = 0] (1 - P(alive at n)) + (1/L) [binom(t, k)
  B(alpha+x+k, beta+n-x+t-k) B(gamma, delta+n+t) + sum_{i=k}^{t-1} binom(i, k)
  B(alpha+x+k, beta+n-x+i-k) B(gamma+1, delta+n+i)] / (B(alpha, beta) B(gamma, delta))``.
* **DERT** (eq. 15), each future purchase in period ``n + s`` discounted by
  ``(1+d)^{-s}``:
  ``DERT = P(alive at n) (alpha+x)/(alpha+beta+n) (delta+n)/(gamma+delta+n) v
  2F1(1, delta+n+1; gamma+delta+n+1; v)`` with ``v = 1/(1+d)``; the series has positive
  terms and is summed in :func:`~clvlab.models.likelihoods._numerics._hyp2f1_unit_series`.

Horizons ``t`` are numbers of whole opportunities; a fractional ``t`` counts the
opportunities completed by then (``floor(t)``, with a tolerance of 1e-9 for values that
are whole numbers up to rounding), so expectations are step functions of ``t``.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S., & Shang, J. (2010). Customer-base analysis in a
   discrete-time noncontractual setting. Marketing Science, 29(6), 1086-1108.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import special

from clvlab.models.likelihoods._numerics import _distinct_plan, _hyp2f1_unit_series

__all__ = [
    "BGBB_PARAM_NAMES",
    "bgbb_log_likelihood",
    "bgbb_log_likelihood_grad",
    "bgbb_probability_alive",
    "bgbb_expected_purchases",
    "bgbb_expected_purchases_new_customer",
    "bgbb_log_probability_of_purchases",
    "bgbb_log_conditional_probability_of_purchases",
    "bgbb_dert",
    "whole_periods",
]

BGBB_PARAM_NAMES = ("alpha", "beta", "gamma", "delta")

#: Largest number of summed terms held in memory at once (ragged sums are chunked).
_CHUNK_TERMS = 2_000_000

#: |gamma - 1| below which log-gamma differences are integrals of digamma (see module doc).
_GAMMA_NEAR_ONE = 0.25

#: Horizons up to this many periods difference log-gamma shifts by direct summation.
_DIRECT_STEPS = 32

_GL8_X, _GL8_W = np.polynomial.legendre.leggauss(8)
_GL8_S = 0.5 * (_GL8_X + 1.0)  # nodes on [0, 1]
_GL8_W = 0.5 * _GL8_W


def _unpack(params: npt.ArrayLike) -> tuple[float, float, float, float]:
    alpha, beta, gamma, delta = (float(v) for v in np.asarray(params, dtype=float)[:4])
    return alpha, beta, gamma, delta


def whole_periods(t: npt.ArrayLike) -> np.ndarray:
    """Count the whole opportunities in a horizon: ``floor(t)``, tolerating rounding (1e-9)."""
    arr = np.asarray(t, dtype=float)
    return np.floor(arr + 1e-9 * np.maximum(1.0, np.abs(arr)))


# --------------------------------------------------------------------------------------
# ragged sums: row r has terms j = 0 .. counts[r] - 1, summed in log space
# --------------------------------------------------------------------------------------
def _segments(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``owner`` (row of each term), ``local`` (index within its row), ``starts``."""
    counts = counts.astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    total = int(counts.sum())
    owner = np.repeat(np.arange(counts.size), counts)
    local = np.arange(total, dtype=np.int64) - starts[owner]
    return owner, local, starts


def _row_chunks(counts: np.ndarray) -> list[slice]:
    """Split rows into consecutive slices holding at most ``_CHUNK_TERMS`` terms each."""
    if counts.size == 0:
        return []
    csum = np.cumsum(counts.astype(np.int64))
    out, lo = [], 0
    while lo < counts.size:
        base = csum[lo - 1] if lo else 0
        hi = int(np.searchsorted(csum, base + _CHUNK_TERMS, side="right"))
        hi = max(hi, lo + 1)
        out.append(slice(lo, hi))
        lo = hi
    return out


def _ragged_logsumexp(
    first: np.ndarray, terms: np.ndarray, owner: np.ndarray, starts: np.ndarray,
    counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log(exp(first_r) + sum_j exp(terms_rj))`` per row, and the softmax weights.

    Returns ``(value, weight_first, weight_terms)`` with the weights of ``first`` and of
    every term in the total (they sum to 1 per row; used for gradients).
    """
    peak = first.copy()
    has = counts > 0
    if terms.size:
        peak[has] = np.maximum(peak[has], np.maximum.reduceat(terms, starts[has]))
    peak = np.where(np.isfinite(peak), peak, 0.0)
    e_first = np.exp(first - peak)
    e_terms = np.exp(terms - peak[owner])
    total = e_first.copy()
    if terms.size:
        total[has] += np.add.reduceat(e_terms, starts[has])
    with np.errstate(divide="ignore", invalid="ignore"):  # empty rows: log 0 = -inf
        value = peak + np.log(total)
        return value, e_first / total, e_terms / total[owner]


# --------------------------------------------------------------------------------------
# likelihood
# --------------------------------------------------------------------------------------
def _loglik_chunk(
    params: tuple[float, float, float, float], x: np.ndarray, tx: np.ndarray, n: np.ndarray,
    gradient: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    alpha, beta, gamma, delta = params
    counts = (n - tx).astype(np.int64)
    owner, local, starts = _segments(counts)
    # "alive through n" term and the "gone at t_x + i + 1" terms, without the constants
    # -betaln(alpha, beta) - betaln(gamma, delta)
    log_a = special.betaln(alpha + x, beta + n - x) + special.betaln(gamma, delta + n)
    xo, txo = x[owner], tx[owner]
    i = local.astype(float)
    log_b = special.betaln(alpha + xo, beta + txo - xo + i) + special.betaln(
        gamma + 1.0, delta + txo + i)
    value, w_a, w_b = _ragged_logsumexp(log_a, log_b, owner, starts, counts)
    const = special.betaln(alpha, beta) + special.betaln(gamma, delta)
    ll = value - const
    if not gradient:
        return ll, None
    psi = special.digamma
    ab, gd = alpha + beta, gamma + delta
    # d/d(alpha, beta, gamma, delta) of each term (without the constants)
    g_a = np.column_stack([
        psi(alpha + x) - psi(ab + n),
        psi(beta + n - x) - psi(ab + n),
        psi(gamma) - psi(gd + n),
        psi(delta + n) - psi(gd + n),
    ])
    g_b = np.column_stack([
        psi(alpha + xo) - psi(ab + txo + i),
        psi(beta + txo - xo + i) - psi(ab + txo + i),
        psi(gamma + 1.0) - psi(gd + 1.0 + txo + i),
        psi(delta + txo + i) - psi(gd + 1.0 + txo + i),
    ])
    grad = w_a[:, None] * g_a
    if log_b.size:
        has = counts > 0
        grad[has] += np.add.reduceat(w_b[:, None] * g_b, starts[has], axis=0)
    grad -= np.array([psi(alpha) - psi(ab), psi(beta) - psi(ab),
                      psi(gamma) - psi(gd), psi(delta) - psi(gd)])
    return ll, grad


def _histories(x: npt.ArrayLike, tx: npt.ArrayLike, n: npt.ArrayLike
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, tx, n = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, tx, n)))
    return x, tx, n


def bgbb_log_likelihood_grad(
    params: npt.ArrayLike, x: npt.ArrayLike, tx: npt.ArrayLike, n: npt.ArrayLike,
    *, gradient: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-history log-likelihood (eq. 5 in [1]) and its gradient in natural parameters.

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(alpha, beta, gamma, delta)``, all > 0.
    x, tx, n : array-like
        Purchases, period of the last purchase, number of opportunities (whole numbers,
        ``0 <= x <= tx <= n``; validated by the caller), broadcast together.
    gradient : bool, default=True
        Also return the gradient ``(..., 4)``.

    Returns
    -------
    ll : ndarray
        ``log L`` per history.
    grad : ndarray or None
        ``d log L / d (alpha, beta, gamma, delta)``.
    """
    p = _unpack(params)
    x, tx, n = _histories(x, tx, n)
    shape = x.shape
    xf, txf, nf = (a.reshape(-1) for a in (x, tx, n))
    ll = np.empty(xf.size)
    grad = np.empty((xf.size, 4)) if gradient else None
    for rows in _row_chunks((nf - txf).astype(np.int64)):
        ll_c, g_c = _loglik_chunk(p, xf[rows], txf[rows], nf[rows], gradient)
        ll[rows] = ll_c
        if grad is not None and g_c is not None:
            grad[rows] = g_c
    return ll.reshape(shape), None if grad is None else grad.reshape(*shape, 4)


def bgbb_log_likelihood(
    params: npt.ArrayLike, x: npt.ArrayLike, tx: npt.ArrayLike, n: npt.ArrayLike
) -> np.ndarray:
    """Per-history log-likelihood ``log L(alpha, beta, gamma, delta | x, t_x, n)`` (eq. 5)."""
    return bgbb_log_likelihood_grad(params, x, tx, n, gradient=False)[0]


# --------------------------------------------------------------------------------------
# predictors
# --------------------------------------------------------------------------------------
def _log_alive_at_n(
    params: tuple[float, float, float, float], x: np.ndarray, tx: np.ndarray, n: np.ndarray
) -> np.ndarray:
    """``log P(alive in period n | history)`` (the first term of L over L)."""
    alpha, beta, gamma, delta = params
    log_a = (special.betaln(alpha + x, beta + n - x) - special.betaln(alpha, beta)
             + special.betaln(gamma, delta + n) - special.betaln(gamma, delta))
    ll = bgbb_log_likelihood(params, x, tx, n)
    return np.minimum(log_a - ll, 0.0)


def bgbb_probability_alive(
    params: npt.ArrayLike, x: npt.ArrayLike, tx: npt.ArrayLike, n: npt.ArrayLike,
    m: npt.ArrayLike = 1,
) -> np.ndarray:
    """P(alive in period ``n + m`` | history); ``m = 1`` (the default) is eq. (11) in [1].

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(alpha, beta, gamma, delta)``.
    x, tx, n : array-like
        The history (whole numbers).
    m : array-like of int, default=1
        Opportunities after the last observed one (``m = 0``: alive in period ``n``).

    Returns
    -------
    ndarray
        Probabilities in [0, 1].
    """
    p = _unpack(params)
    x, tx, n = _histories(x, tx, n)
    gamma, delta = p[2], p[3]
    mm = whole_periods(m)
    log_p = _log_alive_at_n(p, x, tx, n) + special.betaln(gamma, delta + n + mm) - special.betaln(
        gamma, delta + n)
    return np.clip(np.exp(log_p), 0.0, 1.0)


def _log_gamma_shift_diff(gamma: float, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``Delta = [l(b+t) - l(b)] / (gamma - 1)``, ``l(c) = lgamma(gamma+c) - lgamma(1+c)``.

    ``t`` holds whole numbers. Near ``gamma = 1`` each ``l(c) / (gamma - 1)`` is the mean
    of ``psi`` over ``[1 + c, gamma + c]`` (8-point Gauss-Legendre, exact to rounding on
    such a short interval), so ``Delta`` stays accurate at and around ``gamma = 1``.
    Elsewhere short horizons (``t <= 32``) sum ``l(c+1) - l(c) = log1p((gamma-1)/(1+c))``
    exactly; longer ones difference ``l`` itself.
    """
    g1 = gamma - 1.0
    b, t = np.broadcast_arrays(np.asarray(b, dtype=float), np.asarray(t, dtype=float))
    if abs(g1) < _GAMMA_NEAR_ONE:
        out = np.zeros(b.shape)
        for s, w in zip(_GL8_S, _GL8_W, strict=True):
            out = out + w * (special.digamma(1.0 + b + t + s * g1)
                             - special.digamma(1.0 + b + s * g1))
        return out
    out = np.empty(b.shape)
    short = t <= _DIRECT_STEPS
    if short.any():  # l(c+1) - l(c) = log1p((gamma-1)/(1+c)): exact, no cancellation
        k = np.arange(_DIRECT_STEPS, dtype=float)
        c0, n_steps = b[short][..., None], t[short][..., None]
        terms = np.where(k < n_steps, np.log1p(g1 / (1.0 + c0 + k)), 0.0)
        out[short] = terms.sum(axis=-1)
    if (~short).any():
        long_b, long_t = b[~short], t[~short]
        out[~short] = _log_gamma_shift(gamma, long_b + long_t) - _log_gamma_shift(gamma, long_b)
    return out / g1


def _log_gamma_shift(gamma: float, c: np.ndarray) -> np.ndarray:
    """``l(c) = log Gamma(gamma+c) - log Gamma(1+c)`` as one small number (``log poch``).

    The difference of two large ``gammaln`` values would lose about ``log10(c lgamma(c))``
    digits; scipy's Pochhammer symbol is accurate to rounding. ``gammaln`` where it
    overflows (``gamma`` of order 100 and beyond).
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        out = np.log(special.poch(1.0 + c, gamma - 1.0))
    bad = ~np.isfinite(out)
    if bad.any():
        out[bad] = special.gammaln(gamma + c[bad]) - special.gammaln(1.0 + c[bad])
    return out


def _survival_sum(gamma: float, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``S(b, t) = sum_{k=1}^t B(gamma, b+k) / B(gamma, b)`` (expected alive periods)."""
    diff = _log_gamma_shift_diff(gamma, b, t)
    return b * diff * special.exprel(-(gamma - 1.0) * diff)


def bgbb_expected_purchases(
    params: npt.ArrayLike, t: npt.ArrayLike, x: npt.ArrayLike, tx: npt.ArrayLike,
    n: npt.ArrayLike,
) -> np.ndarray:
    """E[purchases in the next ``t`` opportunities | history] (eq. 13 in [1]).

    Parameters
    ----------
    params : array-like of shape (4,)
    t : array-like
        Horizon in opportunities (``floor`` of a fractional value; see the module notes).
    x, tx, n : array-like
        The history.

    Returns
    -------
    ndarray
        Broadcast shape of the inputs; exactly 0 for ``t < 1``.
    """
    p = _unpack(params)
    alpha, beta, gamma, delta = p
    x, tx, n = _histories(x, tx, n)
    tt = whole_periods(t)
    alive = np.exp(_log_alive_at_n(p, x, tx, n))
    mean_p = (alpha + x) / (alpha + beta + n)
    return alive * mean_p * _survival_sum(gamma, delta + n, tt)


def bgbb_expected_purchases_new_customer(params: npt.ArrayLike, t: npt.ArrayLike) -> np.ndarray:
    """E[X(t)]: purchases of a new customer in her first ``t`` opportunities (eq. 9 in [1])."""
    alpha, beta, gamma, delta = _unpack(params)
    tt = whole_periods(t)
    return alpha / (alpha + beta) * _survival_sum(gamma, np.full(np.shape(tt), delta), tt)


def _log_binom(i: np.ndarray, k: np.ndarray) -> np.ndarray:
    return special.gammaln(i + 1.0) - special.gammaln(k + 1.0) - special.gammaln(i - k + 1.0)


def _log_future_pmf_alive(
    params: tuple[float, float, float, float], k: np.ndarray, t: np.ndarray,
    x: np.ndarray, n: np.ndarray,
) -> np.ndarray:
    """Log of the bracket of the conditional pmf (alive at ``n`` and ``k`` purchases next).

    The joint probability of the history with the customer alive at ``n`` (without
    ``1/L``) and ``k`` purchases in the next ``t`` opportunities. With ``x = n = 0`` it
    is eq. (8), the new-customer pmf. ``k > t`` gives ``-inf``.
    """
    alpha, beta, gamma, delta = params
    k, t, x, n = np.broadcast_arrays(k, t, x, n)
    shape = k.shape
    kf, tf, xf, nf = (a.reshape(-1).astype(float) for a in (k, t, x, n))
    const = special.betaln(alpha, beta) + special.betaln(gamma, delta)
    out = np.full(kf.size, -np.inf)
    ok = kf <= tf
    with np.errstate(invalid="ignore"):
        first = (_log_binom(tf, kf) + special.betaln(alpha + xf + kf, beta + nf - xf + tf - kf)
                 + special.betaln(gamma, delta + nf + tf))
    counts = np.where(ok, tf - kf, 0).astype(np.int64)
    for rows in _row_chunks(counts):
        c = counts[rows]
        owner, local, starts = _segments(c)
        kk, xx, nn = kf[rows][owner], xf[rows][owner], nf[rows][owner]
        i = kk + local
        terms = (_log_binom(i, kk) + special.betaln(alpha + xx + kk, beta + nn - xx + i - kk)
                 + special.betaln(gamma + 1.0, delta + nn + i))
        first_c = np.where(ok[rows], first[rows], -np.inf)
        value, _, _ = _ragged_logsumexp(first_c, terms, owner, starts, c)
        out[rows] = np.where(ok[rows], value - const, -np.inf)
    return out.reshape(shape)


def bgbb_log_probability_of_purchases(
    params: npt.ArrayLike, k: npt.ArrayLike, t: npt.ArrayLike
) -> np.ndarray:
    """``log P(X(t) = k)`` for a new customer over ``t`` opportunities (eq. 8 in [1])."""
    p = _unpack(params)
    kk = np.asarray(k, dtype=float)
    tt = whole_periods(t)
    return _log_future_pmf_alive(p, kk, tt, np.zeros(1), np.zeros(1)).reshape(
        np.broadcast_shapes(kk.shape, tt.shape))


def bgbb_log_conditional_probability_of_purchases(
    params: npt.ArrayLike, k: npt.ArrayLike, t: npt.ArrayLike, x: npt.ArrayLike,
    tx: npt.ArrayLike, n: npt.ArrayLike,
) -> np.ndarray:
    """``log P(X(n, n+t] = k | history)``: ``k`` purchases in the next ``t`` opportunities.

    See the module notes for the formula (the paper's eq. 8 applied to the posterior of a
    customer alive at ``n``, plus the mass of customers already gone at ``k = 0``).
    """
    p = _unpack(params)
    x, tx, n = _histories(x, tx, n)
    kk = np.asarray(k, dtype=float)
    tt = whole_periods(t)
    shape = np.broadcast_shapes(kk.shape, tt.shape, x.shape)
    # The history's terms (its likelihood, P(alive at n)) are ragged sums over its
    # periods; callers walking the counts pass each history once per count, so they are
    # computed once per distinct history and spread back (same values, far less work).
    histories = _distinct_plan(x, tx, n)
    if histories is None:
        ll = bgbb_log_likelihood(p, x, tx, n)
        log_alive = _log_alive_at_n(p, x, tx, n)
    else:
        (ux, utx, un), inverse = histories
        ll = np.take(bgbb_log_likelihood(p, ux, utx, un), inverse).reshape(x.shape)
        log_alive = np.take(_log_alive_at_n(p, ux, utx, un), inverse).reshape(x.shape)
    log_joint = _log_future_pmf_alive(p, kk, tt, x, n) - ll
    with np.errstate(divide="ignore"):  # log 0 = -inf for a customer surely alive
        dead = np.log(-np.expm1(np.minimum(log_alive, 0.0)))  # log(1 - P(alive at n))
    out = np.where(np.broadcast_to(kk, shape) == 0,
                   np.logaddexp(np.broadcast_to(log_joint, shape), np.broadcast_to(dead, shape)),
                   np.broadcast_to(log_joint, shape))
    return np.minimum(out, 0.0)


def bgbb_dert(
    params: npt.ArrayLike, discount_rate: float, x: npt.ArrayLike, tx: npt.ArrayLike,
    n: npt.ArrayLike,
) -> np.ndarray:
    """Discounted expected residual transactions (eq. 15 in [1]).

    ``sum_{s>=1} (1+d)^{-s} E[purchase in period n+s | history]``: a purchase ``s``
    opportunities ahead is discounted by ``(1+d)^{-s}``.

    Parameters
    ----------
    params : array-like of shape (4,)
    discount_rate : float
        ``d`` per opportunity, > 0.
    x, tx, n : array-like
        The history.

    Returns
    -------
    ndarray
    """
    p = _unpack(params)
    alpha, beta, gamma, delta = p
    x, tx, n = _histories(x, tx, n)
    v = 1.0 / (1.0 + float(discount_rate))
    b = delta + n
    (log_f,) = _hyp2f1_unit_series(b + 1.0, gamma + b + 1.0, np.full(b.shape, v))
    bad = ~np.isfinite(log_f)
    if bad.any():  # the series did not settle (d below ~1e-5): scipy's 2F1
        log_f = np.where(bad, np.log(special.hyp2f1(1.0, b + 1.0, gamma + b + 1.0, v)), log_f)
    alive = np.exp(_log_alive_at_n(p, x, tx, n))
    mean_p = (alpha + x) / (alpha + beta + n)
    return alive * mean_p * b / (gamma + b) * v * np.exp(log_f)
