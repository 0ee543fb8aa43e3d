"""The inference server's WSGI app (``spylib.registry.serving``), in process, without Docker or gunicorn.

The model is a real ``model.tar.gz`` built by the registry and unpacked as SageMaker unpacks it at
``/opt/ml/model``; requests go through ``wsgiref.validate`` (PEP 3333 checks on every answer). What
the app answers must be ``predict_frame``'s probabilities and signals bit for bit, and every bad
payload a 4xx JSON error that names the problem.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from spylib.core.errors import ConfigError
from spylib.registry import build_model_tarball, inference, serialize_bundle
from spylib.registry.inference import model_columns, predict_frame
from spylib.registry.serving import (
    DEFAULT_MAX_PAYLOAD_MB,
    DEFAULT_PORT,
    MIB,
    InferenceApp,
    ServerSettings,
    gunicorn_options,
    load_handlers,
    usable_cpus,
)
from tests.helpers.docker_proof import import_proof

FEATURES = ["ret_1d", "rsi_14", "vol_20", "trend_up"]
FILTERS = ["trend_up", "not_bear"]  # trend_up is a feature and a filter: named once in model_columns


def feature_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows like the flow's features table: float64 and int8 columns, and columns the model ignores."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "ret_1d": rng.normal(0, 0.01, n),
            "rsi_14": rng.uniform(0, 100, n),
            "vol_20": rng.lognormal(-4, 0.3, n),
            "trend_up": rng.integers(0, 2, n).astype("int8"),
            "not_bear": rng.integers(0, 2, n).astype("int8"),
            "symbol": "SPY",
        }
    )


def fitted_bundle(**overrides: Any) -> dict[str, Any]:
    frame = feature_frame(800, seed=1)
    target = (frame["ret_1d"] + 0.002 * (frame["trend_up"] - 0.5) > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5)).fit(frame[FEATURES], target)
    bundle = {
        "format_version": 1,
        "estimator": model,
        "feature_columns": FEATURES,
        "threshold": 0.5,
        "filter_columns": FILTERS,
        "label_convention": "open_to_open",
        "symbol": "SPY",
        "sizing": "long_flat",
        "target_volatility": 0.15,
    }
    return {**bundle, **overrides}


def unpack(tarball: bytes, directory: Path) -> Path:
    """Unpack a model.tar.gz the way SageMaker does into its /opt/ml/model."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        tar.extractall(directory, filter="data")
    return directory


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return fitted_bundle()


@pytest.fixture(scope="module")
def model_dir(bundle: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack(build_model_tarball(serialize_bundle(bundle)), tmp_path_factory.mktemp("opt-ml-model"))


@pytest.fixture(scope="module")
def app(model_dir: Path) -> InferenceApp:
    return InferenceApp(model_dir, ServerSettings(workers=2, max_payload_mb=1))


class Answer:
    """One response: status code, headers, body (and JSON when the body is JSON), the app's log."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes, log: str) -> None:
        self.status = int(status.split()[0])
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        self.log = log  # what the app wrote to wsgi.errors (the container log)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def call(
    app: Any,
    method: str,
    path: str,
    body: bytes | str = b"",
    headers: Mapping[str, str] | None = None,
    *,
    chunked: bool = False,
    validate: bool = True,
) -> Answer:
    """Call the WSGI app as a server would (``wsgiref.validate`` checks both sides of PEP 3333)."""
    data = body.encode() if isinstance(body, str) else body
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "wsgi.input": io.BytesIO(data),
    }
    if chunked:
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(len(data))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    setup_testing_defaults(environ)
    errors = environ["wsgi.errors"] = io.StringIO()
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured.update(status=status, headers=response_headers)
        return lambda _: None

    result = (validator(app) if validate else app)(environ, start_response)
    try:
        payload = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return Answer(captured["status"], captured["headers"], payload, errors.getvalue())


def post(app: Any, body: bytes | str, content_type: str, accept: str | None = None) -> Answer:
    headers = {"Content-Type": content_type}
    if accept is not None:
        headers["Accept"] = accept
    return call(app, "POST", "/invocations", body, headers)


def csv_scores(text: str, header: bool = True) -> pd.DataFrame:
    return pd.read_csv(
        io.StringIO(text),
        header=0 if header else None,
        names=None if header else ["probability", "signal", "position"],
    )


def assert_same_scores(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Bit-for-bit the same probabilities, the same signals, the same positions."""
    np.testing.assert_array_equal(got["probability"].to_numpy("float64"), expected["probability"].to_numpy())
    np.testing.assert_array_equal(got["signal"].to_numpy("int64"), expected["signal"].to_numpy())
    np.testing.assert_array_equal(got["position"].to_numpy("float64"), expected["position"].to_numpy())


# ---- the contract: ping, execution parameters, model in /opt/ml/model ----------------------------


def test_ping_describes_the_loaded_model(app: InferenceApp) -> None:
    answer = call(app, "GET", "/ping")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    described = answer.json()
    assert described["status"] == "healthy"
    assert described["columns"] == ["ret_1d", "rsi_14", "vol_20", "trend_up", "not_bear"]
    assert described["pickled_with"] == inference.runtime_versions()
    assert described["notes"] == []


def test_execution_parameters_for_batch_transform(app: InferenceApp) -> None:
    answer = call(app, "GET", "/execution-parameters")
    assert answer.status == 200
    assert answer.json() == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 1,
    }


