"""The ``spy-flow`` command line over a local registry and lake in ``tmp_path`` (the SageMaker target on
a moto server is ``tests/aws/test_cli_sagemaker.py``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from spylib.cli import build_parser, lake, main, models, runs
from spylib.cli.table import MISSING, format_value, render_table
from spylib.modelling.models import make_bundle
from spylib.registry import RegistrationRequest, open_registry
from spylib.storage import sql
from spylib.storage.lake import write_table
from tests.helpers.lake_frames import make_frame
from tests.helpers.registry_requests import make_provenance
from tests.helpers.strategies import strategy_for

GROUP = "spy-direction"
FEATURES = ["ret_1d", "rsi_14"]
PASSED = "auc passed: 0.5312 (required >= 0.5)"
FAILED = "dsr FAILED: 0.41 (required >= 0.95)"


def tiny_bundle(seed: int) -> dict[str, Any]:
    """A LogisticRegression fitted on 40 synthetic rows, bundled as SpyFlow bundles it."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(40, 2)), columns=FEATURES)
    y = (x["ret_1d"] + 0.3 * rng.normal(size=40) > 0).astype(int)
    return make_bundle(
        LogisticRegression().fit(x, y), strategy_for(FEATURES, 0.55, ["trend_ok"])
    ).to_payload()


def request(run: str, status: str, reasons: list[str], sharpe: float) -> RegistrationRequest:
    return RegistrationRequest(
        group=GROUP,
        bundle=tiny_bundle(len(run)),
        approval_status=status,  # type: ignore[arg-type]
        metrics={"sharpe_net": sharpe, "buy_and_hold_sharpe_net": 0.6123, "auc": 0.5312, "dsr": math.nan},
        gate_reasons=reasons,
        run_pathspec=run,
        data_fingerprint="fp-abc123",
        code_version="0.1.0+gdeadbeef",
        provenance=make_provenance(data_fingerprint="fp-abc123", seed=int(run.rsplit("/", 1)[-1])),
    )


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    """v1 Approved by the gate, v2 Rejected with one failed check."""
    root = tmp_path / "registry"
    registry = open_registry("local", str(root))
    registry.register(request("SpyFlow/1", "Approved", [PASSED], 0.07746469818111738))
    registry.register(request("SpyFlow/22", "Rejected", [FAILED, PASSED], -0.25))
    return root


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``spy-flow ARGS`` in-process: (exit status, stdout, stderr)."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def manifest(root: Path, version: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (root / GROUP / "versions" / str(version) / "manifest.json").read_text()
    )
    return data


def assert_one_line_error(status: int, out: str, err: str, *words: str) -> None:
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err


# --- the registry ------------------------------------------------------------------------------------
def test_versions_lists_both_with_formatted_metrics(
    capsys: pytest.CaptureFixture[str], registry_dir: Path
) -> None:
    status, out, err = cli(capsys, "versions", "--location", str(registry_dir))
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[1].split() == [
        "version", "status", "created", "sha256", "net", "Sharpe", "B&H", "Sharpe", "AUC", "failed", "checks", "run"
    ]  # fmt: skip
    v1 = next(line for line in lines if line.startswith("v1 "))
    v2 = next(line for line in lines if line.startswith("v2 "))
    sha1 = manifest(registry_dir, 1)["model_sha256"]
    assert v1.split()[:2] == ["v1", "Approved"]
    assert sha1[:12] in v1
    assert "0.07746 " in v1  # 4 significant figures
    assert "0.0774646" not in out
    assert v1.split()[-2:] == ["0", "SpyFlow/1"]
    assert v2.split()[:2] == ["v2", "Rejected"]
    assert v2.split()[-5:] == ["-0.25", "0.6123", "0.5312", "1", "SpyFlow/22"]
    assert lines[-1] == "PredictFlow uses spy-direction/v1 (the latest Approved)"


