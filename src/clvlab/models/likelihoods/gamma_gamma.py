"""Gamma-Gamma spend model: pure log-likelihood, gradient and predictors."""

from __future__ import annotations

from collections.abc import Iterable

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
