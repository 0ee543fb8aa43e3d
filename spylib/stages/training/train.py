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
    from spylib.reporting.evaluation_card import config_labels

    results = []
    grid = list(plan.sweep.models)
    # The same short name as the evaluation card's tables (the family and a number among its
    # configurations in natural id order), so a log line and a card row can be matched by eye.
    labels = config_labels([s.config_id for s in grid] + [s.config_id for s in specs])
    for spec in specs:
        k = f"{grid.index(spec) + 1} of {len(grid)}" if spec in grid else "extra"
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
            f"configuration {labels[spec.config_id]} ({k}): {len(data.splits.blocks)} fits, out-of-fold AUC "
            f"{result.trials['oof_auc'].iloc[0]:.3f}, {result.seconds:.1f} s  [{spec.config_id}]"
        )
        results.append(result)
    return TrainResult(results)
