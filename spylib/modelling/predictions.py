"""Batch prediction: the walk-forward track as traded, the registered model on the holdout and the latest
day, with the realized outcome where it is known, written atomically as Parquet and CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spylib.core.errors import SpyFlowError
from spylib.core.schema import PREDICTION_COLUMNS, PREDICTIONS_SCHEMA
from spylib.modelling.models import apply_bundle
from spylib.modelling.strategy import ModelBundle
from spylib.modelling.walk_forward import Splits
from spylib.storage.files import atomic_write


def batch_predictions(
    bundle: ModelBundle,
    features: pd.DataFrame,
    splits: Splits,
    track: pd.DataFrame,
    model_version: str,
) -> pd.DataFrame:
    """The predictions table, ``PREDICTIONS_SCHEMA`` rows in date order:

    * ``walk_forward``: every track day, as it was traded: the probability of the model fitted before
      its block, the signal and the position of the trial chosen for that block (``model_version``
      names the block);
    * ``holdout``: the registered model and strategy on the untouched holdout, when there is one;
    * ``latest``: the registered model and strategy on the day(s) after the last label (what to do next).

    ``position`` is the strategy's (:meth:`Strategy.positions`): the signal times its sizing.
    """
    symbol = str(features["symbol"].iloc[0])
    walk = pd.DataFrame(
        {
            "date": track["date"].to_numpy(),
            "symbol": symbol,
            "segment": "walk_forward",
            "probability": track["probability"].to_numpy("float64"),
            "signal": (track["position"].to_numpy() > 0).astype("int8"),
            "position": track["position"].to_numpy("float64"),
            "target_up": track["target_up"].astype("Int8").to_numpy(),
            "fwd_return": track["fwd_return"].to_numpy("float64"),
            "model_version": [f"{model_version}/block-{b}" for b in track["block"]],
        }
    )
    unlabelled = features[features["target_up"].isna()].assign(segment="latest")
    parts = [features.iloc[splits["holdout"].rows()].assign(segment="holdout")] if "holdout" in splits else []
    frame = pd.concat([*parts, unlabelled], ignore_index=True)
    scored = apply_bundle(bundle, frame)
    final = pd.DataFrame(
        {
            "date": frame["date"].to_numpy(),
            "symbol": frame["symbol"].to_numpy(),
            "segment": frame["segment"].to_numpy(),
            "probability": scored.probability,
            "signal": scored.signal,
            "position": scored.position,
            "target_up": frame["target_up"].astype("Int8").to_numpy(),
            "fwd_return": frame["fwd_return"].to_numpy("float64"),
            "model_version": model_version,
        }
    )
    return pd.concat([walk, final], ignore_index=True)[list(PREDICTION_COLUMNS)]


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
