"""Proven at the flow level: the whole SpyFlow run on the AWS path, against a local moto server.

One real run (``python flows/spy_flow.py run`` in a subprocess) with

* Metaflow's S3 datastore (``METAFLOW_DEFAULT_DATASTORE=s3`` on the moto endpoint),
* S3 input (``--source 's3://BUCKET/input/{symbol_lower}.csv'``, Yahoo-layout CSVs written from the
  embedded data),
* an S3 Parquet lake (``--lake-root s3://BUCKET/lake``) registered in Glue (``--glue-database``),
* the SageMaker model registry (``--registry sagemaker --registry-location s3://BUCKET/models``),

then every side of it is read back over HTTP with real boto3 clients (no mocks): the Metaflow
artifacts through the Client (in a subprocess configured for the S3 datastore, because this pytest
process imported Metaflow configured for the local one), the lake's objects, Glue, DuckDB over the
lake, the model package and its S3 objects. A replay of the step functions that write to AWS
(lake writes, Glue registration, model registration) with the run's own artifacts and run id proves
that a retried step changes nothing.

The run gets its own local metadata root, so the session's other flow tests never see an S3 run
whose artifacts they could not read.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest

from spylib.data.sources import ingest, load_embedded
from spylib.registry import SageMakerRegistry, predict_frame, sklearn_image_uri
from spylib.storage import catalog, sql
from spylib.storage.lake import list_partitions, read_table
from tests.helpers.metaflow_env import flow_env, pythonpath
from tests.helpers.moto_server import MotoServer
from tests.helpers.paths import FLOW_FILE, REPO, SEED_DATA, SMALL_SWEEP
from tests.helpers.price_files import yahoo_csv

BUCKET = "spyflow-e2e"
LAKE = f"s3://{BUCKET}/lake"
MODELS = f"s3://{BUCKET}/models"
SOURCE = f"s3://{BUCKET}/input/{{symbol_lower}}.csv"
DATABASE = "spy_flow"
GROUP = "spy-direction-e2e"
IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/spy-flow-inference:e2e"
TABLES = ("prices", "features", "predictions")
FLOW_TIMEOUT_S = 600

# Runs in a subprocess with the S3 datastore settings: reads the run through the Metaflow Client
# ("read"), or replays the step functions that write to AWS with the run's artifacts ("replay").
CLIENT_SCRIPT = r"""
import json, sys
import pandas as pd
from metaflow import Run, namespace
from spylib.core.jsonio import to_json_safe
from spylib.stages.training.publish import register_catalog, write_lake
from spylib.stages.training.register import EvaluationVerdict, run_register

namespace(None)
run = Run(sys.argv[2])
data = run.data
if sys.argv[1] == "read":
    predictions = data.predictions
    out = {
        "successful": run.successful,
        "finished": run.finished,
        "steps": sorted(step.id for step in run),
        "gate": data.gate,
        "registration": data.registration,
        "metrics": to_json_safe(data.metrics),
        "glue_catalog": data.glue_catalog,
        "lake_files": data.lake_files,
        "provenance": to_json_safe(data.data_provenance),
        "feature_columns": list(data.feature_columns),
        "n_prices": len(data.prices),
        "n_features": len(data.feature_table),
        "n_predictions": len(predictions),
        "prediction_years": sorted({int(y) for y in pd.to_datetime(predictions["date"]).dt.year}),
        "settings_lake_root": data.settings.outputs.lake_root,
    }
else:
    settings = data.settings
    frames = {"prices": data.prices, "features": data.feature_table, "predictions": data.predictions}
    out = {
        "lake_files": {t: write_lake(f, t, settings.outputs, run.id) for t, f in frames.items()},
        "glue_catalog": register_catalog(settings.outputs),
        "registration": run_register(
            data.bundle, EvaluationVerdict(data.evidence, data.gate_decision, data.track),
            data.training_data, settings, data.data_provenance, pathspec=run.pathspec,
        ).registration,
    }
