"""User features (``--extra-features tests.helpers.user_features:NAME``) for the bad-input tests: one
honest feature, and one per way a user's function can be wrong. Each gets one symbol's adjusted prices
(``date, symbol, open, high, low, close, volume``, a RangeIndex) and returns one value per row."""

from __future__ import annotations

import numpy as np
import pandas as pd


def steady(prices: pd.DataFrame) -> pd.Series:
    """An honest feature: the three-day return."""
    return prices["close"].pct_change(3)


def all_missing(prices: pd.DataFrame) -> pd.Series:
    return pd.Series(np.nan, index=prices.index)


def with_infinity(prices: pd.DataFrame) -> pd.Series:
    values = prices["close"].pct_change()
    values.iloc[len(values) // 2] = np.inf
    return values


def one_row_short(prices: pd.DataFrame) -> pd.Series:
    return prices["close"].iloc[:-1]


def as_text(prices: pd.DataFrame) -> pd.Series:
    return prices["close"].map(lambda v: f"{v:.2f} USD")


def raises(prices: pd.DataFrame) -> pd.Series:
    return prices["adjusted"]  # no such column: a KeyError


def rsi_14(prices: pd.DataFrame) -> pd.Series:
    """Named like a built-in feature."""
    return prices["close"].pct_change()


def ret_5(prices: pd.DataFrame) -> pd.Series:
    """A natural name that is also a built-in model input."""
    return prices["close"].pct_change(5)
