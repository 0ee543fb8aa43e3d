"""Walk-forward scoring, the trial set, the verdict's figures and the baselines on synthetic data."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from spylib.core.config import GateConfig, ModelSpec, SweepConfig, WalkForwardConfig
from spylib.evaluation.assessment import AssessmentSettings, assess
from spylib.evaluation.baselines import baseline_table
from spylib.evaluation.evidence import Evidence
from spylib.evaluation.selection import combine_trials
from spylib.features.table import build_features, feature_columns
from spylib.modelling.models import bundle_signal, fit_model, make_bundle
from spylib.modelling.scoring import ConfigResult, ScoringData, score_configuration
from spylib.modelling.walk_forward import Splits, walk_forward_splits
from tests.helpers.strategies import strategy_for
from tests.helpers.synthetic import synthetic_prices

SWEEP = SweepConfig(
    models=(
        ModelSpec("random_forest", {"n_estimators": 20, "max_depth": 3, "min_samples_leaf": 20}),
        ModelSpec("logistic", {"C": 0.1}),
    ),
    thresholds=(0.5, 0.55),
    filters=((), ("trend_up",)),
    walk_forward=WalkForwardConfig(min_train_days=250, embargo_days=20, min_selection_blocks=1),
)

Setup = tuple[pd.DataFrame, Splits, list[str], list[ConfigResult]]


@pytest.fixture(scope="module")
def setup() -> Setup:
    features = build_features(synthetic_prices(1300, seed=5), "SPY", "QQQ")
    splits = walk_forward_splits(
        list(features["date"]), features["target_up"].notna().to_numpy(), SWEEP.walk_forward, 1
    )
    cols = feature_columns()
    results = [
        score_configuration(spec, ScoringData(features, cols, splits), SWEEP, 1.0, 7) for spec in SWEEP.models
    ]
    return features, splits, cols, results


def test_each_configuration_yields_one_trial_per_rule_on_every_block(setup: Setup) -> None:
    _features, splits, _, results = setup
    for r in results:
        assert len(r.trials) == 4
        assert r.net_returns.shape == (len(r.rows), 4)
        assert np.array_equal(r.rows, splits.predicted_rows())
        assert r.rows.min() > splits["burn_in"].last_row  # the burn-in is never scored


def test_same_seed_same_result(setup: Setup) -> None:
    features, splits, cols, results = setup
    again = score_configuration(SWEEP.models[0], ScoringData(features, cols, splits), SWEEP, 1.0, 7)
    np.testing.assert_array_equal(again.probability, results[0].probability)
    pd.testing.assert_frame_equal(again.trials, results[0].trials)


def test_combine_is_independent_of_join_order(setup: Setup) -> None:
    _, splits, _, results = setup
    a, b = combine_trials(results, splits), combine_trials(results[::-1], splits)
    pd.testing.assert_frame_equal(a.trials, b.trials)
    np.testing.assert_array_equal(a.net_returns, b.net_returns)
    assert a.trials["trial_id"].tolist() == list(range(8))


def test_the_verdict_records_every_figure_the_gate_reads(setup: Setup) -> None:
    features, splits, _, results = setup
    verdict = assess(results, features, splits, AssessmentSettings(SWEEP, GateConfig(), 1.0, 7))
    m: dict[str, Any] = verdict.evidence.to_dict()
    for key in (
        "dsr",
        "dsr_effective",
        "n_trials",
        "n_trials_effective",
        "n_trials_effective_eigen",
        "psr",
        "vs_buy_and_hold_p_value",
        "vs_buy_and_hold_p_value_hac",
        "vs_vol_target_long_p_value",
        "vs_vol_target_long_p_value_hac",
        "vol_target_long_sharpe_net",
        "pbo",
        "trades_per_year",
        "exposure",
        "auc_ci_low",
        "sharpe_net",
        "buy_and_hold_sharpe_net",
    ):
        assert key in m, key
    assert m["n_trials"] == 8
    assert 1 <= m["n_trials_effective"] <= 8
    assert len(verdict.walk.track) == len(splits.traded_rows())
    assert {c.name for c in verdict.decision.checks} >= {
        "dsr_selection",
        "track_beats_buy_and_hold",
        "track_beats_vol_target_long",
    }


# The public `metrics` artifact's keys, in order: users' notebooks and the registry's metadata read them.
METRICS_KEYS = [
    "auc",
    "log_loss",
    "brier",
    "accuracy",
    "f1",
    "base_rate",
    "auc_ci_low",
    "auc_ci_high",
    "n_days",
    "n_trades",
    "exposure",
    "mean_position",
    "turnover",
    "hit_rate",
    "break_even_cost_bps",
    "sharpe_gross",
    "sortino_gross",
    "max_drawdown_gross",
    "cagr_gross",
    "calmar_gross",
    "total_return_gross",
    "mean_return_gross",
    "sharpe_net",
    "sortino_net",
    "max_drawdown_net",
    "cagr_net",
    "calmar_net",
    "total_return_net",
    "mean_return_net",
    "years",
    "trades_per_year",
    "buy_and_hold_sharpe_gross",
    "buy_and_hold_sharpe_net",
    "buy_and_hold_cagr_net",
    "buy_and_hold_max_drawdown_net",
    "buy_and_hold_total_return_net",
    "vol_target_long_sharpe_gross",
    "vol_target_long_sharpe_net",
    "vol_target_long_cagr_net",
    "vol_target_long_max_drawdown_net",
    "vol_target_long_total_return_net",
    "track_start",
    "track_end",
    "n_blocks",
    "track_sr_per_period",
    "track_skew",
    "track_kurtosis",
    "psr",
    "min_track_record_days",
    "sharpe_ci_low",
    "sharpe_ci_high",
    "vs_buy_and_hold_difference",
    "vs_buy_and_hold_se",
    "vs_buy_and_hold_p_value",
    "vs_buy_and_hold_method",
    "vs_buy_and_hold_p_value_memmel",
    "vs_buy_and_hold_correlation",
    "vs_buy_and_hold_p_value_hac",
    "vs_buy_and_hold_block_length",
    "vs_vol_target_long_difference",
    "vs_vol_target_long_se",
    "vs_vol_target_long_p_value",
    "vs_vol_target_long_p_value_hac",
    "vs_vol_target_long_block_length",
    "vs_vol_target_long_method",
    "vs_vol_target_long_correlation",
    "oof_sr_per_period",
    "oof_sharpe_net",
    "n_trials",
    "trials_sr_variance",
    "expected_max_sr",
    "dsr",
    "n_trials_effective",
    "n_trials_effective_eigen",
    "trials_sr_variance_effective",
    "dsr_effective",
    "pbo",
    "prob_oos_loss",
    "cost_bps",
    "annualization",
    "selection_metric",
    # the DSR's two effective-N estimates, the seed spread and the choices' stability
    "n_trials_run",
    "n_trials_effective_cluster",
    "dsr_effective_cluster",
    "dsr_effective_eigen",
    "dsr_effective_rule",
    "seed_members",
    "seed_track_sharpe_net_median",
    "seed_track_sharpe_net_min",
    "seed_track_sharpe_net_max",
    "seed_p_value_median",
    "seed_p_value_min",
    "seed_p_value_max",
    "stability_relative_price_noise",
    "stability_replications",
    "choice_change_rate",
    "final_choice_change_rate",
    "median_indistinguishable_trials",
]


def test_evidence_gives_the_public_metrics_dict_and_back(setup: Setup) -> None:
    features, splits, _, results = setup
    evidence = assess(results, features, splits, AssessmentSettings(SWEEP, GateConfig(), 1.0, 7)).evidence
    assert list(evidence.to_dict()) == METRICS_KEYS
    run = replace(evidence, execution="open_to_open", shuffle_labels=False)
    assert list(run.to_dict()) == [*METRICS_KEYS, "execution", "shuffle_labels"]
    registered = {**run.to_dict(), "champion_comparison": {"verdict": "no_champion"}}
    assert Evidence.from_dict(registered) == run
    with pytest.raises(KeyError, match="metrics lack psr"):
        Evidence.from_dict({k: v for k, v in run.to_dict().items() if k != "psr"})


def test_baselines_are_walk_forward_on_the_track_days(setup: Setup) -> None:
    features, splits, cols, _ = setup
    table = baseline_table(features, cols, splits, 1.0)
    assert table["strategy"].tolist() == [
        "buy_and_hold",
        "vol_target_always_long",
        "moving_average_200",
        "always_up",
        "majority_class",
        "momentum_20",
        "logistic_regression",
        "seed_recipe",
    ]
    bh = table.set_index("strategy").loc["buy_and_hold"]
    assert bh["exposure"] == 1.0
    assert bh["n_trades"] == 1


def test_bundle_signal_applies_threshold_and_filters(setup: Setup) -> None:
    features, _, cols, _ = setup
    labelled = features[features["target_up"].notna()]
    model = fit_model(SWEEP.models[1], labelled[cols], labelled["target_up"].to_numpy("int8"), 7)
    bundle = make_bundle(model, strategy_for(cols, 0.5, ["trend_up"]))
    prob, signal = bundle_signal(bundle, features)
    expected = (prob >= 0.5) & (features["trend_up"].to_numpy() == 1)
    np.testing.assert_array_equal(signal, expected.astype("int8"))


def test_permutation_importance_predicts_on_one_thread(setup: Setup) -> None:
    """The scorer calls the model's own predict_proba many times: with a thread pool per call
    (HistGradientBoosting's OpenMP) a busy machine spin-waits for minutes; every call gets one thread."""
    from sklearn.base import BaseEstimator, ClassifierMixin
    from threadpoolctl import threadpool_info

    from spylib.evaluation.holdout import permutation_importance_table

    features, splits, cols, _ = setup
    seen: list[int] = []

    class RecordingModel(ClassifierMixin, BaseEstimator):
        def fit(self, X: Any, y: Any) -> RecordingModel:
            self.classes_ = np.array([0, 1])
            return self

        def predict_proba(self, X: Any) -> np.ndarray:
            seen.append(max((pool["num_threads"] for pool in threadpool_info()), default=1))
            p = np.linspace(0.4, 0.6, len(X))
            return np.column_stack([1 - p, p])

    frame = features.iloc[splits.traded_blocks[-1].rows()]
    model = RecordingModel().fit(frame[cols], frame["target_up"])
    permutation_importance_table(model, frame, cols[:3], seed=0, n_repeats=2)
    assert seen
    assert set(seen) == {1}


def test_permutation_importance_finds_the_planted_feature_and_is_seeded() -> None:
    """Shuffling the feature the labels depend on costs AUC; shuffling noise costs ~nothing; the same
    seed gives the same table (every shuffled copy is scored in one call, so the order matters)."""
    from sklearn.linear_model import LogisticRegression

    from spylib.evaluation.holdout import permutation_importance_table

    rng = np.random.default_rng(11)
    n = 600
    frame = pd.DataFrame({"signal": rng.standard_normal(n), "noise": rng.standard_normal(n)})
    labels = (frame["signal"] + 0.5 * rng.standard_normal(n) > 0).astype(int)
    model = LogisticRegression().fit(frame[["signal", "noise"]], labels)
    frame["target_up"] = labels.astype(float)
    frame.loc[::50, "target_up"] = np.nan  # unlabelled days are left out

    table = permutation_importance_table(model, frame, ["signal", "noise"], seed=3, n_repeats=4)
    drop = table.set_index("feature")["auc_drop_mean"]
    assert list(table["feature"]) == ["signal", "noise"]
    assert drop["signal"] > 0.3
    assert abs(drop["noise"]) < 0.02
    again = permutation_importance_table(model, frame, ["signal", "noise"], seed=3, n_repeats=4)
    pd.testing.assert_frame_equal(table, again)
    other = permutation_importance_table(model, frame, ["signal", "noise"], seed=4, n_repeats=4)
    assert not np.allclose(other["auc_drop_mean"], table["auc_drop_mean"])
