"""``spy-flow runs``: a flow's latest runs with their verdict and the commands to open their cards.

Read with the Metaflow Client (the datastore and metadata Metaflow is configured with, in its default
namespace ``user:<you>`` unless ``--all-users``).
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spylib.cli.table import MISSING, format_time, render_table
from spylib.core.errors import ConfigError


@dataclass(frozen=True)
class FlowCard:
    """Where a flow keeps its verdict and its card."""

    flow_file: str  # relative to the repository root, where the commands are run
    step: str  # the step holding the card and the verdict artifact
    card_id: str
    verdict: str  # the artifact: a gate dict ({"status", "checks"}) or a status string


FLOW_CARDS: dict[str, FlowCard] = {
    "SpyFlow": FlowCard("flows/spy_flow.py", "evaluate", "evaluation", "gate"),
    "PredictFlow": FlowCard("flows/predict_flow.py", "monitor", "monitoring", "monitoring_status"),
}


def verdict_cells(value: Any) -> tuple[str, str]:
    """(verdict, failed checks) of a verdict artifact: a gate dict gives its status and the names of
    its failed checks (``"2: dsr, pbo"``); a string is the verdict itself."""
    if isinstance(value, Mapping):
        failed = [str(c.get("name")) for c in value.get("checks") or [] if not c.get("passed")]
        return str(value.get("status", MISSING)), f"{len(failed)}: {', '.join(failed)}" if failed else "0"
    if value is None:
        return MISSING, MISSING
    return str(value), MISSING


def run_state(run: Any) -> str:
    """``ok``, ``failed`` (the end step ran but the run is not successful) or ``unfinished``."""
    if run.successful:
        return "ok"
    return "failed" if run.finished else "unfinished"


def card_task(run: Any, spec: FlowCard | None) -> Any:
    """The task of ``spec.step`` in ``run``, or None (unknown flow, or the step never ran)."""
    if spec is None:
        return None
    try:
        return run[spec.step].task
    except KeyError:
        return None


def cmd_runs(args: argparse.Namespace) -> int:
    """The ``-n`` latest runs of ``--flow``: state, verdict, failed checks, then the card commands."""
    from spylib.core.runtime import ensure_metaflow_user

    if args.n < 1:
        raise ConfigError(f"must be at least 1, got {args.n}", source="spy-flow runs", key="-n")
    ensure_metaflow_user()  # before metaflow is imported: it refuses the user root
    from metaflow import Flow, get_namespace, namespace
    from metaflow.exception import MetaflowNotFound

    if args.all_users:
        namespace(None)
    scope = f"namespace {get_namespace() or 'all users'}"
    try:
        runs = sorted(Flow(args.flow).runs(), key=lambda r: r.created_at, reverse=True)
    except MetaflowNotFound:
        runs = []
    if not runs:
        print(f"no runs of {args.flow} found ({scope})")
        return 0
    spec = FLOW_CARDS.get(args.flow)
    rows, commands = [], []
    for run in itertools.islice(runs, args.n):
        task = card_task(run, spec)
        value = (
            task[spec.verdict].data
            if spec is not None and task is not None and spec.verdict in task
            else None
        )
        verdict, failed = verdict_cells(value)
        rows.append([run.id, format_time(run.created_at), run_state(run), verdict, failed])
        if spec is not None and task is not None:
            pathspec = f"{run.id}/{spec.step}/{task.id}"
            commands.append(
                f"  python {spec.flow_file} card get {pathspec} {args.flow}-{run.id}.html --id {spec.card_id}"
            )
    print(f"{args.flow}: the {len(rows)} latest of {len(runs)} runs ({scope})")
    print(render_table(["run", "started", "state", "verdict", "failed checks"], rows))
    if spec is not None and commands:
        print(
            "\ncards: save one, then open the file (or `card view RUN/STEP/TASK --id "
            f"{spec.card_id}` to open it in a browser):"
        )
        print("\n".join(commands))
    return 0


def add_parsers(commands: Any) -> None:
    """The ``runs`` subcommand, on the ``add_subparsers`` object of the main parser."""
    runs = commands.add_parser(
        "runs",
        help="a flow's latest runs, their verdict and their cards",
        description="The latest runs of a flow (Metaflow Client): state, the gate's verdict and failed "
        "checks (SpyFlow) or the monitoring status (PredictFlow), and the command that saves each card.",
    )
    runs.add_argument("--flow", default="SpyFlow", help="flow name (default SpyFlow; or PredictFlow)")
    runs.add_argument("-n", type=int, default=5, help="how many runs (default 5)")
    runs.add_argument(
        "--all-users", action="store_true", help="every user's runs (default: your Metaflow namespace)"
    )
    runs.set_defaults(handler=cmd_runs)
