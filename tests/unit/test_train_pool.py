"""The pooled train task gives the sequential results bit for bit; where the train tasks run decides
the foreach's batches."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from spylib.core.config import ModelSpec, SweepConfig, WalkForwardConfig
from spylib.data.synthetic import generate_market, parse_spec
from spylib.features.table import build_features, feature_columns
from spylib.modelling.walk_forward import walk_forward_splits
from spylib.stages.settings import PlanSettings
from spylib.stages.training.artifacts import TrainingData
from spylib.stages.training.train import pool_order, run_train

SWEEP = SweepConfig(
    models=(
        ModelSpec("logistic", {"C": 0.1}),
        ModelSpec("random_forest", {"n_estimators": 10, "max_depth": 3, "min_samples_leaf": 50}),
        ModelSpec("hist_gradient_boosting", {"max_iter": 20, "max_depth": 2, "min_samples_leaf": 50}),
        ModelSpec("extra_trees", {"n_estimators": 10, "max_depth": 3, "min_samples_leaf": 50}),
    ),
    thresholds=(0.5, 0.55),
    filters=((), ("trend_up",)),
    sizings=("long_flat",),
    walk_forward=WalkForwardConfig(
        block_months=12, min_train_days=300, embargo_days=20, min_selection_blocks=1
    ),
)


@pytest.fixture(scope="module")
def data() -> TrainingData:
    features = build_features(
        generate_market(parse_spec("synthetic:edge=0.2,years=5,seed=11")), "SPY", "QQQ", "open_to_open"
    )
    labelled = features["target_up"].notna().to_numpy()
    splits = walk_forward_splits(list(features["date"]), labelled, SWEEP.walk_forward, 2)
    return TrainingData(features, tuple(feature_columns()), splits)


def test_pooled_training_equals_sequential_training(data: TrainingData) -> None:
    plan = PlanSettings(sweep=SWEEP, execution="open_to_open", seed=7)
    sequential = run_train(SWEEP.models, data, plan, 1.0, workers=1).results
    pooled = run_train(SWEEP.models, data, plan, 1.0, workers=2).results
    # the pool is fed the slowest family first, yet the results come back in the sweep's order
    assert pool_order(SWEEP.models)[0] == 1
    assert [r.spec for r in pooled] == list(SWEEP.models)
    for seq, par in zip(sequential, pooled, strict=True):
        assert np.array_equal(seq.probability, par.probability)  # bit for bit, not approximately
        assert np.array_equal(seq.rows, par.rows)
        assert np.array_equal(seq.net_returns, par.net_returns)
        pd.testing.assert_frame_equal(seq.trials, par.trials, check_exact=True)
        pd.testing.assert_frame_equal(seq.block_metrics, par.block_metrics, check_exact=True)


def test_a_different_seed_changes_a_stochastic_family(data: TrainingData) -> None:
    """The equality above is not vacuous: the forest's probabilities follow its seed."""
    forest = [SWEEP.models[1]]
    a = run_train(forest, data, PlanSettings(sweep=SWEEP, execution="open_to_open", seed=7), 1.0, workers=1)
    b = run_train(forest, data, PlanSettings(sweep=SWEEP, execution="open_to_open", seed=8), 1.0, workers=1)
    assert not np.array_equal(a.results[0].probability, b.results[0].probability)


def test_remote_compute_is_seen_from_the_decorators_or_the_environment() -> None:
    from spylib.stages.flow_decorators import runs_remotely

    def step_with(*names: str) -> types.SimpleNamespace:
        return types.SimpleNamespace(decorators=[types.SimpleNamespace(name=n) for n in names])

    local = type("Local", (), {"train": step_with("resources", "one_line_step_errors")})()
    batch = type("OnBatch", (), {"train": step_with("resources", "batch")})()
    assert not runs_remotely(local, "train", environ={})
    assert runs_remotely(batch, "train", environ={})
    assert runs_remotely(local, "train", environ={"AWS_BATCH_JOB_ID": "job-1"})
    assert runs_remotely(local, "train", environ={"METAFLOW_KUBERNETES_WORKLOAD": "1"})


def test_a_rolling_window_never_sees_the_rows_before_it(data: TrainingData) -> None:
    """Under ``rolling`` the last block's fit ignores every row before its window (corrupting them changes
    nothing there); under ``expanding`` the same corruption changes the fit."""
    from dataclasses import replace

    from spylib.modelling.scoring import ScoringData, score_configuration

    features, cols, spec = data.features, list(data.feature_columns), SWEEP.models[0]
    rolling_cfg = replace(SWEEP.walk_forward, scheme="rolling", rolling_days=400)
    labelled = features["target_up"].notna().to_numpy()
    schemes = {
        name: walk_forward_splits(list(features["date"]), labelled, cfg, 2)
        for name, cfg in (("rolling", rolling_cfg), ("expanding", SWEEP.walk_forward))
    }
    last = schemes["rolling"].blocks[-1]
    assert last.train_first > 0
    assert last.train_last - last.train_first + 1 == 400
    corrupted = features.copy()
    old = np.arange(last.train_first)
    rng = np.random.default_rng(0)
    for column in [*cols, "target_up"]:  # every column shuffled on its own: the old rows mean nothing now
        position = corrupted.columns.get_loc(column)
        corrupted.iloc[old, position] = rng.permutation(corrupted.iloc[old, position].to_numpy())

    def last_block_probability(frame: pd.DataFrame, scheme: str) -> np.ndarray:
        splits = schemes[scheme]
        result = score_configuration(spec, ScoringData(frame, cols, splits), SWEEP, 1.0, 7)
        return result.probability[-splits.blocks[-1].n_rows :]

    assert np.array_equal(
        last_block_probability(features, "rolling"), last_block_probability(corrupted, "rolling")
    )
    assert not np.allclose(
        last_block_probability(features, "expanding"), last_block_probability(corrupted, "expanding")
    )


@pytest.mark.parametrize("cores", [1, 2])
def test_evaluate_runs_side_work_on_the_other_core_with_the_same_result(
    cores: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """evaluate starts the fitted baselines on another core when the task has one, and runs them in
    place when it has one core: the same call either way, so the same numbers."""
    import os

    from spylib.core import runtime
    from spylib.stages.training import evaluate

    monkeypatch.setattr(runtime, "available_cores", lambda: cores)
    other = evaluate.OtherCore()
    assert (other._executor is None) == (cores == 1)
    result = other.submit(os.getpid)()
    assert (result == os.getpid()) == (cores == 1)
    values = np.arange(10.0)
    assert other.submit(np.cumsum, values)().tolist() == np.cumsum(values).tolist()


def _scoring_imported() -> bool:
    import sys

    return "spylib.modelling.scoring" in sys.modules


def test_started_workers_are_warm_and_are_the_pool_that_scores(data: TrainingData) -> None:
    from spylib.stages.training.train import _pool, start_workers

    _pool(2).shutdown(wait=True)  # fresh workers: the earlier tests' pool has imported the scoring code
    start_workers(2)
    pool = _pool(2)
    assert pool.submit(_scoring_imported).result(timeout=60)  # imported before any configuration came
    plan = PlanSettings(sweep=SWEEP, execution="open_to_open", seed=7)
    pooled = run_train(SWEEP.models[:2], data, plan, 1.0, workers=2).results
    assert _pool(2) is pool  # the scoring reused the warm pool instead of starting another
    assert [r.spec for r in pooled] == list(SWEEP.models[:2])