print("RESULT " + json.dumps(out, default=str))
"""


@dataclass(frozen=True)
class Emulator:
    endpoint: str
    flow_env: dict[str, str]  # the environment of every Metaflow process that talks to the emulator


@dataclass(frozen=True)
class FlowRun:
    emulator: Emulator
    run_id: str
    pathspec: str
    artifacts: dict[str, Any]
    seconds: float


def embedded_as_yahoo_csv(symbol: str) -> bytes:
    """The embedded stand-in of ``symbol`` as a Yahoo Finance download (full float precision)."""
    return yahoo_csv(load_embedded(symbol).frame).encode()


def s3_keys(prefix: str) -> dict[str, str]:
    """Key -> ETag of every object under ``prefix`` in the test bucket."""
    s3 = boto3.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {obj["Key"]: obj["ETag"] for page in pages for obj in page.get("Contents", [])}


def run_client_script(mode: str, pathspec: str, env: dict[str, str]) -> dict[str, Any]:
    """Run CLIENT_SCRIPT in a subprocess with the S3 datastore settings; return its JSON result."""
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT, mode, pathspec],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    failure = f"client script {mode} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, failure
    assert lines, failure
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


@pytest.fixture(scope="module")
def emulator(
    moto_server: MotoServer, moto_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Emulator:
    """The module's moto server with the test bucket and the input CSVs; boto3 in this process points at it."""
    metadata_root = tmp_path_factory.mktemp("aws-metadata")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for symbol in ("SPY", "QQQ"):
        s3.put_object(Bucket=BUCKET, Key=f"input/{symbol.lower()}.csv", Body=embedded_as_yahoo_csv(symbol))
    env = {
        **os.environ,
        **flow_env(),
        **moto_env,
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{BUCKET}/metaflow",
        # Metadata stays local, in a root of its own (see the module docstring).
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(metadata_root),
        # A dead endpoint must fail fast, not retry for minutes.
        "METAFLOW_S3_RETRY_COUNT": "1",
        "PYTHONPATH": pythonpath(REPO),
    }
    return Emulator(moto_server.endpoint, env)


