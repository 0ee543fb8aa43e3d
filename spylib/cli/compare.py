"""``spy-flow compare A B``: two SpyFlow runs, or two registry versions, side by side.

First what differs in what went in (the data: source, fingerprint, span, symbols; the configurations
key by key; the code version, the seed and ``shuffle_labels``), then what came out (the gate's checks,
the track's figures, the baselines on the same days). A run is read with the Metaflow Client; a
version from the registry (its recorded provenance when present, else its metadata) and, when its run
is still in the Metaflow datastore, from that run too (the configurations and the baselines).
"""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from spylib.cli.models import add_registry_options, find_version, model_name, open_from_args, parse_version
from spylib.cli.runs import artifact, setting, source_kind
from spylib.cli.table import MISSING, format_value, render_table
from spylib.core.errors import ConfigError

VERSION_REF = re.compile(r"^(?:[A-Za-z0-9-]+/)?v\d+$")
# Settings that say where outputs go or how the work is spread, not what is computed.
NOT_CONFIG = ("output_dir", "lake_root", "glue_database", "registry_location", "sagemaker_image_uri",
              "configs_per_task", "resources", "schedule_cron", "seed", "shuffle_labels")  # fmt: skip
NOT_CONFIG_SECTIONS = ("outputs", "registry", "resources")
FIGURES = (
    ("track net Sharpe (annualized)", "sharpe_net"),
    ("buy-and-hold net Sharpe (annualized)", "buy_and_hold_sharpe_net"),
    ("difference p-value (one-sided)", "vs_buy_and_hold_p_value"),
    ("track net CAGR", "cagr_net"),
    ("track max drawdown", "max_drawdown_net"),
    ("AUC", "auc"),
    ("PSR", "psr"),
    ("DSR", "dsr"),
    ("PBO", "pbo"),
    ("trials", "n_trials"),
    ("track start", "track_start"),
    ("track end", "track_end"),
    ("cost (bp per side)", "cost_bps"),
)


@dataclass
class Snapshot:
    """What went into a run or a version, and what came out."""

    label: str
    data: dict[str, Any] = field(default_factory=dict)
    configs: dict[str, Any] = field(default_factory=dict)
    config_hashes: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    status: str = MISSING
    checks: dict[str, tuple[bool, Any]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; dataclasses as dicts; a list of model specs as their ids."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, Mapping) and "family" in v for v in value)
    ):
        value = [f"{v['family']}({','.join(f'{k}={p}' for k, p in sorted(v.get('params', {}).items()))})"
                 for v in value]  # fmt: skip
    return {prefix.rstrip("."): value}


def settings_configs(settings: Any) -> dict[str, Any]:
    """The run's settings that decide its results, flattened key by key."""
    raw = asdict(settings) if is_dataclass(settings) and not isinstance(settings, type) else {}
    return {
        key: value
        for key, value in flatten(raw).items()
        if key.split(".")[-1] not in NOT_CONFIG and key.split(".")[0] not in NOT_CONFIG_SECTIONS
    }


def gate_checks(gate: Any) -> tuple[str, dict[str, tuple[bool, Any]]]:
    """(status, {check: (passed, value)}) of a gate artifact (a dict, or a typed decision)."""
    if hasattr(gate, "to_dict"):
        gate = gate.to_dict()
    if not isinstance(gate, Mapping):
        return MISSING, {}
    checks = {str(c["name"]): (bool(c["passed"]), c.get("value")) for c in gate.get("checks") or []}
    return str(gate.get("status", MISSING)), checks


def reason_checks(reasons: Any) -> dict[str, tuple[bool, Any]]:
    """The gate's checks from the registry's reason lines ``"dsr FAILED: 0.645 (required >= 0.95)"``."""
    out = {}
    for line in reasons or []:
        match = re.match(r"^(\S+) (passed|FAILED): (\S+)", str(line))
        if match:
            value: Any = match[3]
            with contextlib.suppress(ValueError):
                value = float(value)
            out[match[1]] = (match[2] == "passed", value)
    return out


