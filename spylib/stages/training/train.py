"""train: one foreach task scores its configurations on every walk-forward block."""

from __future__ import annotations

from collections.abc import Sequence

from spylib.core.config import ModelSpec
from spylib.stages.settings import PlanSettings
from spylib.stages.training.artifacts import TrainingData, TrainResult


def run_train(
    specs: Sequence[ModelSpec], data: TrainingData, plan: PlanSettings, cost_bps: float
) -> TrainResult:
    """Score each configuration of one foreach task on every walk-forward block."""
    from spylib.modelling.scoring import score_configuration

    results = []
    grid = list(plan.sweep.models)
    for spec in specs:
        k = grid.index(spec) + 1 if spec in grid else "-"  # its number in the sweep, for the log line
        result = score_configuration(
            spec,
            data.features,
            data.feature_columns,
            data.splits,
            plan.sweep,
            cost_bps,
            plan.seed,
            shuffle_labels=plan.shuffle_labels,
        )
        print(
            f"config {k}/{len(grid)} {spec.family}: {len(data.splits.blocks)} fits, out-of-fold AUC "
            f"{result.trials['oof_auc'].iloc[0]:.3f}, {result.seconds:.1f} s  [{spec.config_id}]"
        )
        results.append(result)
    return TrainResult(results)
