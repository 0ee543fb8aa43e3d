"""Faults in a flow run: a crashing ``train`` task, then ``resume`` re-runs only the failed task; a run
whose ``train`` task is killed, or that fails in ``register``, leaves nothing readers can see (its lake
files are staged, :mod:`spylib.storage.staging`), and the ``resume`` that completes it publishes them
exactly once.

Faults are injected from outside the product code: ``tests/helpers/faultsite/sitecustomize.py`` (first on
the flow's ``PYTHONPATH``) wraps one ``spylib`` function in the flow's subprocesses, armed by a marker file.

Elsewhere: a full disk or a bad path while writing predictions is ``tests/unit/test_faults.py``; the S3
endpoint going away mid-run is ``tests/aws/test_faults.py``. Two processes registering at the same
moment in the local registry (distinct versions, both complete, serialized by the ``flock`` lock) and
the same run registered twice are ``tests/unit/test_registry.py::test_two_processes_*``; a model file
changed after registration is refused naming both sha256s in ``tests/unit/test_registry.py`` and, after
a real run, in ``tests/flow/test_security.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from metaflow import Run

from spylib.registry import LocalRegistry
from spylib.storage.lake import list_lake_files, read_table
from spylib.storage.sql import query
from spylib.storage.staging import is_published, list_staged_runs
from spylib.storage.tables import LAKE_TABLES
from tests.helpers.flowrun import data_of, fault_env, resume_flow, run_flow, runner_cwd, task_of
from tests.helpers.metaflow_env import output_params
from tests.helpers.paths import FLOW_FILE, SMALL_SWEEP
from tests.helpers.price_files import write_pair

# Slow (several runs each, resumed): `pytest -m slow`, its own line in .ci/run.
pytestmark = pytest.mark.slow


def step_names(run: Run) -> list[str]:
    return sorted(step.id for step in run)


def visible(lake: str) -> dict[str, int]:
    """The rows every reader sees per table: read_table, the lake's file listing and the DuckDB views agree."""
    rows = {}
    for table in LAKE_TABLES:
        frame = read_table(table, lake)
        assert (len(frame) == 0) == (not list_lake_files(table, lake)), table
        assert int(query(f"SELECT count(*) AS n FROM {table}", lake)["n"].iloc[0]) == len(frame), table
        rows[table] = len(frame)
    return rows


def assert_invisible(lake: str, run_id: str) -> None:
    """A failed run: none of its rows is visible; what it wrote is staged under its id."""
    assert visible(lake) == dict.fromkeys(LAKE_TABLES, 0)
    assert list_staged_runs(lake) == [run_id]
    assert not is_published(lake, run_id)


def assert_published_once(lake: str, run_id: str, predictions: int) -> None:
    """Every table holds the run's rows once, nothing is left staged, the publication is recorded."""
    rows = visible(lake)
    for table in LAKE_TABLES:
        assert {f.run_id for f in list_lake_files(table, lake)} == {run_id}, table
        assert not read_table(table, lake).duplicated(["date", "symbol"]).any(), table
    assert rows["predictions"] == predictions
    assert rows["features"] > 0
    assert rows["prices"] > rows["features"]  # both symbols' prices; the features of one, warm-up dropped
    assert list_staged_runs(lake) == []
    assert is_published(lake, run_id)


def test_train_crash_then_resume_reruns_only_the_failed_task(tmp_path: Path) -> None:
    marker = tmp_path / "crash-logistic"
    marker.touch()
    env = fault_env(marker, "spylib.stages.training.train:run_train", match="logistic")
    # One configuration per train task (locally the default is one pooled task) and one worker: the
    # random forest's task (split 0) finishes before the logistic one (split 1) fails; with two
    # workers, the runtime would kill the sibling still running when the failure arrives.
    result = run_flow(tmp_path, env=env, max_workers=1, configs_per_task=1)
    assert result.status == "failed"
    origin = result.run
    by_outcome = {task.successful: task for task in origin["train"]}
    assert len(list(origin["train"])) == 2
    assert len(by_outcome) == 2
    assert "RuntimeError: injected fault in run_train for logistic\n" in by_outcome[False].stderr
    assert by_outcome[True].data.results[0].spec.family == "random_forest"
    assert "evaluate" not in step_names(origin)  # nothing after the failed step ran
    assert not (tmp_path / "out" / "predictions").exists()
    assert not (tmp_path / "registry").exists()
    lake = str(tmp_path / "lake")
    assert_invisible(lake, origin.id)  # ingest and features wrote prices and features: staged only

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
        assert task_of(run, step).metadata_dict.get("origin-task-id"), f"{step} re-ran"
    assert task_of(run, "end").successful
    assert len(data_of(run).trials) == 2 * 2 * 2 * 2  # both configurations' trials, as in a clean run

    # The lake: every table is keyed by the origin run's id (`output_run_id`, set in the cloned
    # `start`); the resumed run published the origin's staged prices and features with its own
    # predictions, once: no (date, symbol) appears twice.
    assert data_of(run).output_run_id == origin.id
    assert_published_once(lake, origin.id, len(data_of(run).predictions))
    publication = data_of(run).lake_publication
    assert publication["moved"] == len(publication["files"])  # every file moved by this one publication