def test_versions_default_location_comes_from_the_environment(
    capsys: pytest.CaptureFixture[str], registry_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPYFLOW_REGISTRY", "local")
    monkeypatch.setenv("SPYFLOW_REGISTRY_LOCATION", str(registry_dir))
    status, out, _ = cli(capsys, "versions")
    assert status == 0
    assert f"local registry {registry_dir}, group spy-direction" in out
    assert_one_line_error(
        *cli(capsys, "versions", "--group", "other-group"),
        "no versions in group 'other-group'",
        "groups here: spy-direction",
    )


@pytest.mark.parametrize("command", [["versions"], ["latest"], ["show", "v1"], ["approve", "v1"]])
def test_a_registry_that_does_not_exist_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "nonexistent"
    assert_one_line_error(
        *cli(capsys, *command, "--location", str(missing)), "no registry here", "--location"
    )
    assert not missing.exists()  # nothing created
    (tmp_path / "empty").mkdir()
    assert_one_line_error(
        *cli(capsys, "versions", "--location", str(tmp_path / "empty")), "it holds no registry"
    )


def test_latest_without_an_approved_version_names_the_approve_command(
    capsys: pytest.CaptureFixture[str], registry_dir: Path
) -> None:
    cli(capsys, "reject", "v1", "--location", str(registry_dir))
    status, out, _ = cli(capsys, "latest", "--location", str(registry_dir))
    assert status == 0
    assert "`spy-flow approve N`" in out
    status, out, _ = cli(capsys, "versions", "--location", str(registry_dir))
    assert out.splitlines()[-1].endswith("(approve one: `spy-flow approve N`)")


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "--version")
    assert status == 0
    assert out.startswith("spy-flow 0.")


@pytest.mark.parametrize(
    ("value", "expected"), [("", "data/registry"), ("  ", "data/registry"), ("/x", "/x")]
)
def test_env_defaults_are_the_outputs_modules(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    from spylib.core.outputs import LOCATION_ENV, env_or

    monkeypatch.setenv("SPYFLOW_REGISTRY_LOCATION", value)
    assert env_or(LOCATION_ENV) == expected
    assert lake.DEFAULT_DATABASE == sql.DEFAULT_DATABASE


def test_show_prints_provenance_reasons_and_metrics(
    capsys: pytest.CaptureFixture[str], registry_dir: Path
) -> None:
    status, out, err = cli(capsys, "show", "v2", "--location", str(registry_dir))
    assert (status, err) == (0, "")
    assert out.startswith("spy-direction/v2  Rejected\n")
    assert manifest(registry_dir, 2)["model_sha256"] in out
    for expected in (
        "run               SpyFlow/22",
        "data fingerprint  fp-abc123",
        "code version      0.1.0+gdeadbeef",
        "gate decision     Rejected",
        "threshold         0.55",
        "features          2: ret_1d, rsi_14",
        f"status reason     {MISSING}",
        "strategy",
        "  signal: long when P(up) >= 0.55 and regime filter trend_ok",
        "  sizing: long/flat (a long position is 1)",
        "  cost: 1 bps per side, charged on every position change",
        "provenance",
        "  data: file (data/{symbol}.csv), 2001-01-02..2018-12-31, symbols SPY QQQ",
        "  code version: git:deadbeef; seed 22; shuffled labels: no",
        "  control: no",
        "gate reasons (1 of 2 checks failed)",
        f"  {FAILED}",
        f"  {PASSED}",
        "  sharpe_net               -0.25",
        f"  dsr                      {MISSING}",
    ):
        assert expected in out
    # GROUP/vN, the model_version of the predictions table, names a version too
    assert cli(capsys, "show", "spy-direction/v1", "--location", str(registry_dir))[1].startswith(
        "spy-direction/v1  Approved\n"
    )


def test_approve_changes_the_status_on_disk(capsys: pytest.CaptureFixture[str], registry_dir: Path) -> None:
    status, out, err = cli(
        capsys, "approve", "2", "--reason", "reviewed by hand", "--location", str(registry_dir)
    )
    assert status == 0
    assert out == "spy-direction/v2  Approved  (was Rejected; reason: reviewed by hand)\n"
    assert err == "note: approving against the gate (1 failed check)\n"
    assert manifest(registry_dir, 2)["status"] == "Approved"
    assert manifest(registry_dir, 2)["status_reason"] == "reviewed by hand"
    latest = open_registry("local", str(registry_dir)).latest_approved(GROUP)
    assert latest is not None
    assert latest.registration.version == 2
    assert (
        "status reason     reviewed by hand" in cli(capsys, "show", "2", "--location", str(registry_dir))[1]
    )


def test_reject(capsys: pytest.CaptureFixture[str], registry_dir: Path) -> None:
    status, out, err = cli(capsys, "reject", "v1", "--location", str(registry_dir))
    assert (status, err) == (0, "")
    assert out == "spy-direction/v1  Rejected  (was Approved)\n"
    assert manifest(registry_dir, 1)["status"] == "Rejected"
    assert open_registry("local", str(registry_dir)).latest_approved(GROUP) is None
    assert cli(capsys, "versions", "--location", str(registry_dir))[1].splitlines()[-1] == (
        "no Approved version: PredictFlow has no model to use (approve one: `spy-flow approve N`)"
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["show", "9"], ["no version 9 in group 'spy-direction' (versions: v1, v2)"]),
        (["approve", "9"], ["spy-flow approve: error:", "no version 9"]),
        (["reject", "v9"], ["spy-flow reject: error:", "no version 9"]),
        (["show", "latest"], ["expected a version like 3, v3"]),
        (["versions", "--group", "bad name"], ["invalid model package group name"]),
        (["versions", "--registry", "sagemaker"], ["expected s3://bucket[/prefix]"]),
    ],
)
def test_expected_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], registry_dir: Path, args: list[str], words: list[str]
) -> None:
    assert_one_line_error(*cli(capsys, *args, "--location", str(registry_dir)), *words)
    assert manifest(registry_dir, 1)["status"] == "Approved"  # nothing changed


