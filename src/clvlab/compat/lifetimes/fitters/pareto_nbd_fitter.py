"""lifetimes' ``ParetoNBDFitter`` (Pareto/NBD), backed by clvlab's Pareto/NBD model."""

from __future__ import annotations

from typing import Any, ClassVar

from clvlab.compat.lifetimes.fitters._purchase import (
    ConditionalPmfMixin,
    LifetimesModel,
    PurchaseFitter,
)

__all__ = ["ParetoNBDFitter"]


class ParetoNBDFitter(ConditionalPmfMixin, PurchaseFitter):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987) with lifetimes' API.

    Backed by clvlab's Pareto/NBD model (registry key ``"pnbd"``); until that model is in
    clvlab, creating this class raises ``NotImplementedError``. As in lifetimes it has
    ``conditional_probability_of_n_purchases_up_to_time(n, t, frequency, recency, T)`` and
    no ``probability_of_n_purchases_up_to_time``; ``conditional_probability_alive``
    follows the shape of its input. Unlike lifetimes, ``summary`` and standard errors are
    available.

    Parameters
    ----------
    penalizer_coef : float, default=0.0
        L2 penalty with lifetimes' scaling.
    """

    _model: ClassVar[LifetimesModel] = LifetimesModel(
        key="pnbd",
        name="Pareto/NBD",
        params=("r", "alpha", "s", "beta"),
        time_params=("alpha", "beta"),
        p_alive_at_least_1d=False,
        zero_frequency_note="Pareto/NBD's formulas use the recency given, as lifetimes' did",
    )

    def fit(  # type: ignore[override]
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        weights: Any = None,
        iterative_fitting: int = 1,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-4,
        index: Any = None,
        fit_method: str = "Nelder-Mead",
        maxiter: int = 2000,
        **kwargs: Any,
    ) -> Any:
        """Fit the model by maximum likelihood (clvlab's optimiser).

        Arguments as :meth:`BetaGeoFitter.fit <clvlab.compat.lifetimes.BetaGeoFitter.fit>`;
        ``iterative_fitting``, ``fit_method``, ``maxiter`` and ``tol`` are accepted for
        compatibility and not used (clvlab's optimiser starts from several points itself
        and uses its analytic or numeric gradient, not Nelder-Mead).

        Returns
        -------
        self
        """
        if iterative_fitting <= 0:
            raise ValueError("iterative_fitting must be > 0 (as in lifetimes).")
        if iterative_fitting > 1 and initial_params is not None:
            raise ValueError("iterative_fitting and initial_params cannot both be set (as in "
                             "lifetimes).")
        return self._fit(frequency, recency, T, weights, initial_params, verbose, index)