def test_handlers_come_from_the_models_code_directory(model_dir: Path, app: InferenceApp) -> None:
    assert app.handlers.__name__ == "spyflow_model_inference"
    assert Path(app.handlers.__file__ or "") == model_dir / "code" / "inference.py"
    # A model without code/ is served with this image's copy of the same handlers.
    assert load_handlers(model_dir / "elsewhere", ServerSettings()) is inference


def test_a_program_without_the_handlers_is_refused(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "serve.py").write_text("def model_fn(model_dir):\n    return {}\n")
    with pytest.raises(ConfigError, match="defines no input_fn"):
        load_handlers(tmp_path, ServerSettings(program="serve.py"))


# ---- what it answers: predict_frame's bits --------------------------------------------------------


def test_csv_with_a_header_scores_exactly_like_predict_frame(
    app: InferenceApp, bundle: dict[str, Any]
) -> None:
    frame = feature_frame(1500, seed=7)
    shuffled = frame[["symbol", "not_bear", "vol_20", "date", "trend_up", "rsi_14", "ret_1d"]]
    answer = post(app, shuffled.to_csv(index=False), "text/csv")
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/csv"
    assert answer.text.splitlines()[0] == "probability,signal,position"
    scores = csv_scores(answer.text)
    assert len(scores) == len(frame)
    assert_same_scores(scores, predict_frame(bundle, frame))


def test_json_records_score_exactly_like_predict_frame(app: InferenceApp, bundle: dict[str, Any]) -> None:
    frame = feature_frame(1500, seed=8)
    records = json.dumps(frame.to_dict(orient="records"))
    answer = post(app, records, "application/json")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert_same_scores(pd.DataFrame(answer.json()), predict_frame(bundle, frame))
    instances = post(app, json.dumps({"instances": frame.to_dict(orient="records")}), "application/json")
    assert instances.body == answer.body


def test_rows_without_names_are_in_model_column_order(app: InferenceApp, bundle: dict[str, Any]) -> None:
    frame = feature_frame(300, seed=9)
    ordered = frame[model_columns(bundle)]
    expected = predict_frame(bundle, frame)
    headerless = post(app, ordered.to_csv(index=False, header=False), "text/csv")
    assert headerless.status == 200
    lines = headerless.text.splitlines()
    assert len(lines) == len(frame), "no header out for no header in: one output line per input line"
    assert_same_scores(csv_scores(headerless.text, header=False), expected)
    lists = post(app, json.dumps(ordered.to_numpy().tolist()), "application/json", accept="application/json")
    assert_same_scores(pd.DataFrame(lists.json()), expected)


def test_floats_round_trip_in_both_formats(app: InferenceApp, bundle: dict[str, Any]) -> None:
    frame = feature_frame(50, seed=10)
    expected = predict_frame(bundle, frame)["probability"].tolist()
    as_csv = post(app, frame.to_csv(index=False), "text/csv", accept="text/csv")
    as_json = post(app, frame.to_csv(index=False), "text/csv", accept="application/json")
    assert [float(line.split(",")[0]) for line in as_csv.text.splitlines()[1:]] == expected
    assert [row["probability"] for row in as_json.json()] == expected


