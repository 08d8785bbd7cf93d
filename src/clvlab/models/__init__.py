"""Model classes (code). Saved fitted models (artefacts) live in the top-level ``models/`` folder."""

from __future__ import annotations

from clvlab.models.base import BaseFitter, BaseModel

__all__ = ["BaseFitter", "BaseModel"]
