"""The one synthetic price maker of the tests (seeded, in PRICES_SCHEMA's long format), and synthetic
prediction rows. Files in the seed/Yahoo/yfinance layouts are made from these frames by ``price_files``."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from spylib.core.schema import PREDICTIONS_SCHEMA

# A fixed "today" for loaders that refuse dates in the future (later than every synthetic date).
TODAY = date(2026, 11, 24)


def synthetic_prices(
    n_days: int, *, seed: int = 0, symbols: tuple[str, ...] = ("SPY", "QQQ"), start: str = "2001-01-02"
) -> pd.DataFrame:
    """``n_days`` business days from ``start`` per symbol: a random walk with consistent OHLC
    (low <= open, close <= high), ``adj_close == close``; ``date`` holds ``datetime.date`` values."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n_days).date
    frames = []
    for k, symbol in enumerate(symbols):
        close = 100.0 * (1 + k) * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n_days)))
        open_ = close * np.exp(rng.normal(0, 0.003, n_days))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n_days))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n_days))
        frames.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "symbol": symbol,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "adj_close": close,
                    "volume": rng.integers(1_000_000, 5_000_000, n_days).astype(float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def one_symbol(prices: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """The rows of ``symbol``, re-indexed from 0."""
    return prices[prices["symbol"] == symbol].reset_index(drop=True)


def predictions_frame(n: int, version: str) -> pd.DataFrame:
    """``n`` rows in the predictions schema (random values, fixed by ``n``)."""
    rng = np.random.default_rng(n)
    dates = pd.bdate_range("2015-01-02", periods=n).date
    frame = pd.DataFrame(
        {
            "date": dates,
            "symbol": "SPY",
            "segment": "test",
            "probability": rng.uniform(0, 1, n),
            "signal": (signal := rng.integers(0, 2, n).astype("int8")),
            "position": signal.astype("float64"),
            "target_up": pd.array(rng.integers(0, 2, n), dtype="Int8"),
            "fwd_return": rng.normal(0, 0.01, n),
            "model_version": version,
        }
    )
    return frame[list(PREDICTIONS_SCHEMA.names)]
