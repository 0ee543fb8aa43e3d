"""The Docker proof from the tests: its package ``docker/proof/`` imported by file location (for the
unit tier's checks of its helpers), and the script ``docker/batch_proof.py`` run from the docker tier
(its exit status, its log and its ``report.json``; a skip, with the script's reason, where no Docker
engine can start)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers.paths import REPO

SCRIPT = REPO / "docker" / "batch_proof.py"
WORKDIR = REPO / "docker" / ".work" / "proof"
SKIPPED = 77  # the proof's exit status when this machine cannot start a Docker engine
PACKAGE_DIR = REPO / "docker" / "proof"
# A name no installed distribution uses: neither ``docker`` (the SDK moto imports) nor ``proof``.
PACKAGE_NAME = "spyflow_docker_proof"


def import_proof(module: str) -> ModuleType:
    """``docker/proof/{module}.py``, imported from the package's file location: nothing goes on
    ``sys.path`` (docker/ is not a package, and must not shadow the ``docker`` SDK)."""
    if PACKAGE_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            PACKAGE_NAME, PACKAGE_DIR / "__init__.py", submodule_search_locations=[str(PACKAGE_DIR)]
        )
        assert spec is not None
        assert spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE_NAME] = package  # before running it: its modules import each other through it
        spec.loader.exec_module(package)
    return importlib.import_module(f"{PACKAGE_NAME}.{module}")


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
