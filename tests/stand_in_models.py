"""Stand-in purchase models for the contract tests: small, exact, and not BG/NBD.

The NBD model (Ehrenberg 1959; Morrison & Schmittlein 1988): while a customer buys, and
customers never leave, purchases follow a Poisson process with rate ``lambda``, and
``lambda ~ Gamma(r, alpha)`` (rate ``alpha``) across customers. With ``x`` repeat
purchases in ``(0, T]``:

- likelihood ``Gamma(r+x)/Gamma(r) alpha^r / (alpha+T)^(r+x)`` (``t_x`` is irrelevant);
- posterior ``lambda | x, T ~ Gamma(r+x, alpha+T)``, so ``E[X(T, T+t] | x, T] = (r+x) t /
  (alpha+T)`` and the count over ``t`` is negative binomial;
- ``P(alive) = 1``.

:class:`BareNBDFitter` implements only the required hooks (no ``_log_pmf_new``, no
``_log_pmf_conditional``, no simulation): the model the downstream code must handle
without crashing. :class:`NBDFitter` adds the two distributions and simulation. Neither is
registered; tests register them with :func:`register` (monkeypatch) when persistence or
the CLI must find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from scipy import special, stats

from clvlab.models.contract import Heterogeneity
from clvlab.models.purchase import PurchaseFitter


def _nb_log_pmf(r: np.ndarray, alpha: np.ndarray, n: np.ndarray, t: np.ndarray) -> np.ndarray:
    """log P(N = n) for N ~ NB with Gamma(r, alpha) mixing over an interval of length t."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (special.gammaln(r + n) - special.gammaln(r) - special.gammaln(n + 1)
               + r * (np.log(alpha) - np.log(alpha + t))
               + special.xlogy(n, t) - n * np.log(alpha + t))
    return np.where((t == 0) & (n == 0), 0.0, np.where(t == 0, -np.inf, out))


class _NBDCore(PurchaseFitter):
    _param_names: ClassVar[tuple[str, ...]] = ("r", "alpha")
    _model_name: ClassVar[str] = "NBD"
    _long_name: ClassVar[str] = "negative binomial distribution model (no dropout)"
    _story: ClassVar[str] = (
        "Customers never leave: each buys at a steady rate of their own for ever, and "
        "rates vary across customers as a gamma distribution."
    )
    _glossary: ClassVar[dict[str, str]] = {
        "r": "shape of the purchase-rate distribution",
        "alpha": "rate of the purchase-rate distribution (in time units; mean rate r/alpha)",
    }
    _references: ClassVar[tuple[str, ...]] = (
        "Ehrenberg, A. S. C. (1959). The pattern of consumer purchases. Applied "
        "Statistics, 8(1), 26-41.",
    )

    def _loglik(self, params: np.ndarray, data: Sequence[np.ndarray]) -> np.ndarray:
        x, _, T = data
        r, alpha = params
        return (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
                - (r + x) * np.log(alpha + T))

    def _initial_params(self, data: Sequence[np.ndarray], weights: np.ndarray) -> list[np.ndarray]:
        x, _, T = data
        rate = float(weights @ x) / max(float(weights @ T), 1e-12)
        return [np.array([1.0, 1.0 / max(rate, 1e-6)])]

    def _p_alive(self, params, x, tx, T):  # noqa: D102
        return np.ones(np.broadcast_shapes(np.shape(x), np.shape(tx), np.shape(T)))

    def _expected(self, params, t, x, tx, T):  # noqa: D102
        r, alpha = params
        return (r + x) * t / (alpha + T)

    def _expected_new(self, params, t):  # noqa: D102
        r, alpha = params
        return r * np.asarray(t, dtype=float) / alpha

    def _heterogeneity(self) -> tuple[Heterogeneity, ...]:
        r, alpha = self._params_array()
        return (Heterogeneity(
            "purchase rate", "λ", stats.gamma(r, scale=1.0 / alpha),
            "Gamma(r, α): purchases per time unit, for ever", unit="per time unit",
        ),)


class BareNBDFitter(_NBDCore):
    """NBD with only the required hooks: no count distributions, no simulation."""

    _model_name: ClassVar[str] = "NBD (bare)"


class NBDFitter(_NBDCore):
    """NBD with every optional hook but the closed-form DERT."""

    def _log_pmf_new(self, params, n, t):  # noqa: D102
        r, alpha = params
        return _nb_log_pmf(r, alpha, n, t)

    def _log_pmf_conditional(self, params, n, t, x, tx, T):  # noqa: D102
        r, alpha = params
        return _nb_log_pmf(r + x, alpha + T, n, t)

    def _draw_purchase_times(self, params, T, rng):  # noqa: D102
        r, alpha = params
        lam = rng.gamma(r, 1.0 / alpha, size=T.shape[0])
        counts = rng.poisson(lam * T)
        ages = rng.uniform(0.0, np.repeat(T, counts))
        order = np.lexsort((ages, np.repeat(np.arange(T.shape[0]), counts)))
        return counts, ages[order]


def register(monkeypatch, key: str, cls: type) -> None:
    """Register a stand-in class under ``key`` (for this test only)."""
    from clvlab.models import registry

    target = f"{cls.__module__}:{cls.__name__}"
    monkeypatch.setitem(registry._ENTRIES, key, ("purchase", target))
    monkeypatch.setitem(registry.MODELS, key, "purchase")
