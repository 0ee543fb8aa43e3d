"""What ``PredictFlow``'s steps call: settings, the Approved model, ingest and features cut at the as-of
day, the prediction and the track-record update, the monitoring run and its files. Wiring only: the
logic is in :mod:`spylib.registry`, :mod:`spylib.data`, :mod:`spylib.features`, :mod:`spylib.modelling` and :mod:`spylib.monitoring`.

**As-of day.** ``as_of`` (``YYYY-MM-DD``; empty = the latest common day of the data) is the day whose
close the prediction is made at. Prices are cut at ``as_of`` (inclusive) before the features are built,
with the same code as training, so a past day is predicted exactly as it would have been that evening.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from spylib.core.errors import ConfigError, DataValidationError, SpyFlowError
from spylib.core.runtime import env_flag as runtime_env_flag
from spylib.core.schema import PREDICTION_COLUMNS
from spylib.data.sources import EMBEDDED, ingest
from spylib.features.table import build_features, feature_columns, load_extra_features
from spylib.modelling.strategy import UNRECORDED, Strategy, as_bundle
from spylib.monitoring import (
    MonitorConfig,
    MonitoringReport,
    plot_monitoring,
    rolling_performance,
    run_monitoring,
    save_figures,
)
from spylib.monitoring.profile import PROFILE_FILE, loads_profile
from spylib.monitoring.track_record import (
    REPLAY_SEGMENT,
    predict_day,
    publish_daily_rows,
    realized_outcomes,
    update_track_record,
)
from spylib.registry import ModelRegistry, open_registry
from spylib.registry.provenance import Provenance
from spylib.stages.settings import DailySettings
from spylib.storage.files import atomic_write_bytes

FAIL_ON_ALERT_ENV = "SPYFLOW_FAIL_ON_ALERT"
MONITORING_FILE = "monitoring.json"


# ---------------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------------
def env_flag(name: str = FAIL_ON_ALERT_ENV) -> bool:
    """A boolean from the environment (:func:`spylib.core.runtime.env_flag`: a typo is an error). Used as a Parameter default that
    Metaflow evaluates at deploy time, so ``SPYFLOW_FAIL_ON_ALERT=true ... step-functions create``
    bakes ``fail-on-alert = true`` into the scheduled deployment."""
    return runtime_env_flag(name)


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeployedModel:
    """The Approved model a run uses (artifact ``model``): bundle, identity, metrics, reference profile."""

    bundle: dict[str, Any]
    group: str
    version: int
    model_sha256: str
    location: str
    metrics: dict[str, Any]
    profile: dict[str, Any]
    provenance: Provenance | None = None

    @property
    def model_version(self) -> str:
        return f"{self.group}/v{self.version}"

    @property
    def strategy(self) -> Strategy:
        """The registered strategy: what the run applies to the day's features."""
        return as_bundle(self.bundle).strategy

    @property
    def cost_bps(self) -> float:
        """The strategy's cost (for a bundle that predates the strategy: the metrics')."""
        strategy = self.strategy
        if strategy.model.config_id != UNRECORDED:
            return strategy.cost_bps
        value = self.metrics.get("cost_bps")
        return float(value) if value is not None else MonitorConfig().cost_bps


def check_servable(
    name: str, provenance: Provenance | None, symbols: tuple[str, str], *, source: str
) -> None:
    """Refuse, in one line, a control model and a model trained on other symbols than the run's.

    A version registered before provenance was recorded passes (there is nothing to check)."""
    if provenance is None:
        return
    if provenance.is_control:
        raise ConfigError(
            f"model {name} is a control (trained on {provenance.control_reason}); controls are never "
            "served: register a model trained on real data with real labels",
            source=source,
        )
    if tuple(provenance.symbols) != symbols:
        raise ConfigError(
            f"model {name} was trained on symbols {' '.join(provenance.symbols)}, this run's inputs are "
            f"{' '.join(symbols)}",
            source=source,
        )


