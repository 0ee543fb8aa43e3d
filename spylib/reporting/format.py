"""Numbers for the cards (the evaluation card, the monitoring card): :func:`fmt`, :func:`pct`,
:func:`count`, :func:`plain` (3 significant figures, thousands separators) and display tables of
strings. The command line's values are :mod:`spylib.reporting.console`'s (4 significant figures,
pasteable); both print a missing, undefined or infinite value as the one :data:`MISSING`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from spylib.reporting.console import MISSING

__all__ = ["MISSING", "count", "display_table", "fmt", "pct", "plain", "plain_text"]


# --- numbers --------------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 3) -> str:
    """A number for a person.

    Integers (counts) with thousands separators; other numbers to ``digits`` significant figures in
    fixed notation (``0``, ``0.0589``, ``0.645``, ``3.26``, ``25.8``, ``283``), from 1,000 on as whole numbers
    with separators (``7,455``), in scientific notation below 1e-4 or from 1e6 on (``5.27e-05``,
    ``1.23e+06``; integers too, so no number shows more than 6 digits); missing, NaN and infinite
    values as an en dash; booleans as yes/no; strings unchanged; dates as ISO dates.
    """
    if value is None or isinstance(value, str):
        return MISSING if value is None else value
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if np.ndim(value) == 0 and bool(pd.isna(value)):
        return MISSING
    if isinstance(value, datetime):
        midnight = value.hour == value.minute == value.second == 0
        return value.date().isoformat() if midnight else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | np.integer) and abs(int(value)) < 1_000_000:
        return f"{int(value):,}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return MISSING
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1e6 or a < 1e-4:
        return f"{x:.{max(digits - 1, 0)}e}"
    if a >= 1000:
        return f"{x:,.0f}"
    decimals = max(digits - 1 - math.floor(math.log10(a)), 0)
    return f"{x:.{decimals}f}"


def pct(value: Any, digits: int = 3) -> str:
    """A fraction as a percentage to ``digits`` significant figures (``-0.343`` -> ``-34.3%``)."""
    text = fmt(None if value is None else 100 * float(value), digits)
    return text if text == MISSING else f"{text}%"


def count(value: Any) -> str:
    """A count: a whole number with separators (``283.0`` -> ``283``), "–" when missing."""
    if value is None or (np.ndim(value) == 0 and bool(pd.isna(value))):
        return MISSING
    x = float(value)
    return fmt(round(x)) if math.isfinite(x) else MISSING


def plain(value: Any) -> str:
    """A parameter as it was set (``0.55`` stays ``0.55``, not ``0.550``)."""
    if isinstance(value, float | np.floating) and math.isfinite(value):
        return f"{float(value):g}"
    return fmt(value)


def display_table(
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    *,
    integers: Iterable[str] = (),
    percent: Iterable[str] = (),
    parameters: Iterable[str] = (),
) -> pd.DataFrame:
    """``frame``'s ``columns`` (name -> header), every row, as display strings (no index).

    ``integers`` are counts (:func:`count`), ``percent`` fractions shown as percentages (:func:`pct`),
    ``parameters`` settings shown as given (:func:`plain`); every other column through :func:`fmt`.
    """
    kinds = {**{c: count for c in integers}, **{c: pct for c in percent}, **{c: plain for c in parameters}}
    out = pd.DataFrame(index=range(len(frame)))
    for column, header in columns.items():
        show = kinds.get(column, fmt)
        out[header] = [show(v) for v in frame[column].tolist()]
    return out


def plain_text(markdown: str) -> str:
    """A Markdown line for the console: no emphasis markers or code quotes."""
    return markdown.replace("**", "").replace("`", "")
