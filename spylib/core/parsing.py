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


def require_nonempty_list(value: Any, source: str, key: str, of_what: str) -> list[Any]:
    """``value`` if it is a non-empty JSON array, else "expected a non-empty list of ``of_what``"."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"expected a non-empty list of {of_what}", source=source, key=key)
    return value


def reject_repeats(values: Sequence[Any], source: str, key: str, *, as_sets: bool = False) -> None:
    """A grid list that names a value twice would fit (or apply) it twice and count it as two trials
    (``as_sets``: the values are lists whose order does not matter, the trade filters)."""
    seen: list[Any] = []
    for value in values:
        canonical = sorted(value) if as_sets else value
        if canonical in seen:
            raise ConfigError(
                f"{value!r} is given twice: each value is one trial, list it once", source=source, key=key
            )
        seen.append(canonical)
