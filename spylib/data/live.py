"""Optional live prices through ``yfinance`` (the ``live`` extra: ``pip install spy-flow[live]``).

``yfinance`` is imported only when the live source is used, so the rest of spy-flow never needs it.
Prices come back split- and dividend-adjusted (``auto_adjust=True``), in the ``yfinance`` layout of
:mod:`spylib.data.sources`, and go through the same :func:`spylib.data.prices.normalize_prices` validation as files.

Two failures have their own message: the package is missing (:class:`ConfigError`, telling what to
install) and the download gives nothing (:class:`SpyFlowError` naming the symbol: no network, a
blocked host, or an unknown ticker; yfinance itself often swallows the network error and returns an
empty frame, so "empty" is treated as a failure too).
"""

from __future__ import annotations

import importlib
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.errors import ConfigError, SpyFlowError
from spylib.data.price_files import DATE_FORMATS, LAYOUTS, LIVE_SOURCE
from spylib.data.prices import PriceData, normalize_prices, prices_fingerprint

INSTALL_HINT = "pip install 'spy-flow[live]'"


def import_yfinance() -> Any:
    """The ``yfinance`` module, or a :class:`ConfigError` that says how to install it."""
    try:
        return importlib.import_module("yfinance")
    except ImportError as exc:
        raise ConfigError(
            f"the live source needs the optional package yfinance, which is not installed: {INSTALL_HINT}",
            source="--source yfinance",
        ) from exc


def download_history(symbol: str, *, period: str = "max") -> pd.DataFrame:
    """Daily adjusted OHLCV of ``symbol`` from Yahoo Finance, as yfinance returns it (Date index)."""
    yf = import_yfinance()
    try:
        frame = yf.Ticker(symbol).history(period=period, interval="1d", auto_adjust=True)
    except Exception as exc:  # yfinance raises requests/curl errors of many types
        raise SpyFlowError(
            f"yfinance: cannot download {symbol} ({type(exc).__name__}: {exc}); is there network access?"
        ) from exc
    if frame is None or len(frame) == 0:
        raise SpyFlowError(
            f"yfinance: no data for {symbol} (no network access, Yahoo unreachable, or an unknown symbol)"
        )
    return frame


def to_layout_frame(history: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """yfinance's frame -> the ``yfinance`` layout of :mod:`spylib.data.sources`, normalized names, ``_line``."""
    frame = history.reset_index()
    if "Date" not in frame.columns:
        frame = frame.rename(columns={frame.columns[0]: "Date"})
    missing = [c for c in LAYOUTS[LIVE_SOURCE] if c not in frame.columns]
    if missing:
        raise SpyFlowError(f"yfinance: the download for {symbol} lacks column '{missing[0]}'")
    frame = frame[list(LAYOUTS[LIVE_SOURCE])].rename(columns=LAYOUTS[LIVE_SOURCE])
    # Timestamps are exchange-local midnights (tz-aware): the calendar date is the trading day.
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime(DATE_FORMATS[LIVE_SOURCE])
    frame["_line"] = np.arange(1, len(frame) + 1)
    return frame


def load_live(source: str, symbol: str, *, today: date | None = None) -> PriceData:
    """A :func:`spylib.data.sources.ingest` loader for ``--source yfinance`` (``source`` is ignored)."""
    raw = to_layout_frame(download_history(symbol), symbol)
    uri = f"{LIVE_SOURCE}:{symbol}"
    frame = normalize_prices(raw, LIVE_SOURCE, symbol, uri, today=today)
    description = "Yahoo Finance via yfinance, split- and dividend-adjusted"
    return PriceData(symbol, frame, uri, LIVE_SOURCE, description, prices_fingerprint(frame))
