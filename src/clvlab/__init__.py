"""clvlab: probabilistic customer-lifetime value, from a transaction log to a report.

The public names below are imported lazily (PEP 562), so ``import clvlab`` is cheap and has
no side effects; ``clvlab.BetaGeoFitter`` loads its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # data
    "load_transactions": "clvlab.io",
    "rfm_summary": "clvlab.rfm",
    "calibration_holdout": "clvlab.rfm",
    "validate_rfm": "clvlab.validation",
    "simulate_transactions": "clvlab.simulate",
    # models
    "BetaGeoFitter": "clvlab.models.beta_geo",
    "ParetoNBDFitter": "clvlab.models.pareto_nbd",
    "GammaGammaFitter": "clvlab.models.gamma_gamma",
    "ModifiedBetaGeoFitter": "clvlab.models.modified_beta_geo",
    "BetaGeoBetaBinomFitter": "clvlab.models.beta_geo_beta_binom",
    "FormulaCLVBaseline": "clvlab.models.baseline",
    "formula_clv": "clvlab.models.baseline",
    "load_model": "clvlab.persistence",
    # value
    "customer_lifetime_value": "clvlab.clv",
    "historical_clv": "clvlab.clv",
    "acquisition_cost_ceiling": "clvlab.clv",
    "per_period_rate": "clvlab.clv",
    "score_customers": "clvlab.scoring",
    "predict_intervals": "clvlab.intervals",
    "forecast_intervals": "clvlab.intervals",
    "PredictionIntervals": "clvlab.intervals",
    "assign_segments": "clvlab.scoring",
    # evaluation
    "evaluate": "clvlab.evaluation",
    "Evaluation": "clvlab.evaluation",
    "compare_models": "clvlab.comparison",
    "ModelComparison": "clvlab.comparison",
}

_SUBMODULES = {
    "datasets",
    "exceptions",
    "plotting",
    "reporting",
    "export",
    "evaluation",
    "models",
    "clv",
    "comparison",
    "io",
    "rfm",
    "simulate",
    "scoring",
    "intervals",
    "persistence",
    "validation",
}

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"clvlab.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'clvlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from clvlab import datasets, exceptions  # noqa: F401
    from clvlab.clv import (  # noqa: F401
        acquisition_cost_ceiling,
        customer_lifetime_value,
        historical_clv,
        per_period_rate,
    )
    from clvlab.comparison import ModelComparison, compare_models  # noqa: F401
    from clvlab.evaluation import Evaluation, evaluate  # noqa: F401
    from clvlab.intervals import (  # noqa: F401
        PredictionIntervals,
        forecast_intervals,
        predict_intervals,
    )
    from clvlab.io import load_transactions  # noqa: F401
    from clvlab.models.baseline import FormulaCLVBaseline, formula_clv  # noqa: F401
    from clvlab.models.beta_geo import BetaGeoFitter  # noqa: F401
    from clvlab.models.beta_geo_beta_binom import BetaGeoBetaBinomFitter  # noqa: F401
    from clvlab.models.gamma_gamma import GammaGammaFitter  # noqa: F401
    from clvlab.models.modified_beta_geo import ModifiedBetaGeoFitter  # noqa: F401
    from clvlab.models.pareto_nbd import ParetoNBDFitter  # noqa: F401
    from clvlab.persistence import load_model  # noqa: F401
    from clvlab.rfm import calibration_holdout, rfm_summary  # noqa: F401
    from clvlab.scoring import assign_segments, score_customers  # noqa: F401
    from clvlab.simulate import simulate_transactions  # noqa: F401
    from clvlab.validation import validate_rfm  # noqa: F401
