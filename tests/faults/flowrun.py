"""Running SpyFlow from the hardening tests: a Runner wrapper, the fault-injection environment, and the
two identical runs shared by the determinism and security tests (made once per session)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import FLOW_FILE, RUNNER_CWD, SMALL_SWEEP, flow_env, output_params
from metaflow import Runner

SITE_DIR = Path(__file__).resolve().parent / "site"

# Fake credentials: the security test scans every stored byte of a run for these values.
FAKE_SECRETS: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEKEYdoNotLeak9",
    "AWS_SECRET_ACCESS_KEY": "FAKESECRETdoNotLeak123",
    "AWS_SESSION_TOKEN": "FAKESESSIONTOKENdoNotLeak456",
    "GITHUB_TOKEN": "ghp_FAKEGITHUBTOKENdoNotLeak789",
}


@dataclass(frozen=True)
class FlowResult:
    """What a Runner call left: its status, the Client ``Run`` and the console output (read before the
    Runner's context closes, which deletes its log files)."""

    status: str
    run: Any
    stdout: str
    stderr: str


def finished(result: Any) -> FlowResult:
    return FlowResult(result.status, result.run, result.stdout, result.stderr)


def run_flow(
    tmp: Path,
    env: dict[str, str] | None = None,
    sweep: Path = SMALL_SWEEP,
    max_workers: int = 2,
    **params: Any,
) -> FlowResult:
    """One ``run`` of SpyFlow with every output under ``tmp``."""
    with Runner(
        str(FLOW_FILE),
        show_output=False,
        env=env or flow_env(),
        cwd=RUNNER_CWD,
        pylint=False,
        config=[("sweep", str(sweep))],
    ) as runner:
        return finished(runner.run(max_workers=max_workers, **{**output_params(tmp), **params}))


def resume_flow(origin_run_id: str, env: dict[str, str] | None = None, max_workers: int = 2) -> FlowResult:
    """``resume --origin-run-id``: re-uses the origin run's parameters and configs."""
    with Runner(
        str(FLOW_FILE), show_output=False, env=env or flow_env(), cwd=RUNNER_CWD, pylint=False
    ) as runner:
        return finished(runner.resume(origin_run_id=origin_run_id, max_workers=max_workers))


def fault_env(
    marker: Path, target: str, *, match: str = "", action: str = "raise", **extra: str
) -> dict[str, str]:
    """Environment that arms ``tests/faults/site/sitecustomize.py`` in every flow subprocess."""
    path = os.pathsep.join(p for p in (str(SITE_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return flow_env(
        PYTHONPATH=path,
        SPYFLOW_FAULT_TARGET=target,
        SPYFLOW_FAULT_MARKER=str(marker),
        SPYFLOW_FAULT_MATCH=match,
        SPYFLOW_FAULT_ACTION=action,
        **extra,
    )


@dataclass(frozen=True)
class TwinRuns:
    """Two runs with the same data, config and seed; the first had the fake credentials set."""

    first: Any  # metaflow Run
    second: Any
    first_dir: Path
    second_dir: Path


_twins: TwinRuns | None = None


def twin_runs() -> TwinRuns:
    """Run the flow twice (made on first use, then shared by the tests of this session)."""
    global _twins
    if _twins is None:
        root = Path(tempfile.mkdtemp(prefix="spyflow-twins-"))
        results = []
        for name, env in (("first", flow_env(**FAKE_SECRETS)), ("second", flow_env())):
            result = run_flow(root / name, env=env)
            assert result.status == "successful", result.stderr
            results.append(result.run)
        _twins = TwinRuns(results[0], results[1], root / "first", root / "second")
    return _twins
