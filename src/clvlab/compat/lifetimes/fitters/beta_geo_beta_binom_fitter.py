"""lifetimes' ``BetaGeoBetaBinomFitter`` (BG/BB): not available yet."""

from __future__ import annotations

from typing import Any

__all__ = ["BetaGeoBetaBinomFitter"]


class BetaGeoBetaBinomFitter:
    """BG/BB model for discrete purchase opportunities: not available yet.

    clvlab has no BG/BB model yet (it is planned with the discrete-time models); this
    placeholder exists so that code importing it fails with an explanation when it is
    used, not with an ``ImportError``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            "clvlab.compat.lifetimes.BetaGeoBetaBinomFitter is not available: clvlab has no "
            "BG/BB (discrete-time) model yet. Keep lifetimes for BG/BB until it lands."
        )
