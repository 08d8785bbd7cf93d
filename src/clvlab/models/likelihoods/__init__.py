"""Pure likelihood and prediction functions of clvlab's models (no state).

One module per model (:mod:`.beta_geo`, :mod:`.gamma_gamma`, ...) plus :mod:`._numerics`
(log-space special functions, hypergeometric series, per-frequency lookups). Each function
takes the parameters and per-customer arrays and returns one value per customer, in log
space wherever it matters for stability. The model classes in :mod:`clvlab.models` are
thin wrappers around these.
"""

from __future__ import annotations

from clvlab.models.likelihoods.beta_geo import (
    BGNBD_PARAM_NAMES,
    bgnbd_expected_purchases,
    bgnbd_expected_purchases_new_customer,
    bgnbd_log_conditional_probability_of_purchases,
    bgnbd_log_likelihood,
    bgnbd_log_likelihood_grad,
    bgnbd_log_probability_of_purchases,
    bgnbd_probability_alive,
)
from clvlab.models.likelihoods.gamma_gamma import (
    gg_expected_spend,
    gg_loglik,
    gg_loglik_and_grad,
    gg_population_mean_spend,
    gg_total_loglik_and_grad,
)

__all__ = [
    "BGNBD_PARAM_NAMES",
    "bgnbd_expected_purchases",
    "bgnbd_expected_purchases_new_customer",
    "bgnbd_log_conditional_probability_of_purchases",
    "bgnbd_log_likelihood",
    "bgnbd_log_likelihood_grad",
    "bgnbd_log_probability_of_purchases",
    "bgnbd_probability_alive",
    "gg_expected_spend",
    "gg_loglik",
    "gg_loglik_and_grad",
    "gg_population_mean_spend",
    "gg_total_loglik_and_grad",
]
