"""The conventions every figure shares: trading days per year (annualization)."""

from __future__ import annotations

# Daily figures are annualized with 252 trading days: the mean scales by 252, the std by sqrt(252).
PERIODS_PER_YEAR = 252
