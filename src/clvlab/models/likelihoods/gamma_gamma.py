"""Gamma-Gamma spend model: pure log-likelihood, gradient and predictors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special

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


def gg_total_loglik_and_grad(
    params: Iterable[float],
    frequency: npt.ArrayLike,
    monetary_value: npt.ArrayLike,
    weights: npt.ArrayLike,
) -> tuple[float, np.ndarray]:
    r"""Weighted total Gamma-Gamma log-likelihood and its gradient, by sufficient statistics.

    The same quantity as ``weights @ gg_loglik_and_grad(...)`` (equal up to rounding),
    computed without per-customer special functions. With ``u = ln(1 + v/(x m))``,
    ``ln(x m + v) = ln x + ln m + u`` and each customer's log-likelihood is

    .. math::

        \ell = [\ln\Gamma(px+q) - \ln\Gamma(px) - q\ln x] - \ln\Gamma(q) + q\ln v
                - (1+q)\ln m - (px+q)\,u

    whose bracket depends on ``x`` alone (and stays small: about ``q ln p`` for large
    ``x``, so no large terms cancel). The bracket and the digamma terms of the gradient
    are evaluated once per distinct frequency and weighted by the total weight of the
    customers with that frequency; per customer only ``ln m``, ``u`` and ``1/(x m + v)``
    remain. Frequencies that are not small whole numbers fall back to per-customer
    special functions.

    Parameters
    ----------
    params : sequence of float
        ``(p, q, v)``.
    frequency, monetary_value : array-like of shape (n,)
        As in :func:`gg_loglik` (``x > 0``, ``m > 0``).
    weights : array-like of shape (n,)
        Number of customers each row stands for.

    Returns
    -------
    total : float
        ``sum_i w_i ll_i``.
    grad : ndarray of shape (3,)
        Its derivatives with respect to ``p``, ``q``, ``v``.
    """
    return gg_total_from_statistics(params, gg_statistics(frequency, monetary_value, weights))


class GGStatistics(NamedTuple):
    """What :func:`gg_total_from_statistics` needs of the data, independent of parameters.

    ``x_values`` and ``x_weights`` are the distinct frequencies and their total weights
    (or every row's frequency and weight, when frequencies are not small whole numbers);
    the rest are per-row arrays (``w``, ``w x``, ``x m``) and two sums.
    """

    x_values: np.ndarray
    x_weights: np.ndarray
    w_tot: float
    s_logm: float
    w: np.ndarray
    wx: np.ndarray
    xm: np.ndarray


def gg_statistics(
    frequency: npt.ArrayLike, monetary_value: npt.ArrayLike, weights: npt.ArrayLike
) -> GGStatistics:
    """Summarise the data for :func:`gg_total_from_statistics` (computed once per fit).

    Parameters
    ----------
    frequency, monetary_value : array-like of shape (n,)
        As in :func:`gg_loglik` (``x > 0``, ``m > 0``).
    weights : array-like of shape (n,)
        Number of customers each row stands for.

    Returns
    -------
    GGStatistics
    """
    x, m = _gg_arrays(frequency, monetary_value)
    w = np.asarray(weights, dtype=float)
    xi = _frequency_codes(x)
    if xi is not None:  # once per distinct frequency, weighted by its customers
        w_x = np.bincount(xi, weights=w)
        used = np.flatnonzero(w_x > 0)
        x_values, x_weights = used.astype(float), w_x[used]
    else:
        x_values, x_weights = x, w
    return GGStatistics(x_values, x_weights, float(w.sum()), float(w @ np.log(m)), w, w * x,
                        x * m)


def gg_total_from_statistics(
    params: Iterable[float], stats: GGStatistics
) -> tuple[float, np.ndarray]:
    """Weighted total log-likelihood and gradient from :func:`gg_statistics`.

    See :func:`gg_total_loglik_and_grad` for the formula.

    Parameters
    ----------
    params : sequence of float
        ``(p, q, v)``.
    stats : GGStatistics
        From :func:`gg_statistics`.

    Returns
    -------
    total : float
    grad : ndarray of shape (3,)
    """
    p, q, v = (float(t) for t in params)
    g = stats.x_values
    pg = p * g
    psi_pgq = special.digamma(pg + q)
    log_g = np.log(g)
    w_x = stats.x_weights
    s_a = float(w_x @ (special.gammaln(pg + q) - special.gammaln(pg) - q * log_g))  # ll bracket
    s_b = float(w_x @ (g * (psi_pgq - special.digamma(pg))))  # d/dp, x-only part
    s_c = float(w_x @ (psi_pgq - log_g))  # d/dq, x-only part
    w, wx, w_tot, s_logm = stats.w, stats.wx, stats.w_tot, stats.s_logm
    u = v / stats.xm
    np.log1p(u, out=u)  # u = ln(1 + v / (x m))
    s_u, s_xu = float(w @ u), float(wx @ u)
    inv = stats.xm + v
    np.reciprocal(inv, out=inv)  # 1 / (x m + v)
    s_inv, s_xinv = float(w @ inv), float(wx @ inv)
    log_v = np.log(v)
    total = (
        s_a + w_tot * (q * log_v - special.gammaln(q)) - (1.0 + q) * s_logm
        - (p * s_xu + q * s_u)
    )
    grad = np.array([
        s_b - s_xu,
        s_c - w_tot * (special.digamma(q) - log_v) - s_logm - s_u,
        w_tot * q / v - (p * s_xinv + q * s_inv),
    ])
    return float(total), grad


def _frequency_codes(x: np.ndarray) -> np.ndarray | None:
    """``x`` as integer codes when it holds whole numbers in ``[0, max(1024, n))``."""
    if x.size == 0:
        return None
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi >= max(1024, x.size):
        return None
    xi = x.astype(np.intp)
    if not np.array_equal(xi, x):
        return None
    return xi


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



def gg_order_value_posterior(
    params: Iterable[float], frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distribution of the value of a customer's future purchases given the history.

    Each future purchase is worth ``Gamma(shape=p, rate=nu)``; given ``x`` repeat purchases
    of mean value ``m`` the customer's ``nu`` is ``Gamma(shape=q + p x, rate=v + x m)``
    (conjugacy; Hardie note 025, eq. (5) is the mean ``p (v + x m) / (p x + q - 1)``).
    Customers with ``x = 0`` or ``m <= 0`` (no usable spend history) get the prior
    ``Gamma(q, v)``, as :func:`gg_expected_spend` gives them the population mean. The sum
    of ``n`` future purchases is then ``(v + x m) G / H`` with ``G ~ Gamma(n p)`` and
    ``H ~ Gamma(q + p x)`` independent: a scaled beta-prime variable.

    Parameters
    ----------
    params : sequence of float
        ``(p, q, v)``.
    frequency, monetary_value : array-like of shape (n,)
        Repeat purchases and their mean value.

    Returns
    -------
    shape : ndarray of shape (n,)
        ``p`` (shape of the value of one purchase).
    posterior_shape : ndarray of shape (n,)
        ``q + p x`` (0 replaced for customers without spend history).
    posterior_rate : ndarray of shape (n,)
        ``v + x m``, in currency units.
    """
    p, q, v = (float(t) for t in params)
    x, m = _gg_arrays(frequency, monetary_value)
    x_eff = np.where((x > 0) & (m > 0), x, 0.0)
    xm = np.where(x_eff > 0, x_eff * m, 0.0)
    return np.full(x.shape, p), q + p * x_eff, v + xm
