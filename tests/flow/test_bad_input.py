"""Bad input as a user of the flow sees it: one clear, located line, and the run stops before any work
or output. A bad price file (a broken value, an implausible move) fails ``ingest`` naming the file, line
and column; a bad parameter, config key, hyperparameter, source template or output location fails
``start``; a config that decorators read, or one that is not a JSON object, is refused before the run
exists. (Every message, case by case, is ``tests/unit/test_bad_input.py``.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.helpers.flowrun import FlowResult, run_flow, runner_cwd, task_of
from tests.helpers.metaflow_env import flow_env, output_params, pythonpath
from tests.helpers.paths import CONFIG_DIR, FLOW_FILE, PREDICT_FLOW, REPO, SMALL_SWEEP
from tests.helpers.price_files import write_pair, yahoo_csv
from tests.helpers.synthetic import one_symbol, synthetic_prices

# Artifacts Metaflow itself stores for every task, failed or not.
METAFLOW_INTERNAL = {"name"}
OUTPUTS = ("lake", "out", "registry")


def nothing_written(tmp: Path) -> bool:
    return not any((tmp / name).exists() for name in OUTPUTS)


def negative_volume(spy: Path) -> str:
    """Line 300 of the file gets a negative volume; the expected message."""
    lines = spy.read_text().splitlines()
    parts = lines[299].split(",")
    parts[5] = "-100"
    lines[299] = ",".join(parts)
    spy.write_text("\n".join(lines) + "\n")
    return f"{spy}, line 300, date {pd.Timestamp(parts[0]):%Y-%m-%d}, column 'volume': volume must be >= 0, got -100.0"


def unadjusted_split(spy: Path) -> str:
    """From line 400 on, every price halves (a 2-for-1 split the file did not adjust)."""
    lines = spy.read_text().splitlines()
    for k in range(399, len(lines)):
        parts = lines[k].split(",")
        parts[1:5] = [repr(float(v) / 2) for v in parts[1:5]]
        lines[k] = ",".join(parts)
    spy.write_text("\n".join(lines) + "\n")
    when = pd.Timestamp(lines[399].split(",")[0])
    return f"{spy}, line 400, date {when:%Y-%m-%d}, column 'close': close moves "


@pytest.mark.parametrize(
    "breakage", [negative_volume, unadjusted_split], ids=["negative_volume", "unadjusted_split"]
)
def test_flow_on_a_bad_file_stops_in_ingest_and_writes_nothing(
    tmp_path: Path, breakage: Callable[[Path], str]
) -> None:
    source = write_pair(tmp_path / "data", 700)
    spy = tmp_path / "data" / "spy_daily.csv"
    expected = breakage(spy)

    result = run_flow(tmp_path, source=source)
    assert result.status == "failed"
    run = result.run
    assert sorted(step.id for step in run) == ["ingest", "start"]  # no later step ran
    task = task_of(run, "ingest")
    assert not task.successful
    assert f"spylib.core.errors.DataValidationError: {expected}" in task.stderr
    assert expected in result.stdout  # the user's terminal shows it too (task logs go to stdout)
    # The failed task stored nothing of its own: only what start passed on, and Metaflow's bookkeeping.
    start = task_of(run, "start")
    inherited = {a.id for a in start}
    own = {a.id for a in task} - inherited - METAFLOW_INTERNAL
    assert not {name for name in own if not name.startswith("_")}, own
    assert nothing_written(tmp_path)


def assert_stopped_in_start(result: FlowResult, tmp: Path, error: str) -> None:
    assert result.status == "failed"
    run = result.run
    assert [step.id for step in run] == ["start"]
    start = task_of(run, "start")
    assert f"{error}\n" in start.stderr if not error.endswith("(") else error in start.stderr
    assert error.split(": ", 1)[1] in result.stdout
    assert "settings" not in start
    assert nothing_written(tmp)


def test_flow_with_an_unknown_config_key_stops_in_start_naming_the_key(tmp_path: Path) -> None:
    raw = json.loads(SMALL_SWEEP.read_text())
    raw["treshold"] = [0.5]
    bad = tmp_path / "bad_sweep.json"
    bad.write_text(json.dumps(raw))
    expected = (
        "config 'sweep', key 'treshold': unknown key (allowed: filters, models, selection, sizings, "
        "target_volatility, thresholds, walk_forward)"
    )
    assert_stopped_in_start(
        run_flow(tmp_path, sweep=bad), tmp_path, f"spylib.core.errors.ConfigError: {expected}"
    )


def misspelt_hyperparameter(tmp: Path) -> dict[str, Any]:
    raw = json.loads(SMALL_SWEEP.read_text())
    raw["models"]["random_forest"]["n_estimator"] = raw["models"]["random_forest"].pop("n_estimators")
    path = tmp / "sweep.json"
    path.write_text(json.dumps(raw))
    return {"sweep": path}


def short_embargo(tmp: Path) -> dict[str, Any]:
    raw = json.loads(SMALL_SWEEP.read_text())
    raw["walk_forward"]["embargo_days"] = 20
    path = tmp / "sweep.json"
    path.write_text(json.dumps(raw))
    return {"sweep": path}


def corrupt_old_version(tmp: Path) -> dict[str, Any]:
    """A registry whose first version's manifest was truncated (a later version is fine)."""
    from spylib.registry import LocalRegistry
    from tests.helpers.registry_requests import make_request

    registry = LocalRegistry(tmp / "old-registry")
    registry.register(make_request("SpyFlow/1"))
    registry.register(make_request("SpyFlow/2"))
    manifest = tmp / "old-registry" / "spy-direction" / "versions" / "1" / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:40])
    return {"registry_location": str(tmp / "old-registry")}


