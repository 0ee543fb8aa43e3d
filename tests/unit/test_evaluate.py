"""Selection, test evaluation, baselines and the gate, on synthetic data without Metaflow."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from spylib.core.config import CVConfig, GateConfig, ModelSpec, SweepConfig
from spylib.research.baselines import baseline_table
from spylib.research.evaluate import combine_trials, score_configuration, select_trial
from spylib.research.features import build_features, feature_columns
from spylib.research.gate import apply_gate
from spylib.research.models import bundle_signal, make_bundle
from spylib.research.split import time_splits, walk_forward_folds
from tests.helpers.synthetic import synthetic_prices

SWEEP = SweepConfig(
    models=(
        ModelSpec("random_forest", {"n_estimators": 20, "max_depth": 3, "min_samples_leaf": 20}),
        ModelSpec("logistic", {"C": 0.1}),
    ),
    thresholds=(0.5, 0.55),
    filters=((), ("trend_up",)),
    cv=CVConfig(n_folds=3, embargo_days=20, min_train_days=100),
)


@pytest.fixture(scope="module")
def setup():
    features = build_features(synthetic_prices(1300, seed=5), "SPY", "QQQ")
    splits = time_splits(features["date"].tolist(), gap_rows=20)
    folds = walk_forward_folds(splits.development_rows(), SWEEP.cv, 1)
    cols = feature_columns()
    results = [
        score_configuration(
            spec, features, cols, folds, splits.development_rows(), splits["test"].rows(), SWEEP, 1.0, 7
        )
        for spec in SWEEP.models
    ]
    return features, splits, folds, cols, results


def test_each_configuration_yields_one_trial_per_threshold_and_filter(setup) -> None:
    _features, splits, folds, _, results = setup
    for r in results:
        assert len(r.trials) == 4
        assert r.oof_returns.shape == (len(r.oof_rows), 4)
        expected = np.concatenate([f.score_rows() for f in folds])
        assert np.array_equal(r.oof_rows, expected)
        assert r.oof_rows.max() <= splits["validation"].last_row  # never scores test
        assert len(r.test_probability) == splits["test"].n_rows


def test_same_seed_same_result(setup) -> None:
    features, splits, folds, cols, results = setup
    again = score_configuration(
        SWEEP.models[0],
        features,
        cols,
        folds,
        splits.development_rows(),
        splits["test"].rows(),
        SWEEP,
        1.0,
        7,
    )
    np.testing.assert_array_equal(again.oof_probability, results[0].oof_probability)
    pd.testing.assert_frame_equal(again.trials, results[0].trials)


def test_combine_is_independent_of_join_order(setup) -> None:
    *_, results = setup
    a, ma = combine_trials(results)
    b, mb = combine_trials(results[::-1])
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(ma, mb)
    assert a["trial_id"].tolist() == list(range(8))


def test_selection_uses_out_of_fold_figures_only() -> None:
    trials = pd.DataFrame(
        {
            "trial_id": [0, 1, 2],
            "oof_sharpe_net": [0.5, 0.9, 1.5],
            "oof_n_trades": [50, 50, 3],  # trial 2 is best but trades too rarely
            "test_sharpe_net": [3.0, -1.0, 0.0],  # must not matter
        }
    )
    assert select_trial(trials, "sharpe_net", min_trades=20)["trial_id"] == 1
    assert select_trial(trials.assign(test_sharpe_net=[-9, 9, 9]), "sharpe_net", 20)["trial_id"] == 1


def passing_metrics(**over: float) -> dict[str, float]:
    base = {"dsr": 0.97, "sharpe_net": 1.2, "pbo": 0.2, "n_trades": 40, "auc": 0.56, "auc_ci_low": 0.52}
    return {**base, **over}


def test_gate_approves_only_when_every_check_holds() -> None:
    gate = GateConfig()
    assert apply_gate(passing_metrics(), 1.0, gate).status == "Approved"
    rejected = apply_gate(passing_metrics(dsr=0.5, pbo=0.7), 1.0, gate)
    assert rejected.status == "Rejected"
    assert [r.split()[0] for r in rejected.failed] == ["dsr_test", "pbo"]
    assert apply_gate(passing_metrics(), 1.3, gate).status == "Rejected"  # does not beat buy-and-hold
    assert (
        apply_gate(passing_metrics(auc_ci_low=math.nan), 1.0, gate).status == "Rejected"
    )  # NaN never passes
    assert apply_gate(passing_metrics(n_trades=5), 1.0, gate).failed[0].startswith("n_trades_test FAILED: 5")


def test_baselines_are_scored_on_the_same_days(setup) -> None:
    features, splits, _, cols, _ = setup
    table = baseline_table(features, cols, splits.development_rows(), splits["test"].rows(), 1.0, 7)
    assert table["strategy"].tolist() == [
        "buy_and_hold", "always_up", "majority_class", "momentum_20", "logistic_regression", "seed_recipe",
    ]  # fmt: skip
    bh = table.set_index("strategy").loc["buy_and_hold"]
    assert bh["exposure"] == 1.0
    assert bh["n_trades"] == 1


def test_bundle_signal_applies_threshold_and_filters(setup) -> None:
    features, _, _, cols, results = setup
    bundle = make_bundle(results[1].model, cols, 0.5, ["trend_up"], "close_to_close", "SPY")
    prob, signal = bundle_signal(bundle, features)
    expected = (prob >= 0.5) & (features["trend_up"].to_numpy() == 1)
    np.testing.assert_array_equal(signal, expected.astype("int8"))
