"""Small synthetic price frames for unit tests (seeded, in PRICES_SCHEMA's long format)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd


def synthetic_prices(
    n_days: int = 400, seed: int = 0, symbols: tuple[str, ...] = ("SPY", "QQQ")
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2001-01-02", periods=n_days).date
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


def as_seed_csv(frame: pd.DataFrame) -> str:
    """One symbol's rows in the seed project's layout (M/D/YYYY dates, lower-case columns)."""
    out = frame[["date", "open", "high", "low", "close", "volume"]].copy()
    out["date"] = [f"{d.month}/{d.day}/{d.year}" for d in out["date"]]
    return out.to_csv(index=False)


def as_yahoo_csv(frame: pd.DataFrame, adj_factor: float = 1.0) -> str:
    out = pd.DataFrame(
        {
            "Date": [d.isoformat() for d in frame["date"]],
            "Open": frame["open"],
            "High": frame["high"],
            "Low": frame["low"],
            "Close": frame["close"],
            "Adj Close": frame["close"] * adj_factor,
            "Volume": frame["volume"].astype(int),
        }
    )
    return out.to_csv(index=False)


def as_yfinance_csv(frame: pd.DataFrame) -> str:
    out = pd.DataFrame(
        {
            "Date": [f"{d.isoformat()} 00:00:00-05:00" for d in frame["date"]],
            "Close": frame["close"],
            "High": frame["high"],
            "Low": frame["low"],
            "Open": frame["open"],
            "Volume": frame["volume"].astype(int),
        }
    )
    return out.to_csv(index=False)


TODAY = date(2026, 11, 24)
