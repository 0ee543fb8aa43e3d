"""Faults while writing predictions: a full disk keeps the previous file byte for byte; a bad path is
a clear error (the flow-level faults are ``tests/flow/test_faults.py`` and ``tests/aws/test_faults.py``)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spylib.core.errors import SpyFlowError
from spylib.modelling.predictions import write_predictions
from spylib.stages.settings import TrainingSettings
from tests.helpers.paths import REPO
from tests.helpers.synthetic import predictions_frame


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


DISK_FULL_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from tests.helpers.synthetic import predictions_frame
    from spylib.core.errors import SpyFlowError
    from spylib.modelling.predictions import write_predictions

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
        [sys.executable, "-c", DISK_FULL_CHILD, str(tmp_path), "7"],
        cwd=REPO,  # `python -c` puts its working directory first on sys.path: tests and spylib import
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


# --- a full disk under the registry, the lake and the staged predictions: one line naming the path ------

FULL_DISK_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from spylib.core.errors import SpyFlowError
    from tests.unit.test_faults import full_disk_action

    action = full_disk_action(sys.argv[1], sys.argv[2])  # everything built before the limit
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death, as ENOSPC on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    try:
        action()
    except SpyFlowError as exc:
        print(exc)
        sys.exit(3)
    """
)


def full_disk_action(kind: str, root: str) -> Callable[[], object]:
    """What the child process does under the 4 KiB file-size limit (built before the limit is set)."""
    if kind == "registry":
        from spylib.registry import LocalRegistry
        from tests.helpers.registry_requests import make_request

        request = make_request("SpyFlow/9", extra_files={"reference_profile.json": b"x" * 20_000})
        return lambda: LocalRegistry(root).register(request)
    if kind == "lake":
        from spylib.storage.lake import write_table
        from tests.helpers.lake_frames import make_frame

        frame = make_frame("features", days=400)
        return lambda: write_table(frame, "features", root, "9")
    from spylib.stages.training.publish import stage_predictions

    frame = predictions_frame(3000, "run-9")
    return lambda: stage_predictions(frame, root, "9")


