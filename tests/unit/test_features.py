"""Features: TA-Lib definitions against plain reference loops, labels, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spylib.core.errors import LookaheadError
from spylib.core.schema import FEATURE_TABLE_COLUMNS, LABEL_COLUMNS, MODEL_FEATURE_COLUMNS
from spylib.features.audit import audit_lookahead
from spylib.features.indicators import atr_wilder, bollinger, macd, rsi_wilder
from spylib.features.table import WARMUP_ROWS, build_feature_rows, build_features
from tests.helpers.synthetic import one_symbol, synthetic_prices


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return synthetic_prices(320, seed=3)


@pytest.fixture(scope="module")
def spy(prices: pd.DataFrame) -> pd.DataFrame:
    return one_symbol(prices, "SPY")


def reference_wilder(x: list[float], n: int) -> list[float]:
    """TA-Lib's Wilder average written as a plain loop: SMA seed, then prev + (x - prev) / n."""
    out = [float("nan")] * len(x)
    out[n - 1] = sum(x[:n]) / n
    for t in range(n, len(x)):
        out[t] = out[t - 1] + (x[t] - out[t - 1]) / n
    return out


def test_rsi_is_wilders(spy: pd.DataFrame) -> None:
    close = spy["close"].tolist()
    changes = [close[t] - close[t - 1] for t in range(1, len(close))]
    gain = reference_wilder([max(c, 0.0) for c in changes], 14)
    loss = reference_wilder([max(-c, 0.0) for c in changes], 14)
    expected = [np.nan] + [100 * g / (g + ls) for g, ls in zip(gain, loss, strict=True)]
    np.testing.assert_allclose(rsi_wilder(spy["close"], 14), expected, rtol=1e-10, equal_nan=True)
    assert rsi_wilder(spy["close"], 14).iloc[:14].isna().all()


def test_atr_is_wilders_with_true_range(spy: pd.DataFrame) -> None:
    h, lo, c = spy["high"].tolist(), spy["low"].tolist(), spy["close"].tolist()
    tr = [max(h[t] - lo[t], abs(h[t] - c[t - 1]), abs(lo[t] - c[t - 1])) for t in range(1, len(c))]
    expected = [np.nan, *reference_wilder(tr, 14)]
    np.testing.assert_allclose(
        atr_wilder(spy["high"], spy["low"], spy["close"]), expected, rtol=1e-10, equal_nan=True
    )


def test_bollinger_uses_population_std(spy: pd.DataFrame) -> None:
    mid, upper, lower = bollinger(spy["close"])
    window = spy["close"].iloc[100:120].to_numpy()
    assert mid.iloc[119] == pytest.approx(window.mean())
    assert upper.iloc[119] - mid.iloc[119] == pytest.approx(2 * window.std(ddof=0))
    assert lower.iloc[119] == pytest.approx(mid.iloc[119] - 2 * window.std(ddof=0))


def test_macd_uses_recursive_emas(spy: pd.DataFrame) -> None:
    def ema(values: list[float], span: int) -> list[float]:
        alpha, out = 2 / (span + 1), [values[0]]
        for v in values[1:]:
            out.append(alpha * v + (1 - alpha) * out[-1])
        return out

    close = spy["close"].tolist()
    line_ref = [a - b for a, b in zip(ema(close, 12), ema(close, 26), strict=True)]
    line, signal = macd(spy["close"])
    np.testing.assert_allclose(line, line_ref, rtol=1e-10)
    np.testing.assert_allclose(signal, ema(line_ref, 9), rtol=1e-10)


def test_labels_follow_the_execution_convention(prices: pd.DataFrame, spy: pd.DataFrame) -> None:
    rows = build_feature_rows(prices, "SPY", "QQQ", "close_to_close")
    c = spy["close"]
    np.testing.assert_allclose(rows["fwd_return"].iloc[:-1], (c.shift(-1) / c - 1).iloc[:-1])
    assert rows["target_up"].iloc[:-1].tolist() == (c.shift(-1) > c).iloc[:-1].astype(int).tolist()
    assert pd.isna(rows["target_up"].iloc[-1])
    o = spy["open"]
    rows_open = build_feature_rows(prices, "SPY", "QQQ", "open_to_open")
    np.testing.assert_allclose(rows_open["fwd_return"].iloc[:-2], (o.shift(-2) / o.shift(-1) - 1).iloc[:-2])
    assert rows_open["fwd_return"].iloc[-2:].isna().all()


def test_feature_table_has_the_schema_columns_and_keeps_the_unlabelled_last_day(prices: pd.DataFrame) -> None:
    features = build_features(prices, "SPY", "QQQ")
    assert list(features.columns) == list(FEATURE_TABLE_COLUMNS)
    assert len(features) == 320 - WARMUP_ROWS
    assert np.isfinite(features[list(MODEL_FEATURE_COLUMNS)].to_numpy(dtype=float)).all()
    assert features["target_up"].isna().sum() == 1
    assert features["target_up"].isna().iloc[-1]


def test_no_feature_uses_the_future(prices: pd.DataFrame) -> None:
    """Every feature at day t computed on data truncated at t equals row t on the full data."""
    full = build_feature_rows(prices, "SPY", "QQQ")
    columns = [c for c in full.columns if c not in (*LABEL_COLUMNS, "date", "symbol")]
    dates = full["date"].tolist()
    for t in range(WARMUP_ROWS, len(full), 17):
        cut = build_feature_rows(prices[prices["date"] <= dates[t]], "SPY", "QQQ").iloc[-1]
        for column in columns:
            a, b = full[column].iloc[t], cut[column]
            assert a == b or (pd.isna(a) and pd.isna(b)), f"{column} differs at {dates[t]}"


def test_audit_passes_honest_features_and_stops_a_planted_leak(prices: pd.DataFrame) -> None:
    def range_position(p: pd.DataFrame) -> pd.Series:
        return (p["close"] - p["low"]) / (p["high"] - p["low"])

    def tomorrow_return(p: pd.DataFrame) -> pd.Series:
        return p["close"].shift(-1) / p["close"] - 1

    audited = audit_lookahead(prices, "SPY", "QQQ", extra={"range_position": range_position})
    assert len(audited) >= 80
    assert len(set(audited)) == len(audited)
    with pytest.raises(LookaheadError, match="feature 'tomorrow_return' uses the future"):
        audit_lookahead(prices, "SPY", "QQQ", extra={"tomorrow_return": tomorrow_return})


def test_extra_features_are_appended_to_the_table(prices: pd.DataFrame) -> None:
    features = build_features(prices, "SPY", "QQQ", extra={"one": lambda p: pd.Series(1.0, index=p.index)})
    assert features.columns[-1] == "one"
    assert (features["one"] == 1.0).all()
