"""Stage functions the flow steps call: each takes plain values and returns the step's artifacts.

This is the wiring between the stage modules (``data``, ``features``, ``split``, ``evaluate``,
``predict``, ``registry``); it holds no modelling logic of its own, and it does not import Metaflow,
so every stage runs (and is tested) in a plain Python process.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from spylib import __version__
from spylib.core.config import (
    GateConfig,
    ModelSpec,
    SplitBoundaries,
    StepResources,
    SweepConfig,
    parse_gate,
    parse_resources,
    parse_split_dates,
    parse_sweep,
    validate_convention,
    validate_cost_bps,
)
from spylib.core.errors import ConfigError
from spylib.research.data import EMBEDDED, EMBEDDED_STAND_INS, ingest, require_history
from spylib.research.features import (
    LABEL_HORIZON,
    LONGEST_WINDOW,
    WARMUP_ROWS,
    audit_lookahead,
    build_features,
    feature_columns,
    load_extra_features,
)
from spylib.research.split import Fold, Splits, rows_needed, time_splits, walk_forward_folds

if TYPE_CHECKING:
    from spylib.research.evaluate import ConfigResult
    from spylib.research.report import CardItem

# Each Metaflow task is a fresh process that imports this module. The modelling modules (scikit-learn,
# scipy.stats: ~1.3 s) and the report (matplotlib: ~0.5 s) are imported inside the functions that need
# them, so the steps that do not (start, ingest, features, split, end) start about 2 s faster and the
# train tasks about 0.5 s faster.

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """Every parameter of a run, validated once in ``start`` (an artifact: ``settings``)."""

    source: str
    symbol: str
    benchmark: str
    boundaries: SplitBoundaries
    gap_rows: int
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

    @property
    def label_horizon(self) -> int:
        return LABEL_HORIZON[self.execution]


def plain(value: Any) -> Any:
    """A Metaflow ConfigValue (or any nested mapping) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def validate_settings(flow: Any) -> Settings:
    """Read the flow's Parameters and Configs (by name) and validate them all."""
    if flow.gap_rows < LABEL_HORIZON.get(flow.execution, 2):
        raise ConfigError(
            f"must be at least the label span ({LABEL_HORIZON.get(flow.execution, 2)})", source="--gap-rows"
        )
    if flow.registry not in ("local", "sagemaker"):
        raise ConfigError(
            f"unknown registry target {flow.registry!r}: use 'local' or 'sagemaker'", source="--registry"
        )
    if not flow.symbol.strip() or not flow.benchmark.strip():
        raise ConfigError("symbol and benchmark must be non-empty", source="--symbol/--benchmark")
    if int(flow.configs_per_task) < 1:
        raise ConfigError(f"must be at least 1, got {flow.configs_per_task}", source="--configs-per-task")
    check_registry_target(flow.registry, flow.registry_location, flow.model_group)
    if flow.output_dir.startswith("s3://"):
        raise ConfigError(
            "predictions are written to a local directory; use --lake-root for S3", source="--output-dir"
        )
    if flow.glue_database and not flow.lake_root.startswith("s3://"):
        raise ConfigError("Glue catalogs S3 data only: give an s3:// --lake-root", source="--glue-database")
    extra = tuple(p.strip() for p in flow.extra_features.split(",") if p.strip())
    load_extra_features(extra)  # fail now, not in the features step
    return Settings(
        source=flow.source,
        symbol=flow.symbol.strip().upper(),
        benchmark=flow.benchmark.strip().upper(),
        boundaries=parse_split_dates(flow.split_dates),
        gap_rows=int(flow.gap_rows),
        execution=validate_convention(flow.execution),
        cost_bps=validate_cost_bps(float(flow.cost_bps)),
        seed=int(flow.seed),
        shuffle_labels=bool(flow.shuffle_labels),
        extra_features=extra,
        output_dir=flow.output_dir,
        lake_root=flow.lake_root,
        glue_database=flow.glue_database,
        registry=flow.registry,
        registry_location=flow.registry_location,
        model_group=flow.model_group,
        sagemaker_image_uri=flow.sagemaker_image_uri,
        configs_per_task=int(flow.configs_per_task),
        sweep=parse_sweep(plain(flow.sweep), source="config 'sweep'"),
        gate=parse_gate(plain(flow.gate_config), source="config 'gate'"),
        resources=check_resources(plain(flow.resources_config)),
    )


