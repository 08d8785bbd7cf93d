"""lifetimes 0.11.3's public API, backed by clvlab's models: migrate with one import.

Replace ``import lifetimes`` / ``from lifetimes import ...`` by
``from clvlab.compat import lifetimes`` / ``from clvlab.compat.lifetimes import ...``:
the fitters, ``utils``, ``plotting`` and ``datasets`` keep lifetimes' names, arguments,
defaults and return types, while estimation and predictions are clvlab's (finite where
lifetimes overflowed, JSON files instead of dill, works with pandas 3). The differences
that remain are deliberate and listed in ``docs/migrating-from-lifetimes.md``.

lifetimes itself is never imported.
"""

from __future__ import annotations

import importlib
from typing import Any

from clvlab import __version__
from clvlab.compat.lifetimes import datasets, utils
from clvlab.compat.lifetimes._checks import LifetimesCompatWarning
from clvlab.compat.lifetimes.fitters import BaseFitter
from clvlab.compat.lifetimes.fitters.beta_geo_beta_binom_fitter import BetaGeoBetaBinomFitter
from clvlab.compat.lifetimes.fitters.beta_geo_fitter import BetaGeoFitter
from clvlab.compat.lifetimes.fitters.gamma_gamma_fitter import GammaGammaFitter
from clvlab.compat.lifetimes.fitters.modified_beta_geo_fitter import ModifiedBetaGeoFitter
from clvlab.compat.lifetimes.fitters.pareto_nbd_fitter import ParetoNBDFitter

#: The lifetimes release whose API this package mirrors.
LIFETIMES_VERSION = "0.11.3"

__all__ = (
    "__version__",
    "BetaGeoFitter",
    "ParetoNBDFitter",
    "GammaGammaFitter",
    "ModifiedBetaGeoFitter",
    "BetaGeoBetaBinomFitter",
    "BaseFitter",
    "LifetimesCompatWarning",
    "LIFETIMES_VERSION",
    "datasets",
    "utils",
    "plotting",
)


def __getattr__(name: str) -> Any:
    if name == "plotting":  # imports matplotlib: only on use
        module = importlib.import_module("clvlab.compat.lifetimes.plotting")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'clvlab.compat.lifetimes' has no attribute {name!r}")
