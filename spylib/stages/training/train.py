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

from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, as_completed
from typing import TYPE_CHECKING

from spylib.core.config import ModelSpec
from spylib.core.runtime import available_cores
from spylib.stages.settings import PlanSettings
from spylib.stages.training.artifacts import TrainingData, TrainResult

if TYPE_CHECKING:  # scoring imports scikit-learn: loaded by the train step only
    from spylib.modelling.scoring import ConfigResult

# Relative cost of one configuration by family (the forests' 100 trees dominate): the pool is fed the
# slowest first, so the last configurations left running are short ones.
FAMILY_COST = {"random_forest": 4.0, "extra_trees": 3.0, "hist_gradient_boosting": 2.0, "logistic": 1.0}


def pool_order(specs: Sequence[ModelSpec]) -> list[int]:
    """Positions of ``specs``, slowest family first (stable within a family)."""
    return sorted(range(len(specs)), key=lambda i: -FAMILY_COST.get(specs[i].family, 1.0))


# What joblib's loky backend gives its workers: one BLAS/OpenMP thread each, so two workers on two cores
# do not each start a thread per core (the models also fit under threadpool_limits(1)).
WORKER_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
IDLE_WORKER_SECONDS = 60  # a warm worker waits this long for its first configuration


def _pool(workers: int) -> Executor:
    """The task's process pool: loky's reusable executor (the same one for the warm-up and the scoring)."""
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=workers, timeout=IDLE_WORKER_SECONDS, env=WORKER_ENV)


def pool_workers(n_configs: int, workers: int | None = None) -> int:
    """How many processes score ``n_configs`` configurations: one per available core (or ``workers``),
    at most one per configuration; 1 = in the calling process."""
    return min(n_configs, available_cores() if workers is None else max(1, workers))


def start_workers(n_configs: int) -> None:
    """Start the pool that will score ``n_configs`` configurations, and have each worker import the
    scoring code (scikit-learn, about a second) now: the ``train`` step calls this first, so the workers
    import while the task loads its training data, and the first configuration starts on a warm worker.
    Nothing to do when the task scores in its own process."""
    workers = pool_workers(n_configs)
    if workers > 1:
        pool = _pool(workers)
        for _ in range(workers):
            pool.submit(_import_scoring)


def _import_scoring() -> None:
    import spylib.modelling.scoring  # noqa: F401


def score_all(
    specs: Sequence[ModelSpec], data: TrainingData, plan: PlanSettings, cost_bps: float, workers: int
) -> Iterable[tuple[int, ConfigResult]]:
    """(position in ``specs``, result) of every configuration as it finishes; over ``workers``
    processes (:func:`_pool`, reused by later calls) when more than one, fed the slowest first."""
    from spylib.modelling.scoring import ScoringData, score_configuration

    scoring_data = ScoringData(data.features, data.feature_columns, data.splits)

    def args(spec: ModelSpec) -> tuple:
        return (spec, scoring_data, plan.sweep, cost_bps, plan.seed)

    if workers <= 1 or len(specs) <= 1:
        for i in range(len(specs)):
            yield i, score_configuration(*args(specs[i]), shuffle_labels=plan.shuffle_labels)
        return
    pool = _pool(workers)
    jobs = [
        pool.submit(_score_at, i, *args(specs[i]), shuffle_labels=plan.shuffle_labels)
        for i in pool_order(specs)
    ]
    try:
        for job in as_completed(jobs):
            yield job.result()
    finally:
        for job in jobs:  # a failed configuration: the others are not waited for
            job.cancel()


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
    n_workers = pool_workers(len(specs), workers)
    grid = list(plan.sweep.models)
    # The same short name as the evaluation card's tables (the family and a number among its
    # configurations in natural id order), so a log line and a card row can be matched by eye.
    from spylib.reporting.labels import config_labels

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
