"""Numerical building blocks shared by the likelihood modules (log-space, series, lookups)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

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


def _distinct_rows(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Find the distinct rows of ``columns``, numbered in order of first appearance.

    Returns ``(inverse, rep)``: ``inverse[i]`` is the number of row ``i``'s distinct row
    and ``rep[j]`` the index of one row equal to distinct row ``j``. The numbering is that
    of ``pd.factorize(..., sort=False)`` on the rows (or of a ``groupby(sort=False)``).
    Hash-based and linear: whole numbers in ``[0, n)`` are their own codes (no hashing),
    other columns are factorized, and a column whose values are all distinct ends the
    work at once (then so are the rows).
    """
    import pandas as pd  # hash-based factorisation: linear time

    n = len(columns[0])
    if n == 0:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for arr in columns:
        col = np.asarray(arr, dtype=float)
        codes, k = _small_codes(col)
        if codes is None:
            codes, uniques = pd.factorize(col, sort=False)
            k = max(len(uniques), 1)
            if k == n:  # all distinct
                every = np.arange(n, dtype=np.intp)
                return every, every
        if span > (2**62) // k:  # re-factorize the partial key to keep it small
            key, partial = pd.factorize(key, sort=False)
            key = key.astype(np.int64)
            span = max(len(partial), 1)
        key *= k  # in place: the same numbers without two row-sized temporaries
        key += codes
        del codes
        span *= k
    # (a small size_hint: the hash table grows with the distinct rows, not the n rows)
    inverse, uniques = pd.factorize(key, sort=False, size_hint=min(n, 1 << 16))
    rep = np.empty(len(uniques), dtype=np.intp)
    rep[inverse] = np.arange(n)
    return inverse, rep


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
        key *= k  # in place: the same numbers without two row-sized temporaries
        key += codes
        del codes
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



# --------------------------------------------------------------------------------------
# Added for the Pareto/NBD model (also usable by other models): distinct-row plans,
# double-exponential quadrature in log space, 2F1(1, e; c; z) with derivatives, the
# log incomplete beta function and log U(a, a, z).
# --------------------------------------------------------------------------------------


def _distinct_plan(
    *columns: np.ndarray, min_size: int = 1024
) -> tuple[list[np.ndarray], np.ndarray] | None:
    """Distinct rows of ``columns`` and the index mapping every row to its distinct row.

    Returns ``(distinct_columns, inverse)`` with ``column[i] == distinct[inverse[i]]``, or
    ``None`` when deduplication is not worth it (few rows, or mostly distinct rows). Hash
    based (``pd.factorize``), linear in the number of rows.
    """
    flat = [np.ravel(np.asarray(c, dtype=float)) for c in columns]
    n = flat[0].size
    if n < min_size:
        return None
    inverse, rep = _distinct_rows(flat)
    if len(rep) > n // 2:
        return None
    return [col[rep] for col in flat], inverse.astype(np.intp, copy=False)


_RULES: dict[tuple[str, float, float, float], tuple[np.ndarray, ...]] = {}


def _tanh_sinh_rule(h: float = 0.125, k_max: float = 3.0) -> tuple[np.ndarray, ...]:
    """Tanh-sinh nodes on ``[0, 1]``: ``(from_left, from_right, log_weight)``.

    ``from_left[i]`` and ``from_right[i]`` are the node's distances from 0 and from 1,
    each computed without cancellation, so integrands that vary fast near an end point
    are sampled accurately there. ``sum exp(log f(node) + log_weight)`` approximates
    ``int_0^1 f``; the error falls like ``exp(-c / h)`` for integrands analytic in a strip
    (Takahasi & Mori 1974).
    """
    key = ("tanh-sinh", h, k_max, 0.0)
    if key not in _RULES:
        k = np.arange(-k_max, k_max + h / 2, h)
        sh = 0.5 * np.pi * np.sinh(k)
        e = np.exp(-2.0 * np.abs(sh))
        small = e / (1.0 + e)  # distance to the nearer end
        big = 1.0 / (1.0 + e)
        from_left = np.where(sh < 0, small, big)
        from_right = np.where(sh > 0, small, big)
        log_w = np.log(h * 0.5 * np.pi * np.cosh(k)) - 2.0 * np.log(np.cosh(sh)) - np.log(2.0)
        _RULES[key] = (from_left, from_right, log_w)
    return _RULES[key]


