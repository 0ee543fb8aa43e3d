"""Features and labels.

Indicators follow TA-Lib's definitions: Wilder smoothing (seeded with a simple mean of the first
``n`` values) for ``rsi_14`` and ``atr_14``, the population standard deviation (ddof=0) for the
Bollinger bands, EMAs with ``adjust=False`` (seeded with the first value) for ``macd`` and
``macd_signal``. Prices are adjusted (``adj_close / close`` applied to OHLC) where the source has an
adjusted close.

Every feature at day t uses data up to and including day t only. :func:`audit_lookahead` proves it
on every run by recomputing the features on the data truncated at sampled days.

Labels follow the execution convention:

* ``close_to_close`` (market-on-close): the signal computed at the close of t is traded at that
  close and held to the close of t+1; ``fwd_return = close[t+1] / close[t] - 1``.
* ``open_to_open``: the signal from the close of t is traded at the open of t+1 and held to the open
  of t+2; ``fwd_return = open[t+2] / open[t+1] - 1``.

``target_up = fwd_return > 0``; the last day(s), whose outcome is unknown, have a null label and are
kept for prediction.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.errors import ConfigError
from spylib.core.schema import FEATURE_TABLE_COLUMNS, MODEL_FEATURE_COLUMNS, RENAMED_FEATURE_COLUMNS
from spylib.features.indicators import _safe_ratio, atr_wilder, bollinger, macd, rsi_wilder

log = logging.getLogger(__name__)


# The longest look-back of any windowed feature, in rows (rs_ret_60 uses 61 closes). The purge/embargo
# between segments and CV folds is at least this long. EMAs and Wilder averages have infinite memory;
# WARMUP_ROWS drops the rows where their seed still weighs more than ~0.1%.
LONGEST_WINDOW = 60


WARMUP_ROWS = 100


ExtraFeature = Callable[[pd.DataFrame], pd.Series]


# ---------------------------------------------------------------------------------------------
# the feature table
# ---------------------------------------------------------------------------------------------
def adjusted_ohlcv(prices: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """One symbol's rows, sorted by date, OHLC scaled by ``adj_close / close``."""
    frame = prices[prices["symbol"] == symbol].sort_values("date").reset_index(drop=True)
    factor = frame["adj_close"] / frame["close"]
    out = frame[["date", "symbol"]].copy()
    for column in ("open", "high", "low", "close"):
        out[column] = frame[column] * factor
    out["volume"] = frame["volume"]
    return out


def compute_indicators(own: pd.DataFrame, bench_close: pd.Series) -> pd.DataFrame:
    """All feature columns for one symbol (rows in date order), benchmark close aligned by row."""
    c, h, lo, o, v = own["close"], own["high"], own["low"], own["open"], own["volume"]
    # The columns are collected in a dict and become one frame at the end: inserting ~60 columns one by
    # one into a DataFrame cost a third of the look-ahead audit's time (it rebuilds this table ~150 times).
    f: dict[str, Any] = {}
    ret = c.pct_change()
    f["return"] = ret
    for n in (5, 10, 20, 50):
        f[f"sma_{n}"] = c.rolling(n).mean()
    f["rsi_14"] = rsi_wilder(c, 14)
    f["macd"], f["macd_signal"] = macd(c)
    f["bb_mid"], f["bb_upper"], f["bb_lower"] = bollinger(c)
    f["atr_14"] = atr_wilder(h, lo, c, 14)
    # The seed's cumulative "VWAP" from the first row (display only: it depends on where the data starts).
    f["vwap"] = (c * v).cumsum() / v.cumsum()
    # Named for no benchmark in particular (``--benchmark`` picks it); the seed's name was rel_strength_qqq.
    f["rel_strength_benchmark"] = c / bench_close
    std20 = ret.rolling(20).std()
    sma50 = f["sma_50"]
    bull = (c > sma50) & (std20 < 0.015)
    bear = (c < sma50) & (std20 > 0.025)
    f["regime"] = pd.Series(np.where(bull, "bull", np.where(bear, "bear", "volatile")), index=own.index)
    f["not_bear"] = (~bear).astype("int8")

    # scale-free model inputs
    f["ret_5"] = c / c.shift(5) - 1
    f["ret_20"] = c / c.shift(20) - 1
    f["vol_20"] = std20
    for n in (5, 10, 20, 50):
        f[f"dist_sma_{n}"] = c / f[f"sma_{n}"] - 1
    f["macd_pct"] = f["macd"] / c
    f["macd_signal_pct"] = f["macd_signal"] / c
    f["macd_hist_pct"] = (f["macd"] - f["macd_signal"]) / c
    f["bb_pctb"] = _safe_ratio(c - f["bb_lower"], f["bb_upper"] - f["bb_lower"])
    f["bb_width"] = (f["bb_upper"] - f["bb_lower"]) / f["bb_mid"]
    f["atr_pct"] = f["atr_14"] / c
    f["hl_range"] = (h - lo) / c
    f["gap_open"] = o / c.shift(1) - 1
    f["vwap_dist_20"] = _safe_ratio(c * v.rolling(20).sum(), (c * v).rolling(20).sum()) - 1
    vol_mean20 = v.rolling(20).mean()
    f["volume_ratio_5_20"] = _safe_ratio(v.rolling(5).mean(), vol_mean20)
    f["volume_z_20"] = _safe_ratio(v - vol_mean20, v.rolling(20).std())
    bench_ret = bench_close.pct_change()
    f["bench_return"] = bench_ret
    for n in (5, 20, 60):
        f[f"rs_ret_{n}"] = (c / c.shift(n)) / (bench_close / bench_close.shift(n)) - 1
    f["regime_bull"] = bull.astype("int8")
    f["regime_bear"] = bear.astype("int8")
    f["low_vol"] = (std20 < 0.01).astype("int8")
    f["vol_spike"] = (v > 3 * v.rolling(20).median()).astype("int8")
    f["extreme_return"] = (ret.abs() > 3 * std20).astype("int8")
    f["trend_up"] = ((c > f["sma_5"]) & (c > f["sma_10"])).astype("int8")
    f["trend_down"] = ((c < f["sma_5"]) & (c < f["sma_10"])).astype("int8")
    for pct in (120, 150, 200):
        f[f"in_play_{pct}"] = (v >= pct / 100 * vol_mean20).astype("int8")
    prices = own[["date", "symbol", "open", "high", "low", "close", "volume"]].copy()
    return pd.concat([prices, pd.DataFrame(f, index=own.index)], axis=1)


