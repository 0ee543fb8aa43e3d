"""predict: the registered bundle; the track as traded, the holdout and the latest day by it, written
as the prediction files and staged in the lake; the lake registered in Glue when asked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import PredictResult, TrainingData
from spylib.stages.training.publish import register_catalog, stage_step_table


def run_predict(
    model: Any,
    best: Mapping[str, Any],
    track: pd.DataFrame,
    data: TrainingData,
    settings: TrainingSettings,
    run_id: str,
    staged: dict[str, list[str]],
) -> PredictResult:
    """The bundle and its predictions; ``staged``: the run's lake files staged so far."""
    from spylib.modelling.models import make_bundle
    from spylib.modelling.predictions import batch_predictions, write_predictions

    bundle = make_bundle(
        model,
        data.feature_columns,
        float(best["threshold"]),
        best["filter_columns"],
        settings.plan.execution,
        settings.data.symbol,
        sizing=str(best["sizing"]),
        target_volatility=settings.plan.sweep.target_volatility,
    )
    predictions = batch_predictions(bundle, data.features, data.splits, track, model_version=f"run-{run_id}")
    files = write_predictions(predictions, settings.outputs.output_dir, run_id)
    lake_files = stage_step_table("predict", predictions, settings.outputs, run_id, staged)
    return PredictResult(bundle, predictions, files, lake_files, register_catalog(settings.outputs))