def _exp_sinh_rule(
    h: float = 0.0625, k_min: float = -5.0, k_max: float = 7.0
) -> tuple[np.ndarray, np.ndarray]:
    """Exp-sinh nodes on ``[0, inf)``: ``(log_node, log_weight)``, node ``= exp(pi/2 sinh k)``.

    ``int_0^inf f(u) du ~ sum exp(log f(u_i) + log_weight_i)``; suited to integrands that
    decay algebraically or exponentially at infinity (scale the variable so that the
    integrand changes on a scale of about 1).
    """
    key = ("exp-sinh", h, k_min, k_max)
    if key not in _RULES:
        k = np.arange(k_min, k_max + h / 2, h)
        log_u = 0.5 * np.pi * np.sinh(k)
        log_w = np.log(h * 0.5 * np.pi * np.cosh(k)) + log_u
        _RULES[key] = (log_u, log_w)
    log_u, log_w = _RULES[key]
    return log_u, log_w


def _logsumexp_rows(v: np.ndarray) -> np.ndarray:
    """Row-wise ``log(sum(exp(v)))`` of a 2-d array (``-inf`` rows stay ``-inf``)."""
    top = np.max(v, axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(v - safe[:, None]), axis=1)) + safe


#: Relative size of the last term at which the 2F1(1, e; c; z) series stops.
_SERIES_TOL = 1e-17


def _hyp2f1_unit_series(
    e: np.ndarray, c: np.ndarray, z: np.ndarray, *, gradient: bool = False,
    max_terms: int = 100_000,
) -> tuple[np.ndarray, ...]:
    """``log 2F1(1, e; c; z)`` for ``0 <= z < 1``, ``0 < e <= c``, by its power series.

    ``2F1(1, e; c; z) = sum_n (e)_n / (c)_n z^n``: positive terms, each at most ``z``
    times the previous one, so after a term ``t_n`` the tail is below ``t_n z / (1 - z)``:
    no cancellation, no overflow (terms never exceed 1), and summation stops for an
    element once the tail bound (widened for the derivative sums) is below 1e-17 of the
    sum. With ``gradient`` also returns the derivatives of the log with respect to
    ``e``, ``c`` and ``z``, summed alongside (``d t_n / d e = t_n sum_{j<n} 1/(e+j)``
    etc.). Returns ``(log_value,)`` or ``(log_value, d_e, d_c, d_z)``; elements that
    do not settle within ``max_terms`` get NaN.
    """
    e, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (e, c, z)))
    shape = e.shape
    outs = _hyp2f1_unit_loop(np.ravel(e), np.ravel(c), np.ravel(z), gradient, max_terms)
    return tuple(o.reshape(shape) for o in outs)


def _hyp2f1_unit_loop(
    e: np.ndarray, c: np.ndarray, z: np.ndarray, gradient: bool, max_terms: int
) -> tuple[np.ndarray, ...]:
    """Sum the 2F1(1, e; c; z) series term by term on flat arrays (see the caller)."""
    size = e.size
    total = np.ones(size)
    s_e, s_c, s_z = np.zeros(size), np.zeros(size), np.zeros(size)
    done = np.zeros(size, dtype=bool)
    idx = np.arange(size)
    ee, cc, zz = e, c, z
    term = np.ones(size)
    tot = total.copy()
    acc_e, acc_c = np.zeros(size), np.zeros(size)
    se, sc, sz = s_e.copy(), s_c.copy(), s_z.copy()
    inv_gap = 1.0 / (1.0 - zz)
    for n in range(max_terms):
        en = ee + n
        cn = cc + n
        term = term * (en / cn * zz)
        tot = tot + term
        if gradient:
            acc_e = acc_e + 1.0 / en
            acc_c = acc_c + 1.0 / cn
            se = se + term * acc_e
            sc = sc + term * acc_c
            sz = sz + (n + 1.0) * term
        if n % 4 == 3 or idx.size < 64:
            bound = term * inv_gap * (n + 2.0)
            if gradient:
                bound = bound * (1.0 + acc_e + acc_c) * inv_gap
            fin = bound <= _SERIES_TOL * tot
            if fin.any():
                hit = idx[fin]
                done[hit] = True
                total[hit] = tot[fin]
                s_e[hit], s_c[hit], s_z[hit] = se[fin], sc[fin], sz[fin]
                keep = ~fin
                idx = idx[keep]
                if idx.size == 0:
                    break
                ee, cc, zz, term, tot, inv_gap = (
                    ee[keep], cc[keep], zz[keep], term[keep], tot[keep], inv_gap[keep])
                acc_e, acc_c, se, sc, sz = acc_e[keep], acc_c[keep], se[keep], sc[keep], sz[keep]
    log_value = np.where(done, np.log(total), np.nan)
    if not gradient:
        return (log_value,)
    with np.errstate(invalid="ignore", divide="ignore"):
        d_e = s_e / total
        d_c = -s_c / total
        d_z = np.where(z > 0, s_z / np.where(z > 0, z, 1.0), e / c) / total
    return log_value, d_e, d_c, d_z


