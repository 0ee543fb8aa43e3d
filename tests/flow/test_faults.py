"""Faults in a flow run: a crashing ``train`` task, then ``resume`` re-runs only the failed task.

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

from pathlib import Path

from metaflow import Run

from spylib.storage.lake import list_lake_files, read_table
from tests.helpers.flowrun import data_of, fault_env, resume_flow, run_flow, task_of


def step_names(run: Run) -> list[str]:
    return sorted(step.id for step in run)


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
    assert len(list(origin["train"])) == 2
    assert len(by_outcome) == 2
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
        assert task_of(run, step).metadata_dict.get("origin-task-id"), f"{step} re-ran"
    assert task_of(run, "end").successful
    assert len(data_of(run).trials) == 8  # both configurations' trials, as in a clean run

    # The lake: every table is keyed by the origin run's id (`output_run_id`, set in the cloned
    # `start`), so the resumed predict rewrote nothing twice; no (date, symbol) appears twice.
    lake = str(tmp_path / "lake")
    assert data_of(run).output_run_id == origin.id
    for table in ("prices", "features", "predictions"):
        assert {f.run_id for f in list_lake_files(table, lake)} == {origin.id}, table
        frame = read_table(table, lake)
        assert not frame.duplicated(["date", "symbol"]).any(), table
    assert len(read_table("predictions", lake)) == len(data_of(run).predictions)
