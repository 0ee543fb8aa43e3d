"""The typed settings of a run, built from explicit keyword arguments and validated once, in ``start``.

Both flows pass their Parameters and Configs here by name; every rule a value must obey lives in one
validator below, shared by SpyFlow (:func:`build_training_settings`) and PredictFlow
(:func:`build_daily_settings`), so a symbol, a registry target or a lake root is checked the same way
whichever flow receives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from spylib.core.config import (
    LABEL_HORIZON,
    GateConfig,
    StepResources,
    SweepConfig,
    parse_gate,
    parse_holdout_start,
    parse_resources,
    parse_sweep,
    validate_convention,
    validate_cost_bps,
)
from spylib.core.errors import ConfigError

REGISTRY_TARGETS: tuple[str, ...] = ("local", "sagemaker")
# The steps whose @resources read the `resources` config: each needs an entry, and no other key is
# allowed (a misspelt step would otherwise be ignored silently).
RESOURCE_STEPS: tuple[str, ...] = ("ingest", "features", "train", "evaluate", "predict")


@dataclass(frozen=True)
class TrainingSettings:
    """Every parameter of a SpyFlow run, validated once in ``start`` (the artifact ``settings``)."""

    source: str
    symbol: str
    benchmark: str
    holdout_start: date | None
    execution: str
    cost_bps: float
    seed: int
    shuffle_labels: bool
    extra_features: tuple[str, ...]
    output_dir: str
    lake_root: str
    glue_database: str
    registry: str
    registry_location: str
    model_group: str
    sagemaker_image_uri: str
    configs_per_task: int
    sweep: SweepConfig
    gate: GateConfig
    resources: dict[str, StepResources]
    schedule_cron: str = "0 6 ? * SAT *"

    @property
    def label_horizon(self) -> int:
        return LABEL_HORIZON[self.execution]


@dataclass(frozen=True)
class DailySettings:
    """Every parameter of a PredictFlow run, validated once in ``start`` (the artifact ``settings``)."""

    source: str
    symbol: str
    benchmark: str
    as_of: date | None
    extra_features: tuple[str, ...]
    output_dir: str
    lake_root: str
    registry: str
    registry_location: str
    model_group: str
    history_runs: int
    replay_days: int
    fail_on_alert: bool


# ---------------------------------------------------------------------------------------------
# the shared rules
# ---------------------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """A Metaflow ConfigValue (or any nested mapping) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def check_symbols(symbol: str, benchmark: str) -> tuple[str, str]:
    """Upper-cased, non-empty symbol and benchmark."""
    sym, bench = symbol.strip().upper(), benchmark.strip().upper()
    if not sym or not bench:
        raise ConfigError("symbol and benchmark must be non-empty", source="--symbol/--benchmark")
    return sym, bench


def check_registry_target(target: str, location: str, group: str) -> None:
    """Fail in ``start``, not after the training, on a registry that cannot work."""
    from spylib.registry import check_group_name, resolve_region

    if target not in REGISTRY_TARGETS:
        raise ConfigError(
            f"unknown registry target {target!r}: use 'local' or 'sagemaker'", source="--registry"
        )
    check_group_name(group)
    if target == "sagemaker":
        if not location.startswith("s3://"):
            raise ConfigError(
                f"the SageMaker registry stores artifacts in S3: give an s3:// prefix, got {location!r}",
                source="--registry-location",
            )
        resolve_region()
    elif location.startswith("s3://"):
        raise ConfigError(
            "the local registry needs a directory, not an s3:// URI", source="--registry-location"
        )


def check_source(source: str) -> None:
    """What can be checked of a source before any data is read (a synthetic spec is parsed whole)."""
    from spylib.research.synthetic import is_synthetic_source, parse_spec

    if is_synthetic_source(source):
        parse_spec(source)


def check_output_dir(output_dir: str) -> str:
    if output_dir.startswith("s3://"):
        raise ConfigError(
            "predictions are written to a local directory; use --lake-root for S3", source="--output-dir"
        )
    return output_dir


def parse_extra_features(text: str) -> tuple[str, ...]:
    """``'mod:func,mod2:func2'`` -> the names, each imported now (fail in ``start``, not in features)."""
    from spylib.research.features import load_extra_features

    extra = tuple(p.strip() for p in text.split(",") if p.strip())
    load_extra_features(extra)
    return extra


def check_resources(raw: Mapping[str, Any]) -> dict[str, StepResources]:
    source = "config 'resources'"
    resources = parse_resources(raw, source=source)
    for step in resources:
        if step not in RESOURCE_STEPS:
            raise ConfigError(
                f"unknown step (steps with resources: {', '.join(RESOURCE_STEPS)})", source=source, key=step
            )
    missing = [step for step in RESOURCE_STEPS if step not in resources]
    if missing:
        raise ConfigError("missing the cpu/memory of this step", source=source, key=missing[0])
    return resources


