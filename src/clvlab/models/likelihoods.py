"""Pure likelihood and prediction functions of clvlab's models (no state).

Each function takes the parameters and per-customer arrays and returns one value per
customer, in log space wherever it matters for stability. The model classes in
:mod:`clvlab.models` are thin wrappers around these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

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

#: Lower parameter of the transformed 2F1 from which its power series is used directly.
_SERIES_MIN_C = 30.0


def _bgnbd_unpack(params: npt.ArrayLike) -> tuple[float, float, float, float]:
    r, alpha, a, b = (float(v) for v in np.asarray(params, dtype=float).reshape(-1)[:4])
    return r, alpha, a, b


def _softplus(v: np.ndarray) -> np.ndarray:
    """``log(1 + exp(v))`` without overflow (faster than ``np.logaddexp(0, v)``)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.maximum(v, 0.0) + np.log1p(np.exp(-np.abs(v)))


def _softplus_sigmoid(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``softplus(v)`` and ``sigmoid(v)`` sharing one exponential."""
    e = np.exp(-np.abs(v))  # in [0, 1]
    inv = 1.0 / (1.0 + e)
    return np.maximum(v, 0.0) + np.log1p(e), np.where(v >= 0, inv, e * inv)


def _per_frequency(
    x: np.ndarray, *functions: Callable[[np.ndarray], np.ndarray]
) -> list[np.ndarray]:
    """Apply ``functions`` to ``x``, via a lookup table when ``x`` holds few whole numbers.

    Frequencies are whole numbers with a small range, so special functions of ``x`` alone
    (log-gamma, digamma, ...) are computed once per distinct value and gathered: on a
    million customers this is much faster than evaluating them per customer.
    """
    if x.size >= 1024:
        top = float(x.max()) if x.size else 0.0
        if 0 <= top < x.size / 4 and float(x.min()) >= 0:
            xi = x.astype(np.intp)
            if np.array_equal(xi, x):
                grid = np.arange(int(top) + 1, dtype=float)
                return [np.take(f(grid), xi) for f in functions]
    return [f(x) for f in functions]


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


def _hyp_g_series(
    A: npt.ArrayLike, B: npt.ArrayLike, C: npt.ArrayLike, z: npt.ArrayLike, max_terms: int
) -> tuple[np.ndarray, np.ndarray]:
    """``G = (2F1(A, B; C; z) - 1) / B`` by its power series, vectorised.

    ``G = sum_{n>=1} (A)_n (B+1)_{n-1} z^n / ((C)_n n!)``: no division by ``B``, so it is
    exact at ``B = 0``. Summation stops for an element once the remaining tail, bounded by
    ``|term| rho / (1 - rho)`` with ``rho = max(current term ratio, z) < 1``, is below
    ``1e-17`` of the sum. Returns ``(G, converged)``.
    """
    A, B, C, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (A, B, C, z)))
    shape = A.shape
    A, B, C, z = (v.reshape(-1) for v in (A, B, C, z))
    total = A * z / C
    term = total.copy()
    done = np.zeros(total.shape, dtype=bool)
    idx = np.flatnonzero(np.ones(total.shape, dtype=bool))
    for n in range(1, max_terms + 1):
        if idx.size == 0:
            break
        ratio = (A[idx] + n) * (B[idx] + n) / ((C[idx] + n) * (n + 1.0)) * z[idx]
        term[idx] = term[idx] * ratio
        total[idx] += term[idx]
        rho = np.maximum(np.abs(ratio), z[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            tail = np.abs(term[idx]) * rho / (1.0 - rho)
        finished = (rho < 1.0) & (tail <= 1e-17 * np.abs(total[idx]))
        finished |= term[idx] == 0.0
        done[idx[finished]] = True
        idx = idx[~finished]
    return total.reshape(shape), done.reshape(shape)


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


def _small_codes(col: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Whole numbers in ``[0, size)`` are their own codes (cheaper than hashing)."""
    lo, hi = float(col.min()), float(col.max())
    if lo >= 0 and hi < col.size:
        codes = col.astype(np.intp)
        if np.array_equal(codes, col):
            return codes, int(hi) + 1
    return None, 0


def _on_distinct_rows(
    func: Callable[..., np.ndarray], *columns: np.ndarray, min_size: int = 4096
) -> np.ndarray:
    """Evaluate ``func(*columns)`` once per distinct row of ``columns`` and scatter back.

    The hypergeometric part of E[X(t) | history] depends on (t, x, T) only, and RFM data
    built from dated transactions repeat those combinations heavily (whole purchase
    counts, ages on a daily grid), so a million customers often need only thousands of
    evaluations. Falls back to direct evaluation when rows are mostly distinct.
    """
    shape = np.shape(columns[0])
    flat = [np.ravel(c) for c in columns]
    n = flat[0].size
    if n < min_size:
        return func(*flat).reshape(shape)
    import pandas as pd  # hash-based factorisation: linear time

    key = np.zeros(n, dtype=np.int64)
    span = 1
    levels: list[tuple[np.ndarray, int]] = []  # (distinct values, count) per column
    for col in flat:
        codes, k = _small_codes(col)
        if codes is None:
            codes, uniques = pd.factorize(col, sort=False)
            k = max(len(uniques), 1)
            values_j = np.asarray(uniques, dtype=float)
        else:
            values_j = np.arange(k, dtype=float)
        if span * k > n * 4:
            return func(*flat).reshape(shape)  # mostly distinct: not worth it
        key = key * k + codes
        span *= k
        levels.append((values_j, k))
    # the key is dense in [0, span) with span <= 4 n: count, then index the occupied cells
    occupied = np.flatnonzero(np.bincount(key, minlength=span))
    if occupied.size > n // 2:
        return func(*flat).reshape(shape)
    lookup = np.empty(span, dtype=np.intp)
    lookup[occupied] = np.arange(occupied.size)
    # decode each occupied key back into its column values (last column varies fastest)
    distinct: list[np.ndarray] = []
    rest = occupied
    for values_j, k in reversed(levels):
        distinct.append(values_j[rest % k])
        rest = rest // k
    out = func(*reversed(distinct))
    return np.take(out, np.take(lookup, key)).reshape(shape)


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
    t_in = t
    t, x, tx, age = np.broadcast_arrays(
        np.asarray(t, dtype=float), np.asarray(frequency, dtype=float),
        np.asarray(recency, dtype=float), np.asarray(T, dtype=float),
    )
    p_alive = bgnbd_probability_alive(params, x, tx, age)
    t_in = np.asarray(t_in, dtype=float)
    if t_in.ndim == 0:  # one horizon for everybody: distinct (x, T) pairs suffice
        bracket = _on_distinct_rows(
            lambda xx, aa: _hyp_bracket(r, alpha, a, b, t_in, xx, aa), x, age
        )
    else:
        bracket = _on_distinct_rows(
            lambda tt, xx, aa: _hyp_bracket(r, alpha, a, b, tt, xx, aa), t, x, age
        )
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


def _log_nb_tail_sum(r: np.ndarray, n: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``log sum_{k>=0} prod_{j<k} q (r+n+j)/(n+1+j)`` = ``log[P(N >= n) / P(N = n)]``.

    For a negative binomial ``N`` (shape ``r``, success probability ``1 - q``); used in the
    far right tail, where the ratios are below 1 and the series converges geometrically.
    Elements whose series does not settle within the iteration cap get NaN.
    """
    total = np.ones(n.shape)
    term = np.ones(n.shape)
    done = np.zeros(n.shape, dtype=bool)
    idx = np.arange(n.size)
    for k in range(100_000):
        if idx.size == 0:
            break
        ratio = q[idx] * (r[idx] + n[idx] + k) / (n[idx] + 1.0 + k)
        term[idx] *= ratio
        total[idx] += term[idx]
        rho = np.maximum(ratio, q[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            finished = (rho < 1) & (term[idx] * rho / (1 - rho) <= 1e-17 * total[idx])
        done[idx[finished]] = True
        idx = idx[~finished]
    return np.where(done, np.log(total), np.nan)


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
    n, t, x, tx, age = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                             for v in (n, t, frequency, recency, T)))
    *_, D = _bgnbd_log_terms(params, x, tx, age)
    log_alive = -_softplus(D)  # log expit(-D)
    log_dead = -_softplus(-D)  # log expit(D); -inf when x = 0
    # new-customer pmf with the posterior parameters (r, alpha, b vary by row)
    log_new = _bgnbd_log_pmf_new(r + x, alpha + age, a, b + x, n, t)
    alive_part = log_alive + log_new
    with np.errstate(invalid="ignore"):
        with_dead = np.logaddexp(alive_part, log_dead)
    return np.where(n == 0, with_dead, alive_part)

# ======================================================================================
# Gamma-Gamma (spend per purchase) -- Fader, Hardie & Lee (2005), Colombo & Jiang (1999)
# ======================================================================================

# Notation (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves"; Hardie's note
# 025 "The Gamma-Gamma model of monetary value"): a repeat buyer with x > 0 repeat purchases
# of mean value m. Each purchase value is Gamma(p, nu); the customer's nu is Gamma(q, v)
# across customers. Then E[spend | nu] = p / nu, the population mean spend is p v / (q - 1)
# (finite only for q > 1) and, given nu, the mean m of x purchases is Gamma(p x, nu x).


def _gg_arrays(
    frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    return x, m


def gg_loglik(
    params: Iterable[float], frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
) -> np.ndarray:
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
    params: Iterable[float], frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
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


def gg_population_mean_spend(params: Iterable[float]) -> float:
    """Return the population mean spend per purchase, ``p v / (q - 1)``.

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


def gg_expected_spend(
    params: Iterable[float], frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
) -> np.ndarray:
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