@pytest.mark.parametrize(
    ("content_type", "accept", "env_default", "expected"),
    [
        ("text/csv", None, None, "text/csv"),
        ("application/json", None, None, "application/json"),
        ("application/json", "*/*", None, "application/json"),
        ("text/csv", "application/json", None, "application/json"),
        ("text/csv", "text/csv;q=0.5, application/json", None, "application/json"),
        ("text/csv", "application/x-parquet, text/csv", None, "text/csv"),
        ("text/csv; charset=utf-8", None, "application/json", "application/json"),
    ],
)
def test_the_answer_type_follows_accept_then_the_default_then_the_request(
    model_dir: Path, content_type: str, accept: str | None, env_default: str | None, expected: str
) -> None:
    served = InferenceApp(model_dir, ServerSettings(default_accept=env_default))
    frame = feature_frame(3)
    body = (
        frame.to_csv(index=False) if content_type.startswith("text/csv") else frame.to_json(orient="records")
    )
    answer = post(served, body, content_type, accept)
    assert answer.status == 200
    assert answer.headers["content-type"] == expected


# ---- bad payloads: a 4xx JSON error naming the problem, never a 500 -------------------------------

GOOD_CSV = feature_frame(3).to_csv(index=False)
BAD_PAYLOADS = [
    ("missing column", "text/csv", "ret_1d,vol_20,trend_up,not_bear\n0.1,0.02,1,1\n", None, 400, "missing column(s) ['rsi_14']"),
    ("NaN in CSV", "text/csv", "ret_1d,rsi_14,vol_20,trend_up,not_bear\n0.1,50,0.02,1,1\n0.1,NaN,0.02,1,1\n", None, 400, "row 1, column 'rsi_14'"),
    ("empty CSV field", "text/csv", "ret_1d,rsi_14,vol_20,trend_up,not_bear\n0.1,,0.02,1,1\n", None, 400, "row 0, column 'rsi_14'"),
    ("infinite value", "text/csv", "ret_1d,rsi_14,vol_20,trend_up,not_bear\ninf,50,0.02,1,1\n", None, 400, "infinite"),
    ("text in a feature", "text/csv", "ret_1d,rsi_14,vol_20,trend_up,not_bear\nabc,50,0.02,1,1\n", None, 400, "non-numeric"),
    ("NaN in JSON", "application/json", '[{"ret_1d": NaN, "rsi_14": 50, "vol_20": 0.02, "trend_up": 1, "not_bear": 1}]', None, 400, "column 'ret_1d'"),
    ("null in JSON", "application/json", '[{"ret_1d": 0.1, "rsi_14": null, "vol_20": 0.02, "trend_up": 1, "not_bear": 1}]', None, 400, "column 'rsi_14'"),
    ("object in JSON", "application/json", '[{"ret_1d": {"a": 1}, "rsi_14": 5, "vol_20": 0.02, "trend_up": 1, "not_bear": 1}]', None, 400, "column 'ret_1d'"),
    ("wrong content type", "application/x-npy", GOOD_CSV, None, 415, "unsupported content type 'application/x-npy'"),
    ("unacceptable accept", "text/csv", GOOD_CSV, "application/x-parquet", 406, "unsupported accept type"),
    ("ragged CSV", "text/csv", "ret_1d,rsi_14,vol_20,trend_up,not_bear\n0.1,50,0.02,1,1,7,8\n", None, 400, "malformed text/csv body"),
    ("truncated JSON", "application/json", '[{"ret_1d": 0.1, "rsi_14": 5', None, 400, "malformed application/json body"),
    ("JSON of numbers", "application/json", "[1, 2, 3]", None, 400, "list of records"),
    ("empty JSON list", "application/json", "[]", None, 400, "holds no rows"),
    ("empty body", "text/csv", "", None, 400, "request body is empty"),
    ("header only", "text/csv", "ret_1d,rsi_14,vol_20,trend_up,not_bear\n", None, 400, "holds no rows"),
    ("not UTF-8", "text/csv", b"ret_1d,rsi_14\n\xff\xfe\n", None, 400, "not UTF-8"),
    ("too few columns without a header", "text/csv", "0.1,50,0.02\n", None, 400, "the model takes 5, in this order"),
    ("a column twice", "text/csv", "ret_1d,rsi_14,vol_20,trend_up,not_bear,rsi_14\n0.1,50,0.02,1,1,3\n", None, 400, "['rsi_14'] more than once"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("content_type", "body", "accept", "status", "message"),
    [row[1:] for row in BAD_PAYLOADS],
    ids=[row[0] for row in BAD_PAYLOADS],
)
def test_bad_payloads_get_a_4xx_json_error_naming_the_problem(
    app: InferenceApp, content_type: str, body: str | bytes, accept: str | None, status: int, message: str
) -> None:
    answer = post(app, body, content_type, accept)
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()
    assert message in error["error"]
    assert error["status"] == status
    assert "Traceback" not in answer.text


def test_an_oversized_body_is_refused_with_413(app: InferenceApp) -> None:
    row = "0.001,50.0,0.02,1,1\n"
    body = "ret_1d,rsi_14,vol_20,trend_up,not_bear\n" + row * (MIB // len(row) + 10)
    answer = post(app, body, "text/csv")
    assert answer.status == 413
    assert "exceeds the limit of 1048576 bytes" in answer.json()["error"]
    chunked = call(app, "POST", "/invocations", body, {"Content-Type": "text/csv"}, chunked=True)
    assert chunked.status == 413
    just_under = body[: MIB - 100].rsplit("\n", 1)[0] + "\n"
    assert post(app, just_under, "text/csv").status == 200


def test_a_chunked_body_within_the_limit_is_read(app: InferenceApp, bundle: dict[str, Any]) -> None:
    frame = feature_frame(20)
    answer = call(
        app, "POST", "/invocations", frame.to_csv(index=False), {"Content-Type": "text/csv"}, chunked=True
    )
    assert answer.status == 200
    assert_same_scores(csv_scores(answer.text), predict_frame(bundle, frame))


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/invocations", 405, "/invocations takes POST, not GET"),
        ("POST", "/ping", 405, "/ping takes GET"),
        ("GET", "/", 404, "no such path '/'"),
        ("GET", "/metrics", 404, "no such path"),
    ],
)
def test_unknown_paths_and_methods(
    app: InferenceApp, method: str, path: str, status: int, message: str
) -> None:
    answer = call(app, method, path)
    assert answer.status == status
    assert message in answer.json()["error"]