# The steps whose @resources read the `resources` config: each needs an entry, and no other key is allowed
# (a misspelt step would otherwise be ignored silently).
RESOURCE_STEPS: tuple[str, ...] = ("ingest", "features", "train", "evaluate", "predict")


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


def check_registry_target(target: str, location: str, group: str) -> None:
    """Fail in ``start``, not after the training, on a registry that cannot work."""
    from spylib.registry import check_group_name, resolve_region

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


def data_note(provenance: Mapping[str, Any]) -> str:
    """One plain sentence on where the data came from (stand-ins are named as such)."""
    sources = provenance["descriptions"]
    note = "; ".join(f"{sym}: {desc}" for sym, desc in sources.items())
    if any(src.startswith(EMBEDDED) for src in provenance["sources"].values()):
        stand_ins = ", ".join(f"{sym} = {EMBEDDED_STAND_INS[sym][1].split(',')[0]}" for sym in sources)
        return (
            f"**Data: offline stand-ins, not the ETFs** ({stand_ins}). {note}. "
            f"Fingerprint `{provenance['fingerprint'][:16]}`."
        )
    return f"Data: {note}. Fingerprint `{provenance['fingerprint'][:16]}`."


# ---------------------------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------------------------
def run_ingest(settings: Settings) -> tuple[pd.DataFrame, dict[str, Any]]:
    market = ingest(settings.source, settings.symbol, settings.benchmark)
    require_history(
        len(market.prices) // 2,
        rows_needed(settings.gap_rows, WARMUP_ROWS),
        market.symbol.source,
        f"{WARMUP_ROWS} warm-up rows, four segments and three gaps of {settings.gap_rows} rows",
        span=(market.prices["date"].min(), market.prices["date"].max()),
    )
    provenance = market.provenance()
    log.warning(data_note(provenance))
    print(data_note(provenance))
    return market.prices, provenance


def run_features(prices: pd.DataFrame, settings: Settings) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    extra = load_extra_features(settings.extra_features)
    features = build_features(prices, settings.symbol, settings.benchmark, settings.execution, extra)
    audited = audit_lookahead(prices, settings.symbol, settings.benchmark, extra=extra, seed=settings.seed)
    audit = {
        "method": "truncation invariance",
        "dates": audited,
        "features": len(features.columns),
        "passed": True,
    }
    return features, feature_columns(extra), audit


def run_split(features: pd.DataFrame, settings: Settings) -> tuple[Splits, list[Fold]]:
    gap = max(settings.gap_rows, settings.label_horizon)
    splits = time_splits(features["date"].tolist(), settings.boundaries, gap_rows=gap)
    folds = walk_forward_folds(splits.development_rows(), settings.sweep.cv, settings.label_horizon)
    if settings.sweep.cv.embargo_days < LONGEST_WINDOW:
        log.warning("cv.embargo_days=%d is shorter than the longest feature window (%d)", settings.sweep.cv.embargo_days,
                    LONGEST_WINDOW)  # fmt: skip
    return splits, folds


def batch_configs(configs: Sequence[ModelSpec], per_task: int) -> list[list[ModelSpec]]:
    """The foreach's work items: consecutive configurations, ``per_task`` at a time."""
    return [list(configs[i : i + per_task]) for i in range(0, len(configs), per_task)]


def run_train(
    specs: Sequence[ModelSpec],
    features: pd.DataFrame,
    feature_cols: Sequence[str],
    splits: Splits,
    folds: Sequence[Fold],
    settings: Settings,
) -> list[ConfigResult]:
    """Score each configuration of one foreach task."""
    from spylib.research.evaluate import score_configuration

    return [
        score_configuration(
            spec,
            features,
            feature_cols,
            folds,
            splits.development_rows(),
            splits["test"].rows(),
            settings.sweep,
            settings.cost_bps,
            settings.seed,
            shuffle_labels=settings.shuffle_labels,
        )
        for spec in specs
    ]


