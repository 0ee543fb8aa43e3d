"""The walk-forward plan, scoring, selection and gate on small synthetic frames (no Metaflow)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from spylib.core.config import GateConfig, ModelSpec, SweepConfig, WalkForwardConfig
from spylib.core.errors import ConfigError
from spylib.data.synthetic import generate_market, parse_spec
from spylib.evaluation.selection import choose_trial, combine_trials, walk_forward_selection
from spylib.features.audit import audit_days, stale_open_years
from spylib.features.table import ExtraFeature, build_feature_rows, build_features, feature_columns
from spylib.modelling.scoring import ConfigResult, ScoringData, score_configuration
from spylib.modelling.trading import position_size, trading_metrics
from spylib.modelling.walk_forward import Splits, walk_forward_splits

WF = WalkForwardConfig(block_months=12, min_train_days=300, embargo_days=20, min_selection_blocks=1)
SWEEP = SweepConfig(
    models=(ModelSpec("logistic", {"C": 0.1}), ModelSpec("logistic", {"C": 1.0})),
    thresholds=(0.5, 0.55),
    filters=((), ("trend_up",)),
    sizings=("long_flat", "vol_target"),
    walk_forward=WF,
)
LENIENT = GateConfig(min_trades_per_year=0, min_exposure=0)
Scored = tuple[Splits, list[ConfigResult]]


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return build_features(
        generate_market(parse_spec("synthetic:edge=0.2,years=6,seed=3")), "SPY", "QQQ", "open_to_open"
    )


def plan(
    features: pd.DataFrame,
    cfg: WalkForwardConfig = WF,
    *,
    holdout_start: date | None = None,
    unscored: np.ndarray | None = None,
) -> Splits:
    """The walk-forward plan of ``features`` under ``open_to_open`` (labels span 2 rows)."""
    labelled = features["target_up"].notna().to_numpy()
    return walk_forward_splits(
        list(features["date"]), labelled, cfg, 2, holdout_start=holdout_start, unscored=unscored
    )


def test_blocks_are_contiguous_years_and_train_only_on_purged_embargoed_past(market: pd.DataFrame) -> None:
    splits = plan(market)
    blocks = splits.blocks
    assert len(blocks) >= 3
    for a, b in itertools.pairwise(blocks):
        assert b.first_row == a.last_row + 1  # contiguous
        assert pd.Timestamp(b.start).year == pd.Timestamp(a.start).year + 1
    for block in blocks:
        assert block.train_first == 0  # expanding
        # labels span 2 rows (open_to_open); the embargo drops 20 more before the block
        assert block.train_last == block.first_row - 2 - 20 - 1
        assert market["target_up"].iloc[block.train_rows()].notna().sum() >= WF.min_train_days
    assert [b.traded for b in blocks] == [False] + [True] * (len(blocks) - 1)
    assert splits["burn_in"].last_row == blocks[0].first_row - 1
    assert np.array_equal(splits.traded_rows(), np.arange(blocks[1].first_row, blocks[-1].last_row + 1))


def test_rolling_window_and_holdout(market: pd.DataFrame) -> None:
    rolling = plan(market, replace(WF, scheme="rolling", rolling_days=350))
    widths = [b.train_last - b.train_first + 1 for b in rolling.blocks]
    assert max(widths) == 350
    assert all(w == 350 or b.train_first == 0 for w, b in zip(widths, rolling.blocks, strict=True))
    holdout_start = pd.Timestamp(market["date"].iloc[-300]).date()
    with_holdout = plan(market, holdout_start=holdout_start)
    h = with_holdout["holdout"]
    assert h.start >= holdout_start
    assert all(b.last_row < h.first_row for b in with_holdout.blocks)
    assert with_holdout.final_train_last == h.first_row - 1 - 2 - 20  # the final model's labels end before it


def test_unscored_years_are_left_out_and_too_short_histories_fail(market: pd.DataFrame) -> None:
    years = pd.to_datetime(market["date"]).dt.year
    first_block_year = pd.Timestamp(plan(market).blocks[0].start).year
    unscored = (years == first_block_year).to_numpy()
    splits = plan(market, unscored=unscored)
    assert all(pd.Timestamp(b.start).year != first_block_year for b in splits.blocks)
    with pytest.raises(ConfigError, match="walk-forward block"):
        plan(market, replace(WF, min_train_days=5000))


@pytest.fixture(scope="module")
def scored(market: pd.DataFrame) -> Scored:
    splits = plan(market)
    results = [
        score_configuration(m, ScoringData(market, feature_columns(), splits), SWEEP, 1.0, 0)
        for m in SWEEP.models
    ]
    return splits, results


def test_scoring_predicts_every_block_with_every_rule(market: pd.DataFrame, scored: Scored) -> None:
    splits, results = scored
    for r in results:
        assert np.array_equal(r.rows, splits.predicted_rows())
        assert r.positions.shape == (len(r.rows), SWEEP.rules_per_model) == r.net_returns.shape
        assert len(r.trials) == SWEEP.rules_per_model
        assert set(r.trials["sizing"]) == {"long_flat", "vol_target"}
        assert len(r.block_metrics) == len(splits.blocks)
    # vol-targeted positions are fractions of the long/flat ones, never above 1
    pos = results[0].positions
    assert pos.max() <= 1.0
    assert (pos[:, SWEEP.rules_per_model // 2 :] < 1).any()


def test_each_refit_chooses_from_the_blocks_before_it_only(market: pd.DataFrame, scored: Scored) -> None:
    splits, results = scored
    trialset = combine_trials(results, splits)
    walk = walk_forward_selection(trialset, market, splits, "sharpe_net", LENIENT, 1.0)
    assert len(walk.refits) == len(splits.traded_blocks)
    assert np.array_equal(
        pd.to_datetime(walk.track["date"]), pd.to_datetime(market["date"].iloc[splits.traded_rows()])
    )
    # Scramble everything from the second traded block on: the first refit's choice cannot change.
    second = splits.traded_blocks[1]
    future = trialset.block >= second.index
    noisy = trialset.net_returns.copy()
    noisy[future] = np.random.default_rng(0).normal(0, 0.05, noisy[future].shape)
    scrambled = replace(trialset, net_returns=noisy)
    again = walk_forward_selection(scrambled, market, splits, "sharpe_net", LENIENT, 1.0)
    assert again.refits["trial_id"].iloc[0] == walk.refits["trial_id"].iloc[0]
    first = walk.track["block"] == splits.traded_blocks[0].name
    pd.testing.assert_frame_equal(
        again.track[first].drop(columns=["strategy_net", "strategy_gross"]),
        walk.track[first].drop(columns=["strategy_net", "strategy_gross"]),
    )


def test_activity_rule_excludes_near_flat_trials(market: pd.DataFrame, scored: Scored) -> None:
    splits, results = scored
    trialset = combine_trials(results, splits)
    everything = np.ones(len(trialset.rows), dtype=bool)
    strict = GateConfig(min_trades_per_year=1e9, min_exposure=0)
    assert choose_trial(trialset, everything, "sharpe_net", strict).n_eligible == 0
    some = choose_trial(
        trialset, everything, "sharpe_net", GateConfig(min_trades_per_year=0, min_exposure=0.5)
    )
    chosen_exposure = (trialset.positions[:, some.trial_id] > 0).mean()
    assert some.n_eligible > 0
    assert chosen_exposure >= 0.5


def test_vol_target_sizing_and_entries_with_fractional_positions() -> None:
    frame = pd.DataFrame({"vol_20": [0.005, 0.01, 0.02, 0.0]})
    size = position_size(frame, "vol_target", 0.15)
    daily = 0.15 / math.sqrt(252)
    assert size == pytest.approx([1.0, daily / 0.01, daily / 0.02, 1.0])
    m = trading_metrics([0.5, 0.7, 0.0, 0.3, 0.3], [0.01, -0.01, 0.02, 0.01, 0.0], 0.0)
    assert m["n_trades"] == 2
    assert m["exposure"] == pytest.approx(0.8)


def test_audit_days_cover_the_largest_moves_and_block_boundaries() -> None:
    prices = generate_market(parse_spec("synthetic:edge=0,years=3,seed=1"))
    full = build_feature_rows(prices, "SPY", "QQQ")
    boundary = full["date"].iloc[400]
    picks = audit_days(full, boundary_dates=[boundary], n_largest_moves=5, n_random=5, seed=0)
    moves = full["return"].abs().iloc[100 : len(full) - 2]
    assert set(moves.nlargest(5).index) <= set(picks)
    assert {399, 400} <= set(picks)


def test_stale_opens_are_found_per_year() -> None:
    prices = generate_market(parse_spec("synthetic:edge=0,years=3,seed=1"))
    spy = prices["symbol"] == "SPY"
    first_year = pd.to_datetime(prices["date"]).dt.year == pd.to_datetime(prices["date"]).dt.year.min()
    stale = prices.copy()
    rows = stale.index[spy & first_year]
    stale.loc[rows[1:], "open"] = stale.loc[rows[:-1], "close"].to_numpy()
    assert stale_open_years(prices, "SPY") == {}
    years = stale_open_years(stale, "SPY")
    assert list(years) == [int(pd.to_datetime(prices["date"]).dt.year.min())]
    assert years[next(iter(years))] > 0.95


def leaks_before_big_moves(own: pd.DataFrame) -> pd.Series:
    """A user feature that peeks at tomorrow's return, but only before days that move more than 3%."""
    tomorrow = own["close"].shift(-1) / own["close"] - 1
    return tomorrow.where(tomorrow.abs() > 0.03, 0.0).fillna(0.0)


def test_the_audit_catches_a_leak_that_only_shows_before_big_moves() -> None:
    from spylib.core.errors import LookaheadError
    from spylib.features.audit import AuditSample, audit_lookahead

    prices = generate_market(parse_spec("synthetic:edge=0,years=4,seed=2,vol=0.012"))
    extra: dict[str, ExtraFeature] = {"peek": leaks_before_big_moves}
    own = prices[prices["symbol"] == "SPY"].sort_values("date")
    big = (own["close"].pct_change().abs() > 0.03).sum()
    assert 0 < big < 40  # few leaky days: a random sample of 8 would usually miss them all
    with pytest.raises(LookaheadError, match="feature 'peek' uses the future"):
        audit_lookahead(prices, "SPY", "QQQ", extra=extra, sample=AuditSample(n_random=0))
