"""prices: see spylib.data.sources."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from spylib.core.config import DEFAULT_DATA_CHECKS, DataChecks
from spylib.core.errors import DataValidationError
from spylib.core.schema import PRICE_COLUMNS, PRICES_SCHEMA
from spylib.data.price_files import (
    DATE_FORMATS,
)

log = logging.getLogger(__name__)


PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")


@dataclass(frozen=True)
class PriceData:
    """One symbol's validated prices and where they came from."""

    symbol: str
    frame: pd.DataFrame  # columns PRICE_COLUMNS, sorted by date, RangeIndex
    source: str
    layout: str
    description: str
    fingerprint: str
    # The physical line (or Parquet row) of every row of ``frame``; None when there is no file.
    lines: np.ndarray | None = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------------------------------------
# normalizing and validating
# ---------------------------------------------------------------------------------------------
# An ISO date cell: a date, a date-time, or a date-time with an offset (yfinance writes
# "2024-01-02 00:00:00-05:00"); nothing else after the date ("2012-12-05xyz" is refused, not cut).
_ISO_DATE_CELL = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_ISO_EXPECTED = "%Y-%m-%d, a date-time or a date-time with an offset"


def _parse_dates(values: pd.Series, fmt: str, lines: pd.Series, source: str) -> pd.Series:
    text = values.astype(str).str.strip()
    shape_ok = pd.Series(True, index=text.index)
    if fmt == "%Y-%m-%d":
        # The calendar date is the first 10 characters, once the cell is one of the accepted shapes.
        shape_ok = text.str.match(_ISO_DATE_CELL)
        text = text.str.slice(0, 10)
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = parsed.isna() | ~shape_ok.astype(bool)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        expected = _ISO_EXPECTED if fmt == "%Y-%m-%d" else fmt
        raise DataValidationError(
            f"unparsable date {values.iloc[i]!r} (expected {expected})",
            source=source,
            row=int(lines.iloc[i]),
            column="date",
        )
    return parsed


