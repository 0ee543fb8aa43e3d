"""What SpyFlow's steps call: each stage takes typed values and returns the step's artifacts.

This layer only wires the research, storage and registry modules together; it does not import
Metaflow, so every stage runs (and is tested) in a plain Python process. Each Metaflow task is a fresh
process: the modelling modules (scikit-learn, scipy.stats: ~1.3 s) and the report (matplotlib: ~0.5 s)
are imported inside the stages that need them, so the other steps start about 2 s faster.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
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
    stale_open_years,
)
from spylib.research.split import Splits, walk_forward_splits

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


@dataclass(frozen=True)
class Ingested:
    prices: pd.DataFrame
    provenance: dict[str, Any]


@dataclass(frozen=True)
class Featurized:
    table: pd.DataFrame
    feature_columns: list[str]
    audit: dict[str, Any]
    data_quality: dict[str, Any]


@dataclass
class Evaluation:
    """The join's artifacts: every trial, the walk-forward track and its refits, the final choice and
    model, the evidence and the gate's decision."""

    trials: pd.DataFrame
    best: dict[str, Any]
    model: Any
    metrics: dict[str, Any]
    baselines: pd.DataFrame
    track: pd.DataFrame
    refits: pd.DataFrame
    importance: pd.DataFrame
    holdout_metrics: dict[str, Any]
    power: dict[str, Any]
    gate: GateDecision
    card_items: list[CardItem]


@dataclass(frozen=True)
class Prediction:
    """The predict step's artifacts: the registered bundle, the predictions and where they went."""

    bundle: dict[str, Any]
    predictions: pd.DataFrame
    files: dict[str, str]


# ---------------------------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------------------------
def plain_text(markdown: str) -> str:
    """A Markdown line for the console: no emphasis markers or code quotes."""
    return markdown.replace("**", "").replace("`", "")


def run_ingest(settings: TrainingSettings) -> Ingested:
    """Load, validate and align the data, then check, before anything is written, that the walk-forward
    can be cut from it (the same rules as ``split``: ``min_train_days``, the blocks, the holdout)."""
    market = ingest(settings.source, settings.symbol, settings.benchmark, checks=settings.data_checks)
    wf = settings.sweep.walk_forward
    blocks = wf.min_selection_blocks + 1
    require_history(
        len(market.prices) // 2,
        WARMUP_ROWS
        + wf.min_train_days
        + wf.embargo_days
        + settings.label_horizon
        + blocks * 21 * wf.block_months,
        market.symbol.source,
        f"{WARMUP_ROWS} warm-up rows, {wf.min_train_days} training days, an embargo of {wf.embargo_days} and "
        f"{blocks} blocks of {wf.block_months} months",
        span=(market.prices["date"].min(), market.prices["date"].max()),
    )
    check_walk_forward(market.prices, settings)
    provenance = market.provenance()
    print(plain_text(data_note(provenance)))
    return Ingested(market.prices, provenance)


def check_walk_forward(prices: pd.DataFrame, settings: TrainingSettings) -> None:
    """Cut the walk-forward on the dates the feature table will have (the warm-up dropped, the last
    ``label_horizon`` rows unlabelled, stale-open years unscored under ``open_to_open``), so a
    ``min_train_days`` longer than the data or a holdout outside it fails in ``ingest``, before any
    lake write, with the message ``split`` would give."""
    dates = sorted(set(prices.loc[prices["symbol"] == settings.symbol, "date"]))[WARMUP_ROWS:]
    if not dates:
        return  # require_history has refused it already
    labelled = np.arange(len(dates)) < len(dates) - settings.label_horizon
    unscored = None
    if settings.execution == "open_to_open":
        stale = set(stale_open_years(prices, settings.symbol))
        if stale:
            unscored = np.array([d.year in stale for d in dates])
    walk_forward_splits(
        dates,
        labelled,
        settings.sweep.walk_forward,
        settings.label_horizon,
        holdout_start=settings.holdout_start,
        unscored=unscored,
    )


def block_boundaries(dates: Sequence[Any], block_months: int) -> list[Any]:
    """The first trading day of every walk-forward period (where a leak would cross blocks)."""
    d = pd.to_datetime(pd.Series(list(dates)))
    key = d.dt.year * 12 + (d.dt.month - 1) // block_months
    return [dates[int(i)] for i in np.flatnonzero(key.diff().fillna(0).to_numpy() != 0)]


