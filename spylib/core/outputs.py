"""What a run writes and where, by default: the one home of every output location and default.

* **The lake** (Parquet, Hive partitions ``symbol=/year=``): which table each step stages
  (:data:`LAKE_TABLE_OF_STEP`); SpyFlow publishes the staged files in ``end`` (a failed run is invisible
  to readers), PredictFlow appends its daily prediction to ``predictions``. The tables' schemas are in
  :mod:`spylib.storage.tables`.
* **The prediction files**: SpyFlow writes ``<output dir>/predictions/run_id=<id>/predictions.{parquet,csv}``
  (:data:`PREDICTION_FORMATS`); PredictFlow writes its card, PNGs and ``monitoring.json`` beside them.
* **The defaults** of the flows' Parameters and of the ``spy-flow`` command: the output directory, the
  lake root, the registry target and location, the model group, and the environment variables that
  override them for a deployed PredictFlow and for the command line.
* **The schedules**: each flow's cron is a Config file in ``flows/config`` (:data:`SCHEDULE_CONFIGS`),
  read by its ``@schedule``; the crons are written there and nowhere else.
"""

from __future__ import annotations

import os

DEFAULT_OUTPUT_DIR = "data"
DEFAULT_LAKE_ROOT = "data/lake"
DEFAULT_REGISTRY = "local"
DEFAULT_REGISTRY_LOCATION = "data/registry"
DEFAULT_MODEL_GROUP = "spy-direction"
DEFAULT_SYMBOL = "SPY"
DEFAULT_BENCHMARK = "QQQ"

# The lake table each SpyFlow step stages (PredictFlow's predict step appends to "predictions").
LAKE_TABLE_OF_STEP: dict[str, str] = {"ingest": "prices", "features": "features", "predict": "predictions"}
# SpyFlow's prediction files, one per format, under <output dir>/predictions/run_id=<id>/.
PREDICTION_FORMATS: tuple[str, ...] = ("parquet", "csv")
# Each flow's schedule Config: (the Config's name, its default file in flows/config).
SCHEDULE_CONFIGS: dict[str, tuple[str, str]] = {
    "SpyFlow": ("schedule", "schedule.json"),  # weekly retraining, Saturday 06:00 UTC
    "PredictFlow": ("schedule", "predict_schedule.json"),  # daily, 22:30 UTC Monday to Friday
}

# (variable, fallback): what a deployed PredictFlow and the `spy-flow` command read when no option is
# given. Evaluated at deploy time for PredictFlow, so a schedule keeps the location it was created with.
SOURCE_ENV = ("SPYFLOW_SOURCE", "embedded")
REGISTRY_ENV = ("SPYFLOW_REGISTRY", DEFAULT_REGISTRY)
LOCATION_ENV = ("SPYFLOW_REGISTRY_LOCATION", DEFAULT_REGISTRY_LOCATION)
LAKE_ENV = ("SPYFLOW_LAKE_ROOT", DEFAULT_LAKE_ROOT)


def env_or(variable: tuple[str, str]) -> str:
    """``$name`` when it is set and not blank, else the fallback."""
    name, fallback = variable
    return os.environ.get(name, "").strip() or fallback
