"""train: see spylib.stages.training.evaluate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from spylib.core.config import ModelSpec
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import TrainingData

if TYPE_CHECKING:
    from spylib.modelling.scoring import ConfigResult


def run_train(
    specs: Sequence[ModelSpec], data: TrainingData, settings: TrainingSettings
) -> list[ConfigResult]:
    """Score each configuration of one foreach task on every walk-forward block."""
    from spylib.modelling.scoring import score_configuration

    results = []
    total = len(settings.sweep.models)
    grid = list(settings.sweep.models)
    for spec in specs:
        k = grid.index(spec) + 1 if spec in grid else "-"  # its number in the sweep, for the log line
        result = score_configuration(
            spec,
            data.features,
            data.feature_columns,
            data.splits,
            settings.sweep,
            settings.cost_bps,
            settings.seed,
            shuffle_labels=settings.shuffle_labels,
        )
        print(
            f"config {k}/{total} {spec.family}: {len(data.splits.blocks)} fits, out-of-fold AUC "
            f"{result.trials['oof_auc'].iloc[0]:.3f}, {result.seconds:.1f} s  [{spec.config_id}]"
        )
        results.append(result)
    return results
