"""Inference handlers for the SageMaker scikit-learn container (shipped as ``code/inference.py``).

This file is copied verbatim into ``model.tar.gz`` next to ``model.joblib``, so it must stand alone:
it imports only the standard library, numpy, pandas and joblib (scikit-learn is needed to unpickle the
estimator, nothing from ``spylib``).

Contract of the container (sagemaker-scikit-learn-container):
- ``model_fn(model_dir)`` loads ``model_dir/model.joblib``: the spy-flow model bundle, a plain dict
  ``{"format_version": 1, "estimator", "feature_columns", "threshold", "filter_columns",
  "label_convention", "symbol"}``.
- ``input_fn(body, content_type)``: ``text/csv`` WITH a header row naming the columns, or
  ``application/json`` records (a list of objects, one object, or ``{"instances": [...]}``).
- ``predict_fn(frame, bundle)``: a frame with ``probability`` (P(next close higher)) and ``signal``.
- ``output_fn(prediction, accept)``: ``text/csv`` (header row) or ``application/json`` (records).

Signal rule: signal = 1 when probability >= threshold AND every filter column == 1, else 0 (flat).
A row with a missing feature value is refused (ValueError naming the column and row), never scored.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import joblib
import numpy as np
import pandas as pd

MODEL_FILE = "model.joblib"
BUNDLE_FORMAT_VERSION = 1
CSV = "text/csv"
JSON = "application/json"
REQUIRED_BUNDLE_KEYS = ("estimator", "feature_columns", "threshold", "filter_columns")


def model_fn(model_dir: str) -> dict[str, Any]:
    """Load the model bundle from ``model_dir/model.joblib`` (the container already verified nothing)."""
    path = os.path.join(model_dir, MODEL_FILE)
    bundle = joblib.load(path)
    check_bundle(bundle, source=path)
    return bundle


def check_bundle(bundle: Any, *, source: str) -> None:
    """Raise ValueError naming ``source`` and the key when ``bundle`` is not a format-1 model bundle."""
    if not isinstance(bundle, dict):
        raise ValueError(f"{source}: expected a model bundle dict, got {type(bundle).__name__}")
    if bundle.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise ValueError(
            f"{source}, key 'format_version': expected {BUNDLE_FORMAT_VERSION}, "
            f"got {bundle.get('format_version')!r}"
        )
    for key in REQUIRED_BUNDLE_KEYS:
        if key not in bundle:
            raise ValueError(f"{source}, key '{key}': missing from the model bundle")
    if not hasattr(bundle["estimator"], "predict_proba"):
        raise ValueError(f"{source}, key 'estimator': the estimator has no predict_proba")


def strip_media_type(media_type: str | None, default: str) -> str:
    """``"text/csv; charset=utf-8"`` -> ``"text/csv"``; None/empty/``*/*`` -> ``default``."""
    if not media_type:
        return default
    base = media_type.split(";", 1)[0].strip().lower()
    return default if base in ("", "*/*") else base


def input_fn(request_body: str | bytes, content_type: str | None) -> pd.DataFrame:
    """Parse a request into a frame of named columns (CSV needs a header row)."""
    kind = strip_media_type(content_type, CSV)
    text = request_body.decode("utf-8") if isinstance(request_body, bytes | bytearray) else request_body
    if kind == CSV:
        if not text.strip():
            raise ValueError("text/csv request body is empty (a header row naming the columns is required)")
        return pd.read_csv(io.StringIO(text))
    if kind == JSON:
        payload = json.loads(text)
        if isinstance(payload, dict) and "instances" in payload:
            payload = payload["instances"]
        if isinstance(payload, dict):
            payload = [payload]
        if not isinstance(payload, list) or not all(isinstance(row, dict) for row in payload):
            raise ValueError("application/json body must be a list of records (objects keyed by column)")
        return pd.DataFrame.from_records(payload)
    raise ValueError(f"unsupported content type {content_type!r}: send text/csv (with header) or {JSON}")


def predict_frame(bundle: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the bundle's signal rule to ``frame``; returns ``probability`` and ``signal`` on its index."""
    features = [str(c) for c in bundle["feature_columns"]]
    filters = [str(c) for c in bundle.get("filter_columns", [])]
    missing = [c for c in features + filters if c not in frame.columns]
    if missing:
        raise ValueError(f"request is missing column(s) {missing} required by the model")
    x = frame[features].apply(pd.to_numeric, errors="coerce")
    null_cells = x.isna()
    if bool(null_cells.to_numpy().any()):
        column = str(null_cells.any(axis=0).idxmax())
        row = null_cells[column].to_numpy().nonzero()[0][0]
        raise ValueError(f"row {row}, column '{column}': missing or non-numeric feature value")
    probability = np.asarray(bundle["estimator"].predict_proba(x)[:, 1], dtype=float)
    passes = probability >= float(bundle["threshold"])
    for column in filters:
        # A missing filter value is not "1", so it keeps the position flat (conservative).
        passes &= pd.to_numeric(frame[column], errors="coerce").to_numpy() == 1
    return pd.DataFrame(
        {"probability": probability, "signal": passes.astype(np.int64)},
        index=frame.index,
    )


def predict_fn(input_data: pd.DataFrame, model: dict[str, Any]) -> pd.DataFrame:
    """Score the parsed request with the loaded bundle."""
    return predict_frame(model, input_data)


def output_fn(prediction: pd.DataFrame, accept: str | None) -> tuple[str, str]:
    """Serialize predictions; returns ``(body, content_type)`` as the container expects."""
    kind = strip_media_type(accept, CSV)
    if kind == CSV:
        return prediction.to_csv(index=False), CSV
    if kind == JSON:
        return prediction.to_json(orient="records"), JSON
    raise ValueError(f"unsupported accept type {accept!r}: ask for {CSV} or {JSON}")
