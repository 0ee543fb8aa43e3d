"""Ingest: load daily OHLCV from the embedded data set, CSV or Parquet files (local or ``s3://``),
normalize them into ``PRICES_SCHEMA`` and validate them before any work is done.

Three file layouts are recognised from the header alone:

* ``yahoo``    -- ``Date,Open,High,Low,Close,Adj Close,Volume`` (Yahoo Finance download);
* ``yfinance`` -- ``Date,Close,High,Low,Open,Volume`` (newer yfinance, prices already adjusted);
* ``seed``     -- ``date,open,high,low,close,volume`` with ``M/D/YYYY`` dates (the seed project's).

Every problem raises :class:`~spylib.core.errors.DataValidationError` naming the source, the line (1-based,
the header is line 1) or date, and the column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spylib.core.errors import DataValidationError
from spylib.core.schema import PRICE_COLUMNS, PRICES_SCHEMA
from spylib.storage.s3 import read_s3_bytes

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
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

# Header (as written in the file) -> normalized column, per layout.
LAYOUTS: dict[str, dict[str, str]] = {
    "yahoo": {
        "Date": "date", "Open": "open", "High": "high", "Low": "low",
        "Close": "close", "Adj Close": "adj_close", "Volume": "volume",
    },
    "yfinance": {
        "Date": "date", "Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume",
    },
    "seed": {
        "date": "date", "open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume",
    },
}  # fmt: skip
DATE_FORMATS: dict[str, str] = {"yahoo": "%Y-%m-%d", "yfinance": "%Y-%m-%d", "seed": "%m/%d/%Y"}
PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")
# A hole in the calendar longer than this (calendar days) is a data problem, not a holiday:
# the longest US market closure since 1999 was 4 sessions (after 2001-09-11).
DEFAULT_MAX_GAP_DAYS = 14


@dataclass(frozen=True)
class PriceData:
    """One symbol's validated prices and where they came from."""

    symbol: str
    frame: pd.DataFrame  # columns PRICE_COLUMNS, sorted by date, RangeIndex
    source: str
    layout: str
    description: str
    fingerprint: str


# ---------------------------------------------------------------------------------------------
# reading raw bytes
# ---------------------------------------------------------------------------------------------
def read_source_bytes(uri: str) -> bytes:
    """Read a local path or an ``s3://bucket/key`` URI (endpoint: :func:`spylib.storage.s3.s3_endpoint`)."""
    if uri.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return read_s3_bytes(uri)
        except (ClientError, BotoCoreError) as exc:
            raise DataValidationError(f"cannot read from S3: {exc}", source=uri) from exc
    path = Path(uri)
    if not path.is_file():
        raise DataValidationError("file not found", source=uri)
    return path.read_bytes()


def _decode_csv(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataValidationError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} cannot be decoded",
            source=source,
            row=line,
            column=_column_at(raw, exc.start) if line > 1 else None,
        ) from exc


def _column_at(raw: bytes, offset: int) -> str | None:
    """The header name of the comma-separated field that holds byte ``offset`` (for error messages)."""
    header = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")
    names = [c.strip() for c in header.split(",")]
    line_start = raw.rfind(b"\n", 0, offset) + 1
    index = raw[line_start:offset].count(b",")
    return names[index] if index < len(names) else None


def _check_field_counts(text: str, header: list[str], source: str) -> None:
    """Every data line has as many fields as the header: pandas would fail with its own message on
    extra fields and silently pad short lines with empty values."""
    reader = csv.reader(io.StringIO(text))
    next(reader)
    for fields in reader:
        if not fields or fields == [""]:
            continue  # blank line
        if len(fields) != len(header):
            column = header[len(fields)].strip() if len(fields) < len(header) else None
            what = "missing" if len(fields) < len(header) else "extra"
            raise DataValidationError(
                f"{len(fields)} fields where the header has {len(header)} ({what} values)",
                source=source,
                row=reader.line_num,
                column=column,
            )


def detect_layout(columns: list[str], source: str) -> str:
    """Name the layout from the header; the error lists what is missing for the closest layout."""
    seen = [c.strip() for c in columns]
    duplicates = sorted({c for c in seen if seen.count(c) > 1})
    if duplicates:
        raise DataValidationError(
            "duplicate column name in the header", source=source, row=1, column=duplicates[0]
        )
    present = set(seen)
    if "Adj Close" in present:
        candidates = ["yahoo"]
    elif "Date" in present or "Close" in present:
        candidates = ["yfinance"]
    elif present & set(LAYOUTS["seed"]):
        candidates = ["seed"]
    else:
        candidates = ["yahoo", "yfinance", "seed"]
    for layout in candidates:
        missing = [c for c in LAYOUTS[layout] if c not in present]
        if not missing:
            return layout
    layout = candidates[0]
    missing = [c for c in LAYOUTS[layout] if c not in present]
    if len(seen) == 1 and any(d in seen[0] for d in (";", "\t", "|")):
        raise DataValidationError(
            f"the header is one column {seen[0]!r}: the file is not comma-separated", source=source, row=1
        )
    raise DataValidationError(
        f"missing column for the {layout} layout (header has: {', '.join(seen)})",
        source=source,
        row=1,
        column=missing[0],
    )


