"""Running the Docker proof (``docker/batch_proof.py``) from the docker tier: the script's exit status,
its log and its ``report.json``; a skip, with the script's reason, where no Docker engine can start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.paths import REPO

SCRIPT = REPO / "docker" / "batch_proof.py"
WORKDIR = REPO / "docker" / ".work" / "proof"
SKIPPED = 77  # the proof's exit status when this machine cannot start a Docker engine


def run_proof(log: Path, *args: str) -> dict[str, Any]:
    """Run the proof with ``args``; its report (status ``proved`` asserted) once it succeeded."""
    with log.open("wb") as handle:
        result = subprocess.run(
            [sys.executable, str(SCRIPT), *args, "--workdir", str(WORKDIR)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    output = log.read_text(errors="replace")
    if result.returncode == SKIPPED:
        pytest.skip(output.strip().splitlines()[-1])
    assert result.returncode == 0, output[-6000:]
    report: dict[str, Any] = json.loads((WORKDIR / "report.json").read_text())
    assert report["status"] == "proved"
    return report


def checks_held(report: dict[str, Any]) -> set[str]:
    return {c["check"] for c in report["checks"] if c["ok"]}