def test_aws_errors_are_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens there: connection refused at once
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    status, out, err = cli(
        capsys, "versions", "--registry", "sagemaker", "--location", "s3://spyflow-models/r"
    )
    assert (status, out) == (1, "")
    assert err.startswith("spy-flow versions: AWS error: ")
    assert len(err.splitlines()) == 1


def test_latest_shows_the_approved_model_and_its_latest_prediction(
    capsys: pytest.CaptureFixture[str], registry_dir: Path, tmp_path: Path
) -> None:
    lake_root = str(tmp_path / "lake")
    args = ("latest", "--location", str(registry_dir), "--lake", lake_root)
    status, out, _ = cli(capsys, *args)
    assert status == 0
    assert out.splitlines() == [
        "spy-direction/v1  Approved  sha256 "
        f"{manifest(registry_dir, 1)['model_sha256'][:12]}  (net Sharpe 0.07746, B&H Sharpe 0.6123, AUC 0.5312)",
        f"no prediction by spy-direction/v1 in the lake {lake_root} yet: make one with "
        f"`python flows/predict_flow.py run --lake-root {lake_root}`",
    ]
    frame = make_frame("predictions", symbols=("SPY",), days=4)
    frame["model_version"] = GROUP + "/v1"
    frame["signal"] = np.array([0, 0, 0, 1], dtype="int8")
    frame["position"] = np.array([0.0, 0.0, 0.0, 0.75])
    frame.loc[frame.index[-1], ["target_up", "fwd_return"]] = None  # the newest day: no outcome yet
    write_table(frame, "predictions", lake_root, "daily-1")
    status, out, _ = cli(capsys, *args)
    lines = out.splitlines()
    assert lines[1] == f"latest prediction ({lake_root}): LONG 0.75, threshold 0.55, sizing long_flat"
    assert lines[2].split() == [
        "date",
        "symbol",
        "probability",
        "signal",
        "position",
        "target_up",
        "fwd_return",
        "run_id",
    ]
    newest = frame.iloc[-1]
    assert lines[4].split() == [
        newest["date"].date().isoformat(), "SPY", format_value(newest["probability"]), "1", "0.75", MISSING,
        MISSING, "daily-1",
    ]  # fmt: skip


