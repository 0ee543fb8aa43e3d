"""train: one task scores its configurations on every walk-forward block, over a process pool.

Where the work runs (see :func:`spylib.stages.training.split.batch_configs`): on one machine (a local run)
the whole sweep is one ``train`` task whose configurations are spread over a process pool with one worker
per core, so the second core is used without paying a task start-up (imports, artifact loads, metadata)
per configuration; on remote compute (``--with batch``) every configuration is its own foreach task on its
own machine. Either way each configuration is scored by the same call with the same seed
(:func:`~spylib.modelling.scoring.score_configuration`), so the results do not depend on the pool: a pooled
run equals a sequential one bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from spylib.core.config import ModelSpec
from spylib.stages.settings import PlanSettings
from spylib.stages.training.artifacts import TrainingData, TrainResult

if TYPE_CHECKING:  # scoring imports scikit-learn: loaded by the train step only
    from spylib.modelling.scoring import ConfigResult

# Relative cost of one configuration by family (the forests' 100 trees dominate): the pool is fed the
# slowest first, so the last configurations left running are short ones.
FAMILY_COST = {"random_forest": 4.0, "extra_trees": 3.0, "hist_gradient_boosting": 2.0, "logistic": 1.0}


def available_cores() -> int:
    """The cores this process may run on (the task's allotment under a container or taskset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pool_order(specs: Sequence[ModelSpec]) -> list[int]:
    """Positions of ``specs``, slowest family first (stable within a family)."""
    return sorted(range(len(specs)), key=lambda i: -FAMILY_COST.get(specs[i].family, 1.0))


def score_all(
    specs: Sequence[ModelSpec], data: TrainingData, plan: PlanSettings, cost_bps: float, workers: int
) -> Iterable[tuple[int, ConfigResult]]:
    """(position in ``specs``, result) of every configuration as it finishes; over ``workers``
    processes (joblib's loky pool, reused by later calls) when more than one."""
    from spylib.modelling.scoring import ScoringData, score_configuration

    scoring_data = ScoringData(data.features, data.feature_columns, data.splits)

    def args(spec: ModelSpec) -> tuple:
        return (spec, scoring_data, plan.sweep, cost_bps, plan.seed)

    order = pool_order(specs)
    if workers <= 1 or len(specs) <= 1:
        for i in range(len(specs)):
            yield i, score_configuration(*args(specs[i]), shuffle_labels=plan.shuffle_labels)
        return
    from joblib import Parallel, delayed

    pool = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")
    jobs = (delayed(_score_at)(i, *args(specs[i]), shuffle_labels=plan.shuffle_labels) for i in order)
    yield from pool(jobs)


def _score_at(position: int, *args: object, shuffle_labels: bool) -> tuple[int, ConfigResult]:
    from spylib.modelling.scoring import score_configuration

    return position, score_configuration(*args, shuffle_labels=shuffle_labels)  # type: ignore[arg-type]


def run_train(
    specs: Sequence[ModelSpec],
    data: TrainingData,
    plan: PlanSettings,
    cost_bps: float,
    *,
    workers: int | None = None,
) -> TrainResult:
    """Score each configuration of one task on every walk-forward block; ``workers`` processes
    (default: one per available core, at most one per configuration; 1 = in this process). The results
    are in the order of ``specs`` whatever the pool."""
    specs = list(specs)
    n_workers = min(len(specs), available_cores() if workers is None else max(1, workers))
    grid = list(plan.sweep.models)
    # The same short name as the evaluation card's tables (the family and a number among its
    # configurations in natural id order), so a log line and a card row can be matched by eye.
    from spylib.reporting.evaluation_card import config_labels

    labels = config_labels([s.config_id for s in grid] + [s.config_id for s in specs])
    results: list[ConfigResult | None] = [None] * len(specs)
    for i, result in score_all(specs, data, plan, cost_bps, n_workers):
        spec = specs[i]
        k = f"{grid.index(spec) + 1} of {len(grid)}" if spec in grid else "extra"
        print(
            f"configuration {labels[spec.config_id]} ({k}): {len(data.splits.blocks)} fits, out-of-fold AUC "
            f"{result.trials['oof_auc'].iloc[0]:.3f}, {result.seconds:.1f} s  [{spec.config_id}]",
            flush=True,
        )
        results[i] = result
    return TrainResult([r for r in results if r is not None])
