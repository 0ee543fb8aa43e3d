"""Plain-text tables of the ``spy-flow`` command; the values are formatted by
:func:`spylib.reporting.console.format_value` (numbers to significant figures, missing values as
:data:`~spylib.reporting.console.MISSING`); numeric columns are right-aligned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spylib.reporting.console import (
    METRIC_DIGITS,
    MISSING,
    SQL_DIGITS,
    format_number,
    format_time,
    format_value,
    is_missing,
    is_number,
)

__all__ = [
    "METRIC_DIGITS",
    "MISSING",
    "SQL_DIGITS",
    "format_number",
    "format_time",
    "format_value",
    "is_missing",
    "is_number",
    "render_pairs",
    "render_table",
]


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = METRIC_DIGITS) -> str:
    """An aligned table: a header line, a rule, one line per row. Columns whose values are all numbers
    (or missing) are right-aligned; trailing spaces are stripped."""
    cells = [[format_value(v, digits) for v in row] for row in rows]
    numeric = [
        any(is_number(row[i]) for row in rows)
        and all(is_number(row[i]) or is_missing(row[i]) for row in rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def render_pairs(pairs: Sequence[tuple[str, Any]], indent: str = "  ", digits: int = METRIC_DIGITS) -> str:
    """``name  value`` lines with the values aligned."""
    width = max((len(name) for name, _ in pairs), default=0)
    return "\n".join(
        f"{indent}{name.ljust(width)}  {format_value(value, digits)}".rstrip() for name, value in pairs
    )
