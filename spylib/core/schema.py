"""Table schemas, defined once with pyarrow.

They are the contract between the stages: ingest normalizes every input into ``PRICES_SCHEMA``,
``build_features`` produces exactly ``FEATURES_SCHEMA``'s columns, ``predict`` produces
``PREDICTIONS_SCHEMA``'s. The lake validates writes against them and the Glue/Athena DDL is
generated from them.
"""

from __future__ import annotations

import pyarrow as pa

# --- prices: one row per (symbol, trading day) -------------------------------------------------
PRICES_SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        # Split/dividend-adjusted close; equal to ``close`` when the source has no adjusted column.
        pa.field("adj_close", pa.float64(), nullable=False),
        # float, not int: index volumes and consolidated volumes can exceed int64-safe CSV parsing
        # paths in some tools, and NaN checks are uniform.
        pa.field("volume", pa.float64(), nullable=False),
    ]
)
PRICE_COLUMNS: tuple[str, ...] = tuple(PRICES_SCHEMA.names)

# --- features ---------------------------------------------------------------------------------
# The seed project's columns, computed as TA-Lib defines them. Kept for display and for the rule-based
# filters; the raw price levels among them are NOT given to the model. Named as the seed named them,
# but for ``rel_strength_benchmark`` (the close over the benchmark's close), which the seed called
# ``rel_strength_qqq`` when its benchmark was always QQQ (see RENAMED_FEATURE_COLUMNS).
SEED_LEVEL_COLUMNS: tuple[str, ...] = (
    "sma_5",
    "sma_10",
    "sma_20",
    "sma_50",
    "macd",
    "macd_signal",
    "bb_mid",
    "bb_upper",
    "bb_lower",
    "atr_14",
    "vwap",
    "rel_strength_benchmark",
)
SEED_FLAG_COLUMNS: tuple[str, ...] = (
    "vol_spike",
    "extreme_return",
    "trend_up",
    "trend_down",
    "in_play_120",
    "in_play_150",
    "in_play_200",
)

# What the model sees: scale-free transforms (returns, ratios to the close, z-scores, percent
# distances), volume features, relative strength against the benchmark, and the seed's flags.
MODEL_FEATURE_COLUMNS: tuple[str, ...] = (
    "return",
    "ret_5",
    "ret_20",
    "vol_20",
    "dist_sma_5",
    "dist_sma_10",
    "dist_sma_20",
    "dist_sma_50",
    "rsi_14",
    "macd_pct",
    "macd_signal_pct",
    "macd_hist_pct",
    "bb_pctb",
    "bb_width",
    "atr_pct",
    "hl_range",
    "gap_open",
    "vwap_dist_20",
    "volume_ratio_5_20",
    "volume_z_20",
    "bench_return",
    "rs_ret_5",
    "rs_ret_20",
    "rs_ret_60",
    "regime_bull",
    "regime_bear",
    "low_vol",
    *SEED_FLAG_COLUMNS,
)

# The seed project's own 21 model columns (raw OHLCV included), for its recipe as a baseline. They
# select columns of this project's feature table (no seed file is read), so they take the table's names.
SEED_MODEL_COLUMNS: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "return",
    "sma_5",
    "sma_10",
    "sma_20",
    "sma_50",
    "rsi_14",
    "macd",
    "macd_signal",
    "bb_mid",
    "bb_upper",
    "bb_lower",
    "atr_14",
    "vwap",
    "rel_strength_benchmark",
    "vol_spike",
    "extreme_return",
)

LABEL_COLUMNS: tuple[str, ...] = ("fwd_return", "target_up")

# Feature columns renamed, old name -> current name. Where a reader names features (the lake's SQL
# views, user feature names), the old name still works, with a warning, until it is removed.
RENAMED_FEATURE_COLUMNS: dict[str, str] = {"rel_strength_qqq": "rel_strength_benchmark"}

_INT_FEATURES = {*SEED_FLAG_COLUMNS, "regime_bull", "regime_bear", "low_vol"}

FEATURES_SCHEMA = pa.schema(
    [
        # The price columns keep their PRICES_SCHEMA types (OHLC adjusted where the source allows).
        *[PRICES_SCHEMA.field(c) for c in ("date", "symbol", "open", "high", "low", "close", "volume")],
        *[pa.field(c, pa.float64(), nullable=False) for c in SEED_LEVEL_COLUMNS],
        pa.field("regime", pa.string(), nullable=False),
        # Filter-only flag (1 - regime_bear); the model sees regime_bear itself.
        pa.field("not_bear", pa.int8(), nullable=False),
        *[
            pa.field(c, pa.int8() if c in _INT_FEATURES else pa.float64(), nullable=False)
            for c in MODEL_FEATURE_COLUMNS
        ],
        # Forward return over the label span of the execution convention; null on the last day(s).
        pa.field("fwd_return", pa.float64(), nullable=True),
        pa.field("target_up", pa.int8(), nullable=True),
    ]
)
FEATURE_TABLE_COLUMNS: tuple[str, ...] = tuple(FEATURES_SCHEMA.names)

# --- predictions ------------------------------------------------------------------------------
PREDICTIONS_SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("segment", pa.string(), nullable=False),
        pa.field("probability", pa.float64(), nullable=False),
        # 1 = long for the next label span, 0 = flat.
        pa.field("signal", pa.int8(), nullable=False),
        # The position held over the next label span: the signal times the strategy's size (1 for
        # long/flat; min(1, target / volatility) for volatility-targeted sizing); 0 = flat.
        pa.field("position", pa.float64(), nullable=False),
        # Realized outcome where known (null for the latest day).
        pa.field("target_up", pa.int8(), nullable=True),
        pa.field("fwd_return", pa.float64(), nullable=True),
        pa.field("model_version", pa.string(), nullable=False),
    ]
)
PREDICTION_COLUMNS: tuple[str, ...] = tuple(PREDICTIONS_SCHEMA.names)
