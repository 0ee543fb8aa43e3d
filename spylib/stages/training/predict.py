"""predict: see spylib.stages.training.evaluate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import Prediction, TrainingData

if TYPE_CHECKING:
    from spylib.modelling.strategy import Strategy


def run_predict(
    model: Any,
    strategy: Strategy,
    track: pd.DataFrame,
    data: TrainingData,
    settings: TrainingSettings,
    run_id: str,
) -> Prediction:
    from spylib.modelling.models import make_bundle
    from spylib.modelling.predictions import batch_predictions, write_predictions

    bundle = make_bundle(model, strategy)
    predictions = batch_predictions(bundle, data.features, data.splits, track, model_version=f"run-{run_id}")
    files = write_predictions(predictions, settings.output_dir, run_id)
    return Prediction(bundle, predictions, files)