def load_approved_model(settings: DailySettings, *, registry: ModelRegistry | None = None) -> DeployedModel:
    """The latest Approved version of ``settings.model_group`` and its reference profile (the registry
    checks the sha256 of both against the version's manifest)."""
    registry = registry or open_registry(settings.registry, settings.registry_location)
    registered = registry.latest_approved(settings.model_group)
    where = f"{settings.registry} registry {settings.registry_location}"
    if registered is None:
        _refuse_empty_registry(registry, settings, where)
        raise SpyFlowError(
            f"no Approved version of model group '{settings.model_group}' in the {where}: approve one with "
            f"`spy-flow approve N --registry {settings.registry} --location {settings.registry_location} "
            f"--group {settings.model_group}` (`spy-flow versions` lists them)"
        )
    bundle = registered.bundle
    name = f"{settings.model_group}/v{registered.registration.version}"
    provenance = registered.provenance
    check_servable(name, provenance, (settings.symbol, settings.benchmark), source=where)
    if bundle["symbol"] != settings.symbol:
        raise ConfigError(
            f"model {settings.model_group}/v{registered.registration.version} predicts {bundle['symbol']}, "
            f"not {settings.symbol}",
            source="--symbol",
        )
    profile = loads_profile(
        registry.read_extra_file(registered, PROFILE_FILE),
        source=registry.extra_file_uri(registered, PROFILE_FILE),
    )
    return DeployedModel(
        bundle=bundle,
        group=registered.registration.group,
        version=registered.registration.version,
        model_sha256=registered.registration.model_sha256,
        location=registered.registration.location,
        metrics=dict(registered.metadata.get("metrics") or {}),
        profile=profile,
        provenance=provenance,
    )


def _refuse_empty_registry(registry: ModelRegistry, settings: DailySettings, where: str) -> None:
    """Name the real reason there is no Approved model when it is not a missing approval: a local
    registry directory that does not exist, or a group without any version."""
    if settings.registry == "local" and not Path(settings.registry_location).expanduser().is_dir():
        raise ConfigError(
            f"the local registry {settings.registry_location} does not exist (no such directory): give the "
            "--registry-location SpyFlow registered its models in",
            source="--registry-location",
        )
    if not registry.list_versions(settings.model_group):
        raise SpyFlowError(
            f"model group '{settings.model_group}' has no version in the {where}: run SpyFlow to register "
            "one (or check --model-group and --registry-location)"
        )


# ---------------------------------------------------------------------------------------------
# data and features
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AsOfPrices:
    """Prices cut at the as-of day (inclusive), and that day."""

    prices: pd.DataFrame
    as_of: date


@dataclass(frozen=True)
class DailyData:
    """What ``ingest`` stores: the cut prices (``prices``), their provenance (``data_provenance``, with
    ``as_of``) and the as-of day (``as_of_date``)."""

    prices: pd.DataFrame
    provenance: dict[str, Any]
    as_of: date


def price_loader(source: str) -> Callable[..., Any] | None:
    """The ingest loader for ``source``: the yfinance live source, or None (the default loader)."""
    from spylib.data.live import load_live
    from spylib.data.price_files import LIVE_SOURCE

    return load_live if source == LIVE_SOURCE else None


def cut_at(prices: pd.DataFrame, as_of: date | None, source: str) -> AsOfPrices:
    """Prices up to and including ``as_of`` (None = the last day); ``as_of`` must be a trading day."""
    days = sorted(set(prices["date"]))
    if as_of is None:
        return AsOfPrices(prices=prices, as_of=days[-1])
    if as_of not in set(days):
        earlier = [d for d in days if d < as_of]
        hint = f"the last trading day before it is {earlier[-1]}" if earlier else "the data starts later"
        raise DataValidationError(
            f"--as-of {as_of} is not a trading day of the data ({days[0]}..{days[-1]}); {hint}",
            source=source,
            date=str(as_of),
            column="date",
        )
    return AsOfPrices(prices=prices[prices["date"] <= as_of].reset_index(drop=True), as_of=as_of)


