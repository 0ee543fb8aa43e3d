"""The small checks every JSON config parser shares: unknown keys, JSON integers and numbers, objects."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from spylib.core.errors import ConfigError


def reject_unknown(raw: Mapping[str, Any], allowed: Sequence[str], source: str, prefix: str = "") -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                f"unknown key (allowed: {', '.join(sorted(allowed))})", source=source, key=f"{prefix}{key}"
            )


def is_int(value: Any) -> bool:
    """A JSON integer (``true``/``false`` are not numbers here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite JSON number (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def require_mapping(value: Any, source: str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected an object, got {type(value).__name__}", source=source, key=key)
    return value
