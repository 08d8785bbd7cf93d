"""Model classes (code).

Saved fitted models (artefacts, JSON) live in the repository's top-level ``models/`` folder.
"""

from __future__ import annotations

from clvlab.models.base import BaseFitter, BaseModel
from clvlab.models.baseline import FormulaCLVBaseline, formula_clv
from clvlab.models.beta_geo import BetaGeoFitter
from clvlab.models.gamma_gamma import GammaGammaFitter
from clvlab.models.modified_beta_geo import ModifiedBetaGeoFitter
from clvlab.models.pareto_nbd import ParetoNBDFitter

__all__ = [
    "BaseFitter",
    "BaseModel",
    "BetaGeoFitter",
    "FormulaCLVBaseline",
    "GammaGammaFitter",
    "ParetoNBDFitter",
    "ModifiedBetaGeoFitter",
    "formula_clv",
]
