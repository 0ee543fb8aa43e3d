"""Inference handlers of a spy-flow model (shipped as ``code/inference.py`` in ``model.tar.gz``).

This file is copied verbatim into ``model.tar.gz`` next to ``model.joblib``, so it must stand alone:
it imports only the standard library, numpy, pandas, joblib and threadpoolctl (a dependency of
scikit-learn, which is needed to unpickle the estimator); nothing from ``spylib``. The trade rule
(probabilities and features to positions) is the library's one implementation,
``spylib/modelling/rule.py``, shipped beside this file as ``code/rule.py`` and loaded from there
(from the library when this file runs inside it). Two servers call
it the same way: the project's own image (``spylib.registry.serving``, gunicorn) and the SageMaker
scikit-learn container (sagemaker-scikit-learn-container).

- ``model_fn(model_dir)`` loads ``model_dir/model.joblib``: the spy-flow model bundle, a plain dict
  ``{"format_version": 1, "estimator", "strategy", "feature_columns", "threshold", "filter_columns",
  "label_convention", "symbol", "sizing", "target_volatility", ...}``, and refuses to serve it when this process's scikit-learn is
  not the ``major.minor`` the bundle records it was pickled with (``pickled_with``).
- ``input_fn(body, content_type)``: ``text/csv`` with a header row naming the columns, or without
  one (every field of the first line a number: the columns are then the model's
  :func:`model_columns`, in that order, which is what a Batch Transform split by line sends), or
  ``application/json``: records (a list of objects, one object, or ``{"instances": [...]}``), or
  rows as lists in :func:`model_columns` order.
- ``predict_fn(frame, bundle)``: a frame with ``probability`` (P(next close higher)), ``signal``
  (1 long, 0 flat) and ``position`` (the signal times the strategy's size).
- ``output_fn(prediction, accept)``: ``text/csv`` (a header row exactly when the request's CSV had
  one, so a headerless Batch Transform gets one output line per input line) or
  ``application/json`` (records). Floats are written with every digit (they round-trip exactly).

Signal rule: signal = 1 when probability >= threshold AND every filter column == 1, else 0 (flat);
position = signal x size (1 for long/flat sizing; min(1, target / (sqrt(252) x vol_20)) for
volatility-targeted sizing, which then needs the ``vol_20`` column).
A request that cannot be scored raises :class:`RequestError` (a ValueError) naming the problem: the
missing column, the row and column of a missing or non-numeric value, the unsupported media type.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import os
import platform
from importlib import metadata
from typing import Any

import joblib
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

RULE_FILE = "rule.py"  # the trade rule, shipped beside this file in model.tar.gz


def load_trade_rule() -> Any:
    """The trade rule module: ``rule.py`` beside this file (in ``model.tar.gz``), else the library's."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), RULE_FILE)
    if os.path.exists(path):
        spec = importlib.util.spec_from_file_location("spyflow_trade_rule", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load the trade rule from {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    from spylib.modelling import rule

    return rule


trade_rule = load_trade_rule()

MODEL_FILE = "model.joblib"
BUNDLE_FORMAT_VERSION = 1
CSV = "text/csv"
JSON = "application/json"
MEDIA_TYPES = (CSV, JSON)
REQUIRED_BUNDLE_KEYS = ("estimator", "feature_columns", "threshold", "filter_columns")
# The key under which the registry records the library versions the bundle was pickled with.
PICKLED_WITH = "pickled_with"
RUNTIME_PACKAGES = ("scikit-learn", "numpy", "joblib")
# Markers on a parsed request frame (pandas ``attrs``), read by predict_fn and output_fn.
POSITIONAL = "spyflow_positional"
CSV_HEADER = "spyflow_csv_header"


class RequestError(ValueError):
    """A request that cannot be scored; ``status`` is the HTTP status a server answers with."""

    status = 400


class UnsupportedMediaType(RequestError):
    """The request's Content-Type is neither text/csv nor application/json."""

    status = 415


class NotAcceptable(RequestError):
    """The request's Accept names no type this model answers in."""

    status = 406


# --- the model -------------------------------------------------------------------------------------
def model_fn(model_dir: str) -> dict[str, Any]:
    """Load and check the bundle in ``model_dir/model.joblib`` (see :func:`check_runtime`)."""
    path = os.path.join(model_dir, MODEL_FILE)
    bundle = joblib.load(path)
    check_bundle(bundle, source=path)
    check_runtime(bundle, source=path)
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


def runtime_versions() -> dict[str, str]:
    """The versions of Python, scikit-learn, numpy and joblib in this process (what a pickle needs)."""
    versions = {"python": platform.python_version()}
    for package in RUNTIME_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def minor_version(version: str) -> str:
    """``"1.5.2"`` -> ``"1.5"`` (also ``"1.2"`` -> ``"1.2"``)."""
    return ".".join(version.split(".")[:2])


def check_runtime(bundle: dict[str, Any], *, source: str) -> list[str]:
    """Compare the versions the bundle was pickled with (``pickled_with``) to this process's.

    A different scikit-learn ``major.minor`` raises ValueError naming both (scikit-learn does not
    support unpickling across versions: it may fail, or silently predict differently). Any other
    difference (a scikit-learn patch, numpy, joblib, Python) is returned as one line each, for the
    server to report. A bundle without the record (registered before it existed) returns a note.
    """
    recorded = bundle.get(PICKLED_WITH)
    if not isinstance(recorded, dict):
        return [f"{source}: the bundle does not record the versions it was pickled with"]
    running = runtime_versions()
    trained, here = str(recorded.get("scikit-learn", "")), running["scikit-learn"]
    if trained and minor_version(trained) != minor_version(here):
        raise ValueError(
            f"{source}: the model was pickled with scikit-learn {trained}, this server has scikit-learn "
            f"{here}; serve it from an image with scikit-learn {minor_version(trained)}.x"
        )
    return [
        f"{name} {recorded[name]} at training, {running[name]} here"
        for name in ("python", *RUNTIME_PACKAGES)
        if name in recorded and str(recorded[name]) != running[name]
    ]


def strategy_rule(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle's trade rule: threshold, filter columns, sizing, target volatility and volatility
    column, from its ``strategy`` (or, for a bundle that predates it, its flat keys)."""
    strategy = bundle.get("strategy")
    if isinstance(strategy, dict):
        sizing = strategy["sizing"]
        return {
            "threshold": float(strategy["threshold"]),
            "filter_columns": [str(c) for c in strategy["regime_filter"]["columns"]],
            "sizing": str(sizing["kind"]),
            "target_volatility": float(sizing["target_volatility"]),
            "volatility_column": str(sizing["column"]),
        }
    return {
        "threshold": float(bundle["threshold"]),
        "filter_columns": [str(c) for c in bundle.get("filter_columns", [])],
        "sizing": str(bundle.get("sizing", "long_flat")),
        "target_volatility": float(bundle.get("target_volatility", 0.15)),
        "volatility_column": trade_rule.VOLATILITY_COLUMN,
    }


def model_columns(bundle: dict[str, Any]) -> list[str]:
    """The columns a request must carry: the features, then the filter columns and (for
    volatility-targeted sizing) the volatility column not among them. Rows without a header
    (headerless CSV, JSON lists) give the values in this order."""
    features = [str(c) for c in bundle["feature_columns"]]
    rule = strategy_rule(bundle)
    extra = list(rule["filter_columns"])
    if rule["sizing"] == "vol_target":
        extra.append(rule["volatility_column"])
    return features + [c for c in dict.fromkeys(extra) if c not in features]


# --- requests --------------------------------------------------------------------------------------
def media_type(value: str | None, default: str) -> str:
    """``"text/csv; charset=utf-8"`` -> ``"text/csv"``; None/empty/``*/*`` -> ``default``."""
    if not value:
        return default
    base = value.split(";", 1)[0].strip().lower()
    return default if base in ("", "*/*") else base


def choose_accept(accept: str | None, default: str) -> str:
    """The response type for an ``Accept`` header: the listed types in order of preference (``q``),
    the first one this model answers in; ``default`` when the header is empty or ``*/*``.
    NotAcceptable when it lists none of them."""
    if not accept or not accept.strip():
        return default
    choices: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept.split(",")):
        kind, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        choices.append((-quality, position, kind.strip().lower()))
    wildcards = {"*/*": default, "": default, "text/*": CSV, "application/*": JSON}
    for negative_quality, _, kind in sorted(choices):
        if negative_quality >= 0:
            continue  # q=0: explicitly not acceptable
        if kind in wildcards:
            return wildcards[kind]
        if kind in MEDIA_TYPES:
            return kind
    raise NotAcceptable(f"unsupported accept type {accept!r}: ask for {CSV} or {JSON}")


def decode_body(body: str | bytes | bytearray) -> str:
    """The request body as text (UTF-8, an optional byte-order mark dropped)."""
    if isinstance(body, str):
        return body.removeprefix("\ufeff")
    try:
        return bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the request body is not UTF-8 text (byte {exc.start})") from exc


def is_number(field: str) -> bool:
    """Whether a CSV field is a number (an empty field counts: a missing value in a data row)."""
    text = field.strip()
    if not text:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv_body(text: str) -> pd.DataFrame:
    """A CSV body as a frame; a first line of numbers is data (a headerless request), not a header."""
    if not text.strip():
        raise RequestError(f"the {CSV} request body is empty")
    first_line = [field.strip() for field in next(csv.reader(io.StringIO(text.lstrip("\r\n"))), [])]
    headerless = all(is_number(field) for field in first_line)
    repeated = sorted({name for name in first_line if first_line.count(name) > 1})
    if repeated and not headerless:
        raise RequestError(f"the {CSV} header names column(s) {repeated} more than once")
    try:
        frame = pd.read_csv(
            io.StringIO(text), header=None if headerless else 0, skipinitialspace=True, skip_blank_lines=True
        )
    except (ValueError, csv.Error) as exc:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise RequestError(f"malformed {CSV} body: {' '.join(str(exc).split())}") from exc
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas reads the surplus leading fields of rows longer than the header as an index.
        raise RequestError(f"malformed {CSV} body: rows have more fields than the header's {len(first_line)}")
    if headerless:
        frame.attrs[POSITIONAL] = True
    else:
        frame.columns = [str(c).strip() for c in frame.columns]
    frame.attrs[CSV_HEADER] = not headerless
    return frame


def read_json_body(text: str) -> pd.DataFrame:
    """Records (objects keyed by column) or rows (lists in model column order) as a frame."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(f"malformed {JSON} body: {exc}") from exc
    if isinstance(payload, dict) and "instances" in payload:
        payload = payload["instances"]
    if isinstance(payload, dict):
        payload = [payload]
    if isinstance(payload, list) and payload and all(isinstance(row, list) for row in payload):
        frame = pd.DataFrame(payload)
        frame.attrs[POSITIONAL] = True
        return frame
    if not isinstance(payload, list) or not all(isinstance(row, dict) for row in payload):
        raise RequestError(
            f"{JSON} body must be a list of records (objects keyed by column), one record, "
            '{"instances": [...]}, or a list of rows (lists in the model\'s column order)'
        )
    return pd.DataFrame.from_records(payload)


def input_fn(request_body: str | bytes, content_type: str | None) -> pd.DataFrame:
    """Parse a request into a frame of named columns (positional ones are named by predict_fn)."""
    kind = media_type(content_type, CSV)
    if kind not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"unsupported content type {content_type!r}: send {CSV} (with or without a header row) or {JSON}"
        )
    text = decode_body(request_body)
    frame = read_csv_body(text) if kind == CSV else read_json_body(text)
    if frame.empty:
        raise RequestError(f"the {kind} request holds no rows to score")
    return frame


def name_positional_columns(frame: pd.DataFrame, bundle: dict[str, Any]) -> pd.DataFrame:
    """A headerless request's columns named by :func:`model_columns` (which must match in number)."""
    columns = model_columns(bundle)
    if frame.shape[1] != len(columns):
        raise RequestError(
            f"a request without column names has {frame.shape[1]} column(s); the model takes "
            f"{len(columns)}, in this order: {columns}"
        )
    named = frame.set_axis(columns, axis=1)
    named.attrs = dict(frame.attrs)
    return named


# --- scoring ---------------------------------------------------------------------------------------
def predict_frame(bundle: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the bundle's strategy to ``frame``; returns ``probability``, ``signal`` and ``position``
    on its index.

    Scored like the flow scores (``spylib.modelling.models.predict_up_probability``): the column of
    class 1, with one BLAS thread, so the same rows give the same bits as in the flow.
    """
    features = [str(c) for c in bundle["feature_columns"]]
    rule = strategy_rule(bundle)
    numeric = features + (
        [rule["volatility_column"]]
        if rule["sizing"] == "vol_target" and rule["volatility_column"] not in features
        else []
    )
    required = model_columns(bundle)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise RequestError(
            f"request is missing column(s) {missing} required by the model (it takes {required})"
        )
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()] if str(c) in required})
    if repeated:
        raise RequestError(f"request names column(s) {repeated} more than once")
    x = frame[numeric].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(x.to_numpy(dtype="float64", na_value=np.nan))
    if bool(bad.any()):
        row, position = (int(i[0]) for i in np.nonzero(bad))
        raise RequestError(
            f"row {row}, column '{numeric[position]}': missing, non-numeric or infinite feature value"
        )
    x = x[features]
    estimator = bundle["estimator"]
    classes = list(getattr(estimator, "classes_", [0, 1]))
    with threadpool_limits(limits=1):
        scores = estimator.predict_proba(x)
    probability = np.asarray(scores[:, classes.index(1) if 1 in classes else 1], dtype="float64")
    # A missing filter value is not "1", so it keeps the position flat (conservative).
    signal = trade_rule.signal(
        probability, rule["threshold"], trade_rule.filter_mask(frame, rule["filter_columns"])
    )
    position = trade_rule.rule_positions(
        probability,
        frame,
        rule["threshold"],
        rule["filter_columns"],
        rule["sizing"],
        rule["target_volatility"],
        rule["volatility_column"],
    )
    return pd.DataFrame(
        {"probability": probability, "signal": signal.astype(np.int64), "position": position},
        index=frame.index,
    )


def predict_fn(input_data: pd.DataFrame, model: dict[str, Any]) -> pd.DataFrame:
    """Score the parsed request with the loaded bundle (naming a headerless request's columns first)."""
    frame = name_positional_columns(input_data, model) if input_data.attrs.get(POSITIONAL) else input_data
    prediction = predict_frame(model, frame)
    prediction.attrs[CSV_HEADER] = bool(input_data.attrs.get(CSV_HEADER, True))
    return prediction


# --- responses -------------------------------------------------------------------------------------
def output_fn(prediction: pd.DataFrame, accept: str | None) -> tuple[str, str]:
    """Serialize predictions; returns ``(body, content_type)`` as the container expects."""
    kind = choose_accept(accept, CSV)
    probabilities = [float(p) for p in prediction["probability"].to_numpy(dtype="float64")]
    signals = [int(s) for s in prediction["signal"].to_numpy()]
    positions = [float(p) for p in prediction["position"].to_numpy(dtype="float64")]
    rows = list(zip(probabilities, signals, positions, strict=True))
    if kind == CSV:
        lines = ["probability,signal,position"] if prediction.attrs.get(CSV_HEADER, True) else []
        # repr() is the shortest text that reads back as the same float (exact round trip).
        lines.extend(f"{p!r},{s},{q!r}" for p, s, q in rows)
        return "\n".join(lines) + "\n", CSV
    records = [
        {"probability": p if math.isfinite(p) else None, "signal": s, "position": q} for p, s, q in rows
    ]
    return json.dumps(records), JSON
