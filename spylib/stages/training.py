"""What SpyFlow's steps call: each stage takes typed values and returns the step's artifacts.

This layer only wires the research, storage and registry modules together; it does not import
Metaflow, so every stage runs (and is tested) in a plain Python process. Each Metaflow task is a fresh
process: the modelling modules (scikit-learn, scipy.stats: ~1.3 s) and the report (matplotlib: ~0.5 s)
are imported inside the stages that need them, so the other steps start about 2 s faster.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from spylib.core.config import ModelSpec
from spylib.core.jsonio import dumps_strict, to_json_safe
from spylib.core.runtime import code_version
from spylib.core.settings import TrainingSettings
from spylib.research.data import data_note, ingest, require_history
from spylib.research.features import (
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
    from spylib.research.gate import GateDecision
    from spylib.research.report import CardItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingData:
    """The feature table, the columns the model sees and the named segments: what every stage after
    ``split`` works on (the artifact ``training_data``; the same stored objects as ``feature_table``,
    ``feature_columns`` and ``splits``)."""

    features: pd.DataFrame
    feature_columns: tuple[str, ...]
    splits: Splits

    def segment(self, name: str) -> pd.DataFrame:
        return self.features.iloc[self.splits[name].rows()]

    def development(self) -> pd.DataFrame:
        return self.features.iloc[self.splits.development_rows()]


@dataclass(frozen=True)
class Ingested:
    prices: pd.DataFrame
    provenance: dict[str, Any]


@dataclass(frozen=True)
class Featurized:
    table: pd.DataFrame
    feature_columns: list[str]
    audit: dict[str, Any]


@dataclass(frozen=True)
class SplitResult:
    data: TrainingData
    folds: list[Fold]


@dataclass
class Evaluation:
    """The join's artifacts: every trial, the chosen one, its test figures, the baselines and the gate."""

    trials: pd.DataFrame
    best: dict[str, Any]
    model: Any
    metrics: dict[str, Any]
    baselines: pd.DataFrame
    curve: pd.DataFrame
    importance: pd.DataFrame
    gate: GateDecision
    card_items: list[CardItem]


@dataclass(frozen=True)
class Prediction:
    """The predict step's artifacts: the registered bundle, the predictions and where they went."""

    bundle: dict[str, Any]
    predictions: pd.DataFrame
    files: dict[str, str]
    production_metrics: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------------------------
def run_ingest(settings: TrainingSettings) -> Ingested:
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
    return Ingested(market.prices, provenance)


def run_features(prices: pd.DataFrame, settings: TrainingSettings) -> Featurized:
    extra = load_extra_features(settings.extra_features)
    table = build_features(prices, settings.symbol, settings.benchmark, settings.execution, extra)
    audited = audit_lookahead(prices, settings.symbol, settings.benchmark, extra=extra, seed=settings.seed)
    audit = {
        "method": "truncation invariance",
        "dates": audited,
        "features": len(table.columns),
        "passed": True,
    }
    return Featurized(table, feature_columns(extra), audit)


def run_split(features: pd.DataFrame, columns: Sequence[str], settings: TrainingSettings) -> SplitResult:
    gap = max(settings.gap_rows, settings.label_horizon)
    splits = time_splits(features["date"].tolist(), settings.boundaries, gap_rows=gap)
    folds = walk_forward_folds(splits.development_rows(), settings.sweep.cv, settings.label_horizon)
    if settings.sweep.cv.embargo_days < LONGEST_WINDOW:
        log.warning(
            "cv.embargo_days=%d is shorter than the longest feature window (%d)",
            settings.sweep.cv.embargo_days,
            LONGEST_WINDOW,
        )
    return SplitResult(TrainingData(features, tuple(columns), splits), folds)


def batch_configs(configs: Sequence[ModelSpec], per_task: int) -> list[list[ModelSpec]]:
    """The foreach's work items: consecutive configurations, ``per_task`` at a time."""
    return [list(configs[i : i + per_task]) for i in range(0, len(configs), per_task)]


def run_train(
    specs: Sequence[ModelSpec], data: TrainingData, folds: Sequence[Fold], settings: TrainingSettings
) -> list[ConfigResult]:
    """Score each configuration of one foreach task."""
    from spylib.research.evaluate import score_configuration

    return [
        score_configuration(
            spec,
            data.features,
            data.feature_columns,
            folds,
            data.splits.development_rows(),
            data.splits["test"].rows(),
            settings.sweep,
            settings.cost_bps,
            settings.seed,
            shuffle_labels=settings.shuffle_labels,
        )
        for spec in specs
    ]