def test_a_killed_train_task_leaves_nothing_visible(tmp_path: Path) -> None:
    """SIGKILL, not an exception: the task process dies in ``train`` with no chance to clean up."""
    marker = tmp_path / "hold-logistic"
    marker.touch()
    env = fault_env(marker, "spylib.stages.training.train:run_train", match="logistic", action="hold")
    process, run_id_file = start_held_flow(tmp_path, env, marker, max_workers=1)
    try:
        os.kill(int(Path(f"{marker}.reached").read_text()), signal.SIGKILL)  # the train task's own process
        output, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0
    assert "train" in output
    run = Run(f"SpyFlow/{run_id_file.read_text().strip()}")
    assert "evaluate" not in step_names(run)
    assert_invisible(str(tmp_path / "lake"), run.id)


def test_a_run_failing_in_register_is_invisible_and_resume_publishes_it_once(tmp_path: Path) -> None:
    """...and registers it once: the resume, and a second resume of the same run, get one version."""
    marker = tmp_path / "fail-register"
    marker.touch()
    env = fault_env(marker, "spylib.stages.training.register:run_register")
    result = run_flow(tmp_path, env=env)
    assert result.status == "failed"
    origin = result.run
    assert not task_of(origin, "register").successful
    assert task_of(origin, "predict").successful  # prices, features and predictions were all written
    lake = str(tmp_path / "lake")
    assert_invisible(lake, origin.id)

    marker.unlink()
    resumed = resume_flow(origin.id, env=env)
    assert resumed.status == "successful", resumed.stderr
    for step in ("ingest", "features", "predict"):
        assert task_of(resumed.run, step).metadata_dict.get("origin-task-id"), f"{step} re-ran"
    assert_published_once(lake, origin.id, len(data_of(resumed.run).predictions))
    publication = data_of(resumed.run).lake_publication
    assert publication["moved"] == len(publication["files"])
    assert not publication["already_published"]
    # Registered once, under the origin run: and resuming the same run again reuses that version.
    registration = data_of(resumed.run).registration
    assert (registration["version"], registration["created"]) == (1, True)
    again = resume_flow(origin.id, env=env)
    assert again.status == "successful", again.stderr
    assert (data_of(again.run).registration["version"], data_of(again.run).registration["created"]) == (
        1,
        False,
    )
    versions = LocalRegistry(tmp_path / "registry").list_versions("spy-direction")
    assert len(versions) == 1
    manifest = LocalRegistry(tmp_path / "registry").read_metadata(versions[0])
    assert manifest["run_pathspec"] == f"SpyFlow/{origin.id}"
    assert manifest["provenance"]["source_kind"] == "embedded"
    assert manifest["strategy"]["threshold"] == data_of(again.run).strategy.threshold