# (the run's options under tmp, the error line of start)
# fmt: off
START_CASES: dict[str, tuple[Callable[[Path], dict[str, Any]], Callable[[Path], str]]] = {
    "embargo_below_the_longest_feature_window": (
        short_embargo,
        lambda t: "spylib.core.errors.ConfigError: config 'sweep', key 'walk_forward.embargo_days': must be at least "
        "the longest feature window (60 days), got 20",
    ),
    "user_feature_named_like_a_built_in": (
        lambda t: {"extra_features": "tests.helpers.user_features:rsi_14"},
        lambda t: "spylib.core.errors.ConfigError: --extra-features, key 'tests.helpers.user_features:rsi_14': the "
        "feature would be named 'rsi_14', a built-in column of the feature table: rename the function",
    ),
    "registry_with_a_corrupt_old_version": (
        corrupt_old_version,
        lambda t: f"spylib.core.errors.IntegrityError: {t}/old-registry/spy-direction/versions/1/manifest.json: "
        "unreadable manifest (",
    ),
    "misspelt_hyperparameter": (
        misspelt_hyperparameter,
        lambda t: "spylib.core.errors.ConfigError: config 'sweep', key 'models.random_forest.n_estimator': "
        "RandomForestClassifier has no hyperparameter 'n_estimator' (did you mean 'n_estimators'?)",
    ),
    "lake_root_under_a_file": (
        lambda t: {"lake_root": str(t / "blocker" / "lake")},
        lambda t: f"spylib.core.errors.ConfigError: --lake-root: cannot write to {t / 'blocker' / 'lake'}: "
        f"{t / 'blocker'} is a file: no directory can be created under it",
    ),
    "source_without_the_symbol": (
        lambda t: {"source": str(t / "data" / "spy_daily.csv")},
        lambda t: f"spylib.core.errors.ConfigError: --source: '{t / 'data' / 'spy_daily.csv'}' does not contain "
        "{symbol} or {symbol_lower}: both symbols would read the same file (e.g. 'data/{symbol_lower}_daily.csv')",
    ),
    "symbol_outside_the_source_folder": (
        lambda t: {"source": str(t / "data" / "{symbol_lower}_daily.csv"), "symbol": "../etc"},
        lambda t: "spylib.core.errors.ConfigError: --symbol: '../etc' is not a ticker symbol (1 to 20 letters, "
        "digits, '.', '-', '^' or '=', with a letter or digit)",
    ),
}
# fmt: on