def run_features(prices: pd.DataFrame, settings: TrainingSettings) -> Featurized:
    extra = load_extra_features(settings.extra_features)
    table = build_features(prices, settings.symbol, settings.benchmark, settings.execution, extra)
    audited = audit_lookahead(
        prices,
        settings.symbol,
        settings.benchmark,
        extra=extra,
        seed=settings.seed,
        boundary_dates=block_boundaries(list(table["date"]), settings.sweep.walk_forward.block_months),
    )
    audit = {
        "method": "truncation invariance (largest moves, block boundaries, random days)",
        "dates": audited,
        "n_dates": len(audited),
        "features": len(table.columns),
        "passed": True,
    }
    stale = stale_open_years(prices, settings.symbol)
    quality: dict[str, Any] = {"stale_open_years": stale, "note": ""}
    if stale:
        years = f"{min(stale)}-{max(stale)}" if len(stale) > 1 else str(min(stale))
        consequence = (
            "those years are training data only: an open-to-open return there would be a close-to-close "
            "one, traded at the close that feeds the features, so no block there is scored or traded"
            if settings.execution == "open_to_open"
            else "gap_open is about 0 there (the model learns nothing from it in those years)"
        )
        quality["note"] = (
            f"{settings.symbol}'s opens equal the previous close on most days of {years} "
            f"({', '.join(f'{y}: {v:.0%}' for y, v in sorted(stale.items()))}): {consequence}."
        )
        print(quality["note"])
    return Featurized(table, feature_columns(extra), audit, quality)


def run_split(
    features: pd.DataFrame,
    columns: Sequence[str],
    data_quality: Mapping[str, Any],
    settings: TrainingSettings,
) -> TrainingData:
    """The burn-in, the walk-forward blocks and the optional holdout."""
    wf = settings.sweep.walk_forward
    if wf.embargo_days < LONGEST_WINDOW:
        log.warning(
            "walk_forward.embargo_days=%d is shorter than the longest feature window (%d)",
            wf.embargo_days,
            LONGEST_WINDOW,
        )
    stale_years = set(data_quality.get("stale_open_years", {}))
    unscored = None
    if settings.execution == "open_to_open" and stale_years:
        unscored = pd.to_datetime(features["date"]).dt.year.isin(stale_years).to_numpy()
    splits = walk_forward_splits(
        list(features["date"]),
        features["target_up"].notna().to_numpy(),
        wf,
        settings.label_horizon,
        holdout_start=settings.holdout_start,
        unscored=unscored,
    )
    traded = splits.traded_blocks
    print(
        f"Walk-forward: {len(splits.blocks)} blocks of {wf.block_months} months from {splits.blocks[0].start}; "
        f"{len(traded)} traded ({traded[0].start} .. {traded[-1].end}, "
        f"{sum(b.n_rows for b in traded) / 252:.1f} years)"
    )
    return TrainingData(features, tuple(columns), splits)


def batch_configs(configs: Sequence[ModelSpec], per_task: int) -> list[list[ModelSpec]]:
    """The foreach's work items: consecutive configurations, ``per_task`` at a time; ``0`` = as many
    tasks as this machine has cores (dealt round-robin, so the slow families spread over the tasks)."""
    if per_task > 0:
        return [list(configs[i : i + per_task]) for i in range(0, len(configs), per_task)]
    n_tasks = max(1, min(len(configs), os.cpu_count() or 1))
    return [list(configs[i::n_tasks]) for i in range(n_tasks)]


def run_train(
    specs: Sequence[ModelSpec], data: TrainingData, settings: TrainingSettings
) -> list[ConfigResult]:
    """Score each configuration of one foreach task on every walk-forward block."""
    from spylib.research.evaluate import score_configuration

    results = []
    total = len(settings.sweep.models)
    grid = list(settings.sweep.models)
    for spec in specs:
        k = grid.index(spec) + 1 if spec in grid else "-"  # its number in the sweep, for the log line
        result = score_configuration(
            spec,
            data.features,
            data.feature_columns,
            data.splits,
            settings.sweep,
            settings.cost_bps,
            settings.seed,
            shuffle_labels=settings.shuffle_labels,
        )
        print(
            f"config {k}/{total} {spec.family}: {len(data.splits.blocks)} fits, out-of-fold AUC "
            f"{result.trials['oof_auc'].iloc[0]:.3f}, {result.seconds:.1f} s  [{spec.config_id}]"
        )
        results.append(result)
    return results