@dataclass
class Evaluation:
    trials: pd.DataFrame
    best: dict[str, Any]
    model: Any
    metrics: dict[str, Any]
    baselines: pd.DataFrame
    curve: pd.DataFrame
    importance: pd.DataFrame
    gate: dict[str, Any]
    card_items: list[CardItem]


def run_evaluate(
    task_results: Sequence[Sequence[ConfigResult]],
    features: pd.DataFrame,
    feature_cols: Sequence[str],
    splits: Splits,
    settings: Settings,
    provenance: Mapping[str, Any],
) -> Evaluation:
    from spylib.research.evaluate import (
        apply_gate,
        baseline_table,
        combine_trials,
        evaluate_on_test,
        permutation_importance_table,
        select_trial,
        sharpe_inference,
    )
    from spylib.research.report import evaluation_report

    results = [r for batch in task_results for r in batch]
    trials, oof_matrix = combine_trials(results)
    best_row = select_trial(trials, settings.sweep.selection_metric, settings.sweep.min_trades)
    chosen = next(r for r in results if r.spec.config_id == best_row["config_id"])
    filter_columns = [] if best_row["filter"] == "none" else best_row["filter"].split("+")
    test = features.iloc[splits["test"].rows()]
    test_metrics, curve = evaluate_on_test(
        chosen.test_probability, test, float(best_row["threshold"]), filter_columns, settings.cost_bps
    )
    inference = sharpe_inference(curve["strategy_net"].to_numpy(), trials, oof_matrix, seed=settings.seed)
    baselines = baseline_table(
        features, feature_cols, splits.development_rows(), splits["test"].rows(), settings.cost_bps, settings.seed,
        chosen=test_metrics,
    )  # fmt: skip
    bh_sharpe = float(baselines.loc[baselines["strategy"] == "buy_and_hold", "sharpe_net"].iloc[0])
    metrics: dict[str, Any] = {
        **test_metrics,
        **inference,
        "buy_and_hold_sharpe_net": bh_sharpe,
        "cost_bps": settings.cost_bps,
        "execution": settings.execution,
        "annualization": 252,
        "shuffle_labels": settings.shuffle_labels,
        "oof_sharpe_net": float(best_row["oof_sharpe_net"]),
        "oof_auc": float(best_row["oof_auc"]),
        "test_start": str(splits["test"].start),
        "test_end": str(splits["test"].end),
    }
    gate = apply_gate(metrics, bh_sharpe, settings.gate).to_dict()
    importance = permutation_importance_table(chosen.model, test, feature_cols, settings.seed)
    best = {**best_row.to_dict(), "filter_columns": filter_columns}
    items = evaluation_report(
        data_note=data_note(provenance), trials=trials, best=best, metrics=metrics, baselines=baselines, curve=curve,
        importance=importance, gate=gate,
    )  # fmt: skip
    return Evaluation(trials, best, chosen.model, metrics, baselines, curve, importance, gate, items)


def run_predict(
    model: Any,
    best: Mapping[str, Any],
    features: pd.DataFrame,
    feature_cols: Sequence[str],
    splits: Splits,
    settings: Settings,
    run_id: str,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, str], dict[str, Any]]:
    from spylib.research.evaluate import evaluate_on_test
    from spylib.research.models import make_bundle
    from spylib.research.predict import batch_predictions, write_predictions
    from spylib.research.trading import trading_metrics

    bundle = make_bundle(
        model,
        feature_cols,
        float(best["threshold"]),
        best["filter_columns"],
        settings.execution,
        settings.symbol,
    )
    predictions = batch_predictions(bundle, features, splits, model_version=f"run-{run_id}")
    files = write_predictions(predictions, settings.output_dir, run_id)
    production = features.iloc[splits["production"].rows()]
    prod_prob = predictions.loc[predictions["segment"] == "production", "probability"].to_numpy()
    prod_scores, _ = evaluate_on_test(
        prod_prob, production[production["target_up"].notna()], bundle["threshold"], bundle["filter_columns"],
        settings.cost_bps,
    )  # fmt: skip
    labelled = production[production["target_up"].notna()]
    bh = trading_metrics(
        np.ones(len(labelled)), labelled["fwd_return"].to_numpy("float64"), settings.cost_bps
    )
    prod_metrics: dict[str, Any] = {
        **prod_scores,
        "buy_and_hold_sharpe_net": bh["sharpe_net"],
        "note": "production is scored after every choice was made; it informs none",
    }
    return bundle, predictions, files, prod_metrics