def run_ingest(settings: DailySettings) -> DailyData:
    """Load and validate the symbol and benchmark from the training sources (or yfinance), cut at as-of,
    with the run's ``data_checks`` (the rules SpyFlow applies)."""
    loader = price_loader(settings.source)
    checks = settings.data_checks
    market = (
        ingest(settings.source, settings.symbol, settings.benchmark, loader=loader, checks=checks)
        if loader is not None
        else ingest(settings.source, settings.symbol, settings.benchmark, checks=checks)
    )
    cut = cut_at(market.prices, settings.as_of, market.symbol.source)
    provenance = market.provenance()
    provenance["as_of"] = str(cut.as_of)
    if settings.source == EMBEDDED:
        descriptions = [p.description for p in (market.symbol, market.benchmark)]
        print(f"Data: offline stand-ins ({'; '.join(descriptions)})")
    return DailyData(prices=cut.prices, provenance=provenance, as_of=cut.as_of)


def run_features(
    prices: pd.DataFrame, settings: DailySettings, model: DeployedModel, as_of: date
) -> pd.DataFrame:
    """Features and labels with the training code and the model's label convention (as-of row required)."""
    extra = load_extra_features(settings.extra_features)
    convention = model.bundle["label_convention"]
    features = build_features(prices, settings.symbol, settings.benchmark, convention, extra)
    missing = [c for c in model.bundle["feature_columns"] if c not in features.columns]
    if missing:
        raise ConfigError(
            f"model {model.model_version} needs feature '{missing[0]}', which the feature code does not "
            "build: pass the model's --extra-features",
            source="--extra-features",
        )
    inputs, trained = feature_columns(extra), list(model.strategy.feature_columns)
    if set(inputs) != set(trained):
        unused = [c for c in inputs if c not in trained]
        raise ConfigError(
            f"model {model.model_version} was trained on {len(trained)} features, this run builds "
            f"{len(inputs)}: '{unused[0]}' is not one of the model's (pass the model's --extra-features only)",
            source="--extra-features",
        )
    if features.empty or features["date"].iloc[-1] != as_of:
        raise DataValidationError(
            "the as-of day has no complete feature row (a feature is undefined, e.g. zero volume)",
            source="features",
            date=str(as_of),
        )
    return features


# ---------------------------------------------------------------------------------------------
# prediction and the track record
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DailyPrediction:
    """What ``predict`` stores: today's row (``prediction``), the track record after this run
    (``track_record``) and the lake files staged (``lake_files``: their URIs once ``end`` publishes the
    run; empty when nothing changed)."""

    today: pd.DataFrame
    track: pd.DataFrame
    files: list[str]


def run_predict(
    model: DeployedModel,
    features: pd.DataFrame,
    settings: DailySettings,
    as_of: date,
    run_id: str,
    source_fingerprint: str | None = None,
) -> DailyPrediction:
    """Predict ``as_of``, merge it into the track record in the lake, stage the new and filled rows
    (visible once :func:`publish_predictions` publishes the run)."""
    today = predict_day(model, features, as_of)
    update = update_track_record(
        settings.lake_root, settings.symbol, today, realized_outcomes(features), run_id, source_fingerprint
    )
    kept = update.track[update.track["date"] == as_of].iloc[0]
    if kept["model_version"] != model.model_version or kept["probability"] != today["probability"].iloc[0]:
        print(f"{as_of} was already predicted by {kept['model_version']} (p={kept['probability']:.4f}): kept")
    return DailyPrediction(today=today, track=update.track, files=update.files)


# ---------------------------------------------------------------------------------------------
# monitoring
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DailyMonitoring:
    """Every check of the run (``report``) and the rolling realized performance (``rolling``)."""

    report: MonitoringReport
    rolling: pd.DataFrame


@dataclass(frozen=True)
class SavedOutputs:
    """The figures of the run and the files written beside the predictions, by name."""

    figures: dict[str, Any]
    files: dict[str, str]


@dataclass(frozen=True)
class ReplayCut:
    """The monitored predictions without the replayed days inside the model's training window (the
    model was fitted on them: scoring them against its out-of-sample reference would flatter it)."""

    predictions: pd.DataFrame
    replayed: int
    inside_training: int
    training_end: str | None
    note: str


