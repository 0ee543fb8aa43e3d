"""The serving proof: the registered ``model.tar.gz``, served by the image its model package names the
way SageMaker serves it (``docker run IMAGE serve``: ``GET /ping`` and ``POST /invocations`` on the
port, the model unpacked at ``/opt/ml/model``), answers with the flow's own predictions, bit for bit;
a Batch Transform played as SageMaker plays it (a CSV file split by line into mini-batches up to the
payload limit, MultiRecord, outputs joined in order) gives the same; bad payloads get 4xx JSON errors,
never a 500; and the server stops cleanly on SIGTERM.

Expectations: the rows the registered model itself scored in the flow (the ``holdout`` and ``latest``
segments of the ``predictions`` artifact, sent together and in order as the flow scored them) must
come back exactly as the artifact has them (probability, signal and position). For every other request
the expectation is recomputed here with ``predict_frame`` (the function the handlers call) on exactly
the rows of that request.

Track parity: the last traded block of the run, replayed the way it was traded (the chosen
configuration fitted on the block's training rows, as the walk-forward fitted it, bundled with the
block's strategy, packed as ``model.tar.gz`` and served by the same image), must answer the track's
positions exactly, and so give the track's net returns exactly.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import itertools
import json
import math
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .engine import Engine
from .session import Session
from .settings import (
    INFERENCE_IMAGE,
    PROJECT_IMAGE,
    SERVE_CONTAINER,
    TRANSFORM_CONCURRENCY,
    TRANSFORM_CONTAINER,
    TRANSFORM_MAX_PAYLOAD_MB,
)
from .shell import ProofFailure, free_port, log_line, wait_for

MIB = 1024 * 1024
CSV = "text/csv"
JSON = "application/json"
# SageMaker's own limit for one request to an endpoint, and the server's default.
ENDPOINT_MAX_PAYLOAD_BYTES = 6 * MIB
# Direct connections: the machine's proxy settings (for the package registries) must not see these.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None) -> Reply:
    """One HTTP request; an error status is a Reply too (never an exception)."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with OPENER.open(request, timeout=120) as response:
            return Reply(response.status, response.headers.get("Content-Type", ""), response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers.get("Content-Type", ""), exc.read())


def mini_batches(data: bytes, limit: int) -> list[bytes]:
    """A file split as a Batch Transform with ``SplitType=Line`` and ``BatchStrategy=MultiRecord`` splits
    it: whole lines, as many as fit in ``limit`` bytes per request; a line longer than that is an error
    (SageMaker fails the job the same way)."""
    batches: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in io.BytesIO(data):
        record = line if line.endswith(b"\n") else line + b"\n"
        if len(record) > limit:
            raise ValueError(f"a record of {len(record)} bytes exceeds the {limit}-byte payload limit")
        if size + len(record) > limit:
            batches.append(b"".join(current))
            current, size = [], 0
        current.append(record)
        size += len(record)
    if current:
        batches.append(b"".join(current))
    return batches


def csv_rows(body: bytes) -> tuple[list[list[str]], bool]:
    """``probability,signal,position`` lines (an optional header) split into fields, and whether a
    header came."""
    lines = body.decode().splitlines()
    header = bool(lines) and lines[0] == "probability,signal,position"
    rows = [line.split(",") for line in (lines[1:] if header else lines) if line]
    return rows, header


def parse_csv_scores(body: bytes) -> tuple[list[float], list[int], bool]:
    """The probabilities (exactly: ``float()`` rounds correctly), the signals, and whether a header
    came."""
    rows, header = csv_rows(body)
    return [float(r[0]) for r in rows], [int(r[1]) for r in rows], header


def parse_csv_positions(body: bytes) -> list[float]:
    """The positions (the answer's third column; ``repr`` floats, exact)."""
    return [float(r[2]) for r in csv_rows(body)[0]]


