"""split: see spylib.stages.training.evaluate."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from spylib.core.config import ModelSpec
from spylib.modelling.walk_forward import walk_forward_splits
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import TrainingData


def run_split(
    features: pd.DataFrame,
    columns: Sequence[str],
    data_quality: Mapping[str, Any],
    settings: TrainingSettings,
) -> TrainingData:
    """The burn-in, the walk-forward blocks and the optional holdout."""
    wf = settings.sweep.walk_forward
    stale_years = set(data_quality.get("stale_open_years", {}))
    unscored = None
    if settings.execution == "open_to_open" and stale_years:
        unscored = pd.to_datetime(features["date"]).dt.year.isin(stale_years).to_numpy()
    splits = walk_forward_splits(
        list(features["date"]),
        features["target_up"].notna().to_numpy(),
        wf,
        settings.label_horizon,
        holdout_start=settings.holdout_start,
        unscored=unscored,
    )
    traded = splits.traded_blocks
    print(
        f"Walk-forward: {len(splits.blocks)} blocks of {wf.block_months} months from {splits.blocks[0].start}; "
        f"{len(traded)} traded ({traded[0].start} .. {traded[-1].end}, "
        f"{sum(b.n_rows for b in traded) / 252:.1f} years)"
    )
    return TrainingData(features, tuple(columns), splits)


def batch_configs(configs: Sequence[ModelSpec], per_task: int) -> list[list[ModelSpec]]:
    """The foreach's work items: consecutive configurations, ``per_task`` at a time; ``0`` = as many
    tasks as this machine has cores (dealt round-robin, so the slow families spread over the tasks)."""
    if per_task > 0:
        return [list(configs[i : i + per_task]) for i in range(0, len(configs), per_task)]
    n_tasks = max(1, min(len(configs), os.cpu_count() or 1))
    return [list(configs[i::n_tasks]) for i in range(n_tasks)]