def parse_as_of(text: str) -> date | None:
    """``''`` -> None (the latest day); ``YYYY-MM-DD`` -> that date; anything else is a ConfigError."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"expected YYYY-MM-DD or empty, got {text!r}", source="--as-of") from None


# ---------------------------------------------------------------------------------------------
# the two flows
# ---------------------------------------------------------------------------------------------
def build_training_settings(
    *,
    source: str,
    symbol: str,
    benchmark: str,
    holdout_start: str,
    execution: str,
    cost_bps: float,
    seed: int,
    shuffle_labels: bool,
    extra_features: str,
    output_dir: str,
    lake_root: str,
    glue_database: str,
    registry: str,
    registry_location: str,
    model_group: str,
    sagemaker_image_uri: str,
    configs_per_task: int,
    sweep: Mapping[str, Any],
    gate: Mapping[str, Any],
    resources: Mapping[str, Any],
    schedule: Mapping[str, Any] | None = None,
) -> TrainingSettings:
    """SpyFlow's Parameters and Configs (by their Python names), validated."""
    if int(configs_per_task) < 0:
        raise ConfigError(
            f"must be 0 (automatic) or more, got {configs_per_task}", source="--configs-per-task"
        )
    check_registry_target(registry, registry_location, model_group)
    if glue_database and not lake_root.startswith("s3://"):
        raise ConfigError("Glue catalogs S3 data only: give an s3:// --lake-root", source="--glue-database")
    sym, bench = check_symbols(symbol, benchmark)
    check_source(source)
    return TrainingSettings(
        source=source,
        symbol=sym,
        benchmark=bench,
        holdout_start=parse_holdout_start(holdout_start),
        execution=validate_convention(execution),
        cost_bps=validate_cost_bps(float(cost_bps)),
        seed=int(seed),
        shuffle_labels=bool(shuffle_labels),
        extra_features=parse_extra_features(extra_features),
        output_dir=check_output_dir(output_dir),
        lake_root=lake_root,
        glue_database=glue_database,
        registry=registry,
        registry_location=registry_location,
        model_group=model_group,
        sagemaker_image_uri=sagemaker_image_uri,
        configs_per_task=int(configs_per_task),
        sweep=parse_sweep(plain(sweep), source="config 'sweep'"),
        gate=parse_gate(plain(gate), source="config 'gate'"),
        resources=check_resources(plain(resources)),
        schedule_cron=check_schedule(plain(schedule or {"cron": "0 6 ? * SAT *"})),
    )


def check_schedule(raw: Mapping[str, Any]) -> str:
    """The retraining schedule's EventBridge cron: six fields (minutes hours day-of-month month
    day-of-week year), one of the two day fields ``?``."""
    source = "config 'schedule'"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"expected an object, got {type(raw).__name__}", source=source)
    unknown = [k for k in raw if k != "cron"]
    if unknown:
        raise ConfigError("unknown key (allowed: cron)", source=source, key=unknown[0])
    cron = raw.get("cron")
    fields = cron.split() if isinstance(cron, str) else []
    if len(fields) != 6 or "?" not in (fields[2], fields[4]):
        raise ConfigError(
            f"expected an EventBridge cron of six fields with '?' as day-of-month or day-of-week, got {cron!r}",
            source=source,
            key="cron",
        )
    return str(cron)


def build_daily_settings(
    *,
    source: str,
    symbol: str,
    benchmark: str,
    as_of: str,
    extra_features: str,
    output_dir: str,
    lake_root: str,
    registry: str,
    registry_location: str,
    model_group: str,
    history_runs: int,
    replay_days: int,
    fail_on_alert: bool,
) -> DailySettings:
    """PredictFlow's Parameters (by their Python names), validated."""
    if registry not in REGISTRY_TARGETS:
        raise ConfigError(
            f"unknown registry target {registry!r}: use 'local' or 'sagemaker'", source="--registry"
        )
    if not lake_root:
        raise ConfigError(
            "the daily predictions live in the lake: give a directory or s3:// prefix", source="--lake-root"
        )
    sym, bench = symbol.strip().upper(), benchmark.strip().upper()
    if not sym or not bench or sym == bench:
        raise ConfigError("symbol and benchmark must be non-empty and differ", source="--symbol/--benchmark")
    if int(history_runs) < 0 or int(replay_days) < 0:
        raise ConfigError("must be >= 0", source="--history-runs/--replay-days")
    check_source(source)
    return DailySettings(
        source=source,
        symbol=sym,
        benchmark=bench,
        as_of=parse_as_of(as_of),
        extra_features=parse_extra_features(extra_features),
        output_dir=output_dir,
        lake_root=lake_root,
        registry=registry,
        registry_location=registry_location,
        model_group=model_group,
        history_runs=int(history_runs),
        replay_days=int(replay_days),
        fail_on_alert=bool(fail_on_alert),
    )
