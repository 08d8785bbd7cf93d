"""Numerical building blocks shared by the likelihood modules (log-space, series, lookups)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import numpy.typing as npt


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



def _hyp_g_small_b(
    A: npt.ArrayLike, eps: float, C: npt.ArrayLike, z: npt.ArrayLike,
    *, half_width: float = 4e-3, n_nodes: int = 8,
) -> np.ndarray:
    """``G = (2F1(A, eps; C; z) - 1) / eps`` for a small ``|eps|`` (accurate at eps = 0).

    ``G`` is analytic in ``eps``. Its power series (:func:`_hyp_g_series`) is exact at
    ``eps = 0`` but needs about ``40 / (1 - z)`` terms, too many when ``z`` is near 1; there
    scipy's ``hyp2f1`` is fast but ``(F - 1) / eps`` loses ``log10(1/|eps|)`` digits. So: the
    series where it settles within 300 terms; elsewhere the polynomial through ``G`` at
    ``n_nodes`` Chebyshev nodes of ``[-half_width, half_width]`` (each from scipy, where
    the division costs at most 4 digits), evaluated at ``eps`` (barycentric form). The
    interpolation error is of order ``(half_width * ln(1/(1-z)))^n_nodes / n_nodes!``,
    below 1e-15 for ``z < 1 - 1e-12``; elements scipy leaves non-finite fall back to the
    series with up to 200,000 terms.
    """
    from scipy import special

    A, C, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (A, C, z)))
    shape = A.shape
    A, C, z = (v.reshape(-1) for v in (A, C, z))
    G, ok = _hyp_g_series(A, eps, C, z, max_terms=300)
    G = np.where(ok, G, np.nan)
    rest = ~ok
    if rest.any():
        Ar, Cr, zr = A[rest], C[rest], z[rest]
        k = np.arange(n_nodes)
        nodes = half_width * np.cos((2 * k + 1) * np.pi / (2 * n_nodes))  # never 0
        # barycentric weights of Chebyshev points of the first kind
        weights = (-1.0) ** k * np.sin((2 * k + 1) * np.pi / (2 * n_nodes))
        values = np.stack([(special.hyp2f1(Ar, e, Cr, zr) - 1.0) / e for e in nodes])
        diff = eps - nodes
        if np.any(diff == 0):
            G_rest = values[int(np.flatnonzero(diff == 0)[0])]
        else:
            coef = weights / diff
            G_rest = (coef @ values) / coef.sum()
        bad = ~np.isfinite(G_rest)
        if bad.any():
            G_rest[bad], _ = _hyp_g_series(Ar[bad], eps, Cr[bad], zr[bad], max_terms=200_000)
        G[rest] = G_rest
    return G.reshape(shape)


#: Half-width of the band around ``a = 1`` in which :func:`_bg_bracket` interpolates in
#: ``a - 1`` (:func:`_hyp_g_small_b`) instead of dividing by it; outside the band the
#: division costs at most 3 digits of scipy's ``hyp2f1`` (about 1e-11 relative).
_A_ONE_BAND = 1e-3

#: Lower parameter of the transformed 2F1 from which its power series is used directly.
_G_SERIES_MIN_C = 30.0


def _bg_bracket(
    r: float, alpha: float, a: float, b: float, t: npt.ArrayLike, x: npt.ArrayLike,
    age: npt.ArrayLike,
) -> np.ndarray:
    """``[1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)] / (a - 1)``.

    The hypergeometric bracket of the expectation of the beta-geometric/NBD family
    (BG/NBD eq. (10) of Fader, Hardie & Lee 2005; MBG/NBD calls it with ``b + 1``), with
    ``z = t/(alpha+T+t)``. Euler's transformation turns it into
    ``-L exprel((a-1) L) - (1-z)^(a-1) G`` with ``L = ln(1-z) = -log1p(t/(alpha+T))``
    (accurate for tiny ``t``) and ``G = (2F1(a+b-1-r, a-1; a+b+x-1; z) - 1)/(a-1)``:
    small upper parameters and a lower parameter growing with ``x``, so it stays finite
    where the direct form overflows. ``G`` comes from its power series when the lower
    parameter is large (fast, and scipy's ``hyp2f1`` can fail there) or ``z <= 1/2``
    (where ``F - 1`` from scipy would cancel), from
    :func:`_hyp_g_small_b` within ``_A_ONE_BAND`` of ``a = 1``, else from scipy's
    ``hyp2f1`` with the long series for anything scipy leaves non-finite.
    """
    from scipy import special

    shape = np.broadcast_shapes(np.shape(t), np.shape(x), np.shape(age))
    t, x, age = (np.broadcast_to(np.asarray(v, dtype=float), shape).reshape(-1)
                 for v in (t, x, age))
    L = -np.log1p(t / (alpha + age))  # ln(1 - z) <= 0
    z = -np.expm1(L)
    A = a + b - 1.0 - r
    C = a + b + x - 1.0
    eps = a - 1.0
    if abs(eps) < _A_ONE_BAND:
        G = _hyp_g_small_b(A, eps, C, z)
    else:
        G = np.full(C.shape, np.nan)
        # series where it converges fast: large lower parameter, or small z (where
        # scipy's F - 1 would cancel)
        big = (C >= _G_SERIES_MIN_C) | (z <= 0.5)
        if big.any():
            G_s, ok = _hyp_g_series(A, eps, C[big], z[big], max_terms=300)
            G[big] = np.where(ok, G_s, np.nan)
        rest = np.isnan(G)
        if rest.any():
            with np.errstate(all="ignore"):
                G_rest = (special.hyp2f1(A, eps, C[rest], z[rest]) - 1.0) / eps
            bad = ~np.isfinite(G_rest)
            if bad.any():
                G_rest[bad], _ = _hyp_g_series(A, eps, C[rest][bad], z[rest][bad],
                                               max_terms=200_000)
            G[rest] = G_rest
    out = -L * special.exprel(eps * L) - np.exp(eps * L) * G
    return out.reshape(shape)


def _beta_gauss_rule(a: float, b: npt.ArrayLike, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the Beta Gauss rule of :func:`_beta_gauss_rule_uncached`, memoised.

    CLV evaluates the same customers at a dozen or more horizons with the same ``a`` and
    ``b + x``: the eigen-decompositions are done once (arrays returned read-only).
    """
    c = np.ascontiguousarray(np.atleast_1d(np.asarray(b, dtype=float)).reshape(-1))
    return _beta_gauss_rule_cached(float(a), c.tobytes(), int(n))


@functools.lru_cache(maxsize=16)
def _beta_gauss_rule_cached(a: float, b_bytes: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = _beta_gauss_rule_uncached(a, np.frombuffer(b_bytes, dtype=float), n)
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def _beta_gauss_rule_uncached(
    a: float, b: npt.ArrayLike, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Gauss quadrature for expectations under ``Beta(a, b)``, one rule per value of ``b``.

    Returns ``(nodes, weights)`` of shape ``(len(b), n)`` with
    ``E[f(p)] ~= sum_j weights[:, j] f(nodes[:, j])``, exact for polynomials of degree up to
    ``2n - 1``. Golub-Welsch: the nodes are the eigenvalues of the Jacobi matrix of the
    polynomials orthogonal on [0, 1] under ``p^(a-1) (1-p)^(b-1)`` (the Jacobi polynomials
    with ``alpha = b - 1``, ``beta = a - 1`` mapped from [-1, 1]), the weights the squared
    first components of its eigenvectors. The recurrence is written without cancellation
    (``diag = [2k(k+1) + S(2k+1+a-1)] / ((2k+S)(2k+S+2))``, ``S = a + b - 2``), so the
    rule stays accurate when the Beta is extremely concentrated (``a, b ~ 1e10``), where a
    hypergeometric series would need about ``a`` terms.
    """
    c = np.atleast_1d(np.asarray(b, dtype=float)).reshape(-1)
    k = np.arange(n, dtype=float)[None, :]
    al = c[:, None] - 1.0  # Jacobi alpha (the (1 - p) exponent)
    be = a - 1.0  # Jacobi beta (the p exponent)
    S = al + be
    with np.errstate(divide="ignore", invalid="ignore"):
        diag = (2.0 * k * (k + 1.0) + S * (2.0 * k + 1.0 + be)) / (
            (2.0 * k + S) * (2.0 * k + S + 2.0))
    diag[:, 0] = a / (a + c)
    kk = k[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        off2 = (kk * (kk + al) * (kk + be) * (kk + S)) / (
            (2.0 * kk + S) ** 2 * (2.0 * kk + S + 1.0) * (2.0 * kk + S - 1.0))
    # k = 1 with the common factor (1 + S) cancelled: finite also at a + b = 1 (S = -1)
    off2[:, 0] = (1.0 + al[:, 0]) * (1.0 + be) / ((2.0 + S[:, 0]) ** 2 * (3.0 + S[:, 0]))
    off = np.sqrt(np.maximum(off2, 0.0))  # the p-space off-diagonal (half the u-space one)
    J = np.zeros((c.size, n, n))
    idx = np.arange(n)
    J[:, idx, idx] = diag
    J[:, idx[1:], idx[:-1]] = off
    J[:, idx[:-1], idx[1:]] = off
    nodes, vecs = np.linalg.eigh(J)
    weights = vecs[:, 0, :] ** 2
    return np.clip(nodes, 0.0, 1.0), weights / weights.sum(axis=1, keepdims=True)