def test_an_invalid_content_length_is_a_400(app: InferenceApp) -> None:
    headers = {"Content-Type": "text/csv", "Content-Length": "many"}
    answer = call(app, "POST", "/invocations", GOOD_CSV, headers, validate=False)  # the validator refuses it
    assert answer.status == 400
    assert "invalid Content-Length" in answer.json()["error"]


def test_an_unexpected_error_is_a_500_without_traceback(model_dir: Path) -> None:
    class Broken:
        __name__ = "broken"
        model_fn = staticmethod(inference.model_fn)
        input_fn = staticmethod(inference.input_fn)
        output_fn = staticmethod(inference.output_fn)

        @staticmethod
        def predict_fn(frame: pd.DataFrame, model: Any) -> pd.DataFrame:
            raise RuntimeError("a bug at /secret/path")

    served = InferenceApp(model_dir, ServerSettings(), handlers=Broken)  # type: ignore[arg-type]
    answer = post(served, GOOD_CSV, "text/csv")
    assert answer.status == 500
    assert answer.json()["error"] == "internal error while serving (RuntimeError); see the container log"
    assert "/secret/path" not in answer.text
    assert "Traceback" in answer.log


# ---- the model must match the server's libraries --------------------------------------------------


def test_a_model_pickled_with_another_scikit_learn_is_refused_at_start(tmp_path: Path) -> None:
    bundle = fitted_bundle()
    model_dir = unpack(build_model_tarball(serialize_bundle(bundle)), tmp_path)
    # What serialize_bundle records, as if another scikit-learn had pickled it.
    stored = __import__("joblib").load(model_dir / "model.joblib")
    stored["pickled_with"] = {**stored["pickled_with"], "scikit-learn": "0.24.2"}
    __import__("joblib").dump(stored, model_dir / "model.joblib")
    here = inference.runtime_versions()["scikit-learn"]
    with pytest.raises(
        ValueError, match=rf"pickled with scikit-learn 0\.24\.2, this server has scikit-learn {here}"
    ):
        InferenceApp(model_dir, ServerSettings())


def test_other_version_differences_are_reported_not_refused(tmp_path: Path) -> None:
    model_dir = unpack(build_model_tarball(serialize_bundle(fitted_bundle())), tmp_path)
    joblib = __import__("joblib")
    stored = joblib.load(model_dir / "model.joblib")
    stored["pickled_with"] = {**stored["pickled_with"], "numpy": "1.26.0"}
    joblib.dump(stored, model_dir / "model.joblib")
    notes = InferenceApp(model_dir, ServerSettings()).notes
    assert notes == [f"numpy 1.26.0 at training, {inference.runtime_versions()['numpy']} here"]


