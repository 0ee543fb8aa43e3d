"""``spy-flow runs``: a flow's latest runs, each with its real state, what it ran on and its verdict.

Read with the Metaflow Client (the datastore and metadata Metaflow is configured with, in its default
namespace ``user:<you>`` unless ``--all-users``). A run's state comes from its tasks: ``succeeded``
(the end step succeeded), ``failed at STEP: reason`` (a task recorded an exception), ``running at
STEP`` (a process on this machine still runs it) or ``interrupted at STEP`` (none does: Ctrl-C, a
killed machine). A resumed run names its origin (the ``origin-run-id`` metadata Metaflow records on
every task of a resume).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from spylib.cli.table import MISSING, format_time, render_table
from spylib.core.errors import ConfigError

REASON_WIDTH = 70


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


# ---- the state of a run ------------------------------------------------------------------------------
def exception_line(exc: Any) -> str:
    """The one-line reason of a task's recorded exception (a ``MetaflowExceptionWrapper``)."""
    text = str(getattr(exc, "exception", "") or "").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    kind = str(getattr(exc, "type", "") or type(exc).__name__).rsplit(".", 1)[-1]
    reason = lines[-1] if lines else kind
    return reason if len(reason) <= REASON_WIDTH else reason[: REASON_WIDTH - 3] + "..."


def process_runs_it(run_id: str, proc: Path = Path("/proc")) -> bool:
    """Whether a process on this machine has ``--run-id RUN_ID`` on its command line (Metaflow starts
    every task of a local run that way, and the runtime of a resume too)."""
    needle = f"--run-id\0{run_id}\0".encode()
    try:
        entries = list(proc.iterdir())
    except OSError:
        return False
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline + b"\0":
            return True
    return False


def origin_run(run: Any) -> str | None:
    """The run this one was resumed from (Metaflow records ``origin-run-id`` on every task; ``None``
    as a string when the run is not a resume)."""
    try:
        task = run["start"].task
    except KeyError:
        return None
    if task is None:
        return None
    values = [m.value for m in task.metadata if m.name == "origin-run-id"]
    origin = values[0] if values else None
    return origin if origin and origin != "None" else None


def run_state(run: Any, *, live: bool | None = None) -> str:
    """``succeeded``, ``failed at STEP: reason``, ``running at STEP`` or ``interrupted at STEP``.

    ``live`` says whether a process still runs it (default: look in /proc)."""
    if run.successful:
        return "succeeded"
    unfinished: list[str] = []
    for step in run:
        for task in step:
            exc = task.exception
            if exc is not None:
                return f"failed at {step.id}: {exception_line(exc)}"
            if not task.finished:
                unfinished.append(step.id)
    where = unfinished[0] if unfinished else "end"
    running = process_runs_it(str(run.id)) if live is None else live
    return f"{'running' if running else 'interrupted'} at {where}"


# ---- what a run ran on -------------------------------------------------------------------------------
def source_kind(source: str) -> str:
    """The kind of a ``--source`` value (as the registry's provenance records it)."""
    if source == "embedded":
        return "embedded"
    if source.startswith("synthetic:"):
        return "synthetic"
    if source == "live":
        return "live"
    return "s3" if source.startswith("s3://") else "file"


def config_sha256(config: Any) -> str:
    """sha256 of a configuration's canonical JSON (sorted keys; the registry's provenance uses the same)."""
    document = asdict(config) if is_dataclass(config) and not isinstance(config, type) else config
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def default_sweep_sha256() -> str | None:
    """The hash of ``flows/config/sweep.json`` as SpyFlow parses it, when the file is here."""
    from spylib.core.config import parse_sweep

    path = Path("flows/config/sweep.json")
    if not path.is_file():
        return None
    try:
        return config_sha256(parse_sweep(json.loads(path.read_text())))
    except (ValueError, ConfigError):
        return None


def sweep_name(sweep: Any, default_hash: str | None) -> str:
    """``default`` for the repository's sweep.json, else ``custom <hash>`` with its size."""
    digest = config_sha256(sweep)
    if digest == default_hash:
        return "default"
    n_configs = len(getattr(sweep, "models", ()) or ())
    return f"custom {digest[:8]} ({n_configs} configs)" if n_configs else f"custom {digest[:8]}"


def setting(settings: Any, *paths: str) -> Any:
    """The first of ``paths`` (dotted attribute names) that ``settings`` has: the settings come in
    sections (``plan.sweep``) since they were re-cut; older runs hold them flat (``sweep``)."""
    for path in paths:
        value = settings
        for name in path.split("."):
            value = getattr(value, name, None)
        if value is not None:
            return value
    return None


def artifact(run: Any, step: str, name: str) -> Any:
    """``run[step].task[name].data``, or None when the step, its task or the artifact is missing (or
    cannot be loaded)."""
    try:
        task = run[step].task
        if task is None or name not in task:
            return None
        return task[name].data
    except Exception:  # an unpicklable or missing artifact is shown as missing, not a crash
        return None


def has_card(task: Any, card_id: str) -> bool:
    """Whether the task has a card with this id (``card get`` fails without one)."""
    from metaflow.cards import get_cards

    try:
        if len(get_cards(task, id=card_id)) > 0:
            return True
    except Exception:  # no card store yet, or the card was never written
        pass
    # The card client misses the cards of a local datastore moved by METAFLOW_DATASTORE_SYSROOT_LOCAL
    # (`card get` finds them): look for the file where a local run writes it.
    flow, run_id, step, task_id = str(task.pathspec).split("/")
    pattern = f"{flow}/runs/{run_id}/steps/{step}/tasks/{task_id}/cards/*-{card_id}-*.html"
    return any(any(root.glob(pattern)) for root in local_card_roots())


