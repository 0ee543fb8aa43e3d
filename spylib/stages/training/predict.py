"""predict: the registered bundle (the final model and its strategy); the track as traded, the holdout and the latest day by it, written
as the prediction files and staged in the lake; the lake registered in Glue when asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import PredictResult, TrainingData
from spylib.stages.training.publish import register_catalog, stage_step_table

if TYPE_CHECKING:
    from spylib.modelling.strategy import Strategy


def run_predict(
    model: Any,
    strategy: Strategy,
    track: pd.DataFrame,
    data: TrainingData,
    settings: TrainingSettings,
    run_id: str,
    staged: dict[str, list[str]],
) -> PredictResult:
    """The bundle and its predictions; ``staged``: the run's lake files staged so far."""
    from spylib.modelling.models import make_bundle
    from spylib.modelling.predictions import batch_predictions, write_predictions

    bundle = make_bundle(model, strategy)
    predictions = batch_predictions(bundle, data.features, data.splits, track, model_version=f"run-{run_id}")
    files = write_predictions(predictions, settings.outputs.output_dir, run_id)
    lake_files = stage_step_table("predict", predictions, settings.outputs, run_id, staged)
    return PredictResult(bundle, predictions, files, lake_files, register_catalog(settings.outputs))
