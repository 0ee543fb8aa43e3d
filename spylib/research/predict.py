"""Batch prediction: probabilities and signals for the test and production segments and the latest day,
with the realized outcome where it is known, written atomically as Parquet and CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spylib.core.errors import SpyFlowError
from spylib.core.schema import PREDICTION_COLUMNS, PREDICTIONS_SCHEMA
from spylib.research.models import bundle_signal
from spylib.research.split import Splits
from spylib.storage.files import atomic_write


def batch_predictions(
    bundle: dict[str, Any], features: pd.DataFrame, splits: Splits, model_version: str
) -> pd.DataFrame:
    """Rows of the test and production segments plus every day after production's labelled range
    (the latest day, whose outcome is unknown: segment ``latest``)."""
    parts = []
    for name in ("test", "production"):
        seg = features.iloc[splits[name].rows()]
        labelled = seg["target_up"].notna().to_numpy()
        parts.append(seg[labelled].assign(segment=name))
        if name == "production":
            parts.append(seg[~labelled].assign(segment="latest"))
    frame = pd.concat(parts, ignore_index=True)
    probability, signal = bundle_signal(bundle, frame)
    out = pd.DataFrame(
        {
            "date": frame["date"].to_numpy(),
            "symbol": frame["symbol"].to_numpy(),
            "segment": frame["segment"].to_numpy(),
            "probability": probability,
            "signal": signal,
            "target_up": frame["target_up"].astype("Int8").to_numpy(),
            "fwd_return": frame["fwd_return"].to_numpy("float64"),
            "model_version": model_version,
        }
    )
    return out[list(PREDICTION_COLUMNS)]


def write_predictions(predictions: pd.DataFrame, directory: str | Path, run_id: str) -> dict[str, str]:
    """``{directory}/predictions/run_id={run_id}/predictions.{parquet,csv}``, atomically.

    An OSError (disk full, permission) is reported with the path and leaves any previous file intact.
    """
    target = Path(directory) / "predictions" / f"run_id={run_id}"
    table = pa.Table.from_pandas(predictions, schema=PREDICTIONS_SCHEMA, preserve_index=False)
    paths = {"parquet": target / "predictions.parquet", "csv": target / "predictions.csv"}
    try:
        atomic_write(paths["parquet"], lambda h: pq.write_table(table, h))
        atomic_write(paths["csv"], lambda h: h.write(predictions.to_csv(index=False).encode()))
    except OSError as exc:
        raise SpyFlowError(f"cannot write predictions to {target}: {exc.strerror or exc}") from exc
    return {k: str(v) for k, v in paths.items()}