def snapshot_from_run(run: Any, label: str | None = None) -> Snapshot:
    """A SpyFlow run, from its artifacts."""
    snap = Snapshot(label or f"run {run.id}")
    settings = artifact(run, "start", "settings")
    provenance = artifact(run, "ingest", "data_provenance") or {}
    source = setting(settings, "data.source", "source")
    snap.data = {
        "source": source,
        "source kind": source_kind(source) if isinstance(source, str) else None,
        "fingerprint": provenance.get("fingerprint"),
        "span": f"{provenance['first_date']} .. {provenance['last_date']}"
        if "first_date" in provenance
        else None,
        "symbols": f"{provenance.get('symbol')}, {provenance.get('benchmark')}" if provenance else None,
    }
    if settings is not None:
        snap.configs = settings_configs(settings)
        snap.code = {
            "seed": setting(settings, "plan.seed", "seed"),
            "shuffle_labels": setting(settings, "plan.shuffle_labels", "shuffle_labels"),
        }
    snap.status, snap.checks = gate_checks(artifact(run, "evaluate", "gate"))
    metrics = artifact(run, "evaluate", "metrics")
    snap.metrics = dict(metrics) if isinstance(metrics, Mapping) else {}
    baselines = artifact(run, "evaluate", "baselines")
    if baselines is not None and "strategy" in getattr(baselines, "columns", ()):
        snap.baselines = dict(zip(baselines["strategy"], baselines["sharpe_net"], strict=True))
    registration = artifact(run, "register", "registration")
    if isinstance(registration, Mapping):
        snap.code["registered as"] = f"{registration.get('group')}/v{registration.get('version')}"
    return snap


def find_run(pathspec: str) -> Any:
    """The Metaflow run ``SpyFlow/ID`` (or ``ID``), in any namespace; None when it is not there."""
    from metaflow import Run, get_namespace, namespace
    from metaflow.exception import MetaflowNotFound

    before = get_namespace()
    namespace(None)
    try:
        return Run(pathspec if "/" in pathspec else f"SpyFlow/{pathspec}")
    except MetaflowNotFound:
        return None
    finally:
        namespace(before)


def snapshot_from_version(args: argparse.Namespace, ref: str) -> Snapshot:
    """A registry version: its provenance and metrics; its run's configurations when the run is here."""
    registry, location = open_from_args(args)
    group, version = parse_version(ref, args.group)
    registration = find_version(registry, location, group, version)
    metadata = registry.read_metadata(registration)
    pathspec = str(metadata.get("run_pathspec") or "")
    run = find_run(pathspec) if pathspec else None
    snap = snapshot_from_run(run) if run is not None else Snapshot("")
    snap.label = f"{model_name(registration)} ({registration.status})"
    if run is None:
        snap.notes.append(f"{snap.label}: its run {pathspec or MISSING} is not in this Metaflow datastore "
                          "(configurations and baselines unknown)")  # fmt: skip
    raw_provenance = metadata.get("provenance")
    provenance: Mapping[str, Any] = raw_provenance if isinstance(raw_provenance, Mapping) else {}
    if provenance:
        snap.data.update(
            {
                "source": provenance.get("source"),
                "source kind": provenance.get("source_kind"),
                "fingerprint": provenance.get("data_fingerprint"),
                "span": f"{provenance.get('first_date')} .. {provenance.get('last_date')}",
                "symbols": ", ".join(provenance.get("symbols") or []),
            }
        )
        snap.config_hashes = {k: provenance.get(k) for k in ("sweep_config_sha256", "gate_config_sha256")}
        snap.code.update({k: provenance.get(k) for k in ("seed", "shuffle_labels")})
    else:
        snap.data["fingerprint"] = snap.data.get("fingerprint") or metadata.get("data_fingerprint")
    snap.code["code version"] = provenance.get("code_version") or metadata.get("code_version")
    snap.code["run"] = pathspec or None
    if not snap.checks:
        snap.status, snap.checks = (
            str(metadata.get("requested_status", MISSING)),
            reason_checks(metadata.get("gate_reasons")),
        )
    if not snap.metrics:
        snap.metrics = dict(metadata.get("metrics") or {})
    return snap


