"""Registry of clvlab's models: short name -> model class.

The CLI (``--purchase-model pnbd``), persistence (the ``"model"`` field of a saved file)
and the contract test read this table; nothing else names model classes. Adding a model
is one module plus one line in :data:`_ENTRIES`. Classes are imported on first use, so
importing the registry imports no model code (and no cycle with persistence).
"""

from __future__ import annotations

import importlib
from typing import Any

from clvlab.models.contract import Role

__all__ = ["MODELS", "get_model_class", "model_key", "registered", "class_by_name"]

#: key -> (role, "module:Class")
_ENTRIES: dict[str, tuple[Role, str]] = {
    "bgnbd": ("purchase", "clvlab.models.beta_geo:BetaGeoFitter"),
    "pnbd": ("purchase", "clvlab.models.pareto_nbd:ParetoNBDFitter"),
    "mbgnbd": ("purchase", "clvlab.models.modified_beta_geo:ModifiedBetaGeoFitter"),
    "bgbb": ("purchase", "clvlab.models.beta_geo_beta_binom:BetaGeoBetaBinomFitter"),
    "gg": ("spend", "clvlab.models.gamma_gamma:GammaGammaFitter"),
    "baseline": ("baseline", "clvlab.models.baseline:FormulaCLVBaseline"),
}

#: Read-only view of the registered keys and their roles.
MODELS: dict[str, Role] = {key: role for key, (role, _) in _ENTRIES.items()}


def _load(target: str) -> type[Any]:
    module, _, name = target.partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls  # type: ignore[no-any-return]


def registered(role: Role | None = None) -> list[str]:
    """List the registered model keys, optionally only those of one role, in registry order."""
    return [key for key, (r, _) in _ENTRIES.items() if role is None or r == role]


def get_model_class(key: str) -> type[Any]:
    """Return the model class registered under ``key`` (e.g. ``"pnbd"``).

    Raises
    ------
    ValueError
        Unknown key; the message lists the known ones.
    """
    entry = _ENTRIES.get(key) if isinstance(key, str) else None
    if entry is None:
        raise ValueError(f"unknown model {key!r}; known: {', '.join(_ENTRIES)}.")
    return _load(entry[1])


def model_key(model: Any) -> str:
    """Registry key of a model instance or class (``ValueError`` when unregistered)."""
    cls = model if isinstance(model, type) else type(model)
    for key, (_, target) in _ENTRIES.items():
        module, _, name = target.partition(":")
        if cls.__module__ == module and cls.__name__ == name:
            return key
    raise ValueError(f"{cls.__name__} is not a registered clvlab model.")


def class_by_name(name: str) -> type[Any] | None:
    """Return the registered class whose ``__name__`` is ``name`` (saved files name their class)."""
    for _, target in _ENTRIES.values():
        if target.rpartition(":")[2] == name:
            return _load(target)
    return None
