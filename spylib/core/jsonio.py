"""Strict JSON for everything spy-flow writes: numpy values unwrapped, NaN and infinities as null.

One conversion for the registry's manifests, the metrics files, the monitoring reports and the
artifacts that are stored as JSON-like dicts, so a value is never ``NaN`` in one file and ``null``
in another.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spylib.core.errors import ConfigError


def to_json_safe(value: Any) -> Any:
    """Plain JSON values, recursively: numpy scalars and arrays as Python, non-finite floats as None."""
    if isinstance(value, Mapping):
        return {str(k): to_json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_float(value: Any) -> float | None:
    """A number as a finite float, or None (missing, NaN or infinite)."""
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def dumps_strict(document: Any, *, indent: int | None = None) -> str:
    """JSON text with sorted keys; anything that is not JSON after :func:`to_json_safe` raises."""
    return json.dumps(to_json_safe(document), indent=indent, sort_keys=True, allow_nan=False)


def dump_json(document: Mapping[str, Any]) -> bytes:
    """Indented strict JSON bytes (UTF-8), the format of every JSON file in the registry."""
    return dumps_strict(document, indent=2).encode("utf-8")


def _unique_keys(source: str) -> Any:
    """An ``object_pairs_hook`` that refuses a key given twice in one object (``json`` keeps the last
    silently, so ``"thresholds": [0.5]`` then ``"thresholds": [0.9]`` would run with 0.9 unsaid)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for key, value in pairs:
            if key in document:
                raise ConfigError(
                    "given twice in the same object (JSON would keep the last one silently): keep one",
                    source=source,
                    key=key,
                )
            document[key] = value
        return document

    return hook


def loads_config(text: str, source: str) -> Any:
    """Parse a config file's JSON text: a syntax error (with its line and column) or a repeated key is a
    :class:`~spylib.core.errors.ConfigError` of one line naming ``source``."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys(source))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", source=source
        ) from None