def run_evaluate(
    task_results: Sequence[Sequence[ConfigResult]],
    data: TrainingData,
    settings: TrainingSettings,
    provenance: Mapping[str, Any],
    data_quality: Mapping[str, Any],
) -> Evaluation:
    from spylib.research.baselines import BASELINE_COLUMNS, baseline_table
    from spylib.research.holdout import evaluate_holdout, permutation_importance_table
    from spylib.research.models import fit_model, predict_up_probability
    from spylib.research.report import evaluation_report
    from spylib.research.selection import chosen_trial
    from spylib.research.simulation import load_simulated_power
    from spylib.research.verdict import assess, power_summary

    sweep, features, splits, cols = settings.sweep, data.features, data.splits, list(data.feature_columns)
    results = [r for batch in task_results for r in batch]
    verdict = assess(
        results, features, splits, sweep, settings.gate, cost_bps=settings.cost_bps, seed=settings.seed
    )
    trialset, walk, gate = verdict.trialset, verdict.walk, verdict.decision
    print(
        f"evaluate: {trialset.n_trials} trials; the selection was made again at {len(walk.refits)} refit dates"
    )
    best = chosen_trial(trialset, walk.final)
    spec = next(r.spec for r in results if r.spec.config_id == best["config_id"])
    final_rows = features.iloc[splits.final_train_rows()]
    final_rows = final_rows[final_rows["target_up"].notna()]
    model = fit_model(spec, final_rows[cols], final_rows["target_up"].to_numpy("int8"), settings.seed)
    metrics = {**verdict.metrics, "execution": settings.execution, "shuffle_labels": settings.shuffle_labels}
    holdout: dict[str, Any] = {}
    if "holdout" in splits:
        frame = data.segment("holdout")
        holdout = evaluate_holdout(
            predict_up_probability(model, frame[cols]),
            frame,
            best,
            cost_bps=settings.cost_bps,
            target_volatility=sweep.target_volatility,
        )
    power = power_summary(metrics, settings.gate, load_simulated_power())
    chosen_columns = {k: v for k, v in metrics.items() if k in BASELINE_COLUMNS}
    baselines = baseline_table(features, cols, splits, settings.cost_bps, chosen=chosen_columns)
    last = splits.traded_blocks[-1]
    train_last = features.iloc[last.train_rows()]
    train_last = train_last[train_last["target_up"].notna()]
    oos_model = fit_model(spec, train_last[cols], train_last["target_up"].to_numpy("int8"), settings.seed)
    importance = permutation_importance_table(oos_model, features.iloc[last.rows()], cols, settings.seed)
    items = evaluation_report(
        data_note=data_note(provenance),
        quality_note=str(data_quality.get("note", "")),
        trials=trialset.trials,
        best=best,
        metrics=metrics,
        baselines=baselines,
        track=walk.track,
        refits=walk.refits,
        splits=splits,
        importance=importance,
        gate=gate,
        power=power,
        holdout=holdout,
    )
    return Evaluation(
        trialset.trials,
        best,
        model,
        metrics,
        baselines,
        walk.track,
        walk.refits,
        importance,
        holdout,
        power,
        gate,
        items,
    )


def run_predict(
    model: Any,
    best: Mapping[str, Any],
    track: pd.DataFrame,
    data: TrainingData,
    settings: TrainingSettings,
    run_id: str,
) -> Prediction:
    from spylib.research.models import make_bundle
    from spylib.research.predict import batch_predictions, write_predictions

    bundle = make_bundle(
        model,
        data.feature_columns,
        float(best["threshold"]),
        best["filter_columns"],
        settings.execution,
        settings.symbol,
        sizing=str(best["sizing"]),
        target_volatility=settings.sweep.target_volatility,
    )
    predictions = batch_predictions(bundle, data.features, data.splits, track, model_version=f"run-{run_id}")
    files = write_predictions(predictions, settings.output_dir, run_id)
    return Prediction(bundle, predictions, files)


@dataclass(frozen=True)
class Registered:
    """The register step's artifacts: where the version went, and how it compared with the champion."""

    registration: dict[str, Any]
    champion_comparison: dict[str, Any]


