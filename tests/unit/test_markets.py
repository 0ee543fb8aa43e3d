"""The realistic control markets (``synthetic:family=garch|regimes|bootstrap,...``): the properties each
family exists for (fat tails, volatility clustering, leverage, crash days, resampled real days),
determinism per seed, no edge at ``edge=0``, the planted edge, strict parsing and ingest's validation.

Tolerances: a lag-one sample correlation of n days has a standard error of about ``1 / sqrt(n)``
(0.009 at 50 years, 12,600 days; larger under volatility clustering); checks of "no edge" allow 4 of
them, checks of a property require a margin many of them wide.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from spylib.core.errors import ConfigError
from spylib.core.schema import PRICE_COLUMNS
from spylib.data import markets
from spylib.data.markets import (
    bootstrap_indices,
    embedded_days,
    family_days,
    generate_family_market,
    ideal_sharpe,
    plant_edge,
)
from spylib.data.sources import ingest
from spylib.data.synthetic import parse_spec

FAMILIES = ("garch", "regimes", "bootstrap")
LONG = 50


def _spec(family: str, edge: float = 0.0, seed: int = 0, years: float = LONG) -> str:
    return f"synthetic:family={family},edge={edge},years={years},seed={seed}"


def _log_returns(frame: pd.DataFrame, symbol: str = "SPY") -> np.ndarray:
    close = frame.loc[frame["symbol"] == symbol, "adj_close"].to_numpy()
    return np.diff(np.log(close))


@pytest.fixture(scope="module")
def long_returns() -> dict[str, np.ndarray]:
    return {f: _log_returns(generate_family_market(parse_spec(_spec(f)))) for f in FAMILIES}


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def _kurtosis(r: np.ndarray) -> float:
    return float(pd.Series(r).kurt()) + 3.0


def test_garch_has_fat_tails_clustering_and_leverage(long_returns: dict[str, np.ndarray]) -> None:
    r = long_returns["garch"]
    assert _kurtosis(r) > 6.0  # normal: 3
    assert _corr(np.abs(r[:-1]), np.abs(r[1:])) > 0.15  # volatility clustering
    # leverage: falls raise tomorrow's volatility (the embedded index: -0.13 and 1.22)
    assert _corr(r[:-1], np.abs(r[1:])) < 0.0
    after_fall, after_rise = np.abs(r[1:])[r[:-1] < 0].mean(), np.abs(r[1:])[r[:-1] > 0].mean()
    assert after_fall > 1.05 * after_rise
    vol = r.std() * np.sqrt(252)
    assert 0.10 < vol < 0.30  # the embedded index's is 0.19


def test_regimes_have_crash_days_in_turbulent_spells(long_returns: dict[str, np.ndarray]) -> None:
    r = long_returns["regimes"]
    crashes = r < markets.CRASH_RETURN
    assert 10 <= crashes.sum() <= 400  # the embedded index: 31 in 20 years
    assert _kurtosis(r) > 4.0
    assert _corr(np.abs(r[:-1]), np.abs(r[1:])) > 0.05  # calm and turbulent spells
    rolling = pd.Series(r).rolling(63).std().to_numpy()
    assert np.nanmean(rolling[crashes]) > 1.5 * np.nanmean(rolling[~crashes])  # crashes come in turbulence


def test_regime_chain_visits_both_states_with_the_fitted_spell_lengths() -> None:
    states = markets.regime_states(252 * 200, np.random.default_rng(1))
    runs = np.diff(np.flatnonzero(np.diff(states.astype(int)) != 0))
    params = markets.load_parameters()["regimes"]["states"]
    expected = 0.5 * (1 / params["calm"]["leave_probability"] + 1 / params["turbulent"]["leave_probability"])
    assert 0.5 * expected < runs.mean() < 2.0 * expected
    assert 0.1 < states.mean() < 0.7


def test_bootstrap_days_are_blocks_of_the_real_days() -> None:
    real = embedded_days().to_numpy()
    spec = parse_spec(_spec("bootstrap", years=20, seed=4))
    days = family_days(spec)
    resampled = np.column_stack([days[c] for c in embedded_days().columns])
    lookup = {tuple(row): i for i, row in enumerate(real)}
    idx = np.array([lookup[tuple(row)] for row in resampled])  # KeyError if a day is not a real one
    steps = np.diff(idx)
    continued = (steps == 1) | (steps == 1 - len(real))  # the next real day, wrapping around
    assert 1 / 60 < 1 - continued.mean() < 1 / 20  # a new block about every 40 days
    # the prices are rebuilt from the resampled days: close-to-close = overnight + intraday
    frame = generate_family_market(spec)
    r = _log_returns(frame)
    np.testing.assert_allclose(r, (days["gap_s"] + days["intra_s"])[1:], atol=1e-9)


def test_bootstrap_indices_mean_block_length() -> None:
    idx = bootstrap_indices(5000, 100_000, 25.0, np.random.default_rng(0))
    new = np.diff(idx) != 1
    assert idx.min() >= 0
    assert idx.max() < 5000
    assert 22 < 1 / new.mean() < 28


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_market_other_seed_other_market(family: str) -> None:
    a = generate_family_market(parse_spec(_spec(family, years=3, seed=5)))
    b = generate_family_market(parse_spec(_spec(family, years=3, seed=5)))
    c = generate_family_market(parse_spec(_spec(family, years=3, seed=6)))
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["close"], c["close"])
    assert list(a.columns) == list(PRICE_COLUMNS)


@pytest.mark.parametrize("family", ["garch", "regimes"])
def test_no_edge_at_zero(family: str, long_returns: dict[str, np.ndarray]) -> None:
    r = long_returns[family]
    z = r / markets.ewma_vol(r)
    assert abs(_corr(z[:-1], r[1:] / markets.ewma_vol(r)[1:])) < 4 / np.sqrt(len(r))


def test_bootstrap_adds_no_edge_to_the_real_days(long_returns: dict[str, np.ndarray]) -> None:
    real = embedded_days()
    real_r = (real["gap_s"] + real["intra_s"]).to_numpy()
    r = long_returns["bootstrap"]
    # the resampled lag-one autocorrelation is the real one's (blocks keep it), not more
    assert abs(_corr(r[:-1], r[1:]) - _corr(real_r[:-1], real_r[1:])) < 4 / np.sqrt(len(real_r))


@pytest.mark.parametrize("family", FAMILIES)
def test_planted_edge_tilts_the_next_day(family: str) -> None:
    plain = generate_family_market(parse_spec(_spec(family, edge=0.0, seed=2)))
    tilted = generate_family_market(parse_spec(_spec(family, edge=0.3, seed=2)))
    gain = []
    for frame in (plain, tilted):
        r = _log_returns(frame)
        vol = markets.ewma_vol(r)
        gain.append(_corr(r[:-1] / vol[:-1], r[1:] / vol[1:]))
    assert gain[1] - gain[0] > 0.2
    bench = [_log_returns(f, "QQQ") for f in (plain, tilted)]
    np.testing.assert_allclose(bench[0], bench[1])  # the benchmark has no edge


def test_plant_edge_uses_only_the_past() -> None:
    """Beyond the EWMA's starting value (the variance of the first 250 days), a day's tilt depends
    only on the days before it: cutting the future off changes nothing."""
    rng = np.random.default_rng(3)
    gap, intra = 0.003 * rng.standard_normal(400), 0.008 * rng.standard_normal(400)
    full = plant_edge(gap, intra, 0.2)
    for cut in (250, 320):
        np.testing.assert_array_equal(full[:cut], plant_edge(gap[:cut], intra[:cut], 0.2))
        np.testing.assert_array_equal(
            markets.ewma_vol(gap + full)[:cut], markets.ewma_vol((gap + full)[:cut])
        )


def test_ideal_sharpe_grows_with_the_edge() -> None:
    none, some = ideal_sharpe("garch", 0.0, years=30), ideal_sharpe("garch", 0.2, years=30)
    assert none.long_flat == pytest.approx(none.buy_and_hold)
    assert some.long_flat > none.long_flat + 0.5


@pytest.mark.parametrize("family", FAMILIES)
def test_generated_prices_pass_ingest_validation(family: str) -> None:
    market = ingest(_spec(family, years=4, seed=1), "SPY", "QQQ")
    assert market.dropped_dates == 0
    assert market.symbol.source == parse_spec(_spec(family, years=4, seed=1)).canonical()
    assert "SYNTHETIC" in market.symbol.description
    p = market.prices
    assert (p["high"] >= p[["open", "close"]].max(axis=1)).all()
    assert (p["low"] <= p[["open", "close"]].min(axis=1)).all()
    assert (p["volume"] > 0).all()
    assert (p["open"] != p.groupby("symbol")["close"].shift()).iloc[1:].mean() > 0.5


def test_spec_parsing_of_families() -> None:
    spec = parse_spec("synthetic:family=bootstrap,edge=0,block=25,seed=3")
    assert (spec.family, spec.block, spec.seed) == ("bootstrap", 25.0, 3)
    assert parse_spec(spec.canonical()) == spec
    assert parse_spec("synthetic:edge=0.1").canonical().startswith("synthetic:edge=0.1,years=20")
    for source, key in (
        ("synthetic:family=arima,edge=0", "family"),
        ("synthetic:family=garch,edge=0,vol=0.02", "vol"),
        ("synthetic:family=garch,edge=0,block=20", "block"),
        ("synthetic:family=bootstrap,edge=0,block=1", "block"),
    ):
        with pytest.raises(ConfigError) as err:
            parse_spec(source)
        assert err.value.key == key, source


def test_shipped_parameters_are_the_fit() -> None:
    shipped = json.loads(markets.PARAMS_FILE.read_text(encoding="utf-8"))
    assert shipped["regenerate"] == markets.REGENERATE
    g = shipped["garch"]["symbol"]
    assert g["gamma"] > 0
    assert g["alpha"] + g["gamma"] / 2 + g["beta"] < 1
    assert g["nu"] > 2
    assert shipped["regimes"]["turbulent_years"] == [2000, 2001, 2002, 2008, 2009, 2011]
