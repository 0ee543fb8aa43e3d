"""User features for the look-ahead audit tests (loaded with --extra-features module:function)."""

from __future__ import annotations

import pandas as pd


def tomorrow_return(prices: pd.DataFrame) -> pd.Series:
    """Planted leak: tomorrow's close-to-close return, known only after tomorrow's close."""
    return prices["close"].shift(-1) / prices["close"] - 1


def range_position(prices: pd.DataFrame) -> pd.Series:
    """An honest user feature: where today's close sits in today's range."""
    span = (prices["high"] - prices["low"]).where(lambda s: s > 0)
    return ((prices["close"] - prices["low"]) / span).fillna(0.5)
