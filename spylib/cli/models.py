"""``spy-flow versions | show | approve | reject | latest``: the model registry, through the protocol only.

Every command opens the registry with :func:`spylib.registry.open_registry` and uses the
:class:`~spylib.registry.ModelRegistry` methods, so the same words work for the local directory and
the SageMaker Model Registry. The defaults follow PredictFlow's (:mod:`spylib.core.outputs`):
``$SPYFLOW_REGISTRY``, ``$SPYFLOW_REGISTRY_LOCATION`` and ``$SPYFLOW_LAKE_ROOT``, else the defaults.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spylib.cli.table import MISSING, format_time, format_value, render_pairs, render_table
from spylib.core.errors import ConfigError
from spylib.core.outputs import DEFAULT_MODEL_GROUP, LAKE_ENV, LOCATION_ENV, REGISTRY_ENV, env_or

if TYPE_CHECKING:
    from spylib.registry import ApprovalStatus, ModelRegistry, Registration

# The headline metrics of a registered SpyFlow run: fields of spylib.evaluation.evidence.Evidence, read
# from the registered dict by name (importing the evaluation takes seconds; a unit test checks the names).
HEADLINE_METRICS = (
    ("net Sharpe", "sharpe_net"),
    ("B&H Sharpe", "buy_and_hold_sharpe_net"),
    ("AUC", "auc"),
)
# A gate reason reads "<check> FAILED: <value> (required ...)" (spylib.evaluation.gate.GateCheck.reason).
FAILED_MARK = " FAILED"
VERSION_PATTERN = re.compile(r"(?:(?P<group>[A-Za-z0-9-]+)/)?v?(?P<version>\d+)")


# A version registered before the strategy and the provenance were recorded.
NOT_RECORDED = "not recorded (registered before it was)"


def add_registry_options(parser: argparse.ArgumentParser) -> None:
    """``--registry``, ``--location``, ``--group`` (defaults resolved when the command runs)."""
    parser.add_argument(
        "--registry",
        choices=["local", "sagemaker"],
        default=None,
        help=f"registry target (default ${REGISTRY_ENV[0]} or {REGISTRY_ENV[1]})",
    )
    parser.add_argument(
        "--location",
        default=None,
        help="registry directory (local) or s3://bucket/prefix of the model artifacts (sagemaker) "
        f"(default ${LOCATION_ENV[0]} or {LOCATION_ENV[1]})",
    )
    parser.add_argument(
        "--group", default=DEFAULT_MODEL_GROUP, help=f"model package group (default {DEFAULT_MODEL_GROUP})"
    )


def open_from_args(args: argparse.Namespace) -> tuple[ModelRegistry, str]:
    """The registry the options name, and its location (for messages)."""
    from spylib.registry import open_registry

    location = args.location or env_or(LOCATION_ENV)
    target = args.registry or env_or(REGISTRY_ENV)
    if target == "local" and not Path(location).expanduser().is_dir():
        raise ConfigError(
            "no registry here (the directory does not exist): give --location the directory SpyFlow "
            "registered into (`python flows/spy_flow.py run --registry-location DIR`)",
            source=location,
            key="--location",
        )
    return open_registry(target, location), location


def no_versions_error(registry: ModelRegistry, location: str, group: str) -> ConfigError:
    """The error of a group with no versions, naming the groups a local registry does hold."""
    root = Path(location).expanduser()
    groups = sorted(p.name for p in root.iterdir() if p.is_dir()) if registry.target == "local" else []
    held = f"groups here: {', '.join(groups)}; pick one with --group" if groups else "it holds no registry"
    return ConfigError(f"no versions in group {group!r} ({held})", source=location, key="--group")


def parse_version(text: str, group: str) -> tuple[str, int]:
    """``3``, ``v3``, ``spy-direction/v3`` -> (group, 3); ConfigError otherwise."""
    match = VERSION_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"expected a version like 3, v3 or {group}/v3, got {text!r}", source="spy-flow", key="VERSION"
        )
    return match["group"] or group, int(match["version"])


def find_version(registry: ModelRegistry, location: str, group: str, version: int) -> Registration:
    """The listed registration of ``{group}/{version}``; ConfigError naming the versions that exist."""
    versions = registry.list_versions(group)
    for registration in versions:
        if registration.version == version:
            return registration
    known = ", ".join(f"v{r.version}" for r in versions) or "none"
    raise ConfigError(
        f"no version {version} in group {group!r} (versions: {known})", source=location, key="VERSION"
    )


def failed_reasons(metadata: Mapping[str, Any]) -> list[str]:
    """The gate's failed checks, as recorded at registration."""
    return [str(r) for r in metadata.get("gate_reasons") or [] if FAILED_MARK in str(r)]