def run_full_disk(kind: str, root: Path) -> str:
    child = subprocess.run(
        [sys.executable, "-c", FULL_DISK_CHILD, kind, str(root)],
        cwd=REPO,  # `python -c` puts its working directory first on sys.path: tests and spylib import
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 3, child.stderr
    assert child.stdout.count("\n") == 1, child.stdout
    return child.stdout.strip()


def test_full_disk_under_the_registry_names_the_version_and_leaves_none(tmp_path: Path) -> None:
    message = run_full_disk("registry", tmp_path)
    assert message == f"cannot write {tmp_path}/spy-direction/versions/1: File too large"
    assert not (tmp_path / "spy-direction" / "versions").exists()
    assert not list((tmp_path / "spy-direction").glob(".tmp*"))


def test_full_disk_under_the_lake_names_the_file(tmp_path: Path) -> None:
    message = run_full_disk("lake", tmp_path)
    assert re.fullmatch(
        rf"cannot write {tmp_path}/features/symbol=QQQ/year=2019/run_id=9\.parquet: File too large", message
    ), message
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no half file, no temporary file


def test_full_disk_while_staging_predictions_leaves_nothing(tmp_path: Path) -> None:
    message = run_full_disk("predictions", tmp_path)
    staged = tmp_path / "_staging" / "predictions" / "run_id=9"
    assert message == f"cannot write predictions to {staged}: File too large"
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not (tmp_path / "predictions").exists()


# --- publication: readers wait for the record; end checks the staged files first ----------------------


def staged_run(tmp_path: Path) -> TrainingSettings:
    """The settings of a run with every output under ``tmp_path``."""
    base = base_settings()
    return replace(
        base,
        outputs=replace(base.outputs, output_dir=str(tmp_path / "out"), lake_root=str(tmp_path / "lake")),
        registry=replace(base.registry, location=str(tmp_path / "registry")),
    )


def base_settings() -> TrainingSettings:
    from spylib.stages.settings import build_training_settings
    from tests.helpers.flow_defaults import config_defaults, flow_class, load_json_config, parameter_defaults
    from tests.helpers.paths import FLOW_FILE, SMALL_SWEEP

    flow = flow_class(FLOW_FILE)
    values = {
        **parameter_defaults(flow),
        **{n: load_json_config(p) for n, p in config_defaults(flow).items()},
    }
    return build_training_settings(**{**values, "sweep": load_json_config(SMALL_SWEEP)})


def stage_everything(settings: TrainingSettings, run_id: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    from spylib.stages.training.publish import stage_predictions, write_lake
    from tests.helpers.lake_frames import make_frame

    lake_files = {
        t: write_lake(make_frame(t), t, settings.outputs, run_id)
        for t in ("prices", "features", "predictions")
    }
    return stage_predictions(predictions_frame(50, "run-5"), settings.outputs.output_dir, run_id), lake_files


def lake_rows(lake: str) -> dict[str, int]:
    from spylib.storage.lake import read_table
    from spylib.storage.sql import query

    rows = {}
    for table in ("prices", "features", "predictions"):
        n = len(read_table(table, lake))
        assert int(query(f"SELECT count(*) AS n FROM {table}", lake)["n"].iloc[0]) == n
        rows[table] = n
    return rows


def test_a_publication_killed_half_way_shows_nothing_until_it_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spylib.storage import lake as lake_module
    from spylib.storage.staging import publish_run

    settings = staged_run(tmp_path)
    stage_everything(settings, "5")
    real_move = lake_module._LocalStore.move
    moves: list[str] = []

    def dying_move(self: Any, source: str, target: str) -> None:
        if len(moves) == 3:
            raise KeyboardInterrupt  # the process is killed after three files are in the tables
        moves.append(target)
        real_move(self, source, target)

    monkeypatch.setattr(lake_module._LocalStore, "move", dying_move)
    with pytest.raises(KeyboardInterrupt):
        publish_run(settings.outputs.lake_root, "5")
    assert all(Path(t).is_file() for t in moves)  # in the tables' directories...
    assert lake_rows(settings.outputs.lake_root) == {
        "prices": 0,
        "features": 0,
        "predictions": 0,
    }  # ...yet unseen
    monkeypatch.setattr(lake_module._LocalStore, "move", real_move)
    publish_run(settings.outputs.lake_root, "5")  # the resume's end
    assert lake_rows(settings.outputs.lake_root) == {"prices": 12, "features": 12, "predictions": 12}
    assert not list(Path(settings.outputs.lake_root, "_published").glob("*.publishing"))


@pytest.mark.parametrize("deleted", ["lake", "out"])
def test_end_refuses_to_publish_when_a_staged_file_is_gone(tmp_path: Path, deleted: str) -> None:
    import shutil

    from spylib.stages.training.publish import run_end

    settings = staged_run(tmp_path)
    predictions, lake_files = stage_everything(settings, "5")
    shutil.rmtree(tmp_path / deleted)  # deleted while the run trained
    with pytest.raises(SpyFlowError) as info:
        run_end(settings.outputs, "5", staged=(predictions, lake_files))
    first = (
        f"{tmp_path}/lake/_staging/run_id=5/features/symbol=QQQ/year=2019/run_id=5.parquet"
        if deleted == "lake"
        else f"{tmp_path}/out/_staging/predictions/run_id=5/predictions.csv"
    )
    more = 11 if deleted == "lake" else 1
    assert str(info.value) == (
        f"a staged file of run 5 is gone: {first} (and {more} more); the lake or output directory changed while "
        "the run ran, so nothing was published: run the flow again"
    )
    assert not Path(predictions["parquet"]).exists()
    if deleted == "out":
        assert lake_rows(settings.outputs.lake_root) == {"prices": 0, "features": 0, "predictions": 0}


def test_end_publishes_predictions_and_lake_together(tmp_path: Path) -> None:
    from spylib.stages.training.publish import run_end

    settings = staged_run(tmp_path)
    predictions, lake_files = stage_everything(settings, "5")
    assert not Path(predictions["parquet"]).exists()  # staged: not where readers look
    run_end(settings.outputs, "5", staged=(predictions, lake_files))
    assert pd.read_parquet(predictions["parquet"])["model_version"].eq("run-5").all()
    assert Path(predictions["csv"]).is_file()
    assert not (tmp_path / "out" / "_staging").exists()
    assert lake_rows(settings.outputs.lake_root) == {"prices": 12, "features": 12, "predictions": 12}
    run_end(
        settings.outputs, "5", staged=(predictions, lake_files)
    )  # a resumed end: nothing missing, nothing twice
    assert lake_rows(settings.outputs.lake_root) == {"prices": 12, "features": 12, "predictions": 12}


# --- the registry, opened in start the way register opens it ----------------------------------------


def test_a_corrupt_old_version_stops_start_naming_its_manifest(tmp_path: Path) -> None:
    from spylib.core.errors import IntegrityError
    from spylib.registry import LocalRegistry
    from spylib.stages.settings import check_run_io
    from tests.helpers.registry_requests import make_request

    settings = staged_run(tmp_path)  # the embedded source
    registry = LocalRegistry(settings.registry.location)
    registry.register(make_request("SpyFlow/1"))
    registry.register(make_request("SpyFlow/2"))
    manifest = Path(settings.registry.location) / "spy-direction" / "versions" / "1" / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:40])  # truncated
    with pytest.raises(IntegrityError) as info:
        check_run_io(settings)
    assert str(info.value).startswith(f"{manifest}: unreadable manifest (")
    assert "\n" not in str(info.value)


