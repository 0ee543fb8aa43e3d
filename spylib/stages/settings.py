"""The typed settings of a run, built from explicit keyword arguments and validated once, in ``start``.

Both flows pass their Parameters and Configs here by name; every rule a value must obey lives in one
validator below, shared by SpyFlow (:func:`build_training_settings`) and PredictFlow
(:func:`build_daily_settings`), so a symbol, a registry target or a lake root is checked the same way
whichever flow receives it.

What needs the outside world is checked right after, still in ``start``, by :func:`check_run_io`: the
source files exist and can be read (a HEAD request for ``s3://``), and the output, lake and registry
locations can be written (a probe write that is removed, :mod:`spylib.storage.probe`).

The config files are parsed by :func:`config_from_text` before Metaflow uses them (the flows give it
to each ``Config`` as its parser): invalid JSON, or a list or a string where an object is expected, is
one line naming the config; the ``resources`` and ``schedule`` configs, which decorators read before
``start`` runs, are validated whole there.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from spylib.core.config import (
    DEFAULT_DATA_CHECKS,
    LABEL_HORIZON,
    DataChecks,
    GateConfig,
    ModelSpec,
    StepResources,
    SweepConfig,
    parse_data_checks,
    parse_gate,
    parse_holdout_start,
    parse_resources,
    parse_sweep,
    validate_convention,
    validate_cost_bps,
    validate_seed,
)
from spylib.core.errors import ConfigError

REGISTRY_TARGETS: tuple[str, ...] = ("local", "sagemaker")
# The steps whose @resources read the `resources` config: each needs an entry, and no other key is
# allowed (a misspelt step would otherwise be ignored silently).
RESOURCE_STEPS: tuple[str, ...] = ("ingest", "features", "train", "evaluate", "predict")


@dataclass(frozen=True)
class DataSettings:
    """What is read: the source, the traded symbol and its benchmark, the ingest's checks and the user
    features."""

    source: str
    symbol: str
    benchmark: str
    checks: DataChecks = DEFAULT_DATA_CHECKS
    extra_features: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanSettings:
    """How the model is chosen and judged: the sweep (with its walk-forward), the execution convention,
    the optional holdout, the seed, the negative control and the foreach's batch size."""

    sweep: SweepConfig
    execution: str
    holdout_start: date | None = None
    seed: int = 42
    shuffle_labels: bool = False
    configs_per_task: int = 0

    @property
    def label_horizon(self) -> int:
        return LABEL_HORIZON[self.execution]


@dataclass(frozen=True)
class OutputSettings:
    """Where a run writes: the prediction files' directory, the lake ('' = off) and the Glue database."""

    output_dir: str
    lake_root: str
    glue_database: str = ""


@dataclass(frozen=True)
class RegistryTarget:
    """Where the model is registered: ``kind`` 'local' or 'sagemaker', the location, the model group and
    (SageMaker) the inference image."""

    kind: str
    location: str
    group: str
    image_uri: str = ""


@dataclass(frozen=True)
class TrainingSettings:
    """Every parameter of a SpyFlow run in sections, validated once in ``start`` (the artifact
    ``settings``); each stage takes the sections it needs."""

    data: DataSettings
    plan: PlanSettings
    cost_bps: float
    outputs: OutputSettings
    registry: RegistryTarget
    gate: GateConfig
    resources: dict[str, StepResources]
    schedule_cron: str


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
    data_checks: DataChecks = DEFAULT_DATA_CHECKS


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
    """Upper-cased symbol and benchmark, each matching
    :data:`spylib.data.price_files.SYMBOL_PATTERN` (letters, digits, ``.``, ``-``, ``^``, ``=``), and
    different from each other."""
    from spylib.data.price_files import check_symbol

    sym, bench = check_symbol(symbol, "--symbol"), check_symbol(benchmark, "--benchmark")
    if sym == bench:
        raise ConfigError(
            f"symbol and benchmark must differ, both are {sym!r}", source="--symbol/--benchmark"
        )
    return sym, bench


def check_registry_target(target: str, location: str, group: str, *, image_uri: str | None = None) -> None:
    """Fail in ``start``, not after the training, on a registry that cannot work (for SageMaker: an
    inference image whose scikit-learn cannot unpickle what this process trains is refused now)."""
    from spylib.registry import check_group_name, resolve_region
    from spylib.registry.images import check_inference_image

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
        check_inference_image(image_uri, resolve_region())
    elif location.startswith("s3://"):
        raise ConfigError(
            "the local registry needs a directory, not an s3:// URI", source="--registry-location"
        )


