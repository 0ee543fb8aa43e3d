"""Signals, costs and trading metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spylib.modelling.trading import (
    filter_mask,
    net_returns_matrix,
    positions,
    strategy_returns,
    trading_metrics,
    trial_positions,
)


def test_positions_threshold_and_filter() -> None:
    prob = np.array([0.4, 0.55, 0.6, 0.7])
    assert positions(prob, 0.55).tolist() == [0, 1, 1, 1]
    assert positions(prob, 0.55, np.array([True, True, False, True])).tolist() == [0, 1, 0, 1]


def test_costs_are_charged_per_side_on_every_change() -> None:
    pos = np.array([0, 1, 1, 0, 1])
    fwd = np.array([0.01, 0.02, -0.01, 0.03, 0.01])
    gross, net = strategy_returns(pos, fwd, cost_bps=10)
    np.testing.assert_allclose(gross, [0, 0.02, -0.01, 0, 0.01])
    np.testing.assert_allclose(net, [0, 0.02 - 0.001, -0.01, -0.001, 0.01 - 0.001])


def test_metrics_count_flat_days_and_state_break_even() -> None:
    pos = np.array([1, 0, 1, 0] * 50)
    fwd = np.tile([0.002, -0.001, 0.001, 0.003], 50)
    m = trading_metrics(pos, fwd, cost_bps=1.0)
    assert m["exposure"] == 0.5
    assert m["n_trades"] == 100
    assert m["hit_rate"] == 1.0
    gross = pos * fwd
    assert m["sharpe_gross"] == pytest.approx(gross.mean() / gross.std(ddof=1) * np.sqrt(252))
    # break-even: mean gross return / mean turnover, in bp
    assert m["break_even_cost_bps"] == pytest.approx(gross.mean() / 1.0 * 1e4)
    assert trading_metrics(pos, fwd, cost_bps=m["break_even_cost_bps"])["mean_return_net"] == pytest.approx(
        0.0
    )


def test_never_trading_has_zero_sharpe_and_infinite_break_even() -> None:
    m = trading_metrics(np.zeros(50), np.full(50, 0.01), cost_bps=2)
    assert m["sharpe_net"] == 0.0
    assert m["n_trades"] == 0
    assert m["break_even_cost_bps"] == float("inf")
    assert np.isnan(m["hit_rate"])


def test_trial_matrix_has_one_column_per_rule_and_the_same_costs() -> None:
    frame = pd.DataFrame(
        {"fwd_return": [0.01, -0.01, 0.02], "trend_up": [1, 0, 1], "vol_20": [0.02, 0.02, 0.0]}
    )
    rules = [(0.5, (), "long_flat"), (0.55, ("trend_up",), "long_flat"), (0.5, (), "vol_target")]
    pos = trial_positions(np.array([0.6, 0.6, 0.4]), frame, rules, target_volatility=0.16)
    np.testing.assert_allclose(pos[:, 0], [1, 1, 0])
    np.testing.assert_allclose(pos[:, 1], [1, 0, 0])
    np.testing.assert_allclose(pos[:, 2], [0.16 / np.sqrt(252) / 0.02, 0.16 / np.sqrt(252) / 0.02, 0])
    net = net_returns_matrix(pos, frame["fwd_return"], cost_bps=10)
    for j in range(pos.shape[1]):
        np.testing.assert_allclose(net[:, j], strategy_returns(pos[:, j], frame["fwd_return"], 10)[1])
    assert filter_mask(frame, ["trend_up"]).tolist() == [True, False, True]
