"""`spy-flow runs` against a real (tiny) Metaflow run: its verdict and the command that saves its card."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
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
from metaflow import FlowSpec, step


class CliTinyFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.evaluate)

    @step
    def evaluate(self):
        self.gate = {"status": "Rejected", "checks": [{"name": "dsr", "passed": False},
                                                      {"name": "auc", "passed": True}]}
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
    assert lines[1].split() == ["run", "started", "state", "verdict", "failed", "checks"]
    run_id = lines[3].split()[0]
    assert lines[3].split()[-4:] == ["ok", "Rejected", "1:", "dsr"]
    assert lines[-1].startswith(f"  python cli_tiny_flow.py card get {run_id}/evaluate/")
    assert lines[-1].endswith(f" CliTinyFlow-{run_id}.html --id evaluation")
