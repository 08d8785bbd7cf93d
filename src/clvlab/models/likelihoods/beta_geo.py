"""BG/NBD: pure log-likelihood, gradient and predictors (Fader, Hardie & Lee 2005)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy import special

from clvlab.models.likelihoods._numerics import (
    _beta_gauss_rule,
    _distinct_plan,
    _hyp_g_series,
    _log_nb_tail_sum,
    _on_distinct_rows,
    _per_frequency,
    _softplus,
    _softplus_sigmoid,
)

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


#: Lower parameter of the transformed 2F1 from which its power series is used directly.
_SERIES_MIN_C = 30.0

#: ``a`` from which E[X(t) | alive] is computed as an expectation over the Beta(a, b + x)
#: dropout probability by Gauss quadrature instead of the hypergeometric closed form,
#: whose series needs about ``a z`` terms (NaN from a ~ 3,000; 52 s for 1,000 customers
#: at a = 8e8). With ``a >= 100`` the Beta has a relative spread below 10%, and
#: ``_QUADRATURE_NODES`` nodes reproduce the closed form to about 1e-13 (tests).
_A_QUADRATURE = 100.0
_QUADRATURE_NODES = 24

#: ``(r - a - b + 1) z`` above which the Euler-transformed 2F1 series of ``_hyp_bracket``
#: alternates with terms of size ``exp((r - a - b + 1) z)`` and loses every digit (NaN, and
#: up to 20 s per call, for a near-homogeneous purchase rate, r ~ 1e6, over long horizons);
#: there the untransformed series, whose terms are all of one sign, is summed in log space.
_EULER_MAX = 20.0

#: Half-width of the band around a + b + x = 1 (a pole of the closed form's 2F1, where it
#: gives 0 x inf) in which E[X | alive] is extrapolated from outside the band.
_C_POLE = 1e-3

#: Gauss quadrature over p is also used where ``(r+x) t/(alpha+T)`` (expected purchases of
#: an alive customer who never drops out) times the scale of p, ``max(a, 1)/(a+b+x)``, is
#: below this: the integrand is then almost linear in p over the Beta's mass.
_QUADRATURE_FLAT = 1e-3
_DIRECT_MAX_TERMS = 200_000


def _bgnbd_unpack(params: npt.ArrayLike) -> tuple[float, float, float, float]:
    r, alpha, a, b = (float(v) for v in np.asarray(params, dtype=float).reshape(-1)[:4])
    return r, alpha, a, b


def _bgnbd_arrays(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, tx, age = np.broadcast_arrays(
        np.asarray(frequency, dtype=float), np.asarray(recency, dtype=float),
        np.asarray(T, dtype=float),
    )
    return x, tx, age


def _bgnbd_D(r: float, alpha: float, a: float, b: float, x: np.ndarray, log_bx1: np.ndarray,
             log_aT: np.ndarray, log_atx: np.ndarray) -> np.ndarray:
    """``D = ln a - ln(b+x-1) + (r+x) ln((alpha+T)/(alpha+t_x))``, ``-inf`` where x = 0."""
    D = (math.log(a) - log_bx1) + (r + x) * (log_aT - log_atx)
    return np.where(x > 0, D, -np.inf)


def _bgnbd_log_terms(
    params: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[np.ndarray, ...]:
    """Pieces shared by the likelihood and P(alive) (Hardie's rewrite).

    ``ll = A1 + A2 + A3 + log(1 + [x > 0] exp(D))`` with
    ``A1 = lnG(r+x) - lnG(r) + r ln(alpha)``, ``A2 = ln B(a, b+x) - ln B(a, b)``,
    ``A3 = -(r+x) ln(alpha+T)`` and
    ``D = ln a - ln(b+x-1) + (r+x) ln((alpha+T)/(alpha+t_x))``.
    """
    r, alpha, a, b = _bgnbd_unpack(params)
    x, tx, age = _bgnbd_arrays(frequency, recency, T)
    (log_bx1,) = _per_frequency(x, lambda v: np.log(np.where(v > 0, b + v - 1.0, 1.0)))
    D = _bgnbd_D(r, alpha, a, b, x, log_bx1, np.log(alpha + age), np.log(alpha + tx))
    return x, tx, age, D


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
    return bgnbd_log_likelihood_grad(params, frequency, recency, T, gradient=False)[0]


def bgnbd_log_likelihood_grad(
    params: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    gradient: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-customer BG/NBD log-likelihood and its analytic gradient.

    Parameters
    ----------
    params : array-like of shape (4,)
        ``(r, alpha, a, b)``.
    frequency, recency, T : array-like of shape (n,)
        As in :func:`bgnbd_log_likelihood`.
    gradient : bool, default=True
        Also compute the gradient (else ``None`` is returned in its place).

    Returns
    -------
    ll : ndarray of shape (n,)
        Log-likelihood per customer.
    grad : ndarray of shape (n, 4)
        Derivatives of ``ll`` with respect to ``(r, alpha, a, b)`` (natural parameters).
    """
    r, alpha, a, b = _bgnbd_unpack(params)
    x, tx, age = _bgnbd_arrays(frequency, recency, T)
    shape = x.shape
    x, tx, age = (np.ravel(v) for v in (x, tx, age))
    fns: list[Callable[[np.ndarray], np.ndarray]] = [
        lambda v: np.log(np.where(v > 0, b + v - 1.0, 1.0)),
        lambda v: special.gammaln(r + v) + special.betaln(a, b + v),
    ]
    if gradient:
        fns += [
            lambda v: special.digamma(r + v),
            lambda v: special.digamma(b + v) - special.digamma(a + b + v),
            lambda v: special.digamma(a + b + v),
            lambda v: 1.0 / np.where(v > 0, b + v - 1.0, 1.0),
        ]
    tables = _per_frequency(x, *fns)
    log_bx1, lg = tables[0], tables[1]
    log_aT = np.log(alpha + age)
    log_atx = np.log(alpha + tx)
    D = _bgnbd_D(r, alpha, a, b, x, log_bx1, log_aT, log_atx)
    const = -special.gammaln(r) + r * math.log(alpha) - special.betaln(a, b)
    # w2: weight of the "dropped out after the last purchase" component, expit(D) (0 if x = 0)
    soft, w2 = _softplus_sigmoid(D)
    ll = lg + const - (r + x) * log_aT + soft
    if not gradient:
        return ll.reshape(shape), None
    psi_rx, psi_bx_abx, psi_abx, inv_bx1 = tables[2:]
    psi_ab = float(special.digamma(a + b))
    inv_aT = 1.0 / (alpha + age)
    rx = r + x
    grad = np.empty((4, x.size)).T  # column-major (n, 4): contiguous columns
    grad[:, 0] = (psi_rx - special.digamma(r) + math.log(alpha)) - log_aT + w2 * (log_aT - log_atx)
    grad[:, 1] = r / alpha - rx * inv_aT + (w2 * rx) * (inv_aT - 1.0 / (alpha + tx))
    grad[:, 2] = (psi_ab - psi_abx) + w2 * (1.0 / a)
    grad[:, 3] = (psi_bx_abx + (psi_ab - special.digamma(b))) - w2 * inv_bx1
    return ll.reshape(shape), grad


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
    r, alpha, a, b = _bgnbd_unpack(params)
    x, tx, age = _bgnbd_arrays(frequency, recency, T)
    shape = x.shape
    x, tx, age = (np.ravel(v) for v in (x, tx, age))
    # D = ln(a/(b+x-1)) + (r+x) ln(1 + (T-t_x)/(alpha+t_x)), in place (one buffer)
    D = age - tx
    D /= alpha + tx
    np.log1p(D, out=D)
    D *= r + x
    D += np.log(a / (b + np.maximum(x, 1.0) - 1.0))
    with np.errstate(over="ignore"):
        np.exp(D, out=D)
    D += 1.0
    np.reciprocal(D, out=D)
    D[x == 0] = 1.0  # no repeat purchase: alive with certainty
    return D.reshape(shape)


def _hyp_bracket(r: float, alpha: float, a: float, b: float, t: np.ndarray,
                 x: np.ndarray, age: np.ndarray) -> np.ndarray:
    """``[1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)] / (a - 1)``.

    With ``z = t/(alpha+T+t)`` and Euler's transformation
    ``2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)`` the bracket becomes
    ``[1 - (1-z)^(a-1) F] / (a-1)`` with ``F = 2F1(a+b-1-r, a-1; a+b+x-1; z)``: small upper
    parameters and a lower parameter that grows with x, so it stays finite where the
    direct form overflows. Writing ``F = 1 + (a-1) G`` and ``L = ln(1-z)`` gives
    ``-L exprel((a-1) L) - (1-z)^(a-1) G``.

    ``G`` comes from its own power series (exact at ``a = 1``) wherever that converges
    within a few hundred terms -- in particular for large ``x``, where scipy's ``hyp2f1``
    can return inf/NaN (lower parameter large, ``z`` near 1, ``C-A-B`` integer). Elsewhere
    (small ``x`` with ``z`` near 1) scipy's ``hyp2f1`` is used, with ``(F-1)/(a-1)``
    interpolated across ``|a-1| < 1e-6``; a last series pass with many terms covers any
    element scipy leaves non-finite.
    """
    shape = np.shape(x)
    t, x, age = (np.atleast_1d(v).reshape(-1) for v in (t, x, age))
    L = np.log(alpha + age) - np.log(alpha + age + t)  # ln(1 - z) <= 0
    z = -np.expm1(L)
    A = a + b - 1.0 - r
    C = a + b + x - 1.0
    near_one = abs(a - 1.0) < _A_NEAR_ONE
    # series where it is fast (large lower parameter) or needed (a ~ 1)
    use_series = np.ones(C.shape, dtype=bool) if near_one else C >= _SERIES_MIN_C
    G = np.full(C.shape, np.nan)
    if use_series.any():
        G_s, ok = _hyp_g_series(A, a - 1.0, C[use_series], z[use_series], max_terms=300)
        G[use_series] = np.where(ok, G_s, np.nan)
    rest = np.isnan(G)
    if rest.any():
        zr, Cr = z[rest], C[rest]

        def g_scipy(a_: float) -> np.ndarray:
            F = special.hyp2f1(A, a_ - 1.0, Cr, zr)
            return (F - 1.0) / (a_ - 1.0)

        if not near_one:
            G_rest = g_scipy(a)
        else:
            lo, hi = 1.0 - _A_NEAR_ONE, 1.0 + _A_NEAR_ONE
            frac = (a - lo) / (hi - lo)
            G_rest = (1.0 - frac) * g_scipy(lo) + frac * g_scipy(hi)
        bad = ~np.isfinite(G_rest)
        if bad.any():
            G_rest[bad], _ = _hyp_g_series(A, a - 1.0, Cr[bad], zr[bad], max_terms=200_000)
        G[rest] = G_rest
    out = -L * special.exprel((a - 1.0) * L) - np.exp((a - 1.0) * L) * G
    return out.reshape(shape)


def _expected_alive_quadrature(r: float, alpha: float, a: float, b: float, t: np.ndarray,
                               x: np.ndarray, age: np.ndarray) -> np.ndarray:
    """E[X(T, T+t] | alive at T] as ``E_p[(1 - (alpha'/(alpha'+p t))^(r+x)) / p]``.

    Given ``lambda`` and ``p`` a customer alive at ``T`` makes ``(1 - exp(-lambda p t)) / p``
    further purchases in expectation (FHL 2005, eq. (7)); the posterior of ``lambda`` is
    Gamma(r + x, alpha + T) (``alpha' = alpha + T``), that of ``p`` Beta(a, b + x), so
    averaging over ``lambda`` in closed form leaves a smooth one-dimensional expectation
    over ``p``, done by Gauss quadrature (:func:`_beta_gauss_rule`). This is the same
    quantity as ``(a+b+x-1) x`` the hypergeometric bracket, computed without a series,
    so it stays finite and fast when the Beta is concentrated (large ``a``, ``b``).
    """
    shape = np.shape(x)
    t, x, age = (np.atleast_1d(v).reshape(-1) for v in (t, x, age))
    xs, inverse = np.unique(x, return_inverse=True)
    nodes, weights = _beta_gauss_rule(a, b + xs, _QUADRATURE_NODES)
    p = nodes[inverse]  # (n, nodes)
    rx = (r + x)[:, None]
    ratio = p * (t / (alpha + age))[:, None]  # p t / alpha'
    g = -np.expm1(-rx * np.log1p(ratio)) / p
    return np.einsum("ij,ij->i", weights[inverse], g).reshape(shape)


def _expected_alive_direct(r: float, alpha: float, a: float, b: float, t: np.ndarray,
                           x: np.ndarray, age: np.ndarray) -> np.ndarray:
    """E[X(T, T+t] | alive at T] from the untransformed hypergeometric series (log space).

    ``c/(a-1) [1 - (1-z)^(r+x) 2F1(r+x, b+x; c; z)]`` with ``c = a + b + x - 1`` and
    ``z = t/(alpha+T+t)`` (eq. (10) of FHL 2005 without the P(alive) factor). Every term
    of this 2F1 series has the sign of ``c`` (after the first), so it is summed as a
    log-sum-exp of ``log |term|`` and multiplied by ``(1-z)^(r+x)`` in log space: no
    cancellation, however large ``(r+x) z`` is (the number of terms grows like it).
    ``a`` within 1e-4 of 1 is interpolated across ``a = 1 +- 2e-4`` (the expression
    divides by ``a - 1``). Elements whose series does not settle within
    ``_DIRECT_MAX_TERMS`` terms get NaN.
    """
    if abs(a - 1.0) < 1e-4:
        lo = _expected_alive_direct(r, alpha, 1.0 - 2e-4, b, t, x, age)
        hi = _expected_alive_direct(r, alpha, 1.0 + 2e-4, b, t, x, age)
        frac = (a - (1.0 - 2e-4)) / 4e-4
        return (1.0 - frac) * lo + frac * hi
    shape = np.shape(x)
    t, x, age = (np.atleast_1d(v).reshape(-1) for v in np.broadcast_arrays(t, x, age))
    rp, bp = r + x, b + x
    c = a + bp - 1.0
    L = np.log(alpha + age) - np.log(alpha + age + t)  # log(1 - z)
    logz = np.log(-np.expm1(L))
    sign = np.where(c < 0, -1.0, 1.0)  # sign of every term after the first
    logterm = np.zeros(x.size)
    m = np.full(x.size, -np.inf)  # running max and scaled sum of the terms n >= 1
    acc = np.zeros(x.size)
    idx = np.arange(x.size)
    done = np.zeros(x.size, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for n in range(_DIRECT_MAX_TERMS):
            if idx.size == 0:
                break
            # log |(r'+n)(b'+n) z / ((c+n)(n+1))|, with (b'+n)/(c+n) = 1 + (1-a)/(c+n)
            cn = c[idx] + n
            lr = (np.log(rp[idx] + n) + np.log(np.abs(1.0 + (1.0 - a) / cn))
                  - np.log(n + 1.0) + logz[idx])
            logterm[idx] += lr
            lt = logterm[idx]
            new_m = np.maximum(m[idx], lt)
            acc[idx] = acc[idx] * np.exp(m[idx] - new_m) + np.exp(lt - new_m)
            m[idx] = new_m
            ratio = np.exp(lr)
            # past the peak, the rest is below ratio/(1-ratio) times the last term
            finished = (ratio < 1.0) & (lt - new_m + np.log(ratio / (1.0 - ratio)) < -39.0)
            done[idx[finished]] = True
            idx = idx[~finished]
        log_tail = m + np.log(acc) + rp * L  # log of (1-z)^(r') x |sum of terms n >= 1|
        head = np.exp(rp * L)  # (1-z)^(r') x the first term (1)
        scaled = head + sign * np.exp(log_tail)  # (1-z)^(r') 2F1
        out = c / (a - 1.0) * (1.0 - scaled)
    return np.where(done, out, np.nan).reshape(shape)


def _alive_at(r: float, alpha: float, a: float, b: float, t: float, x: float,
              age: float) -> float:
    """E[X(T, T+t] | alive at T] for one customer (used next to the pole a + b + x = 1)."""
    x_a = np.array([x])
    p_alive = bgnbd_probability_alive((r, alpha, a, b), x_a, x_a * 0.0 + age, np.array([age]))
    value = bgnbd_expected_purchases((r, alpha, a, b), t, x_a, x_a * 0.0 + age,
                                     np.array([age]))
    return float(value[0] / p_alive[0])


def _bgnbd_alive(r: float, alpha: float, a: float, b: float, tt: np.ndarray, xx: np.ndarray,
                 aa: np.ndarray) -> np.ndarray:
    """E[X(T, T+t] | alive at T], by the method that is exact and fast here."""
    if a >= _A_QUADRATURE:
        return _expected_alive_quadrature(r, alpha, a, b, tt, xx, aa)
    tt, xx, aa = np.broadcast_arrays(tt, xx, aa)
    near_pole = np.abs(a + b + xx - 1.0) < _C_POLE
    if near_pole.any():
        # the closed form is (a+b+x-1) x a 2F1 with lower parameter a+b+x-1: 0 x inf at
        # a + b + x = 1 (NaN). E is smooth in b there, so it is extrapolated linearly
        # from the two points where that parameter is 2 and 4 times _C_POLE.
        res = np.empty(xx.shape)
        far = ~near_pole
        if far.any():
            res[far] = _bgnbd_alive_regular(r, alpha, a, b, tt[far], xx[far], aa[far])
        c0 = a + b + xx[near_pole] - 1.0
        t_p, x_p, a_p = tt[near_pole], xx[near_pole], aa[near_pole]
        vals = []
        for c_k in (2.0 * _C_POLE, 4.0 * _C_POLE):  # clear of the band
            b_k = b + (c_k - c0)  # > 0: c_k > c0 and b > 0
            vals.append(np.array([
                _alive_at(r, alpha, a, float(bk), t_i, x_i, a_i)
                for bk, t_i, x_i, a_i in zip(b_k, t_p, x_p, a_p, strict=True)]))
        res[near_pole] = vals[0] + (c0 - 2.0 * _C_POLE) * (vals[1] - vals[0]) / (
            2.0 * _C_POLE)
        return res
    return _bgnbd_alive_regular(r, alpha, a, b, tt, xx, aa)

def _bgnbd_alive_regular(r: float, alpha: float, a: float, b: float, tt: np.ndarray,
                         xx: np.ndarray, aa: np.ndarray) -> np.ndarray:
    """Pick, per row, the method that is exact there (away from the pole)."""
    # Gauss quadrature over p also when the dropout probabilities are all far below
    # the scale on which the integrand bends (no-churn limit: nearly linear in p)
    quad = ((r + xx) * tt / (alpha + aa) * max(a, 1.0) / (a + b + xx)
            < _QUADRATURE_FLAT)
    steep = ~quad & ((r - a - b + 1.0) * (tt / (alpha + aa + tt)) > _EULER_MAX)
    rest = ~quad & ~steep
    res = np.empty(xx.shape)
    for mask, how in ((quad, "quad"), (steep, "direct"), (rest, "euler")):
        if not mask.any():
            continue
        t_m, x_m, a_m = tt[mask], xx[mask], aa[mask]
        if how == "quad":
            res[mask] = _expected_alive_quadrature(r, alpha, a, b, t_m, x_m, a_m)
        elif how == "direct":
            direct = _expected_alive_direct(r, alpha, a, b, t_m, x_m, a_m)
            slow = ~np.isfinite(direct)  # series too long to settle: Euler's form
            if slow.any():
                direct[slow] = (a + b + x_m[slow] - 1.0) * _hyp_bracket(
                    r, alpha, a, b, t_m[slow], x_m[slow], a_m[slow])
            res[mask] = direct
        else:
            res[mask] = (a + b + x_m - 1.0) * _hyp_bracket(r, alpha, a, b, t_m, x_m, a_m)
    return res


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
        Customer histories; everything broadcasts together. Several horizons for the
        same customers at once: ``t`` of shape ``(k, 1)`` with histories of shape
        ``(n,)`` gives ``(k, n)``, with P(alive) and the distinct histories found once.

    Returns
    -------
    ndarray
        Expected repeat purchases, >= 0; 0 at ``t = 0``.
    """
    r, alpha, a, b = _bgnbd_unpack(params)
    t_in = np.asarray(t, dtype=float)
    x_h, tx_h, age_h = np.broadcast_arrays(
        np.asarray(frequency, dtype=float), np.asarray(recency, dtype=float),
        np.asarray(T, dtype=float))
    if t_in.ndim == 2 and t_in.shape[1] == 1 and x_h.ndim == 1:
        return _bgnbd_expected_at_horizons(params, t_in, x_h, tx_h, age_h)
    t, x, tx, age = np.broadcast_arrays(t_in, x_h, tx_h, age_h)
    p_alive = bgnbd_probability_alive(params, x, tx, age)

    def alive(tt: np.ndarray, xx: np.ndarray, aa: np.ndarray) -> np.ndarray:
        """E[X(T, T+t] | alive at T], by the method that is exact and fast here."""
        return _bgnbd_alive(r, alpha, a, b, tt, xx, aa)

    if t_in.ndim == 0:  # one horizon for everybody: distinct (x, T) pairs suffice
        core = _on_distinct_rows(lambda xx, aa: alive(t_in, xx, aa), x, age)
    else:
        core = _on_distinct_rows(alive, t, x, age)
    out = p_alive * core
    return np.where(t > 0, np.maximum(out, 0.0), 0.0)


def _bgnbd_expected_at_horizons(params: npt.ArrayLike, t: np.ndarray, x: np.ndarray,
                                tx: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Return E[X(T, T+t] | history] at ``k`` horizons (``t`` of shape ``(k, 1)``).

    For ``n`` histories (1-d): shape ``(k, n)``. The same numbers as ``k`` calls of
    :func:`bgnbd_expected_purchases` with one horizon each (every step is elementwise),
    with P(alive) and the distinct ``(x, T)`` found once instead of ``k`` times: E[X |
    alive] is evaluated once per horizon and distinct ``(x, T)``, then spread over the
    histories.
    """
    r, alpha, a, b = _bgnbd_unpack(params)
    p_alive = bgnbd_probability_alive(params, x, tx, age)
    plan = _distinct_plan(x, age)
    xs, ages = (x, age) if plan is None else plan[0]
    k, m = t.shape[0], xs.shape[0]
    core = _bgnbd_alive(r, alpha, a, b, np.repeat(t[:, 0], m), np.tile(xs, k),
                        np.tile(ages, k)).reshape(k, m)
    out = core if plan is None else core[:, plan[1]]
    out *= p_alive
    np.maximum(out, 0.0, out=out)
    out[~(t[:, 0] > 0)] = 0.0
    return out


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
    """Compute log P(X(t) = n) for a new customer (eq. (8) of FHL), all in log space.

    ``r``, ``alpha`` and ``b`` may be arrays (posterior parameters per customer). The
    negative-binomial tail ``1 - sum_{j<n} NB(j)`` of the second term is the regularised
    incomplete beta ``I_q(n, r)``; where that underflows (far right tail) it is
    ``NB(n) x`` a geometrically convergent ratio series, in log space.
    """
    inputs = [np.asarray(v, dtype=float) for v in (n, t, r, alpha, b)]
    shape = np.broadcast_shapes(*(v.shape for v in inputs))
    # at least 1-d so the deep-tail branch can assign into its arrays (scalar inputs would
    # give 0-d numpy scalars); the input's shape is restored on return
    n, t, r, alpha, b = np.broadcast_arrays(*(np.atleast_1d(v) for v in inputs))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_p0 = np.log(alpha) - np.log(alpha + t)  # ln(alpha/(alpha+t))
        q = t / (alpha + t)
        # log NB pmf: Gamma(r+n)/(Gamma(r) n!) p0^r q^n  (xlogy: 0 * log 0 = 0 at n = 0)
        nb_log_pmf = (special.gammaln(r + n) - special.gammaln(r) - special.gammaln(n + 1.0)
                      + r * log_p0 + special.xlogy(n, q))
        term1 = special.betaln(a, b + n) - special.betaln(a, b) + nb_log_pmf
        repeat = (n > 0) & (t > 0)
        n_safe = np.where(repeat, n, 1.0)
        log_sf = np.log(special.betainc(n_safe, r, q))
        deep = repeat & ~(log_sf > -650.0)
        if deep.any():
            log_sf = log_sf.copy()
            log_sf[deep] = nb_log_pmf[deep] + _log_nb_tail_sum(r[deep], n[deep], q[deep])
        bn1 = np.where(repeat, b + n - 1.0, 1.0)
        term2 = special.betaln(a + 1.0, bn1) - special.betaln(a, b) + log_sf
        term2 = np.where(repeat, term2, -np.inf)
        out = np.logaddexp(term1, term2)
    # at t = 0 nobody has purchased yet
    return np.where(t > 0, out, np.where(n == 0, 0.0, -np.inf)).reshape(shape)



def _posterior_log_pmf_new(r: float, alpha: float, a: float, b: float, b_extra: float,
                           n: np.ndarray, t: npt.ArrayLike, x: np.ndarray,
                           age: np.ndarray) -> np.ndarray:
    """``_bgnbd_log_pmf_new(r + x, alpha + T, a, b + x + b_extra, n, t)``, per distinct row.

    The new-customer pmf with a history's posterior parameters does not depend on
    ``t_x``, so it is evaluated once per distinct ``(n, t, x, T)`` (far fewer than the
    ``(n, history)`` pairs of a table of count distributions) and scattered back: the
    same numbers as the direct evaluation. ``n``, ``x`` and ``age`` are broadcast
    already; ``t`` as given (one horizon for everybody is left out of the key).
    ``b_extra`` is 0 for BG/NBD and 1 for MBG/NBD (added after ``b + x``, as there).
    """
    t_arr = np.asarray(t, dtype=float)
    shape = np.shape(n)
    # (hash-based: deduplicates however wide the range of counts; one horizon for
    # everybody, the usual case, is left out of the key)
    columns = [n, x, age] if t_arr.ndim == 0 else [n, np.broadcast_to(t_arr, shape), x, age]
    plan = _distinct_plan(*columns)
    if plan is None:
        return _bgnbd_log_pmf_new(r + x, alpha + age, a, b + x + b_extra, n, t_arr)
    distinct, inverse = plan
    nn, xx, aa = distinct[0], distinct[-2], distinct[-1]
    tt = t_arr if t_arr.ndim == 0 else distinct[1]
    out = _bgnbd_log_pmf_new(r + xx, alpha + aa, a, b + xx + b_extra, nn, tt)
    return out[inverse].reshape(shape)

def bgnbd_log_probability_of_purchases(
    params: npt.ArrayLike, n: npt.ArrayLike, t: npt.ArrayLike
) -> np.ndarray:
    """Compute log P(X(t) = n) for a new customer, eq. (8) of FHL (2005), in log space.

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
    n_arr, t_arr = np.asarray(n, dtype=float), np.asarray(t, dtype=float)
    return _bgnbd_log_pmf_new(r, alpha, a, b, n_arr, t_arr)


def bgnbd_log_conditional_probability_of_purchases(
    params: npt.ArrayLike,
    n: npt.ArrayLike,
    t: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
) -> np.ndarray:
    """Compute log P(X(T, T+t] = n | x, t_x, T) for customers with a history.

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
    t_in = t
    n, t, x, tx, age = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                             for v in (n, t, frequency, recency, T)))
    *_, D = _bgnbd_log_terms(params, x, tx, age)
    log_alive = -_softplus(D)  # log expit(-D)
    log_dead = -_softplus(-D)  # log expit(D); -inf when x = 0
    # new-customer pmf with the posterior parameters (r, alpha, b vary by row)
    log_new = _posterior_log_pmf_new(r, alpha, a, b, 0.0, n, t_in, x, age)
    alive_part = log_alive + log_new
    with np.errstate(invalid="ignore"):
        with_dead = np.logaddexp(alive_part, log_dead)
    return np.where(n == 0, with_dead, alive_part)