# --- the lake ----------------------------------------------------------------------------------------
def test_sql_over_a_small_lake(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    write_table(make_frame("prices"), "prices", root, "1")
    statement = "SELECT symbol, count(*) AS n, avg(close) AS mean_close FROM prices GROUP BY 1 ORDER BY 1"
    status, out, err = cli(capsys, "sql", statement, "--lake", root)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["symbol", "n", "mean_close"]
    assert [line.split()[:2] for line in lines[2:4]] == [["QQQ", "6"], ["SPY", "6"]]
    assert len(lines[2].split()[2]) <= 8  # 6 significant figures, not 17
    assert lines[-1] == "(2 rows)"
    status, out, err = cli(
        capsys, "sql", "SELECT date FROM prices ORDER BY date", "--lake", root, "--max-rows", "3"
    )
    assert out.splitlines()[2] == "2019-12-27"
    assert out.splitlines()[-1] == "... 12 rows in total, first 3 shown (--max-rows)"
    assert_one_line_error(*cli(capsys, "sql", "SELECT nope FROM prices", "--lake", root), "query over lake")


def test_sql_over_a_lake_that_does_not_exist_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "nonexistent")
    assert_one_line_error(
        *cli(capsys, "sql", "SELECT 1", "--lake", missing), "no lake here", "does not exist"
    )
    assert_one_line_error(
        *cli(capsys, "sql", "SELECT 1", "--lake", str(tmp_path)), "no lake here", "holds no lake table"
    )


def test_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "ddl", "--location", "s3://bucket/lake")
    assert status == 0
    assert out == sql.all_ddl("spy_flow", "s3://bucket/lake")
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `spy_flow`.`predictions_runs`" in out
    assert 'CREATE OR REPLACE VIEW "predictions"' in out
    assert_one_line_error(*cli(capsys, "ddl", "--location", "/not/s3"), "not an s3:// URI")


# --- runs --------------------------------------------------------------------------------------------
def test_runs_of_an_unknown_flow_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(
        *cli(capsys, "runs", "--flow", "NoSuchCliTestFlow"),
        "no runs of NoSuchCliTestFlow found (namespace ",
        "`spy-flow runs --all-users`",
    )


def test_verdict_cells() -> None:
    assert runs.verdict_cells({"status": "Approved", "checks": [{"name": "dsr", "passed": True}]}) == (
        "Approved",
        "0",
    )
    assert runs.verdict_cells("alert") == ("alert", MISSING)
    assert runs.verdict_cells(None) == (MISSING, MISSING)


# --- help and formatting -----------------------------------------------------------------------------
def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


def test_every_command_is_listed() -> None:
    assert subcommands() == [
        "approve",
        "compare",
        "ddl",
        "latest",
        "reject",
        "runs",
        "show",
        "sql",
        "versions",
    ]


@pytest.mark.parametrize("command", [[], *([c] for c in subcommands())])
def test_help_of_every_command(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    status, out, err = cli(capsys, *command, "--help")
    assert (status, err) == (0, "")
    assert out.startswith(f"usage: spy-flow {' '.join(command)}".rstrip())


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "show")
    assert (status, out) == (2, "")
    assert "the following arguments are required: VERSION" in err
    assert cli(capsys)[0] == 2


def test_installed_console_scripts() -> None:
    bin_dir = str(Path(sys.executable).parent)
    for script, expected in (("spy-flow", "versions"),):
        path = shutil.which(script, path=bin_dir) or shutil.which(script)
        assert path is not None, f"{script} is not installed: pip install -e ."
        done = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout


def test_format_value_and_table() -> None:
    assert format_value(0.07746469818111738) == "0.07746"
    assert format_value(np.float64(1234.5678)) == "1235"
    assert format_value(5.0) == "5"
    assert format_value(np.int8(1)) == "1"
    assert [format_value(v) for v in (None, math.nan, pd.NaT, "", pd.NA)] == [MISSING] * 5
    assert format_value(pd.Timestamp("2024-03-04")) == "2024-03-04"
    assert format_value(True) == "true"
    table = render_table(["name", "x"], [["a", 1.5], ["bb", None]])
    assert table.splitlines() == ["name    x", "----  ---", "a     1.5", f"bb      {MISSING}"]


