"""Ingest: load daily OHLCV from the embedded data set, CSV or Parquet files (local or ``s3://``),
normalize them into ``PRICES_SCHEMA`` and validate them before any work is done.

Three file layouts are recognised from the header alone:

* ``yahoo``    -- ``Date,Open,High,Low,Close,Adj Close,Volume`` (Yahoo Finance download);
* ``yfinance`` -- ``Date,Close,High,Low,Open,Volume`` (newer yfinance, prices already adjusted);
* ``seed``     -- ``date,open,high,low,close,volume`` with ``M/D/YYYY`` dates (the seed project's).

Every problem raises :class:`~spylib.core.errors.DataValidationError` naming the source, the line (the
file's physical line, 1-based; blank lines and newlines inside quoted fields count) or date, and the
column. Reading (templates, symbols, bytes, CSV and Parquet frames) is :mod:`spylib.data.price_files`;
the plausibility and calendar rules (one-day moves, weekends, bar frequency, zero volume, the aligned
calendar), with their thresholds in a :class:`~spylib.core.config.DataChecks`, are
:mod:`spylib.data.validation`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.config import DEFAULT_DATA_CHECKS, DataChecks
from spylib.core.errors import DataValidationError
from spylib.data import validation
from spylib.data.price_files import (
    DATE_FORMATS,
    EMBEDDED,
    LAYOUTS,
    LIVE_SOURCE,
    read_csv_frame,
    read_parquet_frame,
    read_source_bytes,
    resolve_source,
)
from spylib.data.prices import PriceData, _normalize, prices_fingerprint

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


# A hole in the calendar longer than this (calendar days) is a data problem, not a holiday:
# the longest US market closure since 1999 was 4 sessions (after 2001-09-11).


def read_embedded_frame(module_name: str) -> pd.DataFrame:
    """The frame ``<module_name>.load()`` returns (e.g. ``arch.data.sp500``), read from the package's
    file without importing ``arch``: its ``__init__`` imports scipy.stats and the volatility models,
    1.5 s of an ``ingest`` task that only needs two CSV files. The parsing is ``arch.data.utility.
    load_file``'s (tested equal to it); the module itself is the fallback if the file is not where
    this version of arch keeps it."""
    import importlib
    import importlib.util

    package, _, name = module_name.rpartition(".")
    spec = importlib.util.find_spec(package.split(".")[0])  # finds the package, does not run it
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        path = os.path.join(root, *package.split(".")[1:], name, f"{name}.csv.gz")
        if os.path.isfile(path):
            data = pd.read_csv(path)
            if "Date" in data:
                data["Date"] = pd.to_datetime(data["Date"])
                data = data.set_index("Date")
            for col in data:
                data[col] = pd.to_numeric(data[col], errors="coerce")
            return data
    frame: pd.DataFrame = importlib.import_module(module_name).load()
    return frame


def load_embedded(symbol: str, *, checks: DataChecks = DEFAULT_DATA_CHECKS) -> PriceData:
    """The offline default: real index OHLCV shipped by the ``arch`` package (stand-ins, not the ETFs)."""
    if symbol not in EMBEDDED_STAND_INS:
        raise DataValidationError(
            f"the embedded data set has stand-ins only for {', '.join(EMBEDDED_STAND_INS)}; "
            f"give files for {symbol!r} with --source",
            source=EMBEDDED,
        )
    module_name, description = EMBEDDED_STAND_INS[symbol]
    raw = read_embedded_frame(module_name).reset_index()
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
    structural checks of :func:`normalize_prices`, then :func:`spylib.data.validation.check_prices`)."""
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
    """Load ``symbol`` from ``"embedded"``, ``"yfinance"`` (:mod:`spylib.data.live`) or a path/URI
    template, with every per-file check."""
    if source == EMBEDDED:
        return load_embedded(symbol, checks=checks)
    if source == LIVE_SOURCE:
        from spylib.data.live import load_live

        return validation.check_prices(load_live(source, symbol, today=today), checks)
    return load_price_file(resolve_source(source, symbol), symbol, today=today, checks=checks)


@dataclass(frozen=True)
class MarketData:
    """The traded symbol and its benchmark on their common calendar."""

    symbol: PriceData
    benchmark: PriceData
    prices: pd.DataFrame  # long format, both symbols, common dates only, sorted by (symbol, date)
    fingerprint: str
    dropped_dates: int  # rows within the common span whose date only one symbol has
    trimmed_rows: int = 0  # rows before or after the common span (only one file covers them)

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
            "rows_trimmed_to_common_span": self.trimmed_rows,
        }


def _trim_to_span(data: PriceData, first: date, last: date) -> PriceData:
    """``data`` without its rows before ``first`` or after ``last`` (line numbers kept in step)."""
    keep = ((data.frame["date"] >= first) & (data.frame["date"] <= last)).to_numpy()
    if keep.all():
        return data
    frame = data.frame[keep].reset_index(drop=True)
    lines = data.lines[keep] if data.lines is not None else None
    return dataclasses.replace(data, frame=frame, lines=lines)