def check_source(source: str, symbols: Sequence[str] = ()) -> None:
    """What can be checked of a source before any data is read: a synthetic spec is parsed whole, the
    embedded data set must have stand-ins for ``symbols``, and a path template must contain
    ``{symbol}`` or ``{symbol_lower}`` and no other placeholder."""
    from spylib.data.price_files import EMBEDDED, check_source_template, is_template_source
    from spylib.data.sources import EMBEDDED_STAND_INS
    from spylib.data.synthetic import is_synthetic_source, parse_spec

    if is_synthetic_source(source):
        parse_spec(source)
    elif source == EMBEDDED:
        missing = [s for s in symbols if s not in EMBEDDED_STAND_INS]
        if missing:
            raise ConfigError(
                f"the embedded data set has stand-ins only for {', '.join(EMBEDDED_STAND_INS)}; give files "
                f"for {missing[0]} with a path template",
                source="--source",
            )
    elif is_template_source(source):
        check_source_template(source)


def check_output_dir(output_dir: str) -> str:
    if output_dir.startswith("s3://"):
        raise ConfigError(
            "predictions are written to a local directory; use --lake-root for S3", source="--output-dir"
        )
    return output_dir


def parse_extra_features(text: str) -> tuple[str, ...]:
    """``'mod:func,mod2:func2'`` -> the names, each imported now (fail in ``start``, not in features)."""
    from spylib.features.table import load_extra_features

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


_RESERVED = re.compile(r"multiple values for keyword argument '(\w+)'")
_PARAMETER = re.compile(r"The '(\w+)' parameter")


def check_model_params(models: Sequence[ModelSpec], seed: int, source: str = "config 'sweep'") -> None:
    """Build every configuration of the sweep and let scikit-learn validate its parameters
    (``_validate_params``: names, types and ranges), so a misspelt or mistyped hyperparameter fails in
    ``start``, not in the first fit."""
    from sklearn.utils._param_validation import InvalidParameterError

    from spylib.modelling.models import make_model

    def final(model: Any) -> Any:
        return model.steps[-1][1] if hasattr(model, "steps") else model

    valid: dict[str, list[str]] = {}
    for spec in models:
        prefix = f"models.{spec.family}"
        if spec.family not in valid:
            valid[spec.family] = sorted(
                final(make_model(ModelSpec(spec.family, {}), seed)).get_params(deep=False)
            )
        estimator_name = type(final(make_model(ModelSpec(spec.family, {}), seed))).__name__
        for name in spec.params:
            if name not in valid[spec.family]:
                close = difflib.get_close_matches(name, valid[spec.family], n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(
                    f"{estimator_name} has no hyperparameter {name!r}{hint}",
                    source=source,
                    key=f"{prefix}.{name}",
                )
        try:
            model = make_model(spec, seed)
        except ConfigError as exc:
            reserved = _RESERVED.search(str(exc))
            if reserved is None:
                raise
            raise ConfigError(
                f"{reserved[1]} is set by spy-flow (from --seed, or fixed for one thread per task), not by the sweep",
                source=source,
                key=f"{prefix}.{reserved[1]}",
            ) from None
        try:
            final(model)._validate_params()
        except InvalidParameterError as exc:
            found = _PARAMETER.search(str(exc))
            key = f"{prefix}.{found[1]}" if found else prefix
            raise ConfigError(str(exc).splitlines()[0], source=source, key=key) from None


def check_lake_symbols(lake_root: str, symbols: Sequence[str]) -> None:
    """A symbol becomes a lake partition ``symbol=X``: an ``=`` in it cannot be written to the lake."""
    if not lake_root:
        return
    for symbol in symbols:
        if "=" in symbol:
            raise ConfigError(
                f"{symbol!r} contains '=', which a Hive partition path (symbol={symbol}) cannot hold: "
                "turn the lake off with --lake-root ''",
                source="--lake-root",
            )


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
    schedule: Mapping[str, Any],
    data_checks: Mapping[str, Any] | None = None,
) -> TrainingSettings:
    """SpyFlow's Parameters and Configs (by their Python names), validated: every scalar, every config
    file, and every model configuration of the sweep built and its parameters checked by scikit-learn.
    (The sources and output locations are :func:`check_run_io`'s.)"""
    if int(configs_per_task) < 0:
        raise ConfigError(
            f"must be 0 (automatic) or more, got {configs_per_task}", source="--configs-per-task"
        )
    check_registry_target(registry, registry_location, model_group, image_uri=sagemaker_image_uri or None)
    if glue_database and not lake_root.startswith("s3://"):
        raise ConfigError("Glue catalogs S3 data only: give an s3:// --lake-root", source="--glue-database")
    sym, bench = check_symbols(symbol, benchmark)
    check_lake_symbols(lake_root, (sym, bench))
    check_source(source, (sym, bench))
    valid_seed = validate_seed(seed)
    parsed_sweep = parse_sweep(plain(sweep), source="config 'sweep'")
    check_model_params(parsed_sweep.models, valid_seed)
    return TrainingSettings(
        data=DataSettings(
            source=source,
            symbol=sym,
            benchmark=bench,
            checks=parse_data_checks(plain(data_checks or {}), source="config 'data_checks'"),
            extra_features=parse_extra_features(extra_features),
        ),
        plan=PlanSettings(
            sweep=parsed_sweep,
            execution=validate_convention(execution),
            holdout_start=parse_holdout_start(holdout_start),
            seed=valid_seed,
            shuffle_labels=bool(shuffle_labels),
            configs_per_task=int(configs_per_task),
        ),
        cost_bps=validate_cost_bps(float(cost_bps)),
        outputs=OutputSettings(check_output_dir(output_dir), lake_root, glue_database),
        registry=RegistryTarget(registry, registry_location, model_group, sagemaker_image_uri),
        gate=parse_gate(plain(gate), source="config 'gate'"),
        resources=check_resources(plain(resources)),
        schedule_cron=check_schedule(plain(schedule)),
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
    data_checks: Mapping[str, Any] | None = None,
) -> DailySettings:
    """PredictFlow's Parameters (by their Python names) and its ``data_checks`` config, validated."""
    if registry not in REGISTRY_TARGETS:
        raise ConfigError(f"unknown registry {registry!r}: use 'local' or 'sagemaker'", source="--registry")
    if not lake_root:
        raise ConfigError("the daily predictions need a lake: a directory or s3://", source="--lake-root")
    sym, bench = check_symbols(symbol, benchmark)
    check_lake_symbols(lake_root, (sym, bench))
    if int(history_runs) < 0 or int(replay_days) < 0:
        raise ConfigError("must be >= 0", source="--history-runs/--replay-days")
    check_source(source, (sym, bench))
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
        data_checks=parse_data_checks(plain(data_checks or {}), source="config 'data_checks'"),
    )