def cut_replay_at_training(predictions: pd.DataFrame, profile: Mapping[str, Any], asked: int) -> ReplayCut:
    """Drop the replayed rows dated on or before the end of the model's training window (the profile's
    ``window.end``) and say how many there were; the daily track record is kept whole."""
    replay = predictions["segment"] == REPLAY_SEGMENT if len(predictions) else pd.Series([], dtype=bool)
    replayed = int(replay.sum())
    end = (profile.get("window") or {}).get("end")
    if not replayed or end is None:
        return ReplayCut(predictions, replayed, 0, end, "")
    inside = replay & (pd.to_datetime(predictions["date"]) <= pd.Timestamp(end))
    kept = predictions[~inside].reset_index(drop=True)
    n_inside = int(inside.sum())
    note = (
        f"replay: {asked} day(s) asked, {replayed} replayed, {n_inside} of them inside the model's training "
        f"window (up to {end}) and left out; performance is scored on the {replayed - n_inside} replayed "
        "day(s) after it and the daily track record"
    )
    return ReplayCut(kept, replayed, n_inside, str(end), note)


def run_daily_monitoring(
    profile: Mapping[str, Any],
    features: pd.DataFrame,
    predictions: pd.DataFrame,
    step_stats: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    *,
    cost_bps: float = 1.0,
    config: MonitorConfig | None = None,
) -> DailyMonitoring:
    """All checks (:func:`spylib.monitoring.run_monitoring`) and the rolling realized performance, at
    the model's cost. ``features`` is the recent feature table (drift uses its last ``drift_window`` rows).
    """
    cfg = config or MonitorConfig(cost_bps=cost_bps)
    report = run_monitoring(profile, features, predictions, step_stats, history, cfg)
    rolling = rolling_performance(predictions, cfg.performance_windows, cfg.cost_bps)
    return DailyMonitoring(report=report, rolling=rolling)


def save_outputs(
    monitored: DailyMonitoring,
    predictions: pd.DataFrame,
    track: pd.DataFrame,
    step_stats: pd.DataFrame,
    history: pd.DataFrame,
    output_dir: str,
    run_id: str,
) -> SavedOutputs:
    """Figures and files beside the predictions: ``{output_dir}/predictions/run_id={run_id}/``
    (``predictions.parquet/.csv`` = the track record after this run, ``monitoring.json``, one PNG per
    figure). ``monitored`` is the run's checks and rolling performance (:func:`run_daily_monitoring`)."""
    from spylib.modelling.predictions import write_predictions

    report, rolling = monitored.report, monitored.rolling
    files = write_predictions(track[list(PREDICTION_COLUMNS)], output_dir, run_id)
    directory = Path(files["parquet"]).parent
    figures = plot_monitoring(report, predictions, rolling, step_stats, history)
    for path in save_figures(figures, directory):
        files[path.stem] = str(path)
    report_path = directory / MONITORING_FILE
    atomic_write_bytes(report_path, report.to_json().encode("utf-8"))
    files["monitoring"] = str(report_path)
    return SavedOutputs(figures=dict(figures), files=files)


def publish_predictions(
    settings: DailySettings, run_id: str, source_fingerprint: str | None
) -> dict[str, Any]:
    """``end``: publish the run's staged track-record rows, as SpyFlow's ``end`` publishes its lake files
    (a run that failed before never shows a row). It runs before the verdict, so a run that fails on
    purpose with ``--fail-on-alert`` still records its prediction."""
    publication = publish_daily_rows(settings.lake_root, run_id, source_fingerprint)
    print(f"lake: published run {run_id}: {publication['moved']} file(s) moved into {settings.lake_root}")
    return publication


def finish(report_dict: Mapping[str, Any], message: str, fail_on_alert: bool) -> None:
    """Print the verdict; on alert with ``fail_on_alert`` raise (a non-zero exit for the scheduler)."""
    print(message)
    if report_dict["status"] == "alert" and fail_on_alert:
        raise SpyFlowError(f"monitoring alert (--fail-on-alert is on):\n{message}")