# --- compare -----------------------------------------------------------------------------------------
def test_compare_two_versions_shows_what_differs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = tmp_path / "registry"
    registry = open_registry("local", str(root))
    registry.register(request("SpyFlow/1", "Approved", [PASSED], 0.7))
    registry.register(request("SpyFlow/22", "Rejected", [FAILED, PASSED], -0.25))
    status, out, err = cli(capsys, "compare", "v1", "spy-direction/v2", "--location", str(root))
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[:2] == ["A = spy-direction/v1 (Approved)", "B = spy-direction/v2 (Rejected)"]
    assert "its run SpyFlow/1 is not in this Metaflow datastore" in out
    fingerprint = next(line for line in lines if line.startswith("fingerprint"))
    assert fingerprint.split() == ["fingerprint", "fp-abc123", "fp-abc123", "no"]
    run = next(line for line in lines if line.startswith("run "))
    assert run.split() == ["run", "SpyFlow/1", "SpyFlow/22", "yes"]
    sharpe = next(line for line in lines if line.startswith("track net Sharpe (annualized)"))
    assert sharpe.split()[-3:] == ["0.7", "-0.25", "yes"]
    dsr = next(line for line in lines if line.startswith("dsr "))
    assert dsr.split() == ["dsr", "–", "–", "0.41", "FAIL"]  # v1 has no dsr check; v2's failed
    assert_one_line_error(*cli(capsys, "compare", "v1", "v9", "--location", str(root)), "no version 9")


def test_compare_reads_a_run_key_by_key() -> None:
    from spylib.cli.compare import render_comparison, snapshot_from_run
    from spylib.stages.settings import TrainingSettings

    class FakeTask:
        def __init__(self, artifacts: dict[str, Any]) -> None:
            self.artifacts = artifacts

        def __contains__(self, name: str) -> bool:
            return name in self.artifacts

        def __getitem__(self, name: str) -> Any:
            return argparse.Namespace(data=self.artifacts[name])

    class FakeRun:
        def __init__(self, run_id: str, steps: dict[str, dict[str, Any]]) -> None:
            self.id, self.steps = run_id, steps

        def __getitem__(self, step: str) -> Any:
            if step not in self.steps:
                raise KeyError(step)
            return argparse.Namespace(task=FakeTask(self.steps[step]))

    from spylib.stages.settings import build_training_settings
    from tests.helpers.paths import CONFIG_DIR

    def config(name: str) -> Any:
        return json.loads((CONFIG_DIR / f"{name}.json").read_text())

    base: TrainingSettings = build_training_settings(
        source="embedded", symbol="SPY", benchmark="QQQ", holdout_start="", execution="open_to_open",
        cost_bps=1.0, seed=42, shuffle_labels=False, extra_features="", output_dir="data", lake_root="",
        glue_database="", registry="local", registry_location="data/registry", model_group="spy-direction",
        sagemaker_image_uri="", configs_per_task=0, sweep=config("sweep"), gate=config("gate"),
        resources=config("resources"), schedule=config("schedule"),
    )  # fmt: skip
    other = dataclasses.replace(base, cost_bps=2.0, plan=dataclasses.replace(base.plan, seed=7))
    gate = {"status": "Rejected", "checks": [{"name": "psr_track", "passed": False, "value": 0.9}]}
    runs_ = [
        FakeRun(str(i), {"start": {"settings": s}, "evaluate": {"gate": gate, "metrics": {"sharpe_net": 0.5 + i}},
                         "ingest": {"data_provenance": {"fingerprint": "f", "first_date": "2000-01-03",
                                                        "last_date": "2018-12-31", "symbol": "SPY", "benchmark": "QQQ"}}})
        for i, s in enumerate((base, other))
    ]  # fmt: skip
    text = render_comparison(*(snapshot_from_run(r) for r in runs_))
    assert "configurations: 1 of " in text
    assert next(line for line in text.splitlines() if line.startswith("cost_bps")).split() == [
        "cost_bps",
        "1",
        "2",
        "yes",
    ]
    assert next(line for line in text.splitlines() if line.startswith("seed")).split() == [
        "seed",
        "42",
        "7",
        "yes",
    ]
    assert "psr_track" in text


def test_headline_metrics_are_evidence_fields() -> None:
    """The command line reads a registered version's metrics as a dict (importing the evaluation takes
    seconds); its keys must be names of the typed evidence, so a misspelt one fails here."""
    from dataclasses import fields

    from spylib.evaluation.evidence import Evidence

    names = {f.name for f in fields(Evidence)}
    assert {key for _, key in models.HEADLINE_METRICS} <= names