def test_predict_flow_names_a_registry_that_does_not_exist(tmp_path: Path) -> None:
    from spylib.core.errors import ConfigError
    from spylib.stages.daily import load_approved_model
    from spylib.stages.settings import build_daily_settings

    settings = build_daily_settings(
        source="embedded", symbol="SPY", benchmark="QQQ", as_of="", extra_features="",
        output_dir=str(tmp_path / "out"), lake_root=str(tmp_path / "lake"), registry="local",
        registry_location=str(tmp_path / "nope"), model_group="spy-direction", history_runs=0, replay_days=0,
        fail_on_alert=False,
    )  # fmt: skip
    with pytest.raises(ConfigError) as info:
        load_approved_model(settings)
    assert str(info.value) == (
        f"--registry-location: the local registry {tmp_path / 'nope'} does not exist (no such directory): give the "
        "--registry-location SpyFlow registered its models in"
    )
    (tmp_path / "nope").mkdir()
    with pytest.raises(
        SpyFlowError, match="model group 'spy-direction' has no version in the local registry"
    ):
        load_approved_model(settings)


# --- resume with changed sources, and a replay inside the training window -----------------------------


def test_resume_refuses_changed_sources_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spylib.core.errors import DataValidationError
    from spylib.stages.resume import check_resumed_sources, source_digests
    from tests.helpers.price_files import write_pair

    source = write_pair(tmp_path / "data", 300)
    base = base_settings()
    settings = replace(base, data=replace(base.data, source=source))
    recorded = source_digests(settings)
    assert check_resumed_sources(recorded, settings, "12") == {}  # nothing changed
    spy = tmp_path / "data" / "spy_daily.csv"
    spy.write_text(spy.read_text().replace(",", ", ", 1))  # one byte more
    assert check_resumed_sources(recorded, settings, None) == {}  # not a resume: nothing to compare
    with pytest.raises(DataValidationError) as info:
        check_resumed_sources(recorded, settings, "12")
    assert str(info.value) == (
        f"{spy}: changed since run 12 read it: a resumed run reuses the origin run's data (its ingest is "
        "cloned), so it would finish on the old data: start a new run, or set SPYFLOW_RESUME_CHANGED_SOURCES=true "
        "to finish on the origin run's data"
    )
    monkeypatch.setenv("SPYFLOW_RESUME_CHANGED_SOURCES", "true")
    change = check_resumed_sources(recorded, settings, "12")
    assert change["changed_files"] == [str(spy)]
    assert change["origin_run_id"] == "12"


def test_replayed_days_inside_the_training_window_are_counted_and_left_out() -> None:
    from spylib.monitoring.track_record import REPLAY_SEGMENT
    from spylib.stages.daily import cut_replay_at_training

    frame = predictions_frame(10, "m/v1")
    frame["segment"] = [REPLAY_SEGMENT] * 8 + ["daily"] * 2
    end = str(pd.Timestamp(frame["date"].iloc[5]).date())
    cut = cut_replay_at_training(frame, {"window": {"start": "2000-01-03", "end": end}}, 100000)
    assert (cut.replayed, cut.inside_training, cut.training_end) == (8, 6, end)
    assert len(cut.predictions) == 4
    assert (pd.to_datetime(cut.predictions["date"]) > pd.Timestamp(end)).all()
    assert cut.note == (
        f"replay: 100000 day(s) asked, 8 replayed, 6 of them inside the model's training window (up to {end}) and "
        "left out; performance is scored on the 2 replayed day(s) after it and the daily track record"
    )