def _parse_numbers(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = frame[column]
    numbers = pd.to_numeric(values, errors="coerce")
    nonnumeric = numbers.isna() & values.astype(str).str.strip().ne("") & ~values.isna()
    nonnumeric &= ~values.astype(str).str.strip().str.lower().isin(["nan", "null", "none", "na"])
    if nonnumeric.any():
        i = int(np.flatnonzero(nonnumeric.to_numpy())[0])
        raise DataValidationError(
            f"not a number: {values.iloc[i]!r}",
            source=source,
            row=int(frame["_line"].iloc[i]),
            date=str(frame["date"].iloc[i].date()),
            column=column,
        )
    return numbers.astype("float64")


def _first_violation(mask: pd.Series | np.ndarray) -> int | None:
    hits = np.flatnonzero(np.asarray(mask))
    return int(hits[0]) if hits.size else None


def _fail_at(frame: pd.DataFrame, i: int, problem: str, column: str, source: str) -> DataValidationError:
    return DataValidationError(
        problem,
        source=source,
        row=int(frame["_line"].iloc[i]),
        date=str(frame["date"].iloc[i].date()),
        column=column,
    )


def _check_finite_and_sane(frame: pd.DataFrame, raw: pd.DataFrame, source: str, checks: DataChecks) -> None:
    """Every number finite (``inf``, ``1e400``...) and within the absurdity bounds of ``checks``."""
    for column in (*PRICE_FIELDS, "volume"):
        values = frame[column].to_numpy()
        bad = _first_violation(np.isinf(values))
        if bad is not None:
            shown = raw[column].iloc[bad] if column in raw.columns else values[bad]
            raise _fail_at(frame, bad, f"not a finite number: {shown!r}", column, source)
    for column, limit, key in (
        *((c, checks.max_price, "max_price") for c in PRICE_FIELDS),
        ("volume", checks.max_volume, "max_volume"),
    ):
        bad = _first_violation(frame[column].to_numpy() > limit)
        if bad is not None:
            raise _fail_at(
                frame,
                bad,
                f"absurd value {frame[column].iloc[bad]:g} (above {limit:g}: data_checks.{key})",
                column,
                source,
            )


def _check_dates(frame: pd.DataFrame, today: date, source: str) -> None:
    """No parsed date after ``today``, none given twice."""
    future = _first_violation(frame["date"].dt.date > today)
    if future is not None:
        raise _fail_at(frame, future, f"date is in the future (today is {today})", "date", source)
    dup = _first_violation(frame["date"].duplicated(keep="first"))
    if dup is not None:
        first = int(frame["_line"].iloc[int(np.flatnonzero(frame["date"] == frame["date"].iloc[dup])[0])])
        raise _fail_at(frame, dup, f"duplicate date (first seen on line {first})", "date", source)


def _check_bars(frame: pd.DataFrame, source: str) -> None:
    """Every bar whole and consistent: no NaN, prices positive, high >= low, close and open within
    [low, high] (up to rounding), volume >= 0."""
    for column in (*PRICE_FIELDS, "volume"):
        nan = _first_violation(frame[column].isna())
        if nan is not None:
            raise _fail_at(frame, nan, "missing value (NaN or empty)", column, source)
    for column in PRICE_FIELDS:
        bad = _first_violation(frame[column] <= 0)
        if bad is not None:
            raise _fail_at(
                frame, bad, f"price must be positive, got {frame[column].iloc[bad]}", column, source
            )
    bad = _first_violation(frame["high"] < frame["low"])
    if bad is not None:
        raise _fail_at(
            frame,
            bad,
            f"high {frame['high'].iloc[bad]} is below low {frame['low'].iloc[bad]}",
            "high",
            source,
        )
    # A relative tolerance: vendors round high/low and close independently to a few decimals.
    tol = 1e-6 * frame["close"].abs()
    for column in ("close", "open"):
        outside = (frame[column] < frame["low"] - tol) | (frame[column] > frame["high"] + tol)
        bad = _first_violation(outside)
        if bad is not None:
            raise _fail_at(
                frame,
                bad,
                f"{column} {frame[column].iloc[bad]} is outside [low, high] = "
                f"[{frame['low'].iloc[bad]}, {frame['high'].iloc[bad]}]",
                column,
                source,
            )
    bad = _first_violation(frame["volume"] < 0)
    if bad is not None:
        raise _fail_at(frame, bad, f"volume must be >= 0, got {frame['volume'].iloc[bad]}", "volume", source)


def _sorted_without_gaps(frame: pd.DataFrame, source: str, checks: DataChecks) -> pd.DataFrame:
    """``frame`` sorted by date (with a log line if it was not), after checking no calendar hole is
    longer than ``checks.max_gap_days``."""
    if not frame["date"].is_monotonic_increasing:
        log.warning("%s: dates were out of order; sorted them by date", source)
        frame = frame.sort_values("date", kind="stable").reset_index(drop=True)
    gaps = frame["date"].diff().dt.days
    bad = _first_violation(gaps > checks.max_gap_days)
    if bad is not None:
        raise _fail_at(
            frame,
            bad,
            f"a gap of {int(gaps.iloc[bad])} calendar days since {frame['date'].iloc[bad - 1].date()} "
            f"(more than {checks.max_gap_days}): missing data",
            "date",
            source,
        )
    return frame


def _normalize(
    raw: pd.DataFrame,
    layout: str,
    symbol: str,
    source: str,
    *,
    today: date | None,
    checks: DataChecks,
) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`normalize_prices`, and the ``_line`` of every returned row."""
    frame = raw.copy()
    frame["date"] = _parse_dates(frame["date"], DATE_FORMATS[layout], frame["_line"], source)
    _check_dates(frame, today or date.today(), source)
    if "adj_close" not in frame.columns:
        frame["adj_close"] = frame["close"]
    for column in (*PRICE_FIELDS, "volume"):
        frame[column] = _parse_numbers(frame, column, source)
    _check_finite_and_sane(frame, raw, source, checks)
    _check_bars(frame, source)
    frame = _sorted_without_gaps(frame, source, checks)
    frame["symbol"] = symbol
    frame["date"] = frame["date"].dt.date
    lines = frame["_line"].to_numpy(dtype="int64")
    return frame[list(PRICE_COLUMNS)].reset_index(drop=True), lines


def normalize_prices(
    raw: pd.DataFrame,
    layout: str,
    symbol: str,
    source: str,
    *,
    today: date | None = None,
    checks: DataChecks = DEFAULT_DATA_CHECKS,
) -> pd.DataFrame:
    """Turn a layout-named frame (with a ``_line`` column) into validated ``PRICES_SCHEMA`` rows.

    Checks, in order: dates parse, no future dates, no duplicate dates, numbers parse, finite and
    below ``checks.max_price`` / ``checks.max_volume``, no NaN, prices positive, high >= low, close and
    open within [low, high], volume >= 0, no calendar hole longer than ``checks.max_gap_days``. Dates out of order are sorted, with a log line. (The plausibility and
    calendar rules are :func:`spylib.data.validation.check_prices`.)
    """
    return _normalize(raw, layout, symbol, source, today=today, checks=checks)[0]


def prices_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the normalized rows (dates and values at full float precision), layout-independent."""
    table = pa.Table.from_pandas(frame[list(PRICE_COLUMNS)], schema=PRICES_SCHEMA, preserve_index=False)
    digest = hashlib.sha256()
    for column in table.columns:
        for chunk in column.chunks:
            for buf in chunk.buffers():
                if buf is not None:
                    digest.update(buf.to_pybytes())
    return digest.hexdigest()
