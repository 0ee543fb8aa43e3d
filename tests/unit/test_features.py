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


@pytest.mark.parametrize("workers", [1, 2])
def test_audit_passes_honest_features_and_stops_a_planted_leak(prices: pd.DataFrame, workers: int) -> None:
    # Local functions: the forked workers inherit them, nothing needs to pickle them.
    def range_position(p: pd.DataFrame) -> pd.Series:
        return (p["close"] - p["low"]) / (p["high"] - p["low"])

    def tomorrow_return(p: pd.DataFrame) -> pd.Series:
        return p["close"].shift(-1) / p["close"] - 1

    audited = audit_lookahead(prices, "SPY", "QQQ", extra={"range_position": range_position}, workers=workers)
    assert len(audited) >= 80
    assert len(set(audited)) == len(audited)
    assert audited == audit_lookahead(prices, "SPY", "QQQ", extra={"range_position": range_position})
    # The same first failing day whatever the workers: the rows are compared in the days' order.
    with pytest.raises(LookaheadError, match="feature 'tomorrow_return' uses the future") as leak:
        audit_lookahead(prices, "SPY", "QQQ", extra={"tomorrow_return": tomorrow_return}, workers=workers)
    with pytest.raises(LookaheadError) as sequential:
        audit_lookahead(prices, "SPY", "QQQ", extra={"tomorrow_return": tomorrow_return})
    assert str(leak.value) == str(sequential.value)


def test_extra_features_are_appended_to_the_table(prices: pd.DataFrame) -> None:
    features = build_features(prices, "SPY", "QQQ", extra={"one": lambda p: pd.Series(1.0, index=p.index)})
    assert features.columns[-1] == "one"
    assert (features["one"] == 1.0).all()


# ------------------------------------------------------------------------------------------------
# Stale opens: a year is scored only when most of its opens differ from the previous close by more
# than the data-checks tolerance
# ------------------------------------------------------------------------------------------------


def _with_opens_near_previous_close(
    prices: pd.DataFrame, year: int, gap: float, share: float
) -> pd.DataFrame:
    """SPY's opens in ``year`` set to ``previous close * (1 + gap)`` on the first ``share`` of its days."""
    out = prices.copy()
    spy = out.index[out["symbol"] == "SPY"]
    years = pd.to_datetime(out.loc[spy, "date"]).dt.year.to_numpy()
    rows = spy[1:][years[1:] == year]
    rows = rows[: round(share * len(rows))]
    previous = out.loc[spy, "close"].shift(1)
    out.loc[rows, "open"] = previous.loc[rows].to_numpy() * (1 + gap)
    return out


def test_stale_opens_are_counted_within_the_tolerance() -> None:
    from spylib.features.audit import STALE_OPEN_TOLERANCE, stale_open_shares, stale_open_years

    prices = synthetic_prices(780, seed=4)  # 2001-2003
    assert STALE_OPEN_TOLERANCE == 1e-4
    assert stale_open_years(prices, "SPY") == {}
    # Opens 0.5 bp from the previous close on 70% of 2002's days: stale at 1 bp, not by exact equality.
    near = _with_opens_near_previous_close(prices, 2002, 0.5e-4, 0.7)
    years = stale_open_years(near, "SPY")
    assert list(years) == [2002]
    assert years[2002] == pytest.approx(0.7, abs=0.01)
    assert stale_open_years(near, "SPY", tolerance=0.0) == {}
    assert stale_open_years(near, "SPY", tolerance=0.4e-4) == {}
    # 2 bp away is not stale at 1 bp; a minority of stale days does not exclude the year.
    assert stale_open_years(_with_opens_near_previous_close(prices, 2002, 2e-4, 0.9), "SPY") == {}
    minority = _with_opens_near_previous_close(prices, 2002, 0.0, 0.4)
    assert stale_open_years(minority, "SPY") == {}
    assert stale_open_shares(minority, "SPY")[2002] == pytest.approx(0.4, abs=0.01)


def test_the_embedded_index_has_stale_opens_in_2006_2007_and_2012_at_1_bp() -> None:
    from spylib.data.sources import load_embedded
    from spylib.features.audit import stale_open_years

    prices = load_embedded("SPY").frame
    exact = stale_open_years(prices, "SPY", tolerance=0.0)
    assert set(exact) == set(range(1999, 2006))  # exact equality misses the rounded opens
    years = stale_open_years(prices, "SPY")
    assert set(years) == {*range(1999, 2008), 2012}
    assert years[2006] == pytest.approx(0.78, abs=0.01)
    assert years[2007] == pytest.approx(0.56, abs=0.01)
    assert years[2012] == pytest.approx(0.64, abs=0.01)


def test_the_stale_open_tolerance_is_validated() -> None:
    from spylib.core.config import DEFAULT_DATA_CHECKS, parse_data_checks
    from spylib.core.errors import ConfigError

    assert DEFAULT_DATA_CHECKS.stale_open_tolerance == 1e-4
    assert parse_data_checks({"stale_open_tolerance": 0}).stale_open_tolerance == 0.0
    assert parse_data_checks({"stale_open_tolerance": 0.0005}).stale_open_tolerance == 0.0005
    for bad in (-1e-4, 0.01, "1bp", True):
        with pytest.raises(ConfigError, match=r"stale_open_tolerance.*must be within \[0, 0.01\)"):
            parse_data_checks({"stale_open_tolerance": bad}, source="data_checks.json")