def run_register(
    bundle: dict[str, Any],
    evaluation_metrics: Mapping[str, Any],
    gate: GateDecision,
    track: pd.DataFrame,
    data: TrainingData,
    settings: TrainingSettings,
    provenance: Mapping[str, Any],
    *,
    pathspec: str,
) -> Registered:
    """Compare with the champion (the latest Approved version), then register with the status that
    follows (see :mod:`spylib.research.champion`), the metrics, the comparison and the track."""
    from spylib.monitoring import PROFILE_FILE, reference_profile
    from spylib.registry import RegistrationRequest, open_registry
    from spylib.research.champion import TRACK_FILE, challenge, track_csv

    registry = open_registry(
        settings.registry, settings.registry_location, image_uri=settings.sagemaker_image_uri or None
    )
    rule = settings.gate
    status, comparison = challenge(
        registry,
        settings.model_group,
        track,
        gate.status,
        days=rule.champion_days,
        margin=rule.champion_margin,
        alpha=rule.champion_alpha,
    )
    profile = reference_profile(
        data.features.iloc[data.splits.final_train_rows()],
        list(data.feature_columns),
        test_probability=track["probability"].to_numpy(),
        test_signal=(track["position"].to_numpy() > 0).astype("int8"),
        test_metrics={
            "hit_rate": evaluation_metrics.get("hit_rate"),
            "auc": evaluation_metrics.get("auc"),
            "net_sharpe": evaluation_metrics.get("sharpe_net"),
        },
    )
    request = RegistrationRequest(
        group=settings.model_group,
        bundle=bundle,
        approval_status=status,
        metrics=to_json_safe({**evaluation_metrics, "champion_comparison": comparison.to_dict()}),
        gate_reasons=gate.reasons,
        run_pathspec=pathspec,
        data_fingerprint=str(provenance["fingerprint"]),
        code_version=code_version(),
        extra_files={PROFILE_FILE: dumps_strict(profile).encode(), TRACK_FILE: track_csv(track)},
        description=f"{settings.symbol} next-day direction ({settings.execution}), {pathspec}",
    )
    registration = asdict(registry.register(request))
    print(
        f"registered {registration['group']} v{registration['version']}: {registration['status']} "
        f"(gate {gate.status}; against the champion: {comparison.verdict.replace('_', ' ')})"
    )
    return Registered(registration, comparison.to_dict())


def write_lake(frame: pd.DataFrame, table: str, settings: TrainingSettings, run_id: str) -> list[str]:
    """Stage one of the lake's tables for this run (idempotent per run; invisible to readers until
    :func:`publish_lake`); return the URIs the files have once published. Nothing when the lake is off."""
    if not settings.lake_root:
        return []
    from spylib.storage.staging import stage_table
    from spylib.storage.tables import get_lake_table

    columns = [c for c in get_lake_table(table).data_schema.names if c in frame.columns]
    return stage_table(frame[columns], table, settings.lake_root, run_id)


def publish_lake(
    settings: TrainingSettings, run_id: str, catalog: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """When the run has succeeded: move its staged lake files into the tables (once: a resumed run
    publishes the origin run's files, keyed by the same id), then register the new partitions in Glue
    when ``--glue-database`` is set. Returns the publication and the Glue report (``catalog``, the
    earlier report of the run, says whether the run created the database)."""
    if not settings.lake_root:
        return {"publication": {}, "glue_catalog": dict(catalog or {})}
    from spylib.storage.staging import publish_run

    publication = publish_run(settings.lake_root, run_id)
    print(
        f"lake: published run {run_id}: {publication.moved} file(s) moved into {settings.lake_root}"
        + (" (the run had been published before)" if publication.already_published else "")
    )
    glue = dict(catalog or {})
    if settings.glue_database:
        glue = register_catalog(settings)
        glue["database_created"] = bool(glue["database_created"] or (catalog or {}).get("database_created"))
    return {"publication": publication.to_dict(), "glue_catalog": glue}


def register_catalog(settings: TrainingSettings) -> dict[str, Any]:
    """Register the lake in Glue when ``--glue-database`` is set."""
    if not settings.glue_database:
        return {}
    from spylib.storage.catalog import register_glue_tables

    return register_glue_tables(settings.lake_root, settings.glue_database)
