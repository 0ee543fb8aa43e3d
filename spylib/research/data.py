"""Ingest: load daily OHLCV from the embedded data set, CSV or Parquet files (local or ``s3://``),
normalize them into ``PRICES_SCHEMA`` and validate them before any work is done.

Three file layouts are recognised from the header alone:

* ``yahoo``    -- ``Date,Open,High,Low,Close,Adj Close,Volume`` (Yahoo Finance download);
* ``yfinance`` -- ``Date,Close,High,Low,Open,Volume`` (newer yfinance, prices already adjusted);
* ``seed``     -- ``date,open,high,low,close,volume`` with ``M/D/YYYY`` dates (the seed project's).

Every problem raises :class:`~spylib.core.errors.DataValidationError` naming the source, the line (the
file's physical line, 1-based; blank lines and newlines inside quoted fields count) or date, and the
column. Reading (templates, symbols, bytes, CSV and Parquet frames) is :mod:`spylib.research.price_files`;
the plausibility and calendar rules (one-day moves, weekends, bar frequency, zero volume, the aligned
calendar), with their thresholds in a :class:`~spylib.core.config.DataChecks`, are
:mod:`spylib.research.validation`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from spylib.core.config import DEFAULT_DATA_CHECKS, DataChecks
from spylib.core.errors import DataValidationError
from spylib.core.schema import PRICE_COLUMNS, PRICES_SCHEMA
from spylib.research import validation
from spylib.research.price_files import (  # re-exported: the names callers know from this module
    DATE_FORMATS,
    EMBEDDED,
    LAYOUTS,
    LIVE_SOURCE,
    check_source_file,
    check_source_template,
    detect_layout,
    read_csv_frame,
    read_parquet_frame,
    read_source_bytes,
    resolve_source,
)

__all__ = [
    "DATE_FORMATS",
    "EMBEDDED",
    "LAYOUTS",
    "LIVE_SOURCE",
    "MarketData",
    "PriceData",
    "align_symbols",
    "check_source_file",
    "check_source_template",
    "data_note",
    "detect_layout",
    "ingest",
    "load_embedded",
    "load_price_file",
    "load_prices",
    "normalize_prices",
    "prices_fingerprint",
    "read_source_bytes",
    "require_history",
    "resolve_source",
]

log = logging.getLogger(__name__)

# The arch package ships real daily OHLCV of two indices, used as offline stand-ins for the ETFs.
EMBEDDED_STAND_INS: dict[str, tuple[str, str]] = {
    "SPY": (
        "arch.data.sp500",
        "S&P 500 index (^GSPC), daily 1999-01-04 to 2018-12-31, from the arch package",
    ),
    "QQQ": (
        "arch.data.nasdaq",
        "NASDAQ Composite index (^IXIC), daily 1999-01-04 to 2018-12-31, from the arch package",
    ),
}

PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")
# A hole in the calendar longer than this (calendar days) is a data problem, not a holiday:
# the longest US market closure since 1999 was 4 sessions (after 2001-09-11).
DEFAULT_MAX_GAP_DAYS = DEFAULT_DATA_CHECKS.max_gap_days


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
def _parse_dates(values: pd.Series, fmt: str, lines: pd.Series, source: str) -> pd.Series:
    text = values.astype(str).str.strip()
    if fmt == "%Y-%m-%d":
        # yfinance writes "2024-01-02 00:00:00-05:00": the calendar date is the first 10 characters.
        text = text.str.slice(0, 10)
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = parsed.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            f"unparsable date {values.iloc[i]!r} (expected {fmt})",
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
    today = today or date.today()
    future = _first_violation(frame["date"].dt.date > today)
    if future is not None:
        raise _fail_at(frame, future, f"date is in the future (today is {today})", "date", source)
    dup = _first_violation(frame["date"].duplicated(keep="first"))
    if dup is not None:
        first = int(frame["_line"].iloc[int(np.flatnonzero(frame["date"] == frame["date"].iloc[dup])[0])])
        raise _fail_at(frame, dup, f"duplicate date (first seen on line {first})", "date", source)
    if "adj_close" not in frame.columns:
        frame["adj_close"] = frame["close"]
    for column in (*PRICE_FIELDS, "volume"):
        frame[column] = _parse_numbers(frame, column, source)
    _check_finite_and_sane(frame, raw, source, checks)
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
    max_gap_days: int | None = None,
    checks: DataChecks = DEFAULT_DATA_CHECKS,
) -> pd.DataFrame:
    """Turn a layout-named frame (with a ``_line`` column) into validated ``PRICES_SCHEMA`` rows.

    Checks, in order: dates parse, no future dates, no duplicate dates, numbers parse, finite and
    below ``checks.max_price`` / ``checks.max_volume``, no NaN, prices positive, high >= low, close and
    open within [low, high], volume >= 0, no calendar hole longer than ``max_gap_days`` (default
    ``checks.max_gap_days``). Dates out of order are sorted, with a log line. (The plausibility and
    calendar rules are :func:`spylib.research.validation.check_prices`.)
    """
    if max_gap_days is not None:
        checks = dataclasses.replace(checks, max_gap_days=max_gap_days)
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


def load_embedded(symbol: str, *, checks: DataChecks = DEFAULT_DATA_CHECKS) -> PriceData:
    """The offline default: real index OHLCV shipped by the ``arch`` package (stand-ins, not the ETFs)."""
    if symbol not in EMBEDDED_STAND_INS:
        raise DataValidationError(
            f"the embedded data set has stand-ins only for {', '.join(EMBEDDED_STAND_INS)}; "
            f"give files for {symbol!r} with --source",
            source=EMBEDDED,
        )
    module_name, description = EMBEDDED_STAND_INS[symbol]
    import importlib

    raw = importlib.import_module(module_name).load().reset_index()
    raw = raw.rename(columns=LAYOUTS["yahoo"])
    raw["date"] = pd.to_datetime(raw["date"]).dt.strftime(DATE_FORMATS["yahoo"])
    raw["_line"] = np.arange(1, len(raw) + 1)
    source = f"{EMBEDDED}:{module_name}"
    frame, lines = _normalize(raw, "yahoo", symbol, source, today=None, checks=checks)
    log.warning("%s: using %s as a stand-in for %s (offline default)", source, description, symbol)
    data = PriceData(
        symbol, frame, source, "yahoo", f"stand-in: {description}", prices_fingerprint(frame), lines
    )
    return validation.check_prices(data, checks)


def load_price_file(
    uri: str, symbol: str, *, today: date | None = None, checks: DataChecks = DEFAULT_DATA_CHECKS
) -> PriceData:
    """Load one CSV or Parquet file (path or ``s3://`` URI), detect its layout, validate it (the
    structural checks of :func:`normalize_prices`, then :func:`spylib.research.validation.check_prices`)."""
    raw_bytes = read_source_bytes(uri)
    is_parquet = uri.lower().endswith((".parquet", ".pq")) or raw_bytes[:4] == b"PAR1"
    raw, layout = (read_parquet_frame if is_parquet else read_csv_frame)(raw_bytes, uri)
    frame, lines = _normalize(raw, layout, symbol, uri, today=today, checks=checks)
    adjusted = "adjusted close from the file" if layout == "yahoo" else "prices as given (no adjusted column)"
    description = f"{layout} layout file, {adjusted}"
    data = PriceData(symbol, frame, uri, layout, description, prices_fingerprint(frame), lines)
    return validation.check_prices(data, checks)


def load_prices(
    source: str, symbol: str, *, today: date | None = None, checks: DataChecks = DEFAULT_DATA_CHECKS
) -> PriceData:
    """Load ``symbol`` from ``"embedded"``, ``"yfinance"`` (:mod:`spylib.research.live`) or a path/URI
    template, with every per-file check."""
    if source == EMBEDDED:
        return load_embedded(symbol, checks=checks)
    if source == LIVE_SOURCE:
        from spylib.research.live import load_live

        return validation.check_prices(load_live(source, symbol, today=today), checks)
    return load_price_file(resolve_source(source, symbol), symbol, today=today, checks=checks)


@dataclass(frozen=True)
class MarketData:
    """The traded symbol and its benchmark on their common calendar."""

    symbol: PriceData
    benchmark: PriceData
    prices: pd.DataFrame  # long format, both symbols, common dates only, sorted by (symbol, date)
    fingerprint: str
    dropped_dates: int

    def provenance(self) -> dict[str, object]:
        return {
            "symbol": self.symbol.symbol,
            "benchmark": self.benchmark.symbol,
            "sources": {p.symbol: p.source for p in (self.symbol, self.benchmark)},
            "descriptions": {p.symbol: p.description for p in (self.symbol, self.benchmark)},
            "layouts": {p.symbol: p.layout for p in (self.symbol, self.benchmark)},
            "file_fingerprints": {p.symbol: p.fingerprint for p in (self.symbol, self.benchmark)},
            "fingerprint": self.fingerprint,
            "first_date": str(self.prices["date"].min()),
            "last_date": str(self.prices["date"].max()),
            "rows_per_symbol": int(len(self.prices) // 2),
            "dates_dropped_to_align": self.dropped_dates,
        }


def align_symbols(
    symbol: PriceData, benchmark: PriceData, checks: DataChecks = DEFAULT_DATA_CHECKS
) -> MarketData:
    """Keep the dates both symbols traded; fail if their calendars do not overlap, or if the common
    calendar breaks a rule of :func:`spylib.research.validation.check_alignment`."""
    common = set(symbol.frame["date"]) & set(benchmark.frame["date"])
    if not common:
        ours, theirs = symbol.frame["date"], benchmark.frame["date"]
        raise DataValidationError(
            f"no common dates with {benchmark.source} ({ours.min()}..{ours.max()} "
            f"vs {theirs.min()}..{theirs.max()})",
            source=symbol.source,
            column="date",
        )
    validation.check_alignment(symbol, benchmark, checks)
    frames = [p.frame[p.frame["date"].isin(common)] for p in (symbol, benchmark)]
    dropped = len(symbol.frame) + len(benchmark.frame) - 2 * len(common)
    if dropped:
        log.warning(
            "dropped %d rows whose date only one of %s/%s has", dropped, symbol.symbol, benchmark.symbol
        )
    prices = pd.concat(frames, ignore_index=True)
    fingerprint = hashlib.sha256(
        f"{symbol.fingerprint}:{benchmark.fingerprint}:{len(common)}".encode()
    ).hexdigest()
    return MarketData(symbol, benchmark, prices, fingerprint, dropped)


def ingest(
    source: str,
    symbol: str,
    benchmark: str,
    *,
    today: date | None = None,
    loader: Callable[..., PriceData] = load_prices,
    checks: DataChecks = DEFAULT_DATA_CHECKS,
) -> MarketData:
    """Load, validate and align the traded symbol and its benchmark (``synthetic:edge=E,...`` sources are
    generated by :mod:`spylib.research.synthetic`, both symbols at once, with the default loader).

    Every file gets the per-file rules of ``checks`` (another ``loader``'s result too), and the two
    symbols the rules of their common calendar, before anything is returned."""
    if symbol == benchmark:
        raise DataValidationError("symbol and benchmark must differ", source=source, column="symbol")
    from spylib.research.synthetic import is_synthetic_source, load_synthetic  # lazy: it imports this module

    if loader is load_prices and is_synthetic_source(source):  # a generated control market, both symbols
        # Its volatility is the spec's: the calendar rules apply, not the plausibility of real moves.
        pair = [
            validation.check_prices(p, checks, plausibility=False)
            for p in load_synthetic(source, symbol, benchmark)
        ]
        return align_symbols(pair[0], pair[1], checks)
    if loader is load_prices:
        pair = [load_prices(source, s, today=today, checks=checks) for s in (symbol, benchmark)]
    else:
        pair = [validation.check_prices(loader(source, s, today=today), checks) for s in (symbol, benchmark)]
    return align_symbols(pair[0], pair[1], checks)


def require_history(
    n_rows: int, needed: int, source: str, what: str, *, span: tuple[object, object] | None = None
) -> None:
    """A history too short for the features plus the splits fails before any work.

    ``span`` (first and last common date), when given, is named in the message.
    """
    if n_rows < needed:
        raise DataValidationError(
            f"history too short: {n_rows} common trading days, {what} need at least {needed}",
            source=source,
            date=f"{span[0]}..{span[1]}" if span is not None else None,
            column="date",
        )


def data_note(provenance: Mapping[str, Any]) -> str:
    """One plain sentence on where the data came from (stand-ins are named as such), Markdown."""
    sources = provenance["descriptions"]
    note = "; ".join(f"{sym}: {desc}" for sym, desc in sources.items())
    if any(src.startswith(EMBEDDED) for src in provenance["sources"].values()):
        stand_ins = ", ".join(f"{sym} = {EMBEDDED_STAND_INS[sym][1].split(',')[0]}" for sym in sources)
        return (
            f"**Data: offline stand-ins, not the ETFs** ({stand_ins}). {note}. "
            f"Fingerprint `{provenance['fingerprint'][:16]}`."
        )
    return f"Data: {note}. Fingerprint `{provenance['fingerprint'][:16]}`."
