"""The two baselines that say what the model adds: the sweep's own sizing on always-long, and a 200-day
moving-average rule, on the track's days with the same costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spylib.core.config import WalkForwardConfig
from spylib.evaluation.baselines import baseline_table, moving_average_positions, vol_target_long_positions
from spylib.features.table import build_features, feature_columns
from spylib.modelling.trading import position_size, trading_metrics
from spylib.modelling.walk_forward import walk_forward_splits
from tests.helpers.synthetic import synthetic_prices


def test_moving_average_rule_uses_closes_up_to_the_signal_day_only() -> None:
    close = np.r_[np.linspace(100.0, 110.0, 250), np.linspace(110.0, 90.0, 50), np.linspace(90.0, 120.0, 100)]
    features = pd.DataFrame({"close": close})
    pos = moving_average_positions(features, window=200)
    average = pd.Series(close).rolling(200).mean().to_numpy()
    assert (pos[:199] == 0).all()  # no 200-day mean yet
    np.testing.assert_array_equal(pos[199:], (close[199:] > average[199:]).astype("int8"))
    assert pos[249] == 1
    assert pos[299] == 0
    assert pos[-1] == 1
    # Truncation invariance: the position on day t is the same with the data cut at t.
    for t in (210, 260, 320, 399):
        assert moving_average_positions(features.iloc[: t + 1], window=200)[-1] == pos[t]


def test_vol_target_always_long_is_the_sweeps_sizing_with_no_model() -> None:
    frame = pd.DataFrame({"vol_20": [0.005, 0.01, 0.02, np.nan]})
    np.testing.assert_array_equal(
        vol_target_long_positions(frame, 0.15), position_size(frame, "vol_target", 0.15)
    )
    assert vol_target_long_positions(frame, 0.15)[0] == 1.0  # a calm market is held in full, never levered


def test_both_rules_join_the_baselines_on_the_track_days_with_the_same_costs() -> None:
    features = build_features(synthetic_prices(1300, seed=5), "SPY", "QQQ")
    wf = WalkForwardConfig(min_train_days=250, embargo_days=20, min_selection_blocks=1)
    splits = walk_forward_splits(list(features["date"]), features["target_up"].notna().to_numpy(), wf, 1)
    table = baseline_table(features, feature_columns(), splits, 2.0, target_volatility=0.10).set_index(
        "strategy"
    )
    track = features.iloc[splits.traded_rows()]
    fwd = track["fwd_return"].to_numpy("float64")
    sized = trading_metrics(position_size(track, "vol_target", 0.10), fwd, 2.0)
    ma = trading_metrics(moving_average_positions(features)[splits.traded_rows()], fwd, 2.0)
    for name, expected in (("vol_target_always_long", sized), ("moving_average_200", ma)):
        for key in ("sharpe_net", "total_return_net", "exposure", "turnover", "n_trades"):
            assert table.loc[name, key] == pytest.approx(expected[key]), (name, key)
    assert table.loc["vol_target_always_long", "mean_position"] < 1.0  # sized down on stormy days
    assert 0.0 < table.loc["moving_average_200", "exposure"] < 1.0
