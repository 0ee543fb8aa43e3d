"""`spy-flow runs` and `spy-flow compare` against real (tiny) Metaflow runs: the verdict and the card
command of a succeeded run; the state of a failed, a running, an interrupted and a resumed one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from spylib.cli import main, runs
from tests.helpers.metaflow_env import flow_env, session_root


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``spy-flow ARGS`` in-process: (exit status, stdout, stderr)."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


TINY_FLOW = """
import os
import time

from metaflow import FlowSpec, card, step


class CliTinyFlow(FlowSpec):
    @step
    def start(self):
        if os.environ.get("TINY_MODE") == "sleep":
            time.sleep(120)
        self.next(self.evaluate)

    @card(type="blank", id="evaluation")
    @step
    def evaluate(self):
        if os.environ.get("TINY_MODE") == "fail":
            raise ValueError("bad date 31/12/2018 in column date")
        self.gate = {"status": "Rejected", "checks": [{"name": "dsr", "passed": False},
                                                      {"name": "auc", "passed": True}]}
        self.metrics = {"sharpe_net": 0.41, "buy_and_hold_sharpe_net": 0.55, "auc": 0.51}
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CliTinyFlow()
"""


def test_runs_shows_the_verdict_and_the_card_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow_file = tmp_path / "cli_tiny_flow.py"
    flow_file.write_text(textwrap.dedent(TINY_FLOW))
    subprocess.run(
        [sys.executable, str(flow_file), "--quiet", "run"],
        env={**os.environ, **flow_env()},
        cwd=session_root(),
        check=True,
        capture_output=True,
        timeout=120,
    )
    monkeypatch.setitem(
        runs.FLOW_CARDS, "CliTinyFlow", runs.FlowCard("cli_tiny_flow.py", "evaluate", "evaluation", "gate")
    )
    status, out, err = cli(capsys, "runs", "--flow", "CliTinyFlow", "-n", "1")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("CliTinyFlow: the 1 latest of ")
    assert lines[1].split()[:6] == ["run", "started", "state", "source", "sweep", "verdict"]
    run_id = lines[3].split()[0]
    assert lines[3].split()[3:] == ["succeeded", "–", "–", "Rejected", "1:", "dsr", "0.41", "–"]
    assert lines[-1].startswith(f"  python cli_tiny_flow.py card get {run_id}/evaluate/")
    assert lines[-1].endswith(f" CliTinyFlow-{run_id}.html --id evaluation")


def test_the_end_summary_client_line_works_as_printed_for_anyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metaflow refuses root and looks only in the reader's namespace: the printed line handles both."""
    from spylib.stages.training.summary import client_one_liner

    flow_file = tmp_path / "cli_tiny_flow.py"
    flow_file.write_text(textwrap.dedent(TINY_FLOW))
    env = {**os.environ, **flow_env()}
    subprocess.run([sys.executable, str(flow_file), "--quiet", "run"], env=env, cwd=session_root(), check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    run_id = max(run_ids(), key=int)
    # the line is read by another user than the one who ran the flow: another namespace
    monkeypatch.setenv("METAFLOW_USER", "another-reader")
    line = client_one_liner("CliTinyFlow", run_id, "gate")
    assert "METAFLOW_USER=another-reader " in line
    reader = {k: v for k, v in env.items() if k not in ("METAFLOW_USER", "USER", "USERNAME", "LOGNAME")}
    reader["USER"] = "root"  # as root, with another user's runs: the line must still work
    done = subprocess.run(
        ["bash", "-c", line], env=reader, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "'status': 'Rejected'" in done.stdout


def start_tiny(flow_file: Path, mode: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(flow_file), "--quiet", *(args or ("run",))],
        env={**os.environ, **flow_env(TINY_MODE=mode)},
        cwd=session_root(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: Ctrl-C reaches the runtime and its tasks
    )


def latest_run_id(after: set[str]) -> str:
    """The id of a CliTinyFlow run not in ``after``, once its start task exists."""
    from metaflow import Flow, namespace

    namespace(None)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for run in Flow("CliTinyFlow").runs():
            if run.id not in after and any(True for _ in run):
                return str(run.id)
        time.sleep(1)
    raise AssertionError("the run never started")


def row_of(out: str, run_id: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(run_id))


def run_ids() -> set[str]:
    from metaflow import Flow, namespace
    from metaflow.exception import MetaflowNotFound

    namespace(None)
    try:
        return {str(r.id) for r in Flow("CliTinyFlow").runs()}
    except MetaflowNotFound:
        return set()


def test_runs_tells_failed_running_interrupted_and_resumed_apart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow_file = tmp_path / "cli_tiny_flow.py"
    flow_file.write_text(textwrap.dedent(TINY_FLOW))
    monkeypatch.setitem(
        runs.FLOW_CARDS, "CliTinyFlow", runs.FlowCard("cli_tiny_flow.py", "evaluate", "evaluation", "gate")
    )
    # failed: the step and the one-line reason
    before = run_ids()
    assert start_tiny(flow_file, "fail").wait(timeout=180) != 0
    failed = latest_run_id(before)
    # resumed: a new run that names the failed one as its origin
    before = run_ids()
    assert start_tiny(flow_file, "ok", "resume", "--origin-run-id", failed).wait(timeout=180) == 0
    resumed = latest_run_id(before)
    # running, then interrupted (Ctrl-C)
    before = run_ids()
    sleeper = start_tiny(flow_file, "sleep")
    try:
        running = latest_run_id(before)
        status, out, _ = cli(capsys, "runs", "--flow", "CliTinyFlow", "-n", "10", "--all-users")
        assert status == 0
        assert "running at start" in row_of(out, running)
        os.killpg(sleeper.pid, signal.SIGINT)
        sleeper.wait(timeout=60)
    finally:
        if sleeper.poll() is None:
            os.killpg(sleeper.pid, signal.SIGKILL)
    status, out, err = cli(capsys, "runs", "--flow", "CliTinyFlow", "-n", "10", "--all-users")
    assert (status, err) == (0, "")
    assert "failed at evaluate: bad date 31/12/2018 in column date" in row_of(out, failed)
    assert "interrupted at start" in row_of(out, running)
    assert row_of(out, resumed).split()[3] == "succeeded"
    assert row_of(out, resumed).rstrip().endswith(failed)  # the "resumed from" column
    cards = [line for line in out.splitlines() if "card get" in line]
    assert any(f" {resumed}/evaluate/" in line for line in cards)
    assert not any(f" {running}/" in line for line in cards)  # no card: it never reached evaluate
    # compare: the two runs side by side
    status, out, err = cli(capsys, "compare", f"CliTinyFlow/{resumed}", f"CliTinyFlow/{failed}")
    assert (status, err) == (0, "")
    assert out.splitlines()[:2] == [f"A = run {resumed}", f"B = run {failed}"]
    assert "track net Sharpe (annualized)" in out