@pytest.mark.parametrize(("options", "error"), START_CASES.values(), ids=START_CASES.keys())
def test_flow_stops_in_start(
    tmp_path: Path, options: Callable[[Path], dict[str, Any]], error: Callable[[Path], str]
) -> None:
    write_pair(tmp_path / "data", 30)
    (tmp_path / "blocker").write_text("a file where a directory should go")
    params = options(tmp_path)
    sweep = params.pop("sweep", SMALL_SWEEP)
    assert isinstance(sweep, Path)
    env = flow_env(PYTHONPATH=pythonpath(REPO))  # the user features live in tests/helpers
    result = run_flow(tmp_path, env=env, sweep=sweep, **params)
    assert_stopped_in_start(result, tmp_path, error(tmp_path))


# (the config's name, its text, the one line Metaflow prints)
# fmt: off
DECORATOR_CONFIG_CASES: dict[str, tuple[str, str, str]] = {
    "resources_misspelt_step": (
        "resources",
        json.dumps({
            ("trian" if k == "train" else k): v
            for k, v in json.loads((CONFIG_DIR / "resources.json").read_text()).items()
        }),
        "config 'resources', key 'trian': unknown step (steps with resources: ingest, features, train, evaluate, "
        "predict)",
    ),
    "sweep_is_a_list": (
        "sweep", "[1, 2]", "config 'sweep': expected a JSON object {...} at the top level, got a list",
    ),
    "gate_is_a_string": (
        "gate", '"strict"', "config 'gate': expected a JSON object {...} at the top level, got a string",
    ),
    "sweep_key_given_twice": (
        "sweep",
        SMALL_SWEEP.read_text().replace('"thresholds": [0.5, 0.55],', '"thresholds": [0.5],\n  "thresholds": [0.9],'),
        "config 'sweep', key 'thresholds': given twice in the same object (JSON would keep the last one silently): "
        "keep one",
    ),
}
# fmt: on