@pytest.fixture(scope="module")
def flow_run(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> FlowRun:
    """The one full SpyFlow run on the AWS path, and its artifacts read back through the Client."""
    tmp = tmp_path_factory.mktemp("aws-run")
    run_id_file = tmp / "run_id"
    command = [
        sys.executable, str(FLOW_FILE), "--no-pylint", "--config", "sweep", str(SMALL_SWEEP),
        "run", "--max-workers", "2", "--run-id-file", str(run_id_file),
        "--source", SOURCE,
        "--lake-root", LAKE,
        "--glue-database", DATABASE,
        "--registry", "sagemaker",
        "--registry-location", MODELS,
        "--model-group", GROUP,
        "--sagemaker-image-uri", IMAGE_URI,
        "--output-dir", str(tmp / "out"),
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(
        command,
        env=emulator.flow_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=FLOW_TIMEOUT_S,
        check=False,
    )
    seconds = time.monotonic() - started
    assert proc.returncode == 0, f"the flow failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    run_id = run_id_file.read_text().strip()
    pathspec = f"SpyFlow/{run_id}"
    artifacts = run_client_script("read", pathspec, emulator.flow_env)
    return FlowRun(emulator, run_id, pathspec, artifacts, seconds)


# --------------------------------------------------------------------------------------------------
# the run and its Metaflow datastore
# --------------------------------------------------------------------------------------------------


def test_run_succeeds_with_artifacts_in_the_s3_datastore(flow_run: FlowRun) -> None:
    art = flow_run.artifacts
    assert art["successful"]
    assert art["finished"]
    assert art["steps"] == sorted(
        ["start", "ingest", "features", "split", "train", "evaluate", "predict", "register", "end"]
    )
    # The artifacts live in S3, not in the local metadata root.
    run_keys = s3_keys(f"metaflow/SpyFlow/{flow_run.run_id}/")
    assert any(key.endswith("/0.data.json") for key in run_keys), sorted(run_keys)[:5]
    assert s3_keys("metaflow/SpyFlow/data/"), "no content-addressed artifact blobs in S3"
    assert s3_keys("metaflow/mf.cards/"), "the evaluation card was not stored in S3"
    local_root = Path(flow_run.emulator.flow_env["METAFLOW_DATASTORE_SYSROOT_LOCAL"])
    assert not list(local_root.rglob("SpyFlow/data/*")), "artifacts leaked into the local datastore"
    # The gate, the metrics and the registration came back through the Client.
    gate, metrics, registration = art["gate"], art["metrics"], art["registration"]
    assert gate["status"] in ("Approved", "Rejected")
    assert len(gate["checks"]) >= 3
    assert {"name", "value", "passed"} <= set(gate["checks"][0])
    for key in ("sharpe_net", "auc", "dsr", "pbo", "buy_and_hold_sharpe_net"):
        assert metrics[key] is not None, key
        assert np.isfinite(metrics[key]), key
    assert registration["target"] == "sagemaker"
    assert registration["created"] is True
    assert registration["group"] == GROUP
    assert registration["version"] == 1
    assert registration["status"] == gate["status"]
    assert registration["model_uri"].startswith(f"{MODELS}/{GROUP}/")


def test_s3_input_was_read_byte_for_byte(flow_run: FlowRun) -> None:
    provenance = flow_run.artifacts["provenance"]
    assert provenance["sources"] == {s: SOURCE.format(symbol_lower=s.lower()) for s in ("SPY", "QQQ")}
    assert provenance["layouts"] == {"SPY": "yahoo", "QQQ": "yahoo"}
    # The files in S3 are the embedded data written as CSV: the fingerprints (sha256 of the normalized
    # rows) match the embedded data's, so nothing was lost on the way through S3 and the CSV parser.
    from_s3 = ingest(SOURCE, "SPY", "QQQ")
    embedded = ingest("embedded", "SPY", "QQQ")
    assert provenance["fingerprint"] == from_s3.fingerprint == embedded.fingerprint
    assert flow_run.artifacts["n_prices"] == len(from_s3.prices)


# --------------------------------------------------------------------------------------------------
# the lake, Glue and DuckDB
# --------------------------------------------------------------------------------------------------


def test_lake_has_hive_partitions_in_s3(flow_run: FlowRun) -> None:
    art = flow_run.artifacts
    assert art["settings_lake_root"] == LAKE
    first, last = art["provenance"]["first_date"], art["provenance"]["last_date"]
    all_years = set(range(int(first[:4]), int(last[:4]) + 1))
    expected = {
        "prices": {(s, y) for s in ("SPY", "QQQ") for y in all_years},
        "features": {("SPY", y) for y in all_years},
        "predictions": {("SPY", y) for y in art["prediction_years"]},
    }
    pattern = re.compile(r"^lake/(\w+)/symbol=([A-Z]+)/year=(\d{4})/run_id=(\d+)\.parquet$")
    for table in TABLES:
        keys = sorted(s3_keys(f"lake/{table}/"))
        parsed = [pattern.match(key) for key in keys]
        assert all(parsed), [k for k, m in zip(keys, parsed, strict=True) if m is None]
        assert {m[4] for m in parsed if m} == {flow_run.run_id}
        assert {(m[2], int(m[3])) for m in parsed if m} == expected[table], table
        assert sorted(art["lake_files"][table]) == [f"s3://{BUCKET}/{key}" for key in keys]


def test_glue_catalog_matches_the_lake(flow_run: FlowRun) -> None:
    glue = boto3.client("glue")
    assert glue.get_database(Name=DATABASE)["Database"]["Name"] == DATABASE
    assert flow_run.artifacts["glue_catalog"]["database_created"] is True
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]}
    assert set(tables) == {*TABLES, *(f"{t}_runs" for t in TABLES), "published_runs"}
    for name in TABLES:
        assert tables[name]["TableType"] == "VIRTUAL_VIEW"  # the default view: latest run per source
        table = tables[f"{name}_runs"]
        descriptor = table["StorageDescriptor"]
        assert descriptor["Columns"] == catalog.hive_columns(name), name
        assert [c["Name"] for c in descriptor["Columns"]][-2:] == ["run_id", "source_fingerprint"]
        assert table["PartitionKeys"] == [
            {"Name": "symbol", "Type": "string"},
            {"Name": "year", "Type": "int"},
        ]
        assert descriptor["Location"] == f"{LAKE}/{name}/"
        assert descriptor["SerdeInfo"]["SerializationLibrary"] == catalog.PARQUET_SERDE
        pages = glue.get_paginator("get_partitions").paginate(DatabaseName=DATABASE, TableName=f"{name}_runs")
        partitions = [p for page in pages for p in page["Partitions"]]
        got = {(p["Values"][0], int(p["Values"][1])) for p in partitions}
        assert got == set(list_partitions(name, LAKE)), name
        for p in partitions:
            symbol, year = p["Values"]
            assert p["StorageDescriptor"]["Location"] == f"{LAKE}/{name}/symbol={symbol}/year={year}/"
        assert flow_run.artifacts["glue_catalog"]["tables"][name]["partitions"] == len(partitions)