def local_card_roots(cwd: Path | None = None) -> list[Path]:
    """Where local runs write cards: $METAFLOW_CARD_LOCALROOT, the datastore root's ``.metaflow``, and
    the ``.metaflow/mf.cards`` of the working directory or its nearest parent that has one."""
    roots = [Path(v) for v in (os.environ.get("METAFLOW_CARD_LOCALROOT"),) if v]
    sysroot = os.environ.get("METAFLOW_DATASTORE_SYSROOT_LOCAL")
    if sysroot:
        roots += [Path(sysroot) / ".metaflow", Path(sysroot) / ".metaflow" / "mf.cards"]
    here = (cwd or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / ".metaflow").is_dir():
            roots.append(directory / ".metaflow" / "mf.cards")
            break
    return [r for r in roots if r.is_dir()]


@dataclass(frozen=True)
class RunRow:
    """One line of ``spy-flow runs``."""

    run_id: str
    started: str
    state: str
    source: str
    sweep: str
    verdict: str
    failed_checks: str
    sharpe_net: float | None
    resumed_from: str | None
    card_pathspec: str | None


def run_row(run: Any, spec: FlowCard | None, default_hash: str | None) -> RunRow:
    """What ``spy-flow runs`` shows of one run."""
    settings = artifact(run, "start", "settings")
    source = setting(settings, "data.source", "source")
    sweep = setting(settings, "plan.sweep", "sweep")
    verdict, failed = verdict_cells(artifact(run, spec.step, spec.verdict) if spec else None)
    metrics = artifact(run, "evaluate", "metrics") if spec and spec.step == "evaluate" else None
    sharpe = metrics.get("sharpe_net") if isinstance(metrics, Mapping) else None
    card = None
    if spec is not None:
        try:
            task = run[spec.step].task
        except KeyError:
            task = None
        if task is not None and has_card(task, spec.card_id):
            card = f"{run.id}/{spec.step}/{task.id}"
    return RunRow(
        run_id=str(run.id),
        started=format_time(run.created_at),
        state=run_state(run),
        source=source_kind(source) if isinstance(source, str) else MISSING,
        sweep=sweep_name(sweep, default_hash) if sweep is not None else MISSING,
        verdict=verdict,
        failed_checks=failed,
        sharpe_net=float(sharpe) if isinstance(sharpe, int | float) else None,
        resumed_from=origin_run(run),
        card_pathspec=card,
    )


def render_runs(flow: str, rows: Iterable[RunRow], spec: FlowCard | None) -> str:
    """The table, then a card command for each run whose card exists."""
    rows = list(rows)
    table = render_table(
        ["run", "started", "state", "source", "sweep", "verdict", "failed checks", "net Sharpe (ann.)",
         "resumed from"],
        [[r.run_id, r.started, r.state, r.source, r.sweep, r.verdict, r.failed_checks, r.sharpe_net,
          r.resumed_from] for r in rows],
    )  # fmt: skip
    lines = [table]
    with_card = [r for r in rows if r.card_pathspec]
    if spec is not None and with_card:
        lines.append(
            "\ncards: save one, then open the file (or serve them all: "
            f"`python {spec.flow_file} card server`, then open http://localhost:8324):"
        )
        lines += [
            f"  python {spec.flow_file} card get {r.card_pathspec} {flow}-{r.run_id}.html --id {spec.card_id}"
            for r in with_card
        ]
    if spec is not None and len(with_card) < len(rows):
        lines.append(f"(no card for the other runs: their {spec.step} step did not finish)")
    return "\n".join(lines)


def cmd_runs(args: argparse.Namespace) -> int:
    """The ``-n`` latest runs of ``--flow``: state, source, sweep, verdict, then the card commands."""
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
        raise ConfigError(
            f"no runs of {args.flow} found ({scope}); start one with `python flows/spy_flow.py run` "
            "or list every user's runs with `spy-flow runs --all-users`",
            source="spy-flow runs",
            key="--flow",
        )
    spec = FLOW_CARDS.get(args.flow)
    default_hash = default_sweep_sha256() if args.flow == "SpyFlow" else None
    rows = [run_row(run, spec, default_hash) for run in itertools.islice(runs, args.n)]
    print(f"{args.flow}: the {len(rows)} latest of {len(runs)} runs ({scope})")
    print(render_runs(args.flow, rows, spec))
    return 0


def add_parsers(commands: Any) -> None:
    """The ``runs`` subcommand, on the ``add_subparsers`` object of the main parser."""
    runs = commands.add_parser(
        "runs",
        help="a flow's latest runs: state, source, sweep, verdict, cards",
        description="The latest runs of a flow (Metaflow Client): the real state (succeeded; failed at "
        "a step, with the reason; running; interrupted; resumed from another run), the data source's "
        "kind, the sweep, the gate's verdict and failed checks (SpyFlow) or the monitoring status "
        "(PredictFlow), the track's annualized net Sharpe ratio, and the command that saves each card.",
    )
    runs.add_argument("--flow", default="SpyFlow", help="flow name (default SpyFlow; or PredictFlow)")
    runs.add_argument("-n", type=int, default=5, help="how many runs (default 5)")
    runs.add_argument(
        "--all-users", action="store_true", help="every user's runs (default: your Metaflow namespace)"
    )
    runs.set_defaults(handler=cmd_runs)
