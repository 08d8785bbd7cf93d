"""Save and load fitted models as JSON -- never pickle.

A model file is one JSON object::

    {"format": "clvlab-model", "format_version": 1, "class": "BetaGeoFitter",
     "clvlab_version": "0.1.0", "options": {...}, "time_unit": "W",
     "fit_date": "...", "data_fingerprint": "...", "state": {...}}

``state`` is written by the model's ``_state_dict`` (parameters, variance matrix,
log-likelihood, ...). Loading checks every envelope field and turns any problem into a
:class:`~clvlab.exceptions.ModelFileError` (a ``ValueError``) that says what is wrong.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

from clvlab._time import check_time_unit
from clvlab.exceptions import ModelFileError, ModelWarning

__all__ = ["save_model", "load_model", "model_to_dict", "model_from_dict", "read_model_file"]

FORMAT_NAME = "clvlab-model"
FORMAT_VERSION = 1


def _version() -> str:
    from clvlab import __version__

    return __version__


def _jsonable(value: Any) -> Any:
    """Replace non-finite floats by None so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return _jsonable(value.item())
    return value


def _model_key(model: Any) -> str | None:
    from clvlab.models.registry import model_key

    try:
        return model_key(model)
    except ValueError:
        return None


def model_to_dict(model: Any) -> dict[str, Any]:
    """Envelope + state of a fitted model as a JSON-compatible dict."""
    model._check_is_fitted()
    return _jsonable(
        {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "class": type(model).__name__,
            "model": _model_key(model),
            "clvlab_version": _version(),
            "options": model.get_params(),
            "time_unit": getattr(model, "time_unit_", None),
            "fit_date": getattr(model, "fit_date_", None),
            "data_fingerprint": getattr(model, "data_fingerprint_", None),
            # what the model was fitted on, when the caller recorded it (clvlab run / fit):
            # {"period": "calibration" | "full", "start", "end", "source", "customers"}
            "training_period": getattr(model, "training_period_", None),
            "state": model._state_dict(),
        }
    )


def _version_tuple(version: Any) -> tuple[int, ...]:
    """Numeric release parts of a version string ("0.1.0" -> (0, 1, 0)); () if unreadable."""
    if not isinstance(version, str):
        return ()
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def model_from_dict(payload: Any, source: str = "the model data") -> Any:
    """Rebuild a fitted model from :func:`model_to_dict` output."""
    from clvlab.models.registry import class_by_name, registered

    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"{source} is not a clvlab model file (no '\"format\": \"{FORMAT_NAME}\"' field). "
            "Save models with model.save(path)."
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{source} has model format version {version!r}; this clvlab ({_version()}) reads "
            f"versions 1 to {FORMAT_VERSION}. Upgrade clvlab or refit the model."
        )
    saved_by = payload.get("clvlab_version")
    if _version_tuple(saved_by) > _version_tuple(_version()):
        warnings.warn(
            f"{source} was saved by clvlab {saved_by}, newer than this clvlab ({_version()}). "
            "The file format is readable, but predictions may differ from the newer version's; "
            "upgrade clvlab to be sure.",
            ModelWarning,
            stacklevel=3,
        )
    name = payload.get("class")
    cls = class_by_name(name) if isinstance(name, str) else None
    if cls is None:
        known = ", ".join(registered())
        raise ModelFileError(
            f"{source} holds an unknown model class {name!r}; this clvlab knows the models "
            f"{known}."
        )
    try:
        model = cls(**payload.get("options", {}))
        model._set_state(payload["state"])
        unit = payload.get("time_unit")
        model.time_unit_ = None if unit is None else check_time_unit(unit, "time_unit")
        model.fit_date_ = payload.get("fit_date")
        model.data_fingerprint_ = payload.get("data_fingerprint")
        period = payload.get("training_period")
        if isinstance(period, dict):
            model.training_period_ = {str(k): v for k, v in period.items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(
            f"{source} is a corrupt {name} file ({type(exc).__name__}: {exc}). "
            "Refit and save again."
        ) from None
    return model


def read_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and parse a model file; errors become :class:`ModelFileError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelFileError(f"No model file at {str(p)!r}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"Cannot read model file {str(p)!r}: {exc}.") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            f"Model file {str(p)!r} is not valid JSON ({exc.msg} at line {exc.lineno}); it is "
            "corrupt or not a clvlab model. Refit and save again."
        ) from None
    if not isinstance(payload, dict):
        raise ModelFileError(f"Model file {str(p)!r} does not hold a JSON object.")
    payload["_source"] = str(p)
    return payload


def save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write a fitted model to ``path`` as JSON; creates parent folders; returns the path."""
    p = Path(path)
    text = json.dumps(model_to_dict(model), indent=2, allow_nan=False)
    p.parent.mkdir(parents=True, exist_ok=True)
    # write a sibling temporary file, then rename: a crash never leaves a half-written model
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    return p


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load any clvlab model saved with ``model.save(path)``.

    Parameters
    ----------
    path : str or path-like
        A JSON file written by ``save``.

    Returns
    -------
    BaseModel
        The fitted model (e.g. a :class:`~clvlab.BetaGeoFitter`), with identical predictions.

    Raises
    ------
    ModelFileError
        Missing, unreadable, non-JSON, wrong-format, unknown-class or corrupt files.
    """
    payload = read_model_file(path)
    source = f"Model file {payload.pop('_source')!r}"
    return model_from_dict(payload, source=source)