def test_duckdb_reads_back_the_rows_the_run_wrote(flow_run: FlowRun) -> None:
    art = flow_run.artifacts
    counts = sql.query(
        "SELECT 'prices' AS t, count(*) AS n FROM prices WHERE run_id = $$RUN$$ "
        "UNION ALL SELECT 'features', count(*) FROM features WHERE run_id = $$RUN$$ "
        "UNION ALL SELECT 'predictions', count(*) FROM predictions WHERE run_id = $$RUN$$".replace(
            "$$RUN$$", f"'{flow_run.run_id}'"
        ),
        LAKE,
    )
    got = dict(zip(counts["t"], counts["n"].astype(int), strict=True))
    assert got == {
        "prices": art["n_prices"],
        "features": art["n_features"],
        "predictions": art["n_predictions"],
    }
    segments = sql.query("SELECT DISTINCT segment FROM predictions ORDER BY 1", LAKE)["segment"].tolist()
    assert {"walk_forward", "latest"} <= set(segments)


# --------------------------------------------------------------------------------------------------
# the SageMaker model registry
# --------------------------------------------------------------------------------------------------


def head(uri: str) -> dict[str, Any]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    response: dict[str, Any] = boto3.client("s3").head_object(Bucket=bucket, Key=key)
    return response


def test_sagemaker_model_package_carries_gate_and_provenance(flow_run: FlowRun) -> None:
    sagemaker = boto3.client("sagemaker")
    art = flow_run.artifacts
    assert (
        sagemaker.describe_model_package_group(ModelPackageGroupName=GROUP)["ModelPackageGroupName"] == GROUP
    )
    summaries = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    assert [s["ModelPackageVersion"] for s in summaries] == [1]
    package = sagemaker.describe_model_package(ModelPackageName=summaries[0]["ModelPackageArn"])
    assert package["ModelPackageArn"] == art["registration"]["location"]
    # Approval follows the gate (test_latest_approved... restores it if it changed it).
    assert package["ModelApprovalStatus"] == art["gate"]["status"]
    meta = package["CustomerMetadataProperties"]
    assert meta["run_pathspec"] == flow_run.pathspec
    assert meta["data_fingerprint"] == art["provenance"]["fingerprint"]
    assert meta["model_sha256"] == art["registration"]["model_sha256"]
    assert meta["symbol"] == "SPY"
    assert meta["feature_count"] == str(len(art["feature_columns"]))
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == IMAGE_URI != sklearn_image_uri("us-east-1")
    assert container["ModelDataUrl"] == art["registration"]["model_uri"]
    assert head(container["ModelDataUrl"])["ContentLength"] > 0
    metrics_uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert metrics_uri.startswith(f"{MODELS}/{GROUP}/")
    assert metrics_uri.endswith("/metrics.json")
    bucket, _, key = metrics_uri[len("s3://") :].partition("/")
    document = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert document["metrics"]["sharpe_net"] == pytest.approx(art["metrics"]["sharpe_net"])
    assert document["run_pathspec"] == flow_run.pathspec


