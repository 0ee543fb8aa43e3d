"""Small, valid synthetic OHLCV files: the starting point that each bad-input test breaks in one place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spylib.core.schema import PREDICTIONS_SCHEMA

SEED_HEADER = "date,open,high,low,close,volume"
YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"


def synthetic_prices(
    n_rows: int, *, start: str = "2010-01-04", seed: int = 0, drift: float = 3e-4
) -> pd.DataFrame:
    """``n_rows`` business days of a random walk with consistent OHLC (low <= open, close <= high)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n_rows)
    close = 100.0 * np.exp(np.cumsum(rng.normal(drift, 0.01, n_rows)))
    open_ = close * np.exp(rng.normal(0.0, 0.004, n_rows))
    spread = np.abs(rng.normal(0.0, 0.004, n_rows))
    high = np.maximum(open_, close) * (1.0 + spread)
    low = np.minimum(open_, close) * (1.0 - spread)
    volume = rng.integers(50_000_000, 150_000_000, n_rows)
    return pd.DataFrame(
        {"date": dates, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    ).round({"open": 4, "high": 4, "low": 4, "close": 4})


def seed_lines(frame: pd.DataFrame) -> list[str]:
    """Data lines in the seed layout (``M/D/YYYY`` dates), without the header."""
    return [
        f"{d.month}/{d.day}/{d.year},{o},{h},{lo},{c},{v}"
        for d, o, h, lo, c, v in frame[["date", "open", "high", "low", "close", "volume"]].itertuples(
            index=False
        )
    ]


def yahoo_lines(frame: pd.DataFrame) -> list[str]:
    """Data lines in the Yahoo layout (ISO dates, Adj Close = Close), without the header."""
    return [
        f"{d:%Y-%m-%d},{o},{h},{lo},{c},{c},{v}"
        for d, o, h, lo, c, v in frame[["date", "open", "high", "low", "close", "volume"]].itertuples(
            index=False
        )
    ]


def write_seed_csv(path: Path, frame: pd.DataFrame) -> Path:
    path.write_text("\n".join([SEED_HEADER, *seed_lines(frame)]) + "\n", encoding="utf-8")
    return path


def write_pair(directory: Path, n_rows: int, *, seed: int = 0) -> str:
    """SPY and QQQ seed-layout CSVs in ``directory``; returns the ``--source`` template for the flow."""
    directory.mkdir(parents=True, exist_ok=True)
    write_seed_csv(directory / "spy_daily.csv", synthetic_prices(n_rows, seed=seed))
    write_seed_csv(directory / "qqq_daily.csv", synthetic_prices(n_rows, seed=seed + 1, drift=4e-4))
    return str(directory / "{symbol_lower}_daily.csv")


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
            "signal": rng.integers(0, 2, n).astype("int8"),
            "target_up": pd.array(rng.integers(0, 2, n), dtype="Int8"),
            "fwd_return": rng.normal(0, 0.01, n),
            "model_version": version,
        }
    )
    return frame[list(PREDICTIONS_SCHEMA.names)]