def start_held_flow(
    tmp_path: Path, env: dict[str, str], marker: Path, *, max_workers: int = 2, **params: str
) -> tuple[Any, Path]:
    """A SpyFlow run in a subprocess, until the armed fault holds it (``<marker>.reached`` written)."""
    run_id_file = tmp_path / "run-id"
    command = [
        sys.executable, str(FLOW_FILE), "--config", "sweep", str(SMALL_SWEEP), "run",
        "--max-workers", str(max_workers),
        "--run-id-file", str(run_id_file),
        *(f"--{k.replace('_', '-')}={v}" for k, v in {**output_params(tmp_path), **params}.items()),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=runner_cwd(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    reached = Path(f"{marker}.reached")
    deadline = time.monotonic() + 600
    while not reached.exists():
        if process.poll() is not None:
            raise AssertionError(f"the flow ended before the fault: {process.communicate()[0][-2000:]}")
        assert time.monotonic() < deadline, "the flow did not reach the fault"
        time.sleep(0.2)
    return process, run_id_file


def test_a_run_killed_inside_end_is_invisible_until_resume_publishes_it(tmp_path: Path) -> None:
    """SIGKILL in ``end`` after every lake file is in its table but before the publication record: readers
    see none of the run (its publication marker hides it), and the resume's ``end`` publishes it once."""
    marker = tmp_path / "hold-record"
    marker.touch()
    env = fault_env(marker, "spylib.storage.lake:atomic_write_bytes", match=".json'", action="hold")
    process, run_id_file = start_held_flow(tmp_path, env, marker)
    lake = str(tmp_path / "lake")
    try:
        assert list_staged_runs(lake) == []  # every staged file was moved into the tables...
        assert visible(lake) == dict.fromkeys(LAKE_TABLES, 0)  # ...and no reader sees any of them
        os.kill(int(Path(f"{marker}.reached").read_text()), signal.SIGKILL)
        process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0
    origin = Run(f"SpyFlow/{run_id_file.read_text().strip()}")
    assert not is_published(lake, origin.id)
    assert visible(lake) == dict.fromkeys(LAKE_TABLES, 0)

    marker.unlink()
    resumed = resume_flow(origin.id, env=env)
    assert resumed.status == "successful", resumed.stderr
    assert_published_once(lake, origin.id, len(data_of(resumed.run).predictions))


def test_a_lake_deleted_while_the_run_works_stops_end_and_publishes_nothing(tmp_path: Path) -> None:
    import shutil

    marker = tmp_path / "hold-register"
    marker.touch()
    env = fault_env(marker, "spylib.stages.training.register:run_register", action="hold")
    process, run_id_file = start_held_flow(tmp_path, env, marker)
    try:
        shutil.rmtree(tmp_path / "lake")  # an operator cleans the lake while the run works
        marker.unlink()
        output, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0
    run = Run(f"SpyFlow/{run_id_file.read_text().strip()}")
    end = task_of(run, "end")
    assert not end.successful
    staged = tmp_path / "lake" / "_staging" / f"run_id={run.id}"
    assert f"a staged file of run {run.id} is gone: {staged}/" in end.stderr
    assert "nothing was published: run the flow again" in output
    assert "Traceback" not in end.stderr
    assert not (tmp_path / "lake").exists() or visible(str(tmp_path / "lake")) == dict.fromkeys(
        LAKE_TABLES, 0
    )
    assert not (tmp_path / "out" / "predictions").exists()  # the prediction files stayed staged


def test_resume_after_the_source_changed_refuses_or_proceeds_on_request(tmp_path: Path) -> None:
    marker = tmp_path / "fail-register"
    marker.touch()
    env = fault_env(marker, "spylib.stages.training.register:run_register")
    source = write_pair(tmp_path / "data", 1700)
    result = run_flow(tmp_path, env=env, source=source)
    assert result.status == "failed"
    marker.unlink()
    spy = tmp_path / "data" / "spy_daily.csv"
    lines = spy.read_text().splitlines()
    lines[-1] = lines[-1].rsplit(",", 1)[0] + ",123"  # the last day's volume, corrected upstream
    spy.write_text("\n".join(lines) + "\n")

    refused = resume_flow(result.run.id, env=env)
    assert refused.status == "failed"
    register = task_of(refused.run, "register")
    assert (
        f"spylib.core.errors.DataValidationError: {spy}: changed since run {result.run.id} read it: a resumed run "
        "reuses the origin run's data" in register.stderr
    )
    # evaluate wrote the trials ledger beside the registry; no version was registered
    assert not list((tmp_path / "registry").glob("*/versions/*"))

    allowed = resume_flow(refused.run.id, env={**env, "SPYFLOW_RESUME_CHANGED_SOURCES": "true"})
    assert allowed.status == "successful", allowed.stderr
    change = data_of(allowed.run).resume_source_change
    assert change["changed_files"] == [str(spy)]
    assert change["origin_run_id"] == refused.run.id
    assert "changed since run" in allowed.stdout