def forward_returns(own: pd.DataFrame, convention: str) -> pd.Series:
    """The return a long position earns over the label span of ``convention`` (see module doc)."""
    if convention == "close_to_close":
        return own["close"].shift(-1) / own["close"] - 1
    if convention == "open_to_open":
        return own["open"].shift(-2) / own["open"].shift(-1) - 1
    raise ConfigError(f"unknown execution convention {convention!r}", source="execution")


def built_in_columns() -> frozenset[str]:
    """Every column the feature table has without user features (a user feature may not take one)."""
    empty = pd.DataFrame(
        {"date": [], "symbol": [], **{c: pd.Series([], dtype="float64") for c in PRICE_VALUES}}
    )
    computed = compute_indicators(empty, pd.Series([], dtype="float64")).columns
    # The old names of renamed columns too: the lake's views still answer to them.
    return frozenset(
        {
            *computed,
            *FEATURE_TABLE_COLUMNS,
            *MODEL_FEATURE_COLUMNS,
            *RENAMED_FEATURE_COLUMNS,
            "fwd_return",
            "target_up",
        }
    )


PRICE_VALUES: tuple[str, ...] = ("open", "high", "low", "close", "volume")


def load_extra_features(paths: Sequence[str]) -> dict[str, ExtraFeature]:
    """Resolve ``"module:function"`` paths of user features: ``function(prices_one_symbol) -> Series``.
    The feature is named after the function: a name the feature table already has (``rsi_14``,
    ``ret_5``) or a name given twice is refused here, in ``start``."""
    out: dict[str, ExtraFeature] = {}
    taken = built_in_columns()
    for path in paths:
        module_name, _, func_name = path.partition(":")
        if not module_name or not func_name:
            raise ConfigError("expected 'module:function'", source="--extra-features", key=path)
        if func_name in taken:
            raise ConfigError(
                f"the feature would be named {func_name!r}, a built-in column of the feature table: "
                "rename the function",
                source="--extra-features",
                key=path,
            )
        if func_name in out:
            raise ConfigError(
                f"a second feature named {func_name!r}: each feature is named after its function, rename one",
                source="--extra-features",
                key=path,
            )
        try:
            out[func_name] = getattr(importlib.import_module(module_name), func_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot import: {exc}", source="--extra-features", key=path) from exc
    return out


# A user feature undefined (NaN) on more than this share of the rows after the warm-up is refused: its
# rows would be dropped from the feature table (all of them, for a feature that is all NaN).
MAX_UNDEFINED_SHARE = 0.5


def _feature_error(name: str, problem: str, day: object = None) -> ConfigError:
    where = f", first at date {pd.Timestamp(day).date()}" if day is not None else ""
    return ConfigError(f"{problem}{where}", source="--extra-features", key=name)


def _as_numbers(name: str, values: pd.Series, dates: np.ndarray) -> np.ndarray:
    """The values as float64; text (even ``"1.5"``) or any other non-number names the first bad date."""
    if values.dtype.kind in "biuf":
        return values.to_numpy(dtype="float64")
    cells = values.astype(object)
    numeric = cells.map(
        lambda v: v is None or (isinstance(v, int | float | np.number) and not isinstance(v, str))
    )
    undefined = cells.isna()
    bad = ~(numeric | undefined)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise _feature_error(name, f"not a number: {cells.iloc[i]!r}", dates[i])
    return pd.to_numeric(cells.where(~undefined, np.nan)).to_numpy(dtype="float64")


def compute_extra_feature(name: str, func: ExtraFeature, own: pd.DataFrame) -> np.ndarray:
    """Call a user feature on one symbol's rows and check what it returns, where it is computed: one
    value per row (a Series on the same index, or an array of the same length), numbers, finite, and
    defined on most rows after the warm-up. Each failure names the feature (and the first bad date)."""
    try:
        result = func(own.copy())
    except Exception as exc:  # the user's code: any error is reported as that feature's
        raise _feature_error(name, f"the function raised {type(exc).__name__}: {exc}") from None
    dates = own["date"].to_numpy()
    if isinstance(result, pd.Series):
        if len(result) != len(own) or not result.index.equals(own.index):
            missing = own.index.difference(result.index)
            raise _feature_error(
                name,
                f"returned a Series of {len(result)} rows whose index is not the prices' "
                f"({len(own)} rows, index 0..{len(own) - 1}): return one value per row of the frame it gets",
                own["date"].iloc[int(missing[0])] if len(missing) else None,
            )
        values = result
    else:
        values = pd.Series(np.asarray(result, dtype=object).reshape(-1), index=own.index)
        if len(values) != len(own):
            raise _feature_error(name, f"returned {len(values)} values for {len(own)} rows")
    out = _as_numbers(name, values, dates)
    infinite = np.isinf(out)
    if infinite.any():
        i = int(np.flatnonzero(infinite)[0])
        raise _feature_error(name, f"infinite value {out[i]}", dates[i])
    after = np.isnan(out[WARMUP_ROWS:])
    # Only on a history long enough to judge (the look-ahead audit also calls this on short cuts).
    if len(after) >= LONGEST_WINDOW and after.mean() > MAX_UNDEFINED_SHARE:
        i = WARMUP_ROWS + int(np.flatnonzero(after)[0])
        raise _feature_error(
            name,
            f"undefined (NaN) on {after.mean():.0%} of the rows after the {WARMUP_ROWS}-row warm-up "
            f"(at most {MAX_UNDEFINED_SHARE:.0%} allowed: its rows are dropped from the table)",
            dates[i],
        )
    return out


def build_feature_rows(
    prices: pd.DataFrame,
    symbol: str,
    benchmark: str,
    convention: str = "close_to_close",
    extra: dict[str, ExtraFeature] | None = None,
) -> pd.DataFrame:
    """Every row of the feature table, warm-up rows included (used by the audit and by build_features)."""
    own = adjusted_ohlcv(prices, symbol)
    bench = adjusted_ohlcv(prices, benchmark).set_index("date")["close"]
    bench_close = pd.Series(bench.reindex(own["date"]).to_numpy(), index=own.index)
    f = compute_indicators(own, bench_close)
    for name, func in (extra or {}).items():
        if name in f.columns:  # load_extra_features refuses these in start; a direct caller too
            raise _feature_error(name, "the name of a built-in column of the feature table")
        f[name] = pd.Series(compute_extra_feature(name, func, own), index=f.index)
    fwd = forward_returns(own, convention)
    f["fwd_return"] = fwd
    f["target_up"] = pd.array(np.where(fwd.isna(), pd.NA, (fwd > 0).astype("int8")), dtype="Int8")
    return f


def build_features(
    prices: pd.DataFrame,
    symbol: str,
    benchmark: str,
    convention: str = "close_to_close",
    extra: dict[str, ExtraFeature] | None = None,
) -> pd.DataFrame:
    """The feature table (``FEATURES_SCHEMA`` columns, then any extra features): warm-up rows dropped,
    rows with an undefined model feature dropped, the unlabeled last day(s) kept."""
    f = build_feature_rows(prices, symbol, benchmark, convention, extra)
    f = f.iloc[WARMUP_ROWS:]
    model_cols = [*MODEL_FEATURE_COLUMNS, *(extra or {})]
    complete = f[model_cols].notna().all(axis=1)
    if (~complete).any():
        log.warning("dropped %d rows with an undefined feature (e.g. zero volume)", int((~complete).sum()))
    f = f[complete].reset_index(drop=True)
    columns = [*FEATURE_TABLE_COLUMNS, *(c for c in (extra or {}) if c not in FEATURE_TABLE_COLUMNS)]
    return f[columns]


def feature_columns(extra: dict[str, ExtraFeature] | None = None) -> list[str]:
    """The columns the model sees."""
    return [*MODEL_FEATURE_COLUMNS, *(extra or {})]
