"""The synthetic control market (``--source synthetic:edge=E,...``): determinism, OHLC realism, strict
spec parsing, provenance, and the planted edge measured through ``build_features`` under both
execution conventions.

Tolerances: the sample correlation of n pairs has a standard error of about ``(1 - E^2) / sqrt(n)``
(0.0063 at n = 25,100 rows, 100 synthetic years); the Mann-Whitney AUC, about ``1 / sqrt(3 n)``
(0.0036). Every check allows 4 standard errors: a correct generator fails one with probability < 1e-4,
while a misplaced edge (e.g. planted in the overnight gap, which ``open_to_open`` never trades) is off
by many of them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from spylib.core.errors import ConfigError
from spylib.core.schema import MODEL_FEATURE_COLUMNS, PRICE_COLUMNS
from spylib.data.sources import data_note, ingest
from spylib.data.synthetic import (
    END_DATE,
    SyntheticSpec,
    generate_market,
    parse_spec,
    signal_auc,
    signal_benchmarks,
)
from spylib.features.table import WARMUP_ROWS, build_feature_rows, build_features

LONG_YEARS = 100
CONVENTIONS = ("close_to_close", "open_to_open")


def _one(prices: pd.DataFrame, symbol: str) -> pd.DataFrame:
    return prices[prices["symbol"] == symbol].reset_index(drop=True)


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """Mann-Whitney AUC from ranks (ties get average ranks)."""
    ranks = pd.Series(score).rank().to_numpy()
    n1 = int(label.sum())
    n0 = len(label) - n1
    return float((ranks[label == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@pytest.fixture(scope="module")
def long_features() -> dict[tuple[float, str], pd.DataFrame]:
    """Labeled feature rows of 100-year markets, per (edge, convention)."""
    out = {}
    for edge in (0.0, 0.1, 0.3):
        prices = generate_market(SyntheticSpec(edge=edge, years=LONG_YEARS))
        for convention in CONVENTIONS:
            features = build_features(prices, "SPY", "QQQ", convention)
            out[(edge, convention)] = features.dropna(subset=["fwd_return"]).reset_index(drop=True)
    return out


# ---------------------------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------------------------
def test_same_spec_gives_byte_identical_frames() -> None:
    a = generate_market(parse_spec("synthetic:edge=0.1,years=3,seed=7"))
    b = generate_market(parse_spec("synthetic:edge=0.1,years=3,seed=7"))
    assert a.equals(b)
    for column in PRICE_COLUMNS[2:]:
        assert a[column].to_numpy().tobytes() == b[column].to_numpy().tobytes()
    one = ingest("synthetic:edge=0.1,years=3,seed=7", "SPY", "QQQ")
    two = ingest("synthetic:edge=0.1,years=3,seed=7", "SPY", "QQQ")
    assert one.fingerprint == two.fingerprint


def test_seeds_and_edges_give_different_markets() -> None:
    base = generate_market(SyntheticSpec(edge=0.1, years=3, seed=0))
    other_seed = generate_market(SyntheticSpec(edge=0.1, years=3, seed=1))
    other_edge = generate_market(SyntheticSpec(edge=0.2, years=3, seed=0))
    assert not np.allclose(base["close"], other_seed["close"])
    assert not np.allclose(base["close"], other_edge["close"])
    assert ingest("synthetic:edge=0.1,years=3", "SPY", "QQQ").fingerprint != (
        ingest("synthetic:edge=0.1,years=3,seed=1", "SPY", "QQQ").fingerprint
    )


# ---------------------------------------------------------------------------------------------
# realism
# ---------------------------------------------------------------------------------------------
def test_ohlcv_is_consistent_and_realistic() -> None:
    prices = generate_market(SyntheticSpec(edge=0.2, years=4, seed=3), "SPY", "QQQ")
    assert list(prices.columns) == list(PRICE_COLUMNS)
    assert set(prices["symbol"]) == {"SPY", "QQQ"}
    for symbol in ("SPY", "QQQ"):
        p = _one(prices, symbol)
        assert len(p) == 4 * 252
        dates = pd.to_datetime(pd.Series(p["date"]))
        assert dates.is_monotonic_increasing
        assert dates.is_unique
        assert (dates.dt.day_of_week < 5).all()
        assert p["date"].iloc[-1] == END_DATE
        assert (p[["open", "high", "low", "close", "adj_close", "volume"]] > 0).all().all()
        assert (p["high"] >= np.maximum(p["open"], p["close"])).all()
        assert (p["low"] <= np.minimum(p["open"], p["close"])).all()
        assert (p["high"] > p["low"]).all()
        assert (p["adj_close"] == p["close"]).all()
        assert (p["open"].iloc[1:].to_numpy() != p["close"].iloc[:-1].to_numpy()).all()  # overnight gaps
        gaps = np.log(p["open"].iloc[1:].to_numpy() / p["close"].iloc[:-1].to_numpy())
        assert 0.002 < gaps.std() < 0.01  # overnight share 0.3 of a 1% (1.3% benchmark) daily vol
        assert p["volume"].nunique() > 0.9 * len(p)
        assert (p["volume"] == p["volume"].round()).all()
    spy, qqq = _one(prices, "SPY"), _one(prices, "QQQ")
    rho = np.corrcoef(np.log(spy["close"]).diff()[1:], np.log(qqq["close"]).diff()[1:])[0, 1]
    assert 0.75 < rho < 0.92  # corr * sqrt(1 - E^2) = 0.83
    assert not np.allclose(spy["close"].to_numpy(), qqq["close"].to_numpy())


def test_features_have_no_nan_after_warm_up() -> None:
    prices = generate_market(SyntheticSpec(edge=0.1, years=3))
    for convention in CONVENTIONS:
        rows = build_feature_rows(prices, "SPY", "QQQ", convention).iloc[WARMUP_ROWS:]
        model = rows[list(MODEL_FEATURE_COLUMNS)]
        assert not model.isna().any().any(), model.columns[model.isna().any()].tolist()
        assert len(build_features(prices, "SPY", "QQQ", convention)) == 3 * 252 - WARMUP_ROWS
    f = build_features(prices, "SPY", "QQQ")
    assert (f["gap_open"] != 0).all()
    assert (f["hl_range"] > 0).all()
    assert f["volume_z_20"].std() > 0.5
    assert f["vol_spike"].sum() > 0
    assert 0 < f["low_vol"].mean() < 1
    assert 0 < f["trend_up"].mean() < 1


# ---------------------------------------------------------------------------------------------
# the spec
# ---------------------------------------------------------------------------------------------
def test_spec_defaults_and_round_trip() -> None:
    spec = parse_spec("synthetic:edge=0.05, years=3 ,seed=7")
    assert spec == SyntheticSpec(edge=0.05, years=3.0, seed=7)
    assert spec.rows == 756
    assert parse_spec(spec.canonical()) == spec
    assert (
        spec.canonical() == "synthetic:edge=0.05,years=3,seed=7,drift=0.0003,vol=0.01,corr=0.85,overnight=0.3"
    )
    default = parse_spec("synthetic:edge=0")
    assert (default.years, default.seed, default.drift, default.vol) == (20.0, 0, 0.0003, 0.01)


@pytest.mark.parametrize(
    ("source", "key", "fragment"),
    [
        ("synthetic", "edge", "missing"),
        ("synthetic:", "edge", "missing"),
        ("synthetic:years=5", "edge", "missing"),
        ("synthetic:edge=0.1,foo=1", "foo", "unknown key"),
        ("synthetic:edge=abc", "edge", "not a number"),
        ("synthetic:edge=1", "edge", "in [0, 1)"),
        ("synthetic:edge=-0.1", "edge", "in [0, 1)"),
        ("synthetic:edge=nan", "edge", "in [0, 1)"),
        ("synthetic:edge=0.1,years=1.5", "years", "in [2, 200]"),
        ("synthetic:edge=0.1,years=x", "years", "not a number"),
        ("synthetic:edge=0.1,seed=1.5", "seed", "non-negative integer"),
        ("synthetic:edge=0.1,vol=0", "vol", "in (0, 0.1]"),
        ("synthetic:edge=0.1,edge=0.2", "edge", "given twice"),
        ("synthetic:edge=0.1,,years=3", ",", "expected key=value"),
        ("synthetic:edge", "edge", "expected key=value"),
    ],
)
def test_bad_spec_raises_config_error_naming_the_key(source: str, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ingest(source, "SPY", "QQQ")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"--source, key '{key}':") or (key == "," and message.startswith("--source"))
    assert fragment in message
    assert caught.value.source == "--source"


def test_provenance_says_synthetic_with_its_parameters() -> None:
    market = ingest("synthetic:edge=0.1,years=3", "SPY", "QQQ")
    prov = market.provenance()
    canonical = "synthetic:edge=0.1,years=3,seed=0,drift=0.0003,vol=0.01,corr=0.85,overnight=0.3"
    assert prov["sources"] == {"SPY": canonical, "QQQ": canonical}
    assert prov["layouts"] == {"SPY": "synthetic", "QQQ": "synthetic"}
    descriptions: dict[str, str] = prov["descriptions"]  # type: ignore[assignment]
    assert all(
        d.startswith("SYNTHETIC market, not real data") and canonical in d for d in descriptions.values()
    )
    assert "planted edge E=0.1" in descriptions["SPY"]
    assert "without an edge" in descriptions["QQQ"]
    assert prov["rows_per_symbol"] == 756
    assert prov["last_date"] == str(END_DATE)
    note = data_note(prov)
    assert "SYNTHETIC" in note
    assert "stand-in" not in note


# ---------------------------------------------------------------------------------------------
# the planted edge
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("edge", [0.0, 0.1, 0.3])
def test_planted_edge_is_seen_by_the_return_feature(
    long_features: dict[tuple[float, str], pd.DataFrame], edge: float, convention: str
) -> None:
    f = long_features[(edge, convention)]
    n = len(f)
    corr = float(np.corrcoef(f["return"], f["fwd_return"])[0, 1])
    assert abs(corr - edge) < 4 * (1 - edge**2) / math.sqrt(n), corr
    auc = _auc(f["return"].to_numpy(), f["target_up"].to_numpy(dtype="int64"))
    assert abs(auc - signal_auc(edge)) < 4 / math.sqrt(3 * n), auc


def test_the_benchmark_has_no_edge_of_its_own() -> None:
    prices = generate_market(SyntheticSpec(edge=0.3, years=LONG_YEARS))
    f = build_features(prices, "QQQ", "SPY").dropna(subset=["fwd_return"])
    corr = float(np.corrcoef(f["return"], f["fwd_return"])[0, 1])
    assert abs(corr) < 4 / math.sqrt(len(f)), corr


def test_signal_benchmarks_match_closed_forms() -> None:
    for edge in (0.0, 0.05, 0.1, 0.5):
        assert signal_auc(edge, drift=0.0) == pytest.approx(
            0.5 + 2 / math.pi * math.asin(edge / math.sqrt(2)), abs=1e-6
        )
    none = signal_benchmarks(0.0)
    assert none["auc"] == pytest.approx(0.5, abs=1e-9)
    assert none["sharpe_long_flat"] == pytest.approx(none["sharpe_buy_and_hold"])  # always long
    assert none["years_for_power"] == math.inf
    strong = signal_benchmarks(0.1)
    assert strong["sharpe_long_short"] > strong["sharpe_long_flat"] > strong["sharpe_buy_and_hold"]
    assert strong["auc"] == pytest.approx(0.5451, abs=1e-4)
    assert strong["years_for_power"] == pytest.approx(3.84, abs=0.01)