# ---------------------------------------------------------------------------------------------
# the outside world, and the config files before Metaflow reads them
# ---------------------------------------------------------------------------------------------
def check_run_io(settings: TrainingSettings | DailySettings) -> None:
    """In ``start``, after the settings: both source files exist and can be read (local: a regular,
    readable file; ``s3://``: a HEAD request), and the locations the run writes can be written (a probe
    write, removed at once): the output directory and the lake, and for SpyFlow the registry location
    (PredictFlow only reads the registry). Raises the first problem as a
    :class:`~spylib.core.errors.DataValidationError` (a source) or :class:`ConfigError` (a location)."""
    from spylib.data.price_files import check_source_file, is_template_source, resolve_source
    from spylib.storage.probe import probe_writable

    if isinstance(settings, TrainingSettings):
        source, symbols = settings.data.source, (settings.data.symbol, settings.data.benchmark)
        output_dir, lake_root = settings.outputs.output_dir, settings.outputs.lake_root
    else:
        source, symbols = settings.source, (settings.symbol, settings.benchmark)
        output_dir, lake_root = settings.output_dir, settings.lake_root
    if is_template_source(source):
        for symbol in symbols:
            check_source_file(resolve_source(source, symbol))
    probe_writable(output_dir, "--output-dir")
    probe_writable(lake_root, "--lake-root")
    if isinstance(settings, TrainingSettings):
        probe_writable(settings.registry.location, "--registry-location")


# Configs that decorators read when the flow is built, before `start` runs: validated whole in the parser.
_VALIDATE_IN_PARSER = {"resources": check_resources, "schedule": check_schedule}


def config_from_text(name: str, text: str) -> dict[str, Any]:
    """A config file's text as a dict, or a :class:`ConfigError` of one line: invalid JSON (with the line
    and column), or not a JSON object; ``resources`` and ``schedule`` are validated whole (see the module
    docstring). The flows wrap this in each ``Config``'s parser."""
    source = f"config '{name}'"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", source=source
        ) from None
    if not isinstance(value, dict):
        kinds: dict[type, str] = {list: "a list", str: "a string"}
        kind = kinds.get(type(value), type(value).__name__)
        raise ConfigError(f"expected a JSON object {{...}} at the top level, got {kind}", source=source)
    check = _VALIDATE_IN_PARSER.get(name)
    if check is not None:
        check(value)
    return value