@dataclass
class Model:
    """A registered model, the image that serves it, and what the run says it must answer."""

    source: str
    image: str
    tarball: bytes
    bundle: dict[str, Any]
    features: Any  # the run's feature table (pandas)
    predictions: Any  # the run's predictions artifact
    versions: dict[str, str]  # what pickled it: the bundle's record, else the registry's
    run_data: Any = None  # the run's artifacts (the end task's), for the track parity


class Serving:
    """The serving phases, in the proof's engine; every check goes to the session's report."""

    def __init__(self, session: Session, engine: Engine) -> None:
        self.session = session
        self.engine = engine
        self.check = session.check
        self.root = session.work / "serving"
        self.urls: dict[str, str] = {}

    # ---- the model ----
    def model_from_sagemaker(self, moto: Any, flows: Any, run_id: str) -> Model:
        """The model package the Batch run registered (moto's SageMaker and S3), checked against its
        metadata, with the run's features and predictions read back through the Client."""
        mf = flows.client()
        run = mf.Run(f"{flows.name}/{run_id}")
        registration = run["end"].task.data.registration
        package = moto.client("sagemaker").describe_model_package(ModelPackageName=registration["location"])
        spec = package["InferenceSpecification"]
        container = spec["Containers"][0]
        self.check(
            "the model package names the project's image",
            container["Image"] == INFERENCE_IMAGE,
            f"{package['ModelPackageArn']}: {container['Image']}",
        )
        self.check(
            "the model package takes and answers CSV and JSON",
            sorted(spec["SupportedContentTypes"])
            == sorted(spec["SupportedResponseMIMETypes"])
            == [JSON, CSV],
            f"in {spec['SupportedContentTypes']}, out {spec['SupportedResponseMIMETypes']}",
        )
        bucket, _, key = container["ModelDataUrl"].removeprefix("s3://").partition("/")
        tarball = moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        metadata = package["CustomerMetadataProperties"]
        model = self.verified_model(
            package["ModelPackageArn"],
            container["Image"],
            tarball,
            metadata["tarball_sha256"],
            metadata["model_sha256"],
            bundle_records_versions=True,
        )
        self.check(
            "the package records the versions the model was pickled with",
            all(
                metadata.get(f"{name}_version") == model.bundle["pickled_with"][package_name]
                for name, package_name in (
                    ("sklearn", "scikit-learn"),
                    ("numpy", "numpy"),
                    ("python", "python"),
                )
            ),
            ", ".join(f"{k} {v}" for k, v in model.bundle["pickled_with"].items()),
        )
        model.features = run["features"].task.data.features
        model.predictions = run["end"].task.data.predictions
        model.run_data = run["end"].task.data
        return model

    def model_from_local_registry(self, flows: Any, run_id: str) -> Model:
        """``--serving-only``: the version the local run registered; served by the project image (a
        local registry names no image)."""
        mf = flows.client()
        run = mf.Run(f"{flows.name}/{run_id}")
        registration = run["end"].task.data.registration
        version_dir = Path(registration["location"])
        manifest = json.loads((version_dir / "manifest.json").read_text())
        tarball = (version_dir / "model.tar.gz").read_bytes()
        model = self.verified_model(
            str(version_dir), PROJECT_IMAGE, tarball, manifest["tarball_sha256"], manifest["model_sha256"]
        )
        recorded = model.bundle.get("pickled_with")
        self.check(
            "the manifest records the versions the model was pickled with",
            isinstance(manifest.get("pickled_with"), dict) and recorded in (None, manifest["pickled_with"]),
            json.dumps(manifest.get("pickled_with"))
            + ("" if recorded else "; the local registry pickles the bundle itself, without the record"),
        )
        model.versions = model.versions or dict(manifest["pickled_with"])
        model.features = run["features"].task.data.features
        model.predictions = run["end"].task.data.predictions
        model.run_data = run["end"].task.data
        return model

    def verified_model(
        self,
        source: str,
        image: str,
        tarball: bytes,
        tarball_sha: str,
        model_sha: str,
        *,
        bundle_records_versions: bool = False,
    ) -> Model:
        import joblib

        actual = hashlib.sha256(tarball).hexdigest()
        self.check("model.tar.gz has the sha256 recorded at registration", actual == tarball_sha, actual)
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
            names = sorted(tar.getnames())
            handle = tar.extractfile("model.joblib")
            assert handle is not None
            model_bytes = handle.read()
        self.check(
            "model.tar.gz holds model.joblib, code/inference.py and code/rule.py (the trade rule)",
            names == ["code/inference.py", "code/rule.py", "model.joblib"],
            str(names),
        )
        actual = hashlib.sha256(model_bytes).hexdigest()
        self.check("model.joblib has the sha256 recorded at registration", actual == model_sha, actual)
        bundle = joblib.load(io.BytesIO(model_bytes))
        if bundle_records_versions:
            self.check(
                "the bundle records the versions it was pickled with",
                isinstance(bundle.get("pickled_with"), dict)
                and {"python", "scikit-learn", "numpy", "joblib"} <= set(bundle["pickled_with"]),
                json.dumps(bundle.get("pickled_with")),
            )
        return Model(source, image, tarball, bundle, None, None, dict(bundle.get("pickled_with") or {}))

    def unpack(self, model: Model, directory: str = "opt-ml-model") -> Path:
        """model.tar.gz unpacked as SageMaker unpacks it into /opt/ml/model (readable by the server)."""
        target = self.root / directory
        if target.exists():
            import shutil

            shutil.rmtree(target)
        target.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(model.tarball), mode="r:gz") as tar:
            tar.extractall(target, filter="data")
        for path in [target, *target.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        return target

    # ---- the containers ----
    def start(self, name: str, image: str, model_dir: Path, env: Mapping[str, str]) -> str:
        """``docker run IMAGE serve`` with the model at /opt/ml/model; returns the base URL once /ping is 200.

        The engine has no bridge network, so the container shares the host's and the port comes from
        ``SAGEMAKER_BIND_TO_PORT`` (8080 when it is free here)."""
        port = free_port(8080)
        self.engine.docker("rm", "-f", name, check=False)
        flags = [
            arg
            for key, value in {**env, "SAGEMAKER_BIND_TO_PORT": str(port)}.items()
            for arg in ("-e", f"{key}={value}")
        ]
        started = time.monotonic()
        self.engine.docker(
            "run", "-d", "--name", name, "--network", "host",
            "-v", f"{model_dir}:/opt/ml/model:ro", *flags, image, "serve",
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if self.container_state(name) != "running":
                raise ProofFailure(f"{name} exited; its log:\n{self.logs(name)[-3000:]}")
            return http("GET", f"{url}/ping").status == 200

        try:
            wait_for(f"GET /ping of {name}", ready, timeout=180, interval=0.5)
        except ProofFailure as exc:
            raise ProofFailure(f"{exc}\n{self.logs(name)[-3000:]}") from None
        seconds = round(time.monotonic() - started, 1)
        self.session.report.setdefault("serving", {})[f"{name}_ready_seconds"] = seconds
        log_line(f"{name} answers /ping on port {port} after {seconds} s")
        self.urls[name] = url
        return url

    def container_state(self, name: str) -> str:
        result = self.engine.docker("inspect", "--format", "{{.State.Status}}", name, check=False)
        return result.stdout.decode().strip()

    def logs(self, name: str) -> str:
        result = self.engine.docker("logs", name, check=False, timeout=60)
        return (result.stdout + result.stderr).decode(errors="replace")

    def stop(self, name: str) -> None:
        """``docker stop`` (SIGTERM, as SageMaker stops a container): gunicorn must exit 0."""
        log_path = self.session.logs / f"{name}.log"
        self.engine.docker("stop", "--time", "30", name, check=False, timeout=90)
        log_path.write_text(self.logs(name))
        code = self.engine.docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.decode().strip()
        self.check(f"{name} stops cleanly on SIGTERM", code == "0", f"exit code {code}; log in {log_path}")
        self.engine.docker("rm", "-f", name, check=False)

    # ---- what is served ----
    def check_ping(self, url: str, model: Model) -> dict[str, Any]:
        reply = http("GET", f"{url}/ping")
        described = reply.json()
        self.check(
            "GET /ping answers 200 with the model's description",
            reply.status == 200 and described["status"] == "healthy",
            reply.body.decode()[:300],
        )
        columns = described["columns"]
        self.check(
            "the server serves the model's columns",
            columns == model_columns(model.bundle),
            f"{len(columns)} columns, threshold {described['threshold']}",
        )
        serving_with = described["serving_with"]
        self.session.report.setdefault("serving", {})["pickled_with"] = described["pickled_with"]
        self.session.report["serving"]["serving_with"] = serving_with
        self.check(
            "the image serves with the scikit-learn the model was pickled with",
            serving_with["scikit-learn"] == model.versions["scikit-learn"],
            f"notes: {described['notes'] or 'none'}",
        )
        from spylib.registry.inference import runtime_versions

        here = runtime_versions()
        self.check(
            "this process recomputes expectations with the image's libraries",
            all(here[k] == serving_with[k] for k in ("scikit-learn", "numpy")),
            f"here {here}, image {serving_with}",
        )
        return dict(described)

    def complete_rows(self, model: Model) -> Any:
        """The feature rows a model can score (every model column present and finite)."""
        import numpy as np

        columns = model_columns(model.bundle)
        values = model.features[columns].apply(lambda c: c.astype("float64")).to_numpy()
        return model.features[np.isfinite(values).all(axis=1)].reset_index(drop=True)

    def check_invocations(self, url: str, model: Model) -> None:
        import numpy as np

        columns = model_columns(model.bundle)
        predictions = model.predictions
        scored = predictions[predictions["segment"].isin(["holdout", "latest"])].reset_index(drop=True)
        rows = scored[["date"]].merge(model.features, on="date", how="left", validate="one_to_one")
        expected_p = scored["probability"].to_numpy("float64")
        expected_s = scored["signal"].to_numpy("int64")
        expected_q = scored["position"].to_numpy("float64")
        segments = ", ".join(f"{k} {v}" for k, v in scored["segment"].value_counts().items())
        for kind in (CSV, JSON):
            reply = self.post(url, rows, columns, kind, kind)
            got_p, got_s = self.scores(reply, kind)
            got_q = self.positions(reply, kind)
            self.check(
                f"{kind}: the rows the registered model scored in the flow get the predictions artifact's "
                "probabilities, signals and positions, exactly",
                reply.status == 200
                and np.array_equal(got_p, expected_p)
                and np.array_equal(got_s, expected_s)
                and np.array_equal(got_q, expected_q),
                f"{len(rows)} rows ({segments}): {describe_gap(got_p, expected_p)}; positions "
                f"{describe_gap(got_q, expected_q)}",
            )
        from spylib.registry.inference import predict_frame

        complete = self.complete_rows(model)
        for kind in (CSV, JSON):
            parts = split_rows(
                complete, lambda part, kind=kind: encode(part, columns, kind), ENDPOINT_MAX_PAYLOAD_BYTES
            )
            got_p_parts, got_s_parts, want_p_parts, want_s_parts = [], [], [], []
            for part in parts:
                reply = self.post(url, part, columns, kind, kind)
                if reply.status != 200:
                    raise ProofFailure(
                        f"{kind} request of {len(part)} rows: {reply.status} {reply.body[:500]!r}"
                    )
                got_p, got_s = self.scores(reply, kind)
                want = predict_frame(model.bundle, part)
                got_p_parts.append(got_p)
                got_s_parts.append(got_s)
                want_p_parts.append(want["probability"].to_numpy())
                want_s_parts.append(want["signal"].to_numpy())
            got_p, want_p = np.concatenate(got_p_parts), np.concatenate(want_p_parts)
            got_s, want_s = np.concatenate(got_s_parts), np.concatenate(want_s_parts)
            self.check(
                f"{kind}: every scoreable feature row gets predict_frame's probabilities and signals",
                np.array_equal(got_p, want_p) and np.array_equal(got_s, want_s),
                f"{len(complete)} rows in {len(parts)} request(s): {describe_gap(got_p, want_p)}; "
                f"{int(got_s.sum())} long signals",
            )

    def check_batch_transform(self, url: str, model: Model) -> None:
        """The run's feature rows as a headerless CSV file, transformed as SageMaker does."""
        import numpy as np

        from spylib.registry.inference import predict_frame

        parameters = http("GET", f"{url}/execution-parameters").json()
        self.check(
            "GET /execution-parameters gives the Batch Transform's settings",
            parameters["MaxPayloadInMB"] == TRANSFORM_MAX_PAYLOAD_MB
            and parameters["BatchStrategy"] == "MULTI_RECORD",
            json.dumps(parameters),
        )
        columns = model_columns(model.bundle)
        complete = self.complete_rows(model)
        data = complete[columns].to_csv(index=False, header=False).encode()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "transform-input.csv").write_bytes(data)
        limit = int(parameters["MaxPayloadInMB"]) * MIB
        batches = mini_batches(data, limit)
        headers = {"Content-Type": CSV, "Accept": CSV}
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=TRANSFORM_CONCURRENCY) as pool:
            replies = list(pool.map(lambda b: http("POST", f"{url}/invocations", b, headers), batches))
        seconds = round(time.monotonic() - started, 2)
        failed = [(i, r.status, r.body[:300]) for i, r in enumerate(replies) if r.status != 200]
        if failed:
            raise ProofFailure(f"Batch Transform mini-batches failed: {failed}")
        # AssembleWith=Line: each output in input order, a newline after one that lacks it.
        output = b"".join(r.body if r.body.endswith(b"\n") else r.body + b"\n" for r in replies)
        (self.root / "transform-input.csv.out").write_bytes(output)
        got_p_list, got_s_list, header = parse_csv_scores(output)
        got_p, got_s = np.asarray(got_p_list), np.asarray(got_s_list)
        self.check(
            "Batch Transform: one output line per input line, in order, no header",
            len(got_p) == len(complete) and not header,
            f"{len(complete)} rows, {len(data)} bytes, {len(batches)} mini-batches of at most "
            f"{TRANSFORM_MAX_PAYLOAD_MB} MB, {TRANSFORM_CONCURRENCY} concurrent, {seconds} s",
        )
        bounds = np.cumsum([0, *(b.count(b"\n") for b in batches)])
        per_batch = [predict_frame(model.bundle, complete.iloc[a:b]) for a, b in itertools.pairwise(bounds)]
        want_p = np.concatenate([w["probability"].to_numpy() for w in per_batch])
        want_s = np.concatenate([w["signal"].to_numpy() for w in per_batch])
        self.check(
            "Batch Transform: each mini-batch gets predict_frame's probabilities and signals for its rows",
            np.array_equal(got_p, want_p) and np.array_equal(got_s, want_s),
            describe_gap(got_p, want_p),
        )
        whole = predict_frame(model.bundle, complete)
        gap = np.abs(got_p - whole["probability"].to_numpy())
        ulps = float(gap.max() / math.ulp(0.5)) if len(gap) else 0.0
        self.session.report.setdefault("serving", {}).update(
            transform_batches=len(batches),
            transform_seconds=seconds,
            transform_max_gap=float(gap.max()),
            transform_rows=len(complete),
        )
        self.check(
            "Batch Transform: the whole file's signals equal predict_frame's on the whole table",
            np.array_equal(got_s, whole["signal"].to_numpy()),
            f"probabilities differ from the whole-table ones by at most {float(gap.max()):.3g} "
            f"({ulps:.0f} ulp of 0.5, in {int((gap > 0).sum())} of {len(gap)} rows: BLAS blocks rows "
            "differently in another batch)",
        )
        self.check(
            "Batch Transform: probabilities within a few ulp of the whole-table ones",
            ulps <= 8,
            f"{ulps:.0f} ulp",
        )
        too_big = http("POST", f"{url}/invocations", b"1\n" * (limit // 2 + 1), headers)
        self.check(
            f"a mini-batch over MaxPayloadInMB={TRANSFORM_MAX_PAYLOAD_MB} gets 413",
            too_big.status == 413 and "error" in too_big.json(),
            too_big.body.decode()[:200],
        )

    def check_bad_payloads(self, url: str, model: Model) -> None:
        columns = model_columns(model.bundle)
        good = self.complete_rows(model).iloc[:3][columns].reset_index(drop=True)
        first = columns[0]
        with_nan = good.astype("float64")
        with_nan.iloc[1, 1] = float("nan")
        records = good.to_dict(orient="records")
        null_record = [{**records[0], first: None}]
        nan_record = json.dumps([{**records[0], first: float("nan")}])
        header, data_rows = good.to_csv(index=False).encode().split(b"\n", 1)
        big_csv = header + b"\n" + data_rows * (ENDPOINT_MAX_PAYLOAD_BYTES // len(data_rows) + 2)
        ragged = good.to_csv(index=False) + ",".join(["1"] * (len(columns) + 3)) + "\n"
        cases: list[tuple[str, str, bytes, str | None, int, str]] = [
            ("missing column", CSV, good.drop(columns=[first]).to_csv(index=False).encode(), None, 400, f"'{first}'"),
            ("NaN in CSV", CSV, with_nan.to_csv(index=False).encode(), None, 400, f"row 1, column '{columns[1]}'"),
            ("NaN in JSON", JSON, nan_record.encode(), None, 400, f"column '{first}'"),
            ("null in JSON", JSON, json.dumps(null_record).encode(), None, 400, f"column '{first}'"),
            ("wrong content type", "application/x-npy", big_csv[:200], None, 415, "unsupported content type"),
            ("unsupported Accept", CSV, good.to_csv(index=False).encode(), "application/x-parquet", 406, "unsupported accept"),
            ("oversized body", CSV, big_csv, None, 413, "exceeds the limit"),
            ("malformed CSV", CSV, ragged.encode(), None, 400, "malformed text/csv"),
            ("malformed JSON", JSON, json.dumps(records).encode()[:-7], None, 400, "malformed application/json"),
            ("not UTF-8", CSV, b"\xff\xfe" + good.to_csv(index=False).encode("utf-16-le"), None, 400, "not UTF-8"),
            ("headerless, wrong column count", CSV, good.iloc[:, :3].to_csv(index=False, header=False).encode(), None, 400, "in this order"),
            ("empty body", CSV, b"", None, 400, "empty"),
        ]  # fmt: skip
        results = []
        for name, content_type, body, accept, status, fragment in cases:
            headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
            reply = http("POST", f"{url}/invocations", body, headers)
            error = reply.json().get("error", "") if reply.content_type.startswith(JSON) else ""
            results.append(f"{name}: {reply.status}")
            self.check(
                f"bad payload ({name}): {status} with a JSON error naming it",
                reply.status == status and fragment in error,
                f"{reply.status} {error[:160]}",
            )
        wrong_method = http("GET", f"{url}/invocations")
        self.check(
            "GET /invocations: 405 with a JSON error",
            wrong_method.status == 405 and "error" in wrong_method.json(),
            wrong_method.body.decode()[:160],
        )
        self.session.report.setdefault("serving", {})["bad_payloads"] = results

    def check_logs_clean(self, name: str) -> None:
        text = self.logs(name)
        self.check(
            f"{name}: no 500 and no traceback in the server's log",
            "Traceback" not in text and '" 500 ' not in text,
            f"{len(text.splitlines())} log lines",
        )

    def check_track_parity(self, model: Model) -> None:
        """The last traded block, served by its own model and strategy (see the module doc): the
        track's positions and net returns, exactly."""
        import numpy as np

        from spylib.modelling.trading import strategy_returns

        replay = last_block_replay(model.run_data)
        block, track = replay["block"], replay["track"]
        served = Model(
            f"{model.source} (last traded block {replay['name']})", model.image, replay["tarball"],
            replay["payload"], model.features, None, model.versions,
        )  # fmt: skip
        name = f"{SERVE_CONTAINER}-block"
        url = self.start(name, model.image, self.unpack(served, "opt-ml-model-block"), {})
        columns = model_columns(served.bundle)
        rows = block[["date"]].merge(model.features, on="date", how="left", validate="one_to_one")
        reply = self.post(url, rows, columns, CSV, CSV)
        got_p, _ = self.scores(reply, CSV)
        got_q = self.positions(reply, CSV)
        want_p, want_q = block["probability"].to_numpy("float64"), block["position"].to_numpy("float64")
        strategy = served.bundle["strategy"]
        self.check(
            "the last traded block, served by its model and strategy, answers the track's positions exactly",
            np.array_equal(got_p, want_p) and np.array_equal(got_q, want_q),
            f"block {replay['name']}: {len(block)} days, {strategy['model']['config_id']}, threshold "
            f"{strategy['threshold']}, filter {strategy['regime_filter']['columns'] or 'none'}, sizing "
            f"{strategy['sizing']['kind']}; probabilities {describe_gap(got_p, want_p)}, positions "
            f"{describe_gap(got_q, want_q)}",
        )
        earlier = track["position"].to_numpy("float64")[: len(track) - len(block)]
        held = np.concatenate([earlier, got_q])
        _, net = strategy_returns(held, track["fwd_return"].to_numpy("float64"), float(strategy["cost_bps"]))
        want_net = track["strategy_net"].to_numpy("float64")
        self.check(
            "...and so the track's net returns exactly (the earlier blocks as traded, then the served block)",
            np.array_equal(net, want_net),
            f"block net return {float(np.prod(1 + net[-len(block) :]) - 1):+.4%}; {describe_gap(net, want_net)}",
        )
        self.session.report.setdefault("serving", {})["track_parity"] = {
            "block": replay["name"],
            "days": len(block),
            "sizing": strategy["sizing"]["kind"],
            "positions_identical": bool(np.array_equal(got_q, want_q)),
            "net_returns_identical": bool(np.array_equal(net, want_net)),
        }
        self.check_logs_clean(name)
        self.stop(name)

    # ---- helpers ----
    def positions(self, reply: Reply, kind: str) -> Any:
        import numpy as np

        if kind == CSV:
            return np.asarray(parse_csv_positions(reply.body), dtype="float64")
        return np.asarray([r["position"] for r in reply.json()], dtype="float64")

    def post(self, url: str, rows: Any, columns: list[str], kind: str, accept: str) -> Reply:
        return http(
            "POST",
            f"{url}/invocations",
            encode(rows, columns, kind),
            {"Content-Type": kind, "Accept": accept},
        )

    @staticmethod
    def scores(reply: Reply, kind: str) -> tuple[Any, Any]:
        import numpy as np

        if reply.status != 200:
            raise ProofFailure(f"{kind} request: {reply.status} {reply.body[:500]!r}")
        if kind == CSV:
            probabilities, signals, _ = parse_csv_scores(reply.body)
        else:
            records = reply.json()
            probabilities, signals = [r["probability"] for r in records], [r["signal"] for r in records]
        return np.asarray(probabilities, dtype="float64"), np.asarray(signals, dtype="int64")


def last_block_replay(data: Any) -> dict[str, Any]:
    """The last traded block of a run as it was traded (``traded_block_bundle``: the block's chosen
    trial fitted on the block's training rows with the run's seed, with the trial's strategy); the
    tarball SageMaker would serve; the block's track rows."""
    from spylib.evaluation.holdout import traded_block_bundle
    from spylib.modelling.strategy import TradeContext
    from spylib.registry import build_model_tarball, serialize_bundle

    training, settings, track = data.training_data, data.settings, data.track
    refit = data.refits.iloc[-1]
    context = TradeContext(
        settings.data.symbol,
        tuple(training.feature_columns),
        settings.plan.execution,
        settings.cost_bps,
        settings.plan.sweep.target_volatility,
    )
    bundle = traded_block_bundle(
        training.features,
        training.splits,
        data.trials.iloc[int(refit["trial_id"])].to_dict(),
        str(refit["block"]),
        context,
        seed=settings.plan.seed,
        shuffle_labels=settings.plan.shuffle_labels,
    )
    return {
        "name": str(refit["block"]),
        "payload": bundle.to_payload(),
        "tarball": build_model_tarball(serialize_bundle(bundle)),
        "block": track[track["block"] == refit["block"]].reset_index(drop=True),
        "track": track,
    }


def model_columns(bundle: Mapping[str, Any]) -> list[str]:
    from spylib.registry.inference import model_columns as columns_of

    return columns_of(dict(bundle))


def encode(rows: Any, columns: list[str], kind: str) -> bytes:
    """CSV with a header (the model's columns and the date, which the server ignores) or JSON records."""
    if kind == CSV:
        extra = ["date"] if "date" in rows.columns else []
        return bytes(rows[[*extra, *columns]].to_csv(index=False).encode())
    return json.dumps(rows[columns].to_dict(orient="records")).encode()


def split_rows(rows: Any, encoder: Any, limit: int) -> list[Any]:
    """``rows`` in as few equal consecutive parts as keep each encoded request within ``limit``."""
    import numpy as np

    parts = 1
    while True:
        bounds = np.linspace(0, len(rows), parts + 1).astype(int)
        chunks = [rows.iloc[a:b] for a, b in itertools.pairwise(bounds)]
        if all(len(encoder(c)) <= limit for c in chunks):
            return chunks
        parts += 1


def describe_gap(got: Any, want: Any) -> str:
    import numpy as np

    if len(got) != len(want):
        return f"{len(got)} answers for {len(want)} rows"
    differ = int((got != want).sum())
    if not differ:
        return "identical"
    return f"{differ} differ, by at most {float(np.abs(got - want).max()):.3g}"


def run_serving(session: Session, engine: Engine, model: Model) -> None:
    """The serving phases, each timed into the report (after the model was read and verified)."""
    serving = Serving(session, engine)
    phase = session.phase
    with phase("serving: model.tar.gz unpacked at /opt/ml/model, `docker run IMAGE serve`"):
        model_dir = serving.unpack(model)
        url = serving.start(SERVE_CONTAINER, model.image, model_dir, {})
        serving.check_ping(url, model)
    with phase("serving: invocations (CSV, JSON) against the run's predictions"):
        serving.check_invocations(url, model)
    with phase("serving: the last traded block replayed through the container equals the track"):
        serving.check_track_parity(model)
    with phase("serving: bad payloads"):
        serving.check_bad_payloads(url, model)
    with phase("serving: Batch Transform (MultiRecord, split by line)"):
        transform_env = {
            # What SageMaker sets in a Batch Transform's container.
            "SAGEMAKER_BATCH": "true",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(TRANSFORM_MAX_PAYLOAD_MB),
            "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD",
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(TRANSFORM_CONCURRENCY),
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(TRANSFORM_CONCURRENCY),
        }
        transform_url = serving.start(TRANSFORM_CONTAINER, model.image, model_dir, transform_env)
        serving.check_batch_transform(transform_url, model)
    with phase("serving: logs, then stop on SIGTERM"):
        for name in (SERVE_CONTAINER, TRANSFORM_CONTAINER):
            serving.check_logs_clean(name)
            serving.stop(name)
