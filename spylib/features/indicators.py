"""indicators: see spylib.features.table."""

from __future__ import annotations

import numpy as np
import pandas as pd


# ---------------------------------------------------------------------------------------------
# indicators (numpy/pandas, vectorized; pure functions of their inputs)
# ---------------------------------------------------------------------------------------------
def wilder_average(values: np.ndarray, n: int) -> np.ndarray:
    """Wilder's smoothing as TA-Lib: seed = mean of the first ``n`` valid values, then
    ``y[t] = y[t-1] + (x[t] - y[t-1]) / n``. Leading NaNs in ``values`` are skipped."""
    x = np.asarray(values, dtype="float64")
    out = np.full(x.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(x))
    if valid.size == 0:
        return out
    start = int(valid[0])
    if x.size - start < n:
        return out
    seed = float(x[start : start + n].mean())
    out[start + n - 1] = seed
    rest = x[start + n :]
    if rest.size:
        # y[t] = (1 - 1/n) y[t-1] + (1/n) x[t], started from the seed: pandas' recursive EWM is that
        # recursion in compiled code (no Python loop, and no scipy.signal import in every task).
        seeded = pd.Series(np.concatenate(([seed], rest)))
        out[start + n :] = seeded.ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()[1:]
    return out


def rsi_wilder(close: pd.Series, n: int = 14) -> pd.Series:
    """TA-Lib RSI: 100 * avg_gain / (avg_gain + avg_loss) with Wilder averages of the changes."""
    delta = close.diff().to_numpy()
    gain = wilder_average(np.where(np.isnan(delta), np.nan, np.clip(delta, 0, None)), n)
    loss = wilder_average(np.where(np.isnan(delta), np.nan, np.clip(-delta, 0, None)), n)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        rsi = np.where(total > 0, 100.0 * gain / total, 50.0)
    rsi[np.isnan(total)] = np.nan
    return pd.Series(rsi, index=close.index, name=f"rsi_{n}")


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """TA-Lib true range; undefined on the first row (no previous close)."""
    prev = close.shift(1)
    tr = pd.concat([high - low, (high - prev).abs(), (low - prev).abs()], axis=1).max(axis=1, skipna=False)
    return tr


def atr_wilder(high: pd.Series, low: pd.Series, close: pd.Series, n: int = 14) -> pd.Series:
    return pd.Series(
        wilder_average(true_range(high, low, close).to_numpy(), n), index=close.index, name=f"atr_{n}"
    )


def ema(values: pd.Series, span: int) -> pd.Series:
    """EMA with ``adjust=False`` (recursive, seeded with the first value)."""
    return values.ewm(span=span, adjust=False).mean()


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[pd.Series, pd.Series]:
    line = ema(close, fast) - ema(close, slow)
    return line, ema(line, signal)


def bollinger(close: pd.Series, n: int = 20, k: float = 2.0) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Middle, upper, lower band; population standard deviation (ddof=0) as TA-Lib."""
    mid = close.rolling(n).mean()
    std = close.rolling(n).std(ddof=0)
    return mid, mid + k * std, mid - k * std


def _safe_ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    out = num / den
    return out.where(np.isfinite(out))
