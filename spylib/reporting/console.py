"""Values for the command line and the console: :func:`format_value` (numbers to significant figures,
``0.07746469818111738`` -> ``0.07746``, no separators so a value pastes back; dates in ISO form;
nested values as compact JSON) and :data:`MISSING`, the one mark of a missing value in every output
(the cards' :mod:`spylib.reporting.format` uses it too). No numpy or pandas import: the ``spy-flow``
command starts in half a second."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

MISSING = "–"  # an en dash: missing, undefined or infinite
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