def _read_csv_frame(raw: bytes, source: str) -> tuple[pd.DataFrame, str]:
    text = _decode_csv(raw, source)
    if not text.strip():
        raise DataValidationError("the file is empty", source=source)
    header = next(csv.reader(io.StringIO(text)))
    layout = detect_layout(header, source)
    _check_field_counts(text, header, source)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    if frame.empty:
        raise DataValidationError("the file has a header but no data rows", source=source)
    frame.columns = [c.strip() for c in frame.columns]
    frame = frame[list(LAYOUTS[layout])].rename(columns=LAYOUTS[layout])
    frame["_line"] = np.arange(2, len(frame) + 2)  # header is line 1
    return frame, layout


def _read_parquet_frame(raw: bytes, source: str) -> tuple[pd.DataFrame, str]:
    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"not a readable Parquet file: {exc}", source=source) from exc
    frame = table.to_pandas()
    if "Date" not in frame.columns and "date" not in frame.columns and frame.index.name in ("Date", "date"):
        frame = frame.reset_index()
    layout = detect_layout([str(c) for c in frame.columns], source)
    frame = frame[list(LAYOUTS[layout])].rename(columns=LAYOUTS[layout])
    if frame.empty:
        raise DataValidationError("the file has no data rows", source=source)
    if not pd.api.types.is_string_dtype(frame["date"]) and not pd.api.types.is_object_dtype(frame["date"]):
        frame["date"] = pd.to_datetime(frame["date"]).dt.strftime(DATE_FORMATS[layout])
    frame["_line"] = np.arange(1, len(frame) + 1)  # Parquet has no header line: row numbers from 1
    return frame, layout


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


def normalize_prices(
    raw: pd.DataFrame,
    layout: str,
    symbol: str,
    source: str,
    *,
    today: date | None = None,
    max_gap_days: int = DEFAULT_MAX_GAP_DAYS,
) -> pd.DataFrame:
    """Turn a layout-named frame (with a ``_line`` column) into validated ``PRICES_SCHEMA`` rows.

    Checks, in order: dates parse, no future dates, no duplicate dates, numbers parse, no NaN,
    prices positive, high >= low, close and open within [low, high], volume >= 0, no calendar hole
    longer than ``max_gap_days``. Dates out of order are sorted, with a log line.
    """
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
    bad = _first_violation(gaps > max_gap_days)
    if bad is not None:
        raise _fail_at(
            frame,
            bad,
            f"a gap of {int(gaps.iloc[bad])} calendar days since {frame['date'].iloc[bad - 1].date()} "
            f"(more than {max_gap_days}): missing data",
            "date",
            source,
        )
    frame["symbol"] = symbol
    frame["date"] = frame["date"].dt.date
    return frame[list(PRICE_COLUMNS)].reset_index(drop=True)


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


def load_embedded(symbol: str) -> PriceData:
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
    frame = normalize_prices(raw, "yahoo", symbol, source)
    log.warning("%s: using %s as a stand-in for %s (offline default)", source, description, symbol)
    return PriceData(symbol, frame, source, "yahoo", f"stand-in: {description}", prices_fingerprint(frame))


def load_price_file(uri: str, symbol: str, *, today: date | None = None) -> PriceData:
    """Load one CSV or Parquet file (path or ``s3://`` URI), detect its layout, validate it."""
    raw_bytes = read_source_bytes(uri)
    is_parquet = uri.lower().endswith((".parquet", ".pq")) or raw_bytes[:4] == b"PAR1"
    raw, layout = (_read_parquet_frame if is_parquet else _read_csv_frame)(raw_bytes, uri)
    frame = normalize_prices(raw, layout, symbol, uri, today=today)
    adjusted = "adjusted close from the file" if layout == "yahoo" else "prices as given (no adjusted column)"
    description = f"{layout} layout file, {adjusted}"
    return PriceData(symbol, frame, uri, layout, description, prices_fingerprint(frame))


def resolve_source(source: str, symbol: str) -> str:
    """Fill ``{symbol}`` / ``{symbol_lower}`` in a path template, e.g. ``data/{symbol_lower}_daily.csv``."""
    return source.format(symbol=symbol, symbol_lower=symbol.lower())


def load_prices(source: str, symbol: str, *, today: date | None = None) -> PriceData:
    """Load ``symbol`` from ``"embedded"`` or from a path/URI template."""
    if source == EMBEDDED:
        return load_embedded(symbol)
    return load_price_file(resolve_source(source, symbol), symbol, today=today)


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


def align_symbols(symbol: PriceData, benchmark: PriceData) -> MarketData:
    """Keep the dates both symbols traded; fail if their calendars do not overlap."""
    common = set(symbol.frame["date"]) & set(benchmark.frame["date"])
    if not common:
        ours, theirs = symbol.frame["date"], benchmark.frame["date"]
        raise DataValidationError(
            f"no common dates with {benchmark.source} ({ours.min()}..{ours.max()} "
            f"vs {theirs.min()}..{theirs.max()})",
            source=symbol.source,
            column="date",
        )
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
) -> MarketData:
    """Load, validate and align the traded symbol and its benchmark (``synthetic:edge=E,...`` sources are
    generated by :mod:`spylib.research.synthetic`, both symbols at once, with the default loader)."""
    if symbol == benchmark:
        raise DataValidationError("symbol and benchmark must differ", source=source, column="symbol")
    from spylib.research.synthetic import is_synthetic_source, load_synthetic  # lazy: it imports this module

    if loader is load_prices and is_synthetic_source(source):  # a generated control market, both symbols
        return align_symbols(*load_synthetic(source, symbol, benchmark))
    return align_symbols(loader(source, symbol, today=today), loader(source, benchmark, today=today))


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
