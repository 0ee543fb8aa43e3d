"""Plain-text output of the ``spy-flow`` command: formatted values and aligned tables.

Numbers get a fixed number of significant figures (``0.07746469818111738`` -> ``0.07746``), missing
values (None, NaN, NaT, "") print as :data:`MISSING`, numeric columns are right-aligned.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

MISSING = "–"
METRIC_DIGITS = 4
SQL_DIGITS = 6
NESTED_WIDTH = 80


def is_missing(value: Any) -> bool:
    """None, NaN, NaT, pandas' NA and the empty string."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    if isinstance(value, Real) and not isinstance(value, Integral):
        return math.isnan(float(value))
    # pandas.NaT and pandas.NA, without importing pandas
    return type(value).__name__ in ("NaTType", "NAType")


def is_number(value: Any) -> bool:
    """A real number that is not a bool (bools print as words)."""
    return isinstance(value, Real) and not isinstance(value, bool)


def format_number(value: float, digits: int = METRIC_DIGITS) -> str:
    """``digits`` significant figures: ``0.07746``, ``1.234``, ``1235``, ``1.2e-05``; integers as is."""
    if isinstance(value, Integral):
        return str(int(value))
    number = float(value)
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if number.is_integer() and abs(number) < 10**digits:
        return str(int(number))
    return f"{number:.{digits}g}"


def format_time(value: Any, *, seconds: bool = False) -> str:
    """An ISO-8601 string or a datetime as ``2024-05-01 12:34`` (UTC when the zone is known)."""
    if is_missing(value):
        return MISSING
    moment = value
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return value
    if not isinstance(moment, dt.datetime):
        return str(value)
    zone = ""
    if moment.tzinfo is not None:
        moment, zone = moment.astimezone(dt.UTC), " UTC"
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + zone


def format_value(value: Any, digits: int = METRIC_DIGITS) -> str:
    """Any cell: numbers to ``digits`` significant figures, dates in ISO form, nested values as compact
    JSON (cut at :data:`NESTED_WIDTH`), missing values as :data:`MISSING`."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return format_number(value, digits)
    if isinstance(value, dt.datetime):
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, default=str, separators=(", ", ": "))
        return text if len(text) <= NESTED_WIDTH else text[: NESTED_WIDTH - 3] + "..."
    return str(value)


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