@pytest.mark.parametrize(
    ("name", "text", "line"), DECORATOR_CONFIG_CASES.values(), ids=DECORATOR_CONFIG_CASES.keys()
)
def test_a_config_metaflow_cannot_use_is_refused_before_the_run_exists(
    tmp_path: Path, name: str, text: str, line: str
) -> None:
    config = tmp_path / f"{name}.json"
    config.write_text(text)
    run_id_file = tmp_path / "run-id"
    command = [
        sys.executable, str(FLOW_FILE), "--config", name, str(config), "run", "--run-id-file", str(run_id_file),
        *(f"--{k.replace('_', '-')}={v}" for k, v in output_params(tmp_path).items()),
    ]  # fmt: skip
    done = subprocess.run(
        command,
        env={**os.environ, **flow_env()},
        cwd=runner_cwd(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert f"Invalid config:\n    {line}\n" in output
    assert "Traceback" not in output
    assert "Internal error" not in output
    assert not run_id_file.exists()  # no run was created: start never ran
    assert nothing_written(tmp_path)


def cut_last_line(spy: Path) -> str:
    """The file as a copy still in progress leaves it: the last line stops inside its volume."""
    text = spy.read_text()
    spy.write_text(text[:-4])
    last = text.splitlines()[-1]
    return (
        f"{spy}, line {len(text.splitlines())}, column 'volume': the last line has no final newline, so its last "
        f"value may be cut ({last.rsplit(',', 1)[1][:-3]!r})"
    )


def copied_benchmark(spy: Path) -> str:
    qqq = spy.with_name("qqq_daily.csv")
    qqq.write_bytes(spy.read_bytes())
    return (
        f"{qqq}, line 2, column 'close': every price and volume equals SPY's ({spy}) on all 700 common dates"
    )


def date_with_garbage(spy: Path) -> str:
    """The symbol's file in the Yahoo layout (ISO dates), line 50's date followed by other characters."""
    frame = one_symbol(synthetic_prices(700), "SPY")
    lines = yahoo_csv(frame).splitlines()
    parts = lines[49].split(",")
    parts[0] += "xyz!!"
    lines[49] = ",".join(parts)
    spy.write_text("\n".join(lines) + "\n")
    return (
        f"{spy}, line 50, column 'date': unparsable date '{parts[0]}' (expected %Y-%m-%d, a date-time or a "
        "date-time with an offset)"
    )


@pytest.mark.parametrize(
    "breakage",
    [cut_last_line, copied_benchmark, date_with_garbage],
    ids=["last_line_cut", "benchmark_a_copy", "date_with_garbage"],
)
def test_flow_on_a_file_that_lies_stops_in_ingest(tmp_path: Path, breakage: Callable[[Path], str]) -> None:
    source = write_pair(tmp_path / "data", 700)
    expected = breakage(tmp_path / "data" / "spy_daily.csv")
    result = run_flow(tmp_path, source=source)
    assert result.status == "failed"
    assert sorted(step.id for step in result.run) == ["ingest", "start"]
    assert f"spylib.core.errors.DataValidationError: {expected}" in task_of(result.run, "ingest").stderr
    assert nothing_written(tmp_path)


def test_flow_with_an_all_missing_user_feature_stops_in_features_naming_it(tmp_path: Path) -> None:
    source = write_pair(tmp_path / "data", 1700)  # long enough for the walk-forward checked in ingest
    env = flow_env(PYTHONPATH=pythonpath(REPO))
    result = run_flow(
        tmp_path, env=env, source=source, extra_features="tests.helpers.user_features:all_missing"
    )
    assert result.status == "failed"
    assert sorted(step.id for step in result.run) == ["features", "ingest", "start"]
    assert (
        "spylib.core.errors.ConfigError: --extra-features, key 'all_missing': undefined (NaN) on 100% of the rows "
        "after the 100-row warm-up" in task_of(result.run, "features").stderr
    )
    assert not (tmp_path / "lake" / "features").exists()  # the staged prices are invisible
    assert not (tmp_path / "registry").exists()


# (the flow, the variable, its value, the one line printed before anything runs)
# fmt: off
ENVIRONMENT_CASES: dict[str, tuple[Path, str, str, str]] = {
    "endpoint_not_a_url": (
        FLOW_FILE, "AWS_ENDPOINT_URL_S3", "not-a-url",
        "spy-flow: error: $AWS_ENDPOINT_URL_S3: not an endpoint URL: 'not-a-url' (expected http://HOST[:PORT] or "
        "https://HOST[:PORT])",
    ),
    "fail_on_alert_with_a_typo": (
        PREDICT_FLOW, "SPYFLOW_FAIL_ON_ALERT", "ture",
        "spy-flow: error: $SPYFLOW_FAIL_ON_ALERT: expected one of 1, true, yes, 0, false, no (or empty), got 'ture'",
    ),
}
# fmt: on


@pytest.mark.parametrize(
    ("flow", "name", "value", "line"), ENVIRONMENT_CASES.values(), ids=ENVIRONMENT_CASES.keys()
)
def test_a_bad_environment_setting_is_one_line_before_the_run(
    tmp_path: Path, flow: Path, name: str, value: str, line: str
) -> None:
    run_id_file = tmp_path / "run-id"
    command = [sys.executable, str(flow), "run", "--run-id-file", str(run_id_file)]
    done = subprocess.run(
        command,
        env={**os.environ, **flow_env(), name: value},
        cwd=runner_cwd(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == f"{line}\n"
    assert not run_id_file.exists()