def test_a_bundle_from_before_the_version_record_still_serves(tmp_path: Path) -> None:
    import joblib

    bundle = fitted_bundle()
    model_dir = unpack(build_model_tarball(serialize_bundle(bundle)), tmp_path)
    old = {k: v for k, v in joblib.load(model_dir / "model.joblib").items() if k != "pickled_with"}
    joblib.dump(old, model_dir / "model.joblib")
    served = InferenceApp(model_dir, ServerSettings())
    assert "does not record the versions" in served.notes[0]
    frame = feature_frame(5)
    assert_same_scores(
        csv_scores(post(served, frame.to_csv(index=False), "text/csv").text), predict_frame(bundle, frame)
    )


# ---- settings from SageMaker's environment, and gunicorn's ----------------------------------------


def test_settings_defaults() -> None:
    settings = ServerSettings.from_env({})
    assert settings.port == DEFAULT_PORT == 8080
    assert settings.timeout_seconds == 60
    assert settings.max_payload_mb == DEFAULT_MAX_PAYLOAD_MB == 6
    assert settings.max_payload_bytes == 6 * MIB
    assert settings.workers == usable_cpus()
    assert settings.default_accept is None


def test_settings_from_sagemakers_variables() -> None:
    settings = ServerSettings.from_env(
        {
            "SAGEMAKER_BIND_TO_PORT": "9090",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "120",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1",
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json",
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        }
    )
    assert (settings.port, settings.workers, settings.timeout_seconds) == (9090, 3, 120)
    assert settings.max_payload_bytes == MIB
    assert settings.default_accept == "application/json"
    options = gunicorn_options(settings)
    assert options["bind"] == ["0.0.0.0:9090"]
    assert (options["workers"], options["timeout"], options["worker_class"]) == (3, 120, "sync")
    assert options["preload_app"] is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "0"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "two"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "-5"),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "lots"),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "1.5"),
        ("SAGEMAKER_BIND_TO_PORT", "70000"),
        ("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/x-npy"),
    ],
)
def test_malformed_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"key '{name}'"):
        ServerSettings.from_env({name: value})


def test_no_payload_limit_when_zero(model_dir: Path) -> None:
    served = InferenceApp(model_dir, ServerSettings(max_payload_mb=0))
    frame = feature_frame(40000)
    body = frame.to_csv(index=False)
    assert len(body) > MIB
    assert post(served, body, "text/csv").status == 200


# ---- a Batch Transform, played as SageMaker plays it (the proof's splitter) -----------------------


def test_mini_batches_split_by_line_within_the_limit() -> None:
    serving = import_proof("serving")
    lines = [f"{i},{'x' * (i % 7)}\n".encode() for i in range(100)]
    batches = serving.mini_batches(b"".join(lines), 60)
    assert b"".join(batches) == b"".join(lines)
    assert all(len(b) <= 60 for b in batches)
    assert all(b.endswith(b"\n") for b in batches)
    with pytest.raises(ValueError, match="record of 70 bytes"):
        serving.mini_batches(b"x" * 69 + b"\n", 60)


def test_a_batch_transform_joins_to_the_same_scores(app: InferenceApp, bundle: dict[str, Any]) -> None:
    serving = import_proof("serving")
    frame = feature_frame(40000, seed=11)
    data = frame[model_columns(bundle)].to_csv(index=False, header=False).encode()
    batches = serving.mini_batches(data, app.settings.max_payload_bytes)
    assert len(batches) >= 2
    outputs = [post(app, batch, "text/csv", accept="text/csv") for batch in batches]
    assert all(o.status == 200 for o in outputs)
    joined = b"".join(o.body for o in outputs).decode()
    scores = csv_scores(joined, header=False)
    assert len(scores) == len(frame)
    # Each mini-batch is predict_frame of exactly its rows, bit for bit ...
    offsets = np.cumsum([0, *(b.count(b"\n") for b in batches)])
    per_batch = pd.concat([predict_frame(bundle, frame.iloc[a:b]) for a, b in itertools.pairwise(offsets)])
    assert_same_scores(scores, per_batch)
    # ... and the whole file's signals; a probability may differ from one scored in another batch
    # in its last bit (BLAS blocks rows differently), never more.
    whole = predict_frame(bundle, frame)
    np.testing.assert_array_equal(scores["signal"].to_numpy(), whole["signal"].to_numpy())
    gap = np.abs(scores["probability"].to_numpy() - whole["probability"].to_numpy())
    assert float(gap.max()) <= 4 * math.ulp(1.0)
