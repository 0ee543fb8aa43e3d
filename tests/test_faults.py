"""Faults: a crashing ``train`` task and ``resume``; the S3 endpoint going away mid-run; a full disk or a
bad path while writing predictions.

Faults are injected from outside the product code: ``tests/faults/site/sitecustomize.py`` (first on the
flow's ``PYTHONPATH``) wraps one ``spylib`` function in the flow's subprocesses, armed by a marker file.

Covered elsewhere, not repeated here: two processes registering at the same moment in the local
registry (distinct versions, both complete, serialized by the ``flock`` lock) and the same run
registered twice are ``tests/test_registry.py::test_two_processes_*``; a model file changed after
registration is refused naming both sha256s in ``tests/test_registry.py`` and, after a real run, in
``tests/test_security.py``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import boto3
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import FLOW_FILE, RUNNER_CWD, SMALL_SWEEP, output_params
from faults.flowrun import fault_env, resume_flow, run_flow
from faults.synthetic import predictions_frame
from metaflow import Run
from moto.server import ThreadedMotoServer
from moto_server import aws_env

from spylib.core.errors import SpyFlowError
from spylib.research.predict import write_predictions
from spylib.storage.lake import list_lake_files, read_table


def step_names(run: object) -> list[str]:
    return sorted(step.id for step in run)  # type: ignore[attr-defined]


# --- a train task that crashes, then resume ------------------------------------------------------


@pytest.mark.flow
def test_train_crash_then_resume_reruns_only_the_failed_task(tmp_path: Path) -> None:
    marker = tmp_path / "crash-logistic"
    marker.touch()
    env = fault_env(marker, "spylib.stages.training:run_train", match="logistic")
    # One worker: the random forest's train task (split 0) finishes before the logistic one (split 1)
    # fails; with two, the runtime would kill the sibling still running when the failure arrives.
    result = run_flow(tmp_path, env=env, max_workers=1)
    assert result.status == "failed"
    origin = result.run
    by_outcome = {task.successful: task for task in origin["train"]}
    assert len(list(origin["train"])) == 2 and len(by_outcome) == 2  # one succeeded, one failed
    assert "RuntimeError: injected fault in run_train for logistic\n" in by_outcome[False].stderr
    assert by_outcome[True].data.results[0].spec.family == "random_forest"
    assert "evaluate" not in step_names(origin)  # nothing after the failed step ran
    assert not (tmp_path / "out" / "predictions").exists()
    assert not (tmp_path / "registry").exists()

    marker.unlink()  # the fault is gone; resume re-uses the run's parameters and configs
    resumed = resume_flow(origin.id, env=env)
    assert resumed.status == "successful", resumed.stderr
    run = resumed.run
    origin_ok = by_outcome[True].pathspec.split("/")[-1]
    for task in run["train"]:
        family = task.data.results[0].spec.family
        cloned_from = task.metadata_dict.get("origin-task-id")
        if family == "random_forest":
            assert cloned_from == origin_ok, "the train task that had succeeded was re-run"
        else:
            assert not cloned_from, "the failed train task was cloned instead of re-run"
    for step in ("start", "ingest", "features", "split"):
        assert run[step].task.metadata_dict.get("origin-task-id"), f"{step} re-ran"
    assert run["end"].task.successful
    assert len(run.data.trials) == 8  # both configurations' trials, as in a clean run

    # The lake: every table is keyed by the origin run's id (`output_run_id`, set in the cloned
    # `start`), so the resumed predict rewrote nothing twice; no (date, symbol) appears twice.
    lake = str(tmp_path / "lake")
    assert run.data.output_run_id == origin.id
    for table in ("prices", "features", "predictions"):
        assert {f.run_id for f in list_lake_files(table, lake)} == {origin.id}, table
        frame = read_table(table, lake)
        assert not frame.duplicated(["date", "symbol"]).any(), table
    assert len(read_table("predictions", lake)) == len(run.data.predictions)


# --- a full disk or a bad path while writing predictions -----------------------------------------


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


DISK_FULL_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    sys.path.insert(0, sys.argv[3])
    from faults.synthetic import predictions_frame
    from spylib.core.errors import SpyFlowError
    from spylib.research.predict import write_predictions

    frame = predictions_frame(3000, "run-2")  # built before the limit: only the write may fail
    # A full disk, simulated: files may not grow past 4 KiB. SIGXFSZ would kill the process, so it
    # is ignored and the write fails with EFBIG instead, the way ENOSPC fails it on a full disk.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    try:
        write_predictions(frame, sys.argv[1], sys.argv[2])
    except SpyFlowError as exc:
        print(exc)
        sys.exit(3)
    """
)


def test_disk_full_while_writing_predictions_keeps_the_previous_file(tmp_path: Path) -> None:
    files = write_predictions(predictions_frame(3000, "run-1"), tmp_path, "7")
    directory = Path(files["parquet"]).parent
    before = snapshot(directory)
    child = subprocess.run(
        [sys.executable, "-c", DISK_FULL_CHILD, str(tmp_path), "7", str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 3, child.stderr
    assert child.stdout.strip() == f"cannot write predictions to {directory}: File too large"
    assert snapshot(directory) == before  # byte-identical, and no temporary file left behind
    assert pd.read_parquet(files["parquet"])["model_version"].eq("run-1").all()


def test_unwritable_predictions_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output directory should be")
    with pytest.raises(SpyFlowError) as info:
        write_predictions(predictions_frame(10, "run-1"), blocker, "7")
    assert str(info.value) == f"cannot write predictions to {blocker}/predictions/run_id=7: Not a directory"
    assert blocker.read_text() == "a file where the output directory should be"


# --- the S3 endpoint stops during a run on the S3 datastore --------------------------------------

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


@pytest.mark.flow
@pytest.mark.emulator
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
            marker, "spylib.stages.training:run_predict", action="hold", SPYFLOW_FAULT_HOLD_SECONDS="240"
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
            cwd=RUNNER_CWD,
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
            cwd=RUNNER_CWD,
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
            assert not run[step].task.metadata_dict.get("origin-task-id"), f"{step} was cloned"

        # The lake: every table keyed by the origin run (the resumed predict rewrites the origin's
        # partitions, it adds none); no duplicate (date, symbol); every file whole.
        for table, writer in (("prices", origin), ("features", origin), ("predictions", origin)):
            files = list_lake_files(table, lake, s3)
            assert files and {f.run_id for f in files} == {writer}, table
            frame = read_table(table, lake, s3=s3)
            assert not frame.duplicated(["date", "symbol"]).any(), table
            assert len(frame) == sum(
                pq.read_metadata(io.BytesIO(read_object(s3, f.uri))).num_rows for f in files
            )
        prices = read_table("prices", lake, s3=s3)
        assert prices.groupby("symbol").size().to_dict() == {"QQQ": len(prices) // 2, "SPY": len(prices) // 2}
        assert len(registry_versions(tmp_path)) == 1  # registered once, by the resumed run
    finally:
        server.stop()


def read_object(s3: object, uri: str) -> bytes:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined,no-any-return]


def registry_versions(tmp: Path) -> list[Path]:
    return sorted((tmp / "registry").glob("*/versions/*/manifest.json"))