def code_version() -> str:
    """The git commit of the working tree when available, else the package version."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"{__version__}+g{out.stdout.strip()}"
    except OSError:
        pass
    return __version__


def json_safe(value: Any) -> Any:
    """Plain JSON values (numpy scalars unwrapped, NaN/inf as null): the registry's own conversion."""
    from spylib.registry import to_json_safe

    return to_json_safe(value)


def run_register(
    bundle: dict[str, Any],
    metrics: Mapping[str, Any],
    gate: Mapping[str, Any],
    settings: Settings,
    provenance: Mapping[str, Any],
    features: pd.DataFrame,
    splits: Splits,
    feature_cols: Sequence[str],
    test_curve: pd.DataFrame,
    *,
    pathspec: str,
) -> dict[str, Any]:
    from spylib.monitoring import reference_profile
    from spylib.registry import RegistrationRequest, open_registry

    development = features.iloc[splits.development_rows()]
    profile = reference_profile(
        development,
        list(feature_cols),
        test_probability=test_curve["probability"].to_numpy(),
        test_signal=test_curve["position"].to_numpy(),
        test_metrics={"hit_rate": metrics.get("hit_rate"), "auc": metrics.get("auc"),
                      "net_sharpe": metrics.get("sharpe_net")},
    )  # fmt: skip
    request = RegistrationRequest(
        group=settings.model_group,
        bundle=bundle,
        approval_status=gate["status"],
        metrics=json_safe(dict(metrics)),
        gate_reasons=list(gate["reasons"]),
        run_pathspec=pathspec,
        data_fingerprint=str(provenance["fingerprint"]),
        code_version=code_version(),
        extra_files={"reference_profile.json": json.dumps(json_safe(profile), allow_nan=False).encode()},
        description=f"{settings.symbol} next-day direction ({settings.execution}), {pathspec}",
    )
    registry = open_registry(
        settings.registry, settings.registry_location, image_uri=settings.sagemaker_image_uri or None
    )
    return asdict(registry.register(request))


def write_lake(frame: pd.DataFrame, table: str, settings: Settings, run_id: str) -> list[str]:
    """Write one of the lake's tables for this run (idempotent per run); nothing when the lake is off."""
    if not settings.lake_root:
        return []
    from spylib.storage.lake import get_lake_table, write_table

    columns = [c for c in get_lake_table(table).data_schema.names if c in frame.columns]
    return write_table(frame[columns], table, settings.lake_root, run_id)


def register_catalog(settings: Settings) -> dict[str, Any]:
    """Register the lake in Glue when ``--glue-database`` is set."""
    if not settings.glue_database:
        return {}
    from spylib.storage.catalog import register_glue_tables

    return register_glue_tables(settings.lake_root, settings.glue_database)


def summary_line(gate: Mapping[str, Any], metrics: Mapping[str, Any], registration: Mapping[str, Any]) -> str:
    """One honest sentence: the verdict, the test figures against buy-and-hold, where it was registered."""
    beats = metrics["sharpe_net"] > metrics["buy_and_hold_sharpe_net"]
    verdict = "beats" if beats else "does NOT beat"
    return (
        f"Gate: {gate['status']}. On test ({metrics['test_start']}..{metrics['test_end']}) the model {verdict} "
        f"buy-and-hold after costs: net Sharpe {metrics['sharpe_net']:.2f} vs {metrics['buy_and_hold_sharpe_net']:.2f} "
        f"({metrics['cost_bps']} bp per side), AUC {metrics['auc']:.3f}, DSR {metrics['dsr']:.3f} over "
        f"{int(metrics['n_trials'])} trials, PBO {metrics['pbo']:.2f}. Registered {registration['group']} "
        f"v{registration['version']} ({registration['status']}) at {registration['location']}."
    )


def card_components(items: list[CardItem]) -> list[Any]:
    from spylib.stages.cards import to_card_components

    return to_card_components(items)