def _log_betainc_cf(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``log B(w; a, b)`` by the continued fraction (modified Lentz), for small ``w``.

    ``B(w; a, b) = w^a (1-w)^b / a * CF`` with the classical continued fraction of the
    incomplete beta function, which converges fast for ``w < (a+1)/(a+b+2)``; used where
    the regularised value underflows. Elements that do not settle get NaN.
    """
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones(a.shape)
    d = 1.0 - qab * w / qap
    d = np.where(np.abs(d) < tiny, tiny, d)
    d = 1.0 / d
    h = d.copy()
    done = np.zeros(a.shape, dtype=bool)
    idx = np.arange(a.size)
    for m in range(1, 10_000):
        if idx.size == 0:
            break
        ai, bi, wi = a[idx], b[idx], w[idx]
        m2 = 2.0 * m
        aa = m * (bi - m) * wi / ((qam[idx] + m2) * (ai + m2))
        di = 1.0 + aa * d[idx]
        di = np.where(np.abs(di) < tiny, tiny, di)
        ci = 1.0 + aa / c[idx]
        ci = np.where(np.abs(ci) < tiny, tiny, ci)
        di = 1.0 / di
        hi = h[idx] * di * ci
        aa = -(ai + m) * (qab[idx] + m) * wi / ((ai + m2) * (qap[idx] + m2))
        di = 1.0 + aa * di
        di = np.where(np.abs(di) < tiny, tiny, di)
        ci = 1.0 + aa / ci
        ci = np.where(np.abs(ci) < tiny, tiny, ci)
        di = 1.0 / di
        delta = di * ci
        hi = hi * delta
        h[idx], c[idx], d[idx] = hi, ci, di
        fin = np.abs(delta - 1.0) < 1e-16
        done[idx[fin]] = True
        idx = idx[~fin]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a * np.log(w) + b * np.log1p(-w) - np.log(a) + np.log(h)
    return np.where(done, out, np.nan)


def _log_betainc(a: npt.ArrayLike, b: npt.ArrayLike, w: npt.ArrayLike) -> np.ndarray:
    """``log B(w; a, b) = log int_0^w u^(a-1) (1-u)^(b-1) du`` (unregularised), any size.

    scipy's regularised ``betainc`` times ``B(a, b)`` where it does not underflow; the
    continued fraction in log space in the far left tail, where it would. ``-inf`` at
    ``w = 0``.
    """
    from scipy import special

    a, b, w = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, w)))
    shape = a.shape
    a, b, w = (np.ravel(v).copy() for v in (a, b, w))
    with np.errstate(divide="ignore"):
        reg = special.betainc(a, b, w)
        out = np.log(reg) + special.betaln(a, b)
    deep = (reg < 1e-280) & (w > 0)
    if deep.any():
        out[deep] = _log_betainc_cf(a[deep], b[deep], w[deep])
    return out.reshape(shape)


def _log_tricomi_u_equal(a: npt.ArrayLike, z: npt.ArrayLike) -> np.ndarray:
    """``log U(a, a, z)``: Tricomi's confluent hypergeometric function with equal parameters.

    For ``a > 0, z > 0``: ``z^a U(a, a, z) = E[(1 + W/z)^(-a)]`` with ``W ~ Exp(1)``, and
    substituting ``W = z (e^v - 1)``,
    ``z^(a-1) U(a, a, z) = int_0^inf exp(-z (e^v - 1) + (1-a) v) dv``, an entire, log-concave
    integrand with its mode at ``v* = max(0, ln((1-a)/z))``. Tanh-sinh quadrature on
    ``[0, v*]`` and ``[v*, V]`` (``V`` where the integrand has fallen by ``e^-80``) gives
    about 1e-13 relative accuracy for ``z >= 1e-4`` and 1e-10 down to ``z = 1e-12``
    (checked against mpmath). scipy's ``hyperu`` returns NaN or loses digits here.
    """
    a, z = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(z, dtype=float))
    shape = a.shape
    a, z = np.ravel(a), np.ravel(z)
    from_left, _, log_w = _tanh_sinh_rule(0.0625, 3.2)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        v_star = np.maximum(np.log(np.maximum(1.0 - a, 1e-300) / z), 0.0)
        v_end = v_star + np.log1p(80.0 / (z * np.exp(v_star)))
        v_end = np.minimum(v_end, np.where(a > 1.0, v_star + 80.0 / np.maximum(a - 1.0, 1e-300),
                                           np.inf))
        total = np.full(a.shape, -np.inf)
        for lo, hi in ((np.zeros_like(v_star), v_star), (v_star, v_end)):
            length = hi - lo
            v = lo[:, None] + length[:, None] * from_left[None, :]
            g = -z[:, None] * np.expm1(v) + (1.0 - a)[:, None] * v
            part = _logsumexp_rows(g + log_w[None, :] + np.log(length)[:, None])
            total = np.logaddexp(total, np.where(length > 0, part, -np.inf))
    return ((1.0 - a) * np.log(z) + total).reshape(shape)
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