def run_evaluate(
    task_results: Sequence[Sequence[ConfigResult]],
    data: TrainingData,
    settings: TrainingSettings,
    provenance: Mapping[str, Any],
) -> Evaluation:
    from spylib.research.baselines import baseline_table
    from spylib.research.evaluate import combine_trials, filter_columns, select_trial
    from spylib.research.gate import apply_gate
    from spylib.research.holdout import evaluate_chosen_on_test, permutation_importance_table
    from spylib.research.report import evaluation_report

    results = [r for batch in task_results for r in batch]
    trials, oof_matrix = combine_trials(results)
    best_row = select_trial(trials, settings.sweep.selection_metric, settings.sweep.min_trades)
    chosen = next(r for r in results if r.spec.config_id == best_row["config_id"])
    best = {**best_row.to_dict(), "filter_columns": filter_columns(str(best_row["filter"]))}
    test = data.segment("test")
    holdout = evaluate_chosen_on_test(
        chosen.test_probability, test, best, trials, oof_matrix,
        cost_bps=settings.cost_bps, execution=settings.execution, shuffle_labels=settings.shuffle_labels,
        seed=settings.seed,
    )  # fmt: skip
    baselines = baseline_table(
        data.features, data.feature_columns, data.splits.development_rows(), data.splits["test"].rows(),
        settings.cost_bps, settings.seed, chosen=holdout.test_metrics,
    )  # fmt: skip
    gate = apply_gate(holdout.metrics, holdout.metrics["buy_and_hold_sharpe_net"], settings.gate)
    importance = permutation_importance_table(chosen.model, test, data.feature_columns, settings.seed)
    items = evaluation_report(
        data_note=data_note(provenance), trials=trials, best=best, metrics=holdout.metrics,
        baselines=baselines, curve=holdout.curve, importance=importance, gate=gate.to_dict(),
    )  # fmt: skip
    return Evaluation(
        trials, best, chosen.model, holdout.metrics, baselines, holdout.curve, importance, gate, items
    )


def run_predict(
    model: Any,
    best: Mapping[str, Any],
    data: TrainingData,
    settings: TrainingSettings,
    run_id: str,
) -> Prediction:
    from spylib.research.holdout import score_production
    from spylib.research.models import make_bundle
    from spylib.research.predict import batch_predictions, write_predictions

    bundle = make_bundle(
        model, data.feature_columns, float(best["threshold"]), best["filter_columns"], settings.execution,
        settings.symbol,
    )  # fmt: skip
    predictions = batch_predictions(bundle, data.features, data.splits, model_version=f"run-{run_id}")
    files = write_predictions(predictions, settings.output_dir, run_id)
    production = data.segment("production")
    production_metrics = score_production(
        predictions.loc[predictions["segment"] == "production", "probability"].to_numpy(),
        production[production["target_up"].notna()],
        bundle["threshold"],
        bundle["filter_columns"],
        settings.cost_bps,
    )
    return Prediction(bundle, predictions, files, production_metrics)


def run_register(
    bundle: dict[str, Any],
    evaluation_metrics: Mapping[str, Any],
    gate: GateDecision,
    test_curve: pd.DataFrame,
    data: TrainingData,
    settings: TrainingSettings,
    provenance: Mapping[str, Any],
    *,
    pathspec: str,
) -> dict[str, Any]:
    from spylib.monitoring import reference_profile
    from spylib.registry import RegistrationRequest, open_registry

    profile = reference_profile(
        data.development(),
        list(data.feature_columns),
        test_probability=test_curve["probability"].to_numpy(),
        test_signal=test_curve["position"].to_numpy(),
        test_metrics={
            "hit_rate": evaluation_metrics.get("hit_rate"),
            "auc": evaluation_metrics.get("auc"),
            "net_sharpe": evaluation_metrics.get("sharpe_net"),
        },
    )
    request = RegistrationRequest(
        group=settings.model_group,
        bundle=bundle,
        approval_status=gate.status,
        metrics=to_json_safe(dict(evaluation_metrics)),
        gate_reasons=gate.reasons,
        run_pathspec=pathspec,
        data_fingerprint=str(provenance["fingerprint"]),
        code_version=code_version(),
        extra_files={"reference_profile.json": dumps_strict(profile).encode()},
        description=f"{settings.symbol} next-day direction ({settings.execution}), {pathspec}",
    )
    registry = open_registry(
        settings.registry, settings.registry_location, image_uri=settings.sagemaker_image_uri or None
    )
    return asdict(registry.register(request))


def write_lake(frame: pd.DataFrame, table: str, settings: TrainingSettings, run_id: str) -> list[str]:
    """Write one of the lake's tables for this run (idempotent per run); nothing when the lake is off."""
    if not settings.lake_root:
        return []
    from spylib.storage.lake import get_lake_table, write_table

    columns = [c for c in get_lake_table(table).data_schema.names if c in frame.columns]
    return write_table(frame[columns], table, settings.lake_root, run_id)


def register_catalog(settings: TrainingSettings) -> dict[str, Any]:
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