def model_name(registration: Registration) -> str:
    """``spy-direction/v3``: the ``model_version`` PredictFlow writes to the predictions table."""
    return f"{registration.group}/v{registration.version}"


def latest_approved_version(versions: Sequence[Registration]) -> Registration | None:
    """The version PredictFlow would load (the highest Approved one), from a listing."""
    approved = [r for r in versions if r.status == "Approved"]
    return max(approved, key=lambda r: r.version) if approved else None


# ---- commands ----------------------------------------------------------------------------------------
def cmd_versions(args: argparse.Namespace) -> int:
    """Every version of the group with its status and headline metrics."""
    registry, location = open_from_args(args)
    versions = registry.list_versions(args.group)
    if not versions:
        raise no_versions_error(registry, location, args.group)
    rows = []
    for registration in versions:
        metadata = registry.read_metadata(registration)
        metrics = metadata.get("metrics") or {}
        reasons = metadata.get("gate_reasons")
        rows.append(
            [
                f"v{registration.version}",
                registration.status,
                format_time(metadata.get("created")),
                registration.model_sha256[:12],
                *(metrics.get(key) for _, key in HEADLINE_METRICS),
                len(failed_reasons(metadata)) if reasons is not None else None,
                metadata.get("run_pathspec"),
            ]
        )
    headers = ["version", "status", "created", "sha256", *(label for label, _ in HEADLINE_METRICS)]
    print(f"{registry.target} registry {location}, group {args.group}")
    print(render_table([*headers, "failed checks", "run"], rows))
    newest = latest_approved_version(versions)
    print(
        f"PredictFlow uses {model_name(newest)} (the latest Approved)"
        if newest
        else "no Approved version: PredictFlow has no model to use (approve one: `spy-flow approve N`)"
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """One version in full: identity, provenance, the gate's reasons, every metric."""
    registry, location = open_from_args(args)
    group, version = parse_version(args.version, args.group)
    registration = find_version(registry, location, group, version)
    metadata = registry.read_metadata(registration)
    features = metadata.get("feature_columns") or []
    print(f"{model_name(registration)}  {registration.status}")
    print(
        render_pairs(
            [
                ("registry", f"{registration.target} {location}"),
                ("location", registration.location),
                ("model", registration.model_uri),
                ("model sha256", registration.model_sha256),
                ("created", format_time(metadata.get("created"), seconds=True)),
                ("status updated", format_time(metadata.get("status_updated"), seconds=True)),
                ("status reason", metadata.get("status_reason")),
                ("gate decision", metadata.get("requested_status")),
                ("run", metadata.get("run_pathspec")),
                ("data fingerprint", metadata.get("data_fingerprint")),
                ("code version", metadata.get("code_version")),
                ("symbol", metadata.get("symbol")),
                ("label convention", metadata.get("label_convention")),
                ("threshold", metadata.get("threshold")),
                ("features", f"{len(features)}: {', '.join(features)}" if features else None),
                ("filters", ", ".join(metadata.get("filter_columns") or [])),
                ("scikit-learn", metadata.get("sklearn_version")),
                ("extra files", ", ".join(sorted(metadata.get("extra_files") or {}))),
                ("description", metadata.get("description")),
            ]
        )
    )
    print_strategy_and_provenance(metadata)
    reasons = [str(r) for r in metadata.get("gate_reasons") or []]
    failed = failed_reasons(metadata)
    print(f"\ngate reasons ({len(failed)} of {len(reasons)} checks failed)")
    print("\n".join(f"  {r}" for r in reasons) if reasons else f"  {MISSING}")
    metrics = metadata.get("metrics") or {}
    print("\nmetrics")
    print(render_pairs(list(metrics.items())) if metrics else f"  {MISSING}")
    return 0


def print_strategy_and_provenance(metadata: Mapping[str, Any]) -> None:
    """The registered strategy (what PredictFlow, the serving image and monitoring apply) and what
    trained the version; a version registered before they were recorded says so."""
    from spylib.core.errors import SpyFlowError
    from spylib.modelling.strategy import Strategy
    from spylib.registry.provenance import Provenance

    kind: Any
    for key, kind in (("strategy", Strategy), ("provenance", Provenance)):
        print(f"\n{key}")
        try:
            raw = metadata.get(key)
            lines = kind.from_dict(raw).describe() if isinstance(raw, dict) else [NOT_RECORDED]
        except SpyFlowError as exc:
            lines = [f"unreadable: {exc}"]
        print("\n".join(f"  {line}" for line in lines))
    if metadata.get("content_key"):
        print(f"  content key: {metadata['content_key']}")


def set_status(args: argparse.Namespace, status: ApprovalStatus) -> int:
    """approve / reject: set the status through the protocol, print the new status line."""
    registry, location = open_from_args(args)
    group, version = parse_version(args.version, args.group)
    before = find_version(registry, location, group, version)
    if status == "Approved":
        failed = failed_reasons(registry.read_metadata(before))
        if failed:
            checks = "check" if len(failed) == 1 else "checks"
            print(f"note: approving against the gate ({len(failed)} failed {checks})", file=sys.stderr)
    after = registry.set_status(group, version, status, reason=args.reason)
    reason = f"; reason: {args.reason}" if args.reason else ""
    print(f"{model_name(after)}  {after.status}  (was {before.status}{reason})")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    """Approve a version (PredictFlow then uses it if it is the highest Approved)."""
    return set_status(args, "Approved")


def cmd_reject(args: argparse.Namespace) -> int:
    """Reject a version."""
    return set_status(args, "Rejected")


def cmd_latest(args: argparse.Namespace) -> int:
    """The model PredictFlow would load (sha256 checked) and its latest prediction in the lake."""
    from spylib.storage.sql import query

    registry, location = open_from_args(args)
    model = registry.latest_approved(args.group)
    if model is None:
        if not registry.list_versions(args.group):
            raise no_versions_error(registry, location, args.group)
        print(
            f"no Approved version in group {args.group!r} at {location}: approve one with "
            "`spy-flow approve N` (`spy-flow versions` lists them)"
        )
        return 0
    name = model_name(model.registration)
    metrics = model.metadata.get("metrics") or {}
    headline = ", ".join(f"{label} {format_value(metrics.get(key))}" for label, key in HEADLINE_METRICS)
    print(f"{name}  Approved  sha256 {model.registration.model_sha256[:12]}  ({headline})")
    lake = args.lake or env_or(LAKE_ENV)
    literal = "'" + name.replace("'", "''") + "'"
    frame = query(
        "SELECT date, symbol, probability, signal, position, target_up, fwd_return, run_id FROM predictions "
        f"WHERE model_version = {literal} ORDER BY date DESC, run_id DESC LIMIT 1",
        lake,
    )
    if frame.empty:
        print(
            f"no prediction by {name} in the lake {lake} yet: make one with "
            f"`python flows/predict_flow.py run --lake-root {lake}`"
        )
        return 0
    row = frame.iloc[0]
    action = f"LONG {float(row['position']):.2f}" if int(row["signal"]) == 1 else "FLAT"
    sizing = model.bundle.get("sizing", "long_flat")
    print(
        f"latest prediction ({lake}): {action}, threshold {format_value(model.bundle.get('threshold'))}, "
        f"sizing {sizing}"
    )
    print(render_table(list(frame.columns), frame.astype(object).to_numpy().tolist()))
    return 0


def add_parsers(commands: Any) -> None:
    """The registry subcommands, on the ``add_subparsers`` object of the main parser."""
    versions = commands.add_parser(
        "versions",
        help="list every version of a model group",
        description="Every version of a model group: status, time, sha256, headline metrics, failed checks.",
    )
    add_registry_options(versions)
    versions.set_defaults(handler=cmd_versions)

    show = commands.add_parser(
        "show",
        help="one version in full",
        description="One version in full: location, sha256, provenance, the gate's reasons, every metric.",
    )
    show.add_argument("version", metavar="VERSION", help="3, v3 or GROUP/v3")
    add_registry_options(show)
    show.set_defaults(handler=cmd_show)

    for name, handler, verb in (("approve", cmd_approve, "Approve"), ("reject", cmd_reject, "Reject")):
        sub = commands.add_parser(
            name,
            help=f"{verb.lower()} a version",
            description=f"{verb} a version (the human review step; the same for local and SageMaker).",
        )
        sub.add_argument("version", metavar="VERSION", help="3, v3 or GROUP/v3")
        sub.add_argument("--reason", default="", help="why (recorded with the new status)")
        add_registry_options(sub)
        sub.set_defaults(handler=handler)

    latest = commands.add_parser(
        "latest",
        help="the model PredictFlow uses and its latest prediction",
        description="The latest Approved version (loaded, sha256 checked) and its latest prediction in the lake.",
    )
    add_registry_options(latest)
    latest.add_argument(
        "--lake",
        default=None,
        help=f"lake root, a directory or s3://... (default ${LAKE_ENV[0]} or {LAKE_ENV[1]})",
    )
    latest.set_defaults(handler=cmd_latest)