def side_by_side(
    names: list[str], a: Mapping[str, Any], b: Mapping[str, Any], only_diff: bool = False
) -> str:
    """``item  A  B  differs`` rows for ``names``."""
    rows = []
    for name in names:
        left, right = format_value(a.get(name)), format_value(b.get(name))
        if only_diff and left == right:
            continue
        rows.append([name, left, right, "yes" if left != right else "no"])
    return render_table(["", "A", "B", "differs"], rows) if rows else "  (no difference)"


def render_comparison(a: Snapshot, b: Snapshot) -> str:
    """The comparison, inputs first, then results."""
    lines = [f"A = {a.label}", f"B = {b.label}", *a.notes, *b.notes, "", "data"]
    lines.append(side_by_side(["source", "source kind", "fingerprint", "span", "symbols"], a.data, b.data))
    keys = sorted(set(a.configs) | set(b.configs))
    if keys:
        differing = [k for k in keys if format_value(a.configs.get(k)) != format_value(b.configs.get(k))]
        lines += ["", f"configurations: {len(differing)} of {len(keys)} keys differ"]
        if differing:
            lines.append(side_by_side(differing, a.configs, b.configs))
    if a.config_hashes or b.config_hashes:
        lines += ["", "configuration hashes (sha256)"]
        lines.append(
            side_by_side(
                sorted(set(a.config_hashes) | set(b.config_hashes)), a.config_hashes, b.config_hashes
            )
        )
    lines += ["", "code and seed"]
    lines.append(
        side_by_side(["code version", "seed", "shuffle_labels", "run", "registered as"], a.code, b.code)
    )
    lines += ["", f"gate: A {a.status}, B {b.status}"]
    names = list(dict.fromkeys([*a.checks, *b.checks]))
    rows = []
    for name in names:
        cells = []
        for snap in (a, b):
            passed, value = snap.checks.get(name, (None, None))
            cells += [value, MISSING if passed is None else ("pass" if passed else "FAIL")]
        rows.append([name, *cells])
    if rows:
        lines.append(render_table(["check", "A value", "A", "B value", "B"], rows))
    lines += ["", "results (the walk-forward track; Sharpe ratios annualized, net of costs)"]
    figures_a, figures_b = ({label: s.metrics.get(key) for label, key in FIGURES} for s in (a, b))
    lines.append(side_by_side([label for label, _ in FIGURES], figures_a, figures_b))
    strategies = list(dict.fromkeys([*a.baselines, *b.baselines]))
    if strategies:
        lines += ["", "baselines on the same days: net Sharpe (annualized)"]
        lines.append(side_by_side(strategies, a.baselines, b.baselines))
    return "\n".join(lines)


def is_version_ref(text: str) -> bool:
    """``v3`` or ``spy-direction/v3`` is a registry version; anything else a run."""
    return bool(VERSION_REF.match(text.strip()))


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two runs or two versions (or one of each)."""
    from spylib.core.runtime import ensure_metaflow_user

    ensure_metaflow_user()  # before metaflow is imported: it refuses the user root
    snaps = []
    for ref in (args.a, args.b):
        if is_version_ref(ref):
            snaps.append(snapshot_from_version(args, ref))
            continue
        run = find_run(ref)
        if run is None:
            raise ConfigError(
                f"no run {ref} in this Metaflow datastore (`spy-flow runs --all-users` lists them; a registry "
                "version is written v3)",
                source="spy-flow compare",
                key="RUN",
            )
        snaps.append(snapshot_from_run(run))
    print(render_comparison(*snaps))
    return 0


def add_parsers(commands: Any) -> None:
    """The ``compare`` subcommand, on the ``add_subparsers`` object of the main parser."""
    compare = commands.add_parser(
        "compare",
        help="two runs or two registry versions side by side",
        description="What differs between two SpyFlow runs (a run id, or SpyFlow/ID) or two registry "
        "versions (v3, spy-direction/v3): the data (source, fingerprint, span), the configurations key by "
        "key, the code version and the seed; then the gate's checks, the track's figures and the baselines.",
    )
    compare.add_argument("a", metavar="A", help="a run id (SpyFlow/ID) or a version (v3)")
    compare.add_argument("b", metavar="B", help="the other run or version")
    add_registry_options(compare)
    compare.set_defaults(handler=cmd_compare)
