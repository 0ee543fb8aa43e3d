"""Price files in the three layouts the ingest reads, written from a frame of one symbol (columns
``date, open, high, low, close, volume``; ``adj_close`` if present, else ``close``).

Floats are written at full precision (``repr``), so a file read back gives the frame's values
exactly; volumes are written as integers when they are whole. The ``*_lines`` functions give the data
lines without the header, for tests that break one field of one line (line 1 is the header).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from tests.helpers.synthetic import one_symbol, synthetic_prices

SEED_HEADER = "date,open,high,low,close,volume"
YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
YFINANCE_HEADER = "Date,Close,High,Low,Open,Volume"


def number(value: Any) -> str:
    """A volume as text: a whole number without ``.0``, any other value at full precision."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def price(value: Any) -> str:
    """A price at full precision (the shortest text that reads back as the same float)."""
    return repr(float(value))


def _rows(frame: pd.DataFrame) -> list[tuple[Any, str, str, str, str, float, str]]:
    """(date, open, high, low, close, adj_close, volume) per row, prices and volume as text."""
    adj = frame["adj_close"] if "adj_close" in frame else frame["close"]
    columns = [
        frame["date"],
        frame["open"],
        frame["high"],
        frame["low"],
        frame["close"],
        adj,
        frame["volume"],
    ]
    return [
        (d, price(o), price(h), price(lo), price(c), float(a), number(v))
        for d, o, h, lo, c, a, v in zip(*columns, strict=True)
    ]


def seed_lines(frame: pd.DataFrame) -> list[str]:
    """Data lines in the seed project's layout (``M/D/YYYY`` dates, lower-case columns)."""
    return [f"{d.month}/{d.day}/{d.year},{o},{h},{lo},{c},{v}" for d, o, h, lo, c, _, v in _rows(frame)]


def yahoo_lines(frame: pd.DataFrame, adj_factor: float = 1.0) -> list[str]:
    """Data lines in the Yahoo Finance download layout (ISO dates, ``Adj Close = adj_close * adj_factor``)."""
    return [
        f"{d:%Y-%m-%d},{o},{h},{lo},{c},{price(a * adj_factor)},{v}" for d, o, h, lo, c, a, v in _rows(frame)
    ]


def yfinance_lines(frame: pd.DataFrame) -> list[str]:
    """Data lines in yfinance's ``history().to_csv()`` layout (dates with a time and a UTC offset)."""
    return [f"{d:%Y-%m-%d} 00:00:00-05:00,{c},{h},{lo},{o},{v}" for d, o, h, lo, c, _, v in _rows(frame)]


def csv_text(lines: list[str], header: str = SEED_HEADER) -> str:
    """A whole CSV file: ``header``, then ``lines``, newline-terminated."""
    return "\n".join([header, *lines]) + "\n"


def seed_csv(frame: pd.DataFrame) -> str:
    return csv_text(seed_lines(frame), SEED_HEADER)


def yahoo_csv(frame: pd.DataFrame, adj_factor: float = 1.0) -> str:
    return csv_text(yahoo_lines(frame, adj_factor), YAHOO_HEADER)


def yfinance_csv(frame: pd.DataFrame) -> str:
    return csv_text(yfinance_lines(frame), YFINANCE_HEADER)


def write_seed_csv(path: Path, frame: pd.DataFrame) -> Path:
    path.write_text(seed_csv(frame), encoding="utf-8")
    return path


def parquet_bytes(frame: pd.DataFrame, layout: str = "seed") -> bytes:
    """A Parquet file with the ``seed`` or ``yahoo`` layout's column names (``date`` as a timestamp)."""
    adj = frame["adj_close"] if "adj_close" in frame else frame["close"]
    values = {
        "date": pd.to_datetime(frame["date"]),
        "open": frame["open"],
        "high": frame["high"],
        "low": frame["low"],
        "close": frame["close"],
        "adj_close": adj,
        "volume": frame["volume"],
    }
    names = {
        "seed": {"date": "date", "open": "open", "high": "high", "low": "low", "close": "close",
                 "volume": "volume"},
        "yahoo": {"date": "Date", "open": "Open", "high": "High", "low": "Low", "close": "Close",
                  "adj_close": "Adj Close", "volume": "Volume"},
    }[layout]  # fmt: skip
    buffer = io.BytesIO()
    pd.DataFrame({name: values[column].to_numpy() for column, name in names.items()}).to_parquet(
        buffer, index=False
    )
    return buffer.getvalue()


def write_parquet(path: Path, frame: pd.DataFrame, layout: str = "seed") -> Path:
    path.write_bytes(parquet_bytes(frame, layout))
    return path


def write_pair(
    directory: Path,
    n_days: int,
    *,
    seed: int = 0,
    start: str = "2010-01-04",
    cut: Mapping[str, tuple[int, int]] | None = None,
) -> str:
    """SPY and QQQ seed-layout CSVs in ``directory``; returns the ``--source`` template for the flow.

    ``cut`` drops ``(leading, trailing)`` rows of a symbol's file: files whose symbols start or end on
    different dates (real SPY from 1993, QQQ from 1999)."""
    directory.mkdir(parents=True, exist_ok=True)
    prices = synthetic_prices(n_days, seed=seed, start=start)
    for symbol in ("SPY", "QQQ"):
        frame = one_symbol(prices, symbol)
        lead, trail = (cut or {}).get(symbol, (0, 0))
        frame = frame.iloc[lead : len(frame) - trail].reset_index(drop=True)
        write_seed_csv(directory / f"{symbol.lower()}_daily.csv", frame)
    return str(directory / "{symbol_lower}_daily.csv")
