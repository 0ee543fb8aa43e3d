"""Faults against a real moto server: the S3 endpoint stops while a run on the S3 datastore is in
``predict``; the run fails fast, none of its lake rows is visible (they are staged), and ``resume``
completes it and publishes them once, without duplicates.

The fault point is held by ``tests/helpers/faultsite/sitecustomize.py`` (see ``tests/flow/test_faults.py``).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from metaflow import Run
from moto.server import ThreadedMotoServer

from spylib.storage.lake import list_lake_files, read_table
from spylib.storage.staging import is_published, list_staged_runs
from tests.helpers.flowrun import fault_env, runner_cwd, task_of
from tests.helpers.metaflow_env import output_params
from tests.helpers.moto_server import aws_env
from tests.helpers.paths import FLOW_FILE, SMALL_SWEEP

S3_BUCKET = "spyflow-faults"
FAIL_WITHIN_SECONDS = 120


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the flow ended before reaching the fault point:\n{output}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the flow did not reach the fault point within {timeout} s")
        time.sleep(0.2)


def flow_command(*args: str) -> list[str]:
    return [sys.executable, str(FLOW_FILE), *args]


@pytest.mark.slow  # a run against a moto server stopped mid-run, then resumed: `pytest -m slow`
def test_s3_endpoint_stopping_fails_fast_and_resume_completes_without_duplicates(tmp_path: Path) -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )  # fmt: skip
    s3.create_bucket(Bucket=S3_BUCKET)
    marker = tmp_path / "hold-predict"
    marker.touch()
    lake = f"s3://{S3_BUCKET}/lake"
    env = {
        **os.environ,
        **fault_env(
            marker,
            "spylib.stages.training.predict:run_predict",
            action="hold",
            SPYFLOW_FAULT_HOLD_SECONDS="240",
        ),
        **aws_env(endpoint),
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{S3_BUCKET}/metaflow",
        # Metaflow retries a dead endpoint max(S3_RETRY_COUNT, S3_TRANSIENT_RETRY_COUNT=20) times per
        # object, each with botocore's 10 adaptive attempts: the failed task then sits in backoff for
        # well over 10 minutes. With these three, it fails in about 20 s.
        "METAFLOW_S3_RETRY_COUNT": "0",
        "METAFLOW_S3_TRANSIENT_RETRY_COUNT": "0",
        "METAFLOW_S3_CLIENT_RETRY_CONFIG": '{"max_attempts": 2, "mode": "standard"}',
    }
    first_id, second_id = tmp_path / "run-id", tmp_path / "resume-id"
    run_args = [
        "--config", "sweep", str(SMALL_SWEEP), "run", "--max-workers", "2", "--run-id-file", str(first_id),
        *(f"--{k.replace('_', '-')}={v}" for k, v in {**output_params(tmp_path), "lake_root": lake}.items()),
    ]  # fmt: skip
    try:
        process = subprocess.Popen(
            flow_command(*run_args),
            env=env,
            cwd=runner_cwd(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_for(Path(f"{marker}.reached"), process, timeout=600)  # predict has started
            server.stop()  # the endpoint goes away; moto's state stays in this process
            marker.unlink()  # let predict go on: its lake write and artifact save hit the dead endpoint
            stopped = time.monotonic()
            output, _ = process.communicate(timeout=FAIL_WITHIN_SECONDS)
            elapsed = time.monotonic() - stopped
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode != 0
        assert elapsed < FAIL_WITHIN_SECONDS
        assert "<flow SpyFlow step predict> failed" in output
        assert f'Could not connect to the endpoint URL: "{endpoint}/' in output, output[-3000:]
        origin = first_id.read_text().strip()

        # The endpoint is back on the same port with the same contents; resume the run.
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        # The failed run's prices and features are staged: no reader sees them, nor a Glue crawl of
        # the tables' prefixes.
        for table in ("prices", "features", "predictions"):
            assert list_lake_files(table, lake, s3) == [], table
            assert read_table(table, lake, s3=s3).empty, table
        assert list_staged_runs(lake, s3) == [origin]
        resume_args = [
            "resume",
            "--origin-run-id",
            origin,
            "--max-workers",
            "2",
            "--run-id-file",
            str(second_id),
        ]
        resumed = subprocess.run(
            flow_command(*resume_args),
            env=env,
            cwd=runner_cwd(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        resumed_id = second_id.read_text().strip()
        run = Run(f"SpyFlow/{resumed_id}")  # metadata is local: readable without the S3 datastore
        for step in ("start", "ingest", "features", "split", "train", "evaluate"):
            assert all(t.metadata_dict.get("origin-task-id") for t in run[step]), f"{step} re-ran"
        for step in ("predict", "register", "end"):
            assert not task_of(run, step).metadata_dict.get("origin-task-id"), f"{step} was cloned"

        # The lake: every table keyed by the origin run (the resumed predict rewrites the origin's
        # partitions, it adds none); no duplicate (date, symbol); every file whole.
        for table, writer in (("prices", origin), ("features", origin), ("predictions", origin)):
            files = list_lake_files(table, lake, s3)
            assert files, table
            assert {f.run_id for f in files} == {writer}, table
            frame = read_table(table, lake, s3=s3)
            assert not frame.duplicated(["date", "symbol"]).any(), table
            assert len(frame) == sum(
                pq.read_metadata(io.BytesIO(read_object(s3, f.uri))).num_rows for f in files
            )
        prices = read_table("prices", lake, s3=s3)
        assert prices.groupby("symbol").size().to_dict() == {"QQQ": len(prices) // 2, "SPY": len(prices) // 2}
        assert list_staged_runs(lake, s3) == []  # published once, by the resumed run's end
        assert is_published(lake, origin, s3)
        assert len(registry_versions(tmp_path)) == 1  # registered once, by the resumed run
    finally:
        server.stop()


def read_object(s3: Any, uri: str) -> bytes:
    """The bytes of ``uri`` through a boto3 S3 client (boto3's clients are built at run time: untyped)."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def registry_versions(tmp: Path) -> list[Path]:
    return sorted((tmp / "registry").glob("*/versions/*/manifest.json"))


def test_an_s3_publication_killed_half_way_is_invisible_until_completed(
    moto_env: dict[str, str], monkeypatch: Any
) -> None:
    """The S3 lake: a publication killed after three server-side moves leaves those objects in the tables'
    prefixes, yet read_table, the listing and the DuckDB views see none of the run until its record exists
    (the marker ``_published/run_id=R.publishing`` hides it); publishing again completes it, once."""
    from spylib.storage import lake as lake_module
    from spylib.storage.sql import query
    from spylib.storage.staging import publish_run, stage_table
    from tests.helpers.lake_frames import make_frame

    boto3.client("s3").create_bucket(Bucket="spyflow-publication")
    lake = "s3://spyflow-publication/lake"
    tables = ("prices", "features", "predictions")
    for table in tables:
        stage_table(make_frame(table), table, lake, "5")
    real_move = lake_module._S3Store.move
    moved: list[str] = []

    def dying_move(self: Any, source: str, target: str) -> None:
        if len(moved) == 3:
            raise KeyboardInterrupt  # the end task is killed mid-publication
        moved.append(target)
        real_move(self, source, target)

    def rows() -> dict[str, int]:
        out = {}
        for table in tables:
            n = len(read_table(table, lake))
            assert (n == 0) == (not list_lake_files(table, lake))
            assert int(query(f"SELECT count(*) AS n FROM {table}", lake, s3_mode="sync")["n"].iloc[0]) == n
            out[table] = n
        return out

    monkeypatch.setattr(lake_module._S3Store, "move", dying_move)
    with pytest.raises(KeyboardInterrupt):
        publish_run(lake, "5")
    assert len(moved) == 3
    assert rows() == dict.fromkeys(tables, 0)
    assert not is_published(lake, "5")
    monkeypatch.setattr(lake_module._S3Store, "move", real_move)
    publish_run(lake, "5")
    assert rows() == dict.fromkeys(tables, 12)
    assert list_staged_runs(lake) == []