def common_span(symbol: PriceData, benchmark: PriceData) -> tuple[date, date] | None:
    """The dates both files cover: from the later first date to the earlier last date (None: disjoint)."""
    first = max(symbol.frame["date"].min(), benchmark.frame["date"].min())
    last = min(symbol.frame["date"].max(), benchmark.frame["date"].max())
    return (first, last) if first <= last else None


def _log_trim(data: PriceData, kept: PriceData, other: PriceData, span: tuple[date, date]) -> int:
    """Log what trimming ``data`` to the common span removed; return the number of rows removed."""
    removed = len(data.frame) - len(kept.frame)
    if not removed:
        return 0
    dates = data.frame["date"]
    parts = []
    before, after = dates[dates < span[0]], dates[dates > span[1]]
    if len(before):
        parts.append(f"{len(before)} rows {before.min()}..{before.max()} before {other.source} starts")
    if len(after):
        parts.append(f"{len(after)} rows {after.min()}..{after.max()} after {other.source} ends")
    log.warning(
        "%s: trimmed to the common span %s..%s of %s and %s: %s",
        data.source, span[0], span[1], data.symbol, other.symbol, "; ".join(parts),
    )  # fmt: skip
    return removed


def align_symbols(
    symbol: PriceData, benchmark: PriceData, checks: DataChecks = DEFAULT_DATA_CHECKS
) -> MarketData:
    """Keep the dates both symbols traded; fail if their calendars do not overlap, or if the common
    calendar breaks a rule of :func:`spylib.data.validation.check_alignment`.

    A leading or trailing span that only one file covers (SPY's file from 1993, QQQ's from 1999) is
    trimmed first, with a log line naming the file and the span; the dropped-share rule then applies
    within the common span (from the later first date to the earlier last date) only."""
    span = common_span(symbol, benchmark)
    common = set(symbol.frame["date"]) & set(benchmark.frame["date"])
    if span is None or not common:
        ours, theirs = symbol.frame["date"], benchmark.frame["date"]
        raise DataValidationError(
            f"no common dates with {benchmark.source} ({ours.min()}..{ours.max()} "
            f"vs {theirs.min()}..{theirs.max()})",
            source=symbol.source,
            column="date",
        )
    trimmed = [_trim_to_span(p, *span) for p in (symbol, benchmark)]
    n_trimmed = _log_trim(symbol, trimmed[0], benchmark, span) + _log_trim(
        benchmark, trimmed[1], symbol, span
    )
    symbol, benchmark = trimmed
    refuse_identical_benchmark(symbol, benchmark, common)
    validation.check_alignment(symbol, benchmark, checks)
    frames = [p.frame[p.frame["date"].isin(common)] for p in (symbol, benchmark)]
    dropped = len(symbol.frame) + len(benchmark.frame) - 2 * len(common)
    if dropped:
        log.warning(
            "dropped %d rows (within the common span) whose date only one of %s/%s has",
            dropped, symbol.symbol, benchmark.symbol,
        )  # fmt: skip
    prices = pd.concat(frames, ignore_index=True)
    fingerprint = hashlib.sha256(
        f"{symbol.fingerprint}:{benchmark.fingerprint}:{len(common)}".encode()
    ).hexdigest()
    return MarketData(symbol, benchmark, prices, fingerprint, dropped, n_trimmed)


_VALUE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


def refuse_identical_benchmark(symbol: PriceData, benchmark: PriceData, common: set[Any]) -> None:
    """A benchmark whose every price and volume equals the symbol's on every common date is a copy of the
    symbol's file (a template or a copy gone wrong): relative strength would be zero on every day."""
    ours = symbol.frame[symbol.frame["date"].isin(common)].set_index("date")[list(_VALUE_COLUMNS)]
    theirs = benchmark.frame[benchmark.frame["date"].isin(common)].set_index("date")[list(_VALUE_COLUMNS)]
    theirs = theirs.loc[ours.index]
    if not ours.equals(theirs):
        return
    first = benchmark.frame.index[benchmark.frame["date"].isin(common)][0]
    line = int(benchmark.lines[first]) if benchmark.lines is not None else None
    raise DataValidationError(
        f"every price and volume equals {symbol.symbol}'s ({symbol.source}) on all {len(common)} common "
        f"dates: the benchmark {benchmark.symbol} is a copy of the symbol's data, and relative strength "
        "would be zero on every day; give the benchmark's own file",
        source=benchmark.source,
        row=line,
        column="close",
    )


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
    generated by :mod:`spylib.data.synthetic`, both symbols at once, with the default loader).

    Every file gets the per-file rules of ``checks`` (another ``loader``'s result too), and the two
    symbols the rules of their common calendar, before anything is returned."""
    if symbol == benchmark:
        raise DataValidationError("symbol and benchmark must differ", source=source, column="symbol")
    from spylib.data.markets import load_market  # lazy: generation is needed for synthetic sources only
    from spylib.data.synthetic import is_synthetic_source

    if loader is load_prices and is_synthetic_source(source):  # a generated control market, both symbols
        # Its volatility is the spec's: the calendar rules apply, not the plausibility of real moves.
        pair = [
            validation.check_prices(p, checks, plausibility=False)
            for p in load_market(source, symbol, benchmark)
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