def test_latest_approved_follows_approval_and_its_bundle_reproduces_the_predictions(
    flow_run: FlowRun,
) -> None:
    gate_status = flow_run.artifacts["gate"]["status"]
    registry = SageMakerRegistry(MODELS)
    before = registry.latest_approved(GROUP)
    if gate_status == "Approved":
        assert before is not None
        assert before.registration.version == 1
    else:
        assert before is None, "a model the gate rejected must never be served"
    try:
        approved = registry.set_status(GROUP, 1, "Approved")
        assert approved.status == "Approved"
        latest = registry.latest_approved(GROUP)
        assert latest is not None
        assert latest.registration.version == 1
        assert latest.registration.model_sha256 == flow_run.artifacts["registration"]["model_sha256"]
        assert latest.metadata["customer_metadata"]["run_pathspec"] == flow_run.pathspec
        # The registered bundle, applied to the lake's features, gives the lake's predictions of the
        # registered model (model_version run-<id>; a walk-forward row names the block model that made it).
        filters = [("run_id", "=", flow_run.run_id), ("symbol", "=", "SPY")]
        predictions = read_table("predictions", LAKE, filters)
        features = read_table("features", LAKE, filters)
        lake = predictions[["date", "probability", "signal", "position", "model_version"]].rename(
            columns={"probability": "probability_lake", "signal": "signal_lake", "position": "position_lake"}
        )
        every = features.merge(lake, on="date", validate="one_to_one")
        assert len(every) == len(predictions) == flow_run.artifacts["n_predictions"]
        rows = every[every["model_version"] == f"run-{flow_run.run_id}"]
        assert len(rows) >= 1  # the latest day at least
        scored = predict_frame(latest.bundle, rows)
        np.testing.assert_allclose(scored["probability"], rows["probability_lake"], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(scored["signal"].to_numpy(), rows["signal_lake"].to_numpy())
        np.testing.assert_array_equal(scored["position"].to_numpy(), rows["position_lake"].to_numpy())
    finally:
        registry.set_status(GROUP, 1, gate_status)
    assert registry.list_versions(GROUP)[0].status == gate_status


# --------------------------------------------------------------------------------------------------
# idempotency: a retried step (same run id, same artifacts) changes nothing in AWS
# --------------------------------------------------------------------------------------------------


def test_replaying_the_aws_writes_of_the_run_changes_nothing(flow_run: FlowRun) -> None:
    lake_before = s3_keys("lake/")
    models_before = s3_keys("models/")
    count_sql = f"SELECT count(*) AS n FROM predictions WHERE run_id = '{flow_run.run_id}'"
    rows_before = int(sql.query(count_sql, LAKE)["n"].iloc[0])

    replay = run_client_script("replay", flow_run.pathspec, flow_run.emulator.flow_env)

    assert replay["lake_files"] == flow_run.artifacts["lake_files"]
    assert set(s3_keys("lake/")) == set(lake_before)  # same files replaced, none added
    assert int(sql.query(count_sql, LAKE)["n"].iloc[0]) == rows_before == flow_run.artifacts["n_predictions"]
    glue = replay["glue_catalog"]
    assert glue["database_created"] is False
    for table in TABLES:
        assert glue["tables"][table]["action"] == "updated"
        assert glue["tables"][table]["partitions_added"] == 0
        assert (
            glue["tables"][table]["partitions"]
            == flow_run.artifacts["glue_catalog"]["tables"][table]["partitions"]
        )
    registration = replay["registration"]
    assert registration["created"] is False
    assert registration["version"] == 1
    assert registration["model_sha256"] == flow_run.artifacts["registration"]["model_sha256"]
    assert [r.version for r in SageMakerRegistry(MODELS).list_versions(GROUP)] == [1]
    assert s3_keys("models/") == models_before  # no second upload


# --------------------------------------------------------------------------------------------------
# the seed project's files through S3 (ingest only: the flow's path from S3 is the test above)
# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not (SEED_DATA / "spy_daily.csv").is_file(), reason=f"no seed data at {SEED_DATA}")
def test_seed_files_ingest_from_s3_like_from_disk(emulator: Emulator) -> None:
    s3 = boto3.client("s3")
    for symbol in ("spy", "qqq"):
        body = (SEED_DATA / f"{symbol}_daily.csv").read_bytes()
        s3.upload_fileobj(io.BytesIO(body), BUCKET, f"seed/{symbol}_daily.csv")
    from_s3 = ingest(f"s3://{BUCKET}/seed/{{symbol_lower}}_daily.csv", "SPY", "QQQ")
    from_disk = ingest(str(SEED_DATA / "{symbol_lower}_daily.csv"), "SPY", "QQQ")
    assert from_s3.symbol.layout == "seed"
    assert from_s3.fingerprint == from_disk.fingerprint
    pd.testing.assert_frame_equal(from_s3.prices, from_disk.prices)
