"""Bad input as a user of the flow sees it: a bad price file fails the ``ingest`` step naming the file,
line and column, and nothing is written; a config file with an unknown key fails ``start`` naming the
key. (Every message, case by case, is ``tests/unit/test_bad_input.py``.)"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.helpers.flowrun import run_flow, task_of
from tests.helpers.paths import SMALL_SWEEP
from tests.helpers.price_files import write_pair

# Artifacts Metaflow itself stores for every task, failed or not.
METAFLOW_INTERNAL = {"name"}


def test_flow_on_a_bad_file_stops_in_ingest_and_writes_nothing(tmp_path: Path) -> None:
    source = write_pair(tmp_path / "data", 700)
    spy = tmp_path / "data" / "spy_daily.csv"
    lines = spy.read_text().splitlines()
    parts = lines[299].split(",")  # line 300 of the file
    parts[5] = "-100"
    lines[299] = ",".join(parts)
    spy.write_text("\n".join(lines) + "\n")
    when = f"{pd.Timestamp(parts[0]):%Y-%m-%d}"
    expected = f"{spy}, line 300, date {when}, column 'volume': volume must be >= 0, got -100.0"

    result = run_flow(tmp_path, source=source)
    assert result.status == "failed"
    run = result.run
    assert sorted(step.id for step in run) == ["ingest", "start"]  # no later step ran
    task = task_of(run, "ingest")
    assert not task.successful
    assert f"spylib.core.errors.DataValidationError: {expected}\n" in task.stderr
    assert expected in result.stdout  # the user's terminal shows it too (task logs go to stdout)
    # The failed task stored nothing of its own: only what start passed on, and Metaflow's bookkeeping.
    start = task_of(run, "start")
    inherited = {a.id for a in start}
    own = {a.id for a in task} - inherited - METAFLOW_INTERNAL
    assert not {name for name in own if not name.startswith("_")}, own
    assert not (tmp_path / "lake").exists()
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "registry").exists()


def test_flow_with_an_unknown_config_key_stops_in_start_naming_the_key(tmp_path: Path) -> None:
    raw = json.loads(SMALL_SWEEP.read_text())
    raw["treshold"] = [0.5]
    bad = tmp_path / "bad_sweep.json"
    bad.write_text(json.dumps(raw))
    expected = (
        "config 'sweep', key 'treshold': unknown key (allowed: cv, filters, models, selection, thresholds)"
    )

    result = run_flow(tmp_path, sweep=bad)
    assert result.status == "failed"
    run = result.run
    assert [step.id for step in run] == ["start"]
    start = task_of(run, "start")
    assert f"spylib.core.errors.ConfigError: {expected}\n" in start.stderr
    assert expected in result.stdout
    assert "settings" not in start
    assert not any((tmp_path / name).exists() for name in ("lake", "out", "registry"))
