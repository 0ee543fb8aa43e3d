"""Running SpyFlow through ``metaflow.Runner``: one run, a resume, the fault-injection environment, and
the two identical runs the determinism and security tests share (made once per session by the
``twin_runs`` fixture of ``tests/flow/conftest.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metaflow import Run, Runner, Task
from metaflow.client.core import MetaflowData
from metaflow.runner.metaflow_runner import ExecutingRun

from tests.helpers.metaflow_env import flow_env, output_params, pythonpath, session_root
from tests.helpers.paths import FAULT_SITE, FLOW_FILE, SMALL_SWEEP

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
    run: Run
    stdout: str
    stderr: str


def finished(result: ExecutingRun) -> FlowResult:
    """The parts of an ``ExecutingRun`` the tests read, kept past the Runner's context."""
    return FlowResult(result.status, result.run, result.stdout, result.stderr)


def runner_cwd() -> str:
    """Flows run from the session root, so nothing they write lands in the repository."""
    return str(session_root())


def run_flow(
    tmp: Path,
    env: dict[str, str] | None = None,
    sweep: Path | None = SMALL_SWEEP,
    max_workers: int = 2,
    flow_file: Path = FLOW_FILE,
    **params: Any,
) -> FlowResult:
    """One ``run`` of ``flow_file`` (SpyFlow by default, with the small sweep; ``sweep=None`` for a flow
    without that Config) with every output under ``tmp``."""
    # Metaflow refuses a `config` option for a flow that declares no Config.
    configs: dict[str, Any] = {} if sweep is None else {"config": [("sweep", str(sweep))]}
    with Runner(
        str(flow_file), show_output=False, env=env or flow_env(), cwd=runner_cwd(), pylint=False, **configs
    ) as runner:
        return finished(runner.run(max_workers=max_workers, **{**output_params(tmp), **params}))


def resume_flow(origin_run_id: str, env: dict[str, str] | None = None, max_workers: int = 2) -> FlowResult:
    """``resume --origin-run-id``: re-uses the origin run's parameters and configs."""
    with Runner(
        str(FLOW_FILE), show_output=False, env=env or flow_env(), cwd=runner_cwd(), pylint=False
    ) as runner:
        return finished(runner.resume(origin_run_id=origin_run_id, max_workers=max_workers))


def task_of(run: Run, step: str) -> Task:
    """The task of a step that has one (the Client types ``Step.task`` as optional)."""
    task = run[step].task
    assert task is not None, f"{run.pathspec}: step {step!r} has no task"
    return task


def data_of(run: Run) -> MetaflowData:
    """The artifacts of the run's ``end`` task (the Client types ``Run.data`` as optional)."""
    data = run.data
    assert data is not None, f"{run.pathspec} has no end task"
    return data


def fault_env(
    marker: Path, target: str, *, match: str = "", action: str = "raise", **extra: str
) -> dict[str, str]:
    """Environment that arms ``tests/helpers/faultsite/sitecustomize.py`` in every flow subprocess."""
    return flow_env(
        PYTHONPATH=pythonpath(FAULT_SITE),
        SPYFLOW_FAULT_TARGET=target,
        SPYFLOW_FAULT_MARKER=str(marker),
        SPYFLOW_FAULT_MATCH=match,
        SPYFLOW_FAULT_ACTION=action,
        **extra,
    )


@dataclass(frozen=True)
class TwinRuns:
    """Two runs with the same data, config and seed; the first had the fake credentials set."""

    first: Run
    second: Run
    first_dir: Path
    second_dir: Path


def make_twin_runs(root: Path) -> TwinRuns:
    """Run the flow twice, outputs under ``root/first`` and ``root/second``."""
    runs = []
    for name, env in (("first", flow_env(**FAKE_SECRETS)), ("second", flow_env())):
        result = run_flow(root / name, env=env)
        assert result.status == "successful", result.stderr
        runs.append(result.run)
    return TwinRuns(runs[0], runs[1], root / "first", root / "second")
