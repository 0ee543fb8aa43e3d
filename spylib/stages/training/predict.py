"""predict: see spylib.stages.training.evaluate. The prediction files are staged here and published by
``end`` with the lake (:func:`spylib.stages.training.publish.publish_outputs`): a run that fails after
``predict`` leaves no prediction file where readers look."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import Prediction, TrainingData
from spylib.stages.training.publish import stage_predictions


def run_predict(
    model: Any,
    best: Mapping[str, Any],
    track: pd.DataFrame,
    data: TrainingData,
    settings: TrainingSettings,
    run_id: str,
) -> Prediction:
    from spylib.modelling.models import make_bundle
    from spylib.modelling.predictions import batch_predictions

    bundle = make_bundle(
        model,
        data.feature_columns,
        float(best["threshold"]),
        best["filter_columns"],
        settings.execution,
        settings.symbol,
        sizing=str(best["sizing"]),
        target_volatility=settings.sweep.target_volatility,
    )
    predictions = batch_predictions(bundle, data.features, data.splits, track, model_version=f"run-{run_id}")
    files = stage_predictions(predictions, settings.output_dir, run_id)
    return Prediction(bundle, predictions, files)
