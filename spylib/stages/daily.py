"""Daily batch inference from the registry, and the monitoring around it (what ``PredictFlow`` calls).

No Metaflow import at module level: the one function that reads runs back through the Metaflow
Client (:func:`read_step_stats`) imports it lazily, so everything else runs in a plain process.

Conventions:

* **As-of day.** ``as_of`` (``YYYY-MM-DD``; empty = the latest common day of the data) is the day
  whose close the prediction is made at. Prices are cut at ``as_of`` (inclusive) before the features
  are built, with the same code as training, so a past day is predicted exactly as it would have been
  that evening. ``as_of`` must be a trading day of the data.
* **A daily row** of the lake's ``predictions`` table has ``date = as_of``, ``segment = "daily"``,
  ``model_version = "<group>/v<version>"``, the probability and the long/flat signal for the next
  label span (the next trading day's close under ``close_to_close``), and a null outcome.
* **One row per (date, symbol) in the daily segment; the first prediction is kept.** A re-run for a
  day that already has a daily row keeps its probability, signal and model version (an honest track
  record is never rewritten after the fact, even by a newer model); only the outcome columns
  (``target_up``, ``fwd_return``) are filled once the data holds the day's label. A recorded outcome
  is never overwritten (a later vendor revision of adjusted prices is logged, not applied).
* **Where the rows live.** A daily row is stored in the lake file of the run that FIRST predicted it
  (``predictions/symbol=S/year=Y/run_id=<that run>.parquet``, ``run_id`` column = that run), written
  with :func:`spylib.storage.lake.write_table` in ``mode="run"``: a re-run rewrites nothing new, and filling an
  outcome rewrites that one file in place (atomically). So every row keeps the id of the run that
  made the prediction, and the training flow's files are never touched.
  Why not ``mode="merge"``: merge mode folds every file of a partition into one and then enforces the
  table key ``(date, symbol)`` on the result, so a daily row and a training row of the same day
  (SpyFlow's ``production``/``latest`` segments overlap the daily dates whenever the model is
  retrained) cannot both survive a merge; it also deletes the training run's file it absorbed.
* **Coexistence with the training flow's rows.** The table then holds, for one day, possibly a daily
  row (``segment = "daily"``, ``model_version = "<group>/v<n>"``) and rows of training runs
  (``test``/``production``/``latest``, ``run-<id>``), each in its own run's file. Select the track
  record with ``segment = 'daily'`` (``read_table(..., [("segment", "=", "daily")])`` or
  ``spy-sql "SELECT ... FROM predictions WHERE segment = 'daily'"``).
* **Monitoring predictions.** The daily track record of the symbol (every model version), optionally
  preceded by ``replay_days`` replayed predictions: the current model scored on the last days before
  the first daily row, with their known outcomes (``segment = "replay"``, never written to the lake).
  A young deployment thus gets prediction-drift and performance checks at once, and says so.
* **Pipeline health.** Each step of the flow measures itself (``monitor.measure_resources``) into the
  artifact ``step_resources``; :func:`read_step_stats` reads them back from the current run and the
  last ``history_runs`` runs of the flow through the Metaflow Client.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from spylib.core.errors import ConfigError, DataValidationError, IntegrityError, SpyFlowError
from spylib.core.schema import PREDICTION_COLUMNS
from spylib.monitoring import (
    MonitorConfig,
    MonitoringReport,
    plot_monitoring,
    rolling_performance,
    run_monitoring,
    save_figures,
)
from spylib.registry import ModelRegistry, RegisteredModel, sha256_bytes
from spylib.research.data import EMBEDDED, ingest
from spylib.research.features import build_features, load_extra_features
from spylib.research.models import bundle_signal

log = logging.getLogger(__name__)

DAILY_SEGMENT = "daily"
REPLAY_SEGMENT = "replay"
PROFILE_FILE = "reference_profile.json"
OUTCOME_COLUMNS = ("target_up", "fwd_return")
RUN_ID = "run_id"
FAIL_ON_ALERT_ENV = "SPYFLOW_FAIL_ON_ALERT"


# ---------------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DailySettings:
    """Every parameter of a PredictFlow run, validated once in ``start`` (artifact ``settings``)."""

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


def parse_as_of(text: str) -> date | None:
    """``''`` -> None (the latest day); ``YYYY-MM-DD`` -> that date; anything else is a ConfigError."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"expected YYYY-MM-DD or empty, got {text!r}", source="--as-of") from None


def validate_daily_settings(flow: Any) -> DailySettings:
    """Read PredictFlow's Parameters (by name) and validate them all."""
    if flow.registry not in ("local", "sagemaker"):
        raise ConfigError(
            f"unknown registry target {flow.registry!r}: use 'local' or 'sagemaker'", source="--registry"
        )
    if not flow.lake_root:
        raise ConfigError("the daily predictions live in the lake: give a directory or s3:// prefix",
                          source="--lake-root")  # fmt: skip
    symbol, benchmark = flow.symbol.strip().upper(), flow.benchmark.strip().upper()
    if not symbol or not benchmark or symbol == benchmark:
        raise ConfigError("symbol and benchmark must be non-empty and differ", source="--symbol/--benchmark")
    if int(flow.history_runs) < 0 or int(flow.replay_days) < 0:
        raise ConfigError("must be >= 0", source="--history-runs/--replay-days")
    extra = tuple(p.strip() for p in flow.extra_features.split(",") if p.strip())
    load_extra_features(extra)  # fail now, not in the features step
    return DailySettings(
        source=flow.source,
        symbol=symbol,
        benchmark=benchmark,
        as_of=parse_as_of(flow.as_of),
        extra_features=extra,
        output_dir=flow.output_dir,
        lake_root=flow.lake_root,
        registry=flow.registry,
        registry_location=flow.registry_location,
        model_group=flow.model_group,
        history_runs=int(flow.history_runs),
        replay_days=int(flow.replay_days),
        fail_on_alert=bool(flow.fail_on_alert),
    )


def env_flag(name: str = FAIL_ON_ALERT_ENV) -> bool:
    """A boolean from the environment ('1', 'true', 'yes' -> True). Used as a Parameter default that
    Metaflow evaluates at deploy time, so ``SPYFLOW_FAIL_ON_ALERT=true ... step-functions create``
    bakes ``fail-on-alert = true`` into the scheduled deployment."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def env_default(name: str, fallback: str) -> str:
    """A string Parameter default read from ``$name``: evaluated at deploy time, so a scheduled
    deployment made with ``SPYFLOW_LAKE_ROOT=s3://... step-functions create`` keeps that location
    (scheduled runs take the defaults; there is no command line to pass them)."""
    return os.environ.get(name, "").strip() or fallback


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

    @property
    def model_version(self) -> str:
        return f"{self.group}/v{self.version}"

    @property
    def cost_bps(self) -> float:
        value = self.metrics.get("cost_bps")
        return float(value) if value is not None else MonitorConfig().cost_bps


def load_reference_profile(registry: ModelRegistry, registered: RegisteredModel) -> dict[str, Any]:
    """``reference_profile.json`` of a registered version, checked against the sha256 in its manifest.

    Local: beside ``model.joblib``; SageMaker: beside ``model.tar.gz`` in S3.
    """
    reg = registered.registration
    expected = (registered.metadata.get("extra_files") or {}).get(PROFILE_FILE)
    if reg.target == "local":
        uri = str(Path(reg.location) / PROFILE_FILE)
        try:
            data = Path(uri).read_bytes()
        except OSError as exc:
            raise IntegrityError(f"{uri}: cannot read the reference profile ({exc})") from exc
    else:
        uri = reg.model_uri.rsplit("/", 1)[0] + "/" + PROFILE_FILE
        data = registry.get_object_bytes(uri)  # type: ignore[attr-defined]
    if expected is None:
        raise IntegrityError(f"{uri}: the version's manifest records no sha256 for {PROFILE_FILE}")
    if sha256_bytes(data) != expected:
        raise IntegrityError(f"{uri}: sha256 {sha256_bytes(data)} does not match the manifest's {expected}")
    profile = json.loads(data)
    if not isinstance(profile, dict) or "features" not in profile:
        raise IntegrityError(f"{uri}: not a reference profile (no 'features' key)")
    return profile


def load_approved_model(settings: DailySettings, *, registry: ModelRegistry | None = None) -> DeployedModel:
    """The latest Approved version of ``settings.model_group`` (the registry checks the model's sha256)."""
    from spylib.registry import open_registry

    registry = registry or open_registry(settings.registry, settings.registry_location)
    registered = registry.latest_approved(settings.model_group)
    where = f"{settings.registry} registry {settings.registry_location}"
    if registered is None:
        raise SpyFlowError(
            f"no Approved version of model group '{settings.model_group}' in the {where}: approve one "
            "(LocalRegistry.set_status(group, version, 'Approved') or SageMaker update_model_package)"
        )
    bundle = registered.bundle
    if bundle["symbol"] != settings.symbol:
        raise ConfigError(
            f"model {settings.model_group}/v{registered.registration.version} predicts {bundle['symbol']}, "
            f"not {settings.symbol}",
            source="--symbol",
        )
    return DeployedModel(
        bundle=bundle,
        group=registered.registration.group,
        version=registered.registration.version,
        model_sha256=registered.registration.model_sha256,
        location=registered.registration.location,
        metrics=dict(registered.metadata.get("metrics") or {}),
        profile=load_reference_profile(registry, registered),
    )


# ---------------------------------------------------------------------------------------------
# data and features
# ---------------------------------------------------------------------------------------------
def price_loader(source: str) -> Callable[..., Any] | None:
    """The ingest loader for ``source``: the yfinance live source, or None (the default loader)."""
    from spylib.research.live import LIVE_SOURCE, load_live

    return load_live if source == LIVE_SOURCE else None


def cut_at(prices: pd.DataFrame, as_of: date | None, source: str) -> tuple[pd.DataFrame, date]:
    """Prices up to and including ``as_of`` (None = the last day); ``as_of`` must be a trading day."""
    days = sorted(set(prices["date"]))
    if as_of is None:
        return prices, days[-1]
    if as_of not in set(days):
        earlier = [d for d in days if d < as_of]
        hint = f"the last trading day before it is {earlier[-1]}" if earlier else "the data starts later"
        raise DataValidationError(
            f"--as-of {as_of} is not a trading day of the data ({days[0]}..{days[-1]}); {hint}",
            source=source,
            date=str(as_of),
            column="date",
        )
    return prices[prices["date"] <= as_of].reset_index(drop=True), as_of


def run_ingest(settings: DailySettings) -> tuple[pd.DataFrame, dict[str, Any], date]:
    """Load and validate the symbol and benchmark from the training sources (or yfinance), cut at as-of."""
    loader = price_loader(settings.source)
    market = (
        ingest(settings.source, settings.symbol, settings.benchmark, loader=loader)
        if loader is not None
        else ingest(settings.source, settings.symbol, settings.benchmark)
    )
    prices, as_of = cut_at(market.prices, settings.as_of, market.symbol.source)
    provenance = market.provenance()
    provenance["as_of"] = str(as_of)
    if settings.source == EMBEDDED:
        descriptions: Mapping[str, str] = provenance["descriptions"]  # type: ignore[assignment]
        print(f"Data: offline stand-ins ({'; '.join(descriptions.values())})")
    return prices, provenance, as_of


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
def predict_day(model: DeployedModel, features: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One daily row (``PREDICTION_COLUMNS``) for ``as_of``: probability, signal, no outcome yet."""
    row = features[features["date"] == as_of]
    if len(row) != 1:
        raise DataValidationError(
            f"{len(row)} feature rows for the as-of day", source="features", date=str(as_of)
        )
    probability, signal = bundle_signal(model.bundle, row)
    return pd.DataFrame(
        {
            "date": [as_of],
            "symbol": [str(row["symbol"].iloc[0])],
            "segment": [DAILY_SEGMENT],
            "probability": probability.astype("float64"),
            "signal": signal.astype("int8"),
            "target_up": pd.array([pd.NA], dtype="Int8"),
            "fwd_return": [math.nan],
            "model_version": [model.model_version],
        }
    )[list(PREDICTION_COLUMNS)]


def realized_outcomes(features: pd.DataFrame) -> pd.DataFrame:
    """``date, target_up, fwd_return`` of the days whose label the data already holds."""
    known = features[features["target_up"].notna()]
    return known[["date", *OUTCOME_COLUMNS]].reset_index(drop=True)


def read_daily_rows(lake_root: str, symbol: str) -> pd.DataFrame:
    """The daily track record of ``symbol`` in the lake (``PREDICTION_COLUMNS`` + ``run_id``), by date."""
    from spylib.storage.lake import read_table

    frame = read_table("predictions", lake_root, [("symbol", "=", symbol), ("segment", "=", DAILY_SEGMENT)])
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame.sort_values("date").reset_index(drop=True)


def merge_daily_rows(
    existing: pd.DataFrame, new: pd.DataFrame, outcomes: pd.DataFrame, run_id: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The track record after today's run, and the rows that changed (to write).

    ``existing``: the daily rows in the lake (with ``run_id``); ``new``: today's row(s), made by run
    ``run_id``; ``outcomes``: known labels by date. A date already present keeps its first prediction
    and its ``run_id``; null outcomes are filled from ``outcomes``; recorded outcomes are kept (a
    differing value is logged). Both frames have ``PREDICTION_COLUMNS`` + ``run_id``, one row per
    (date, symbol), sorted by date.
    """
    columns = [*PREDICTION_COLUMNS, RUN_ID]
    old = existing[columns].copy() if len(existing) else pd.DataFrame(columns=columns)
    if old.duplicated(["date", "symbol"]).any():
        dup = old[old.duplicated(["date", "symbol"])].iloc[0]
        raise DataValidationError("two daily rows for one day in the lake", source="lake table 'predictions'",
                                  date=str(dup["date"]), column="date")  # fmt: skip
    old_keys = set(zip(old["date"], old["symbol"], strict=True))
    is_new = [(d, s) not in old_keys for d, s in zip(new["date"], new["symbol"], strict=True)]
    fresh = new.loc[is_new, list(PREDICTION_COLUMNS)].assign(**{RUN_ID: str(run_id)})
    track = pd.concat([old, fresh], ignore_index=True) if len(old) else fresh.reset_index(drop=True)
    track["target_up"] = track["target_up"].astype("Int8")
    track["fwd_return"] = track["fwd_return"].astype("float64")
    known = outcomes.set_index("date")
    changed = set(fresh["date"])
    for i, day in enumerate(track["date"]):
        if day not in known.index:
            continue
        label, ret = known.at[day, "target_up"], float(known.at[day, "fwd_return"])
        if pd.isna(track.at[i, "target_up"]):
            track.at[i, "target_up"] = int(label)
            track.at[i, "fwd_return"] = ret
            changed.add(day)
        elif not math.isclose(float(track.at[i, "fwd_return"]), ret, rel_tol=1e-9, abs_tol=1e-12):
            log.warning("%s: recorded fwd_return %s differs from today's data (%s); kept the recorded one",
                        day, track.at[i, "fwd_return"], ret)  # fmt: skip
    track = track.sort_values("date").reset_index(drop=True)
    return track, track[track["date"].isin(changed)].reset_index(drop=True)


def write_daily_rows(track: pd.DataFrame, changed: pd.DataFrame, lake_root: str) -> list[str]:
    """Rewrite the lake file of every run that owns a changed row (see module doc), atomically.

    A run's file gets all the track-record rows that run first predicted, so rewriting it never drops
    a row; ``mode="run"`` replaces that run's file in place (no duplicate, training files untouched).
    """
    from spylib.storage.lake import write_table

    files: list[str] = []
    for owner in sorted(set(changed[RUN_ID].astype(str))):
        rows = track[track[RUN_ID].astype(str) == owner]
        files += write_table(rows[list(PREDICTION_COLUMNS)], "predictions", lake_root, owner, mode="run")
    return sorted(files)


def run_predict(
    model: DeployedModel, features: pd.DataFrame, settings: DailySettings, as_of: date, run_id: str
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Predict ``as_of``, merge with the track record, write the new/filled rows: (today, track, files)."""
    today = predict_day(model, features, as_of)
    existing = read_daily_rows(settings.lake_root, settings.symbol)
    track, changed = merge_daily_rows(existing, today, realized_outcomes(features), run_id)
    files = write_daily_rows(track, changed, settings.lake_root)
    kept = track[track["date"] == as_of].iloc[0]
    if kept["model_version"] != model.model_version or kept["probability"] != today["probability"].iloc[0]:
        print(f"{as_of} was already predicted by {kept['model_version']} (p={kept['probability']:.4f}): kept")
    return today, track, files


def next_business_day(day: date) -> date:
    """The next weekday after ``day`` (no holiday calendar: the data's next row is the truth)."""
    return (pd.Timestamp(day) + pd.offsets.BDay(1)).date()


def prediction_line(today: pd.DataFrame, model: DeployedModel) -> str:
    row = today.iloc[0]
    action = "LONG" if int(row["signal"]) == 1 else "FLAT"
    return (
        f"{row['symbol']} {row['date']} close -> next trading day (~{next_business_day(row['date'])}): "
        f"P(up) = {row['probability']:.4f}, threshold {model.bundle['threshold']:.2f}, signal {action} "
        f"({model.model_version})"
    )


# ---------------------------------------------------------------------------------------------
# monitoring
# ---------------------------------------------------------------------------------------------
def monitoring_predictions(
    track: pd.DataFrame, model: DeployedModel, features: pd.DataFrame, replay_days: int = 0
) -> pd.DataFrame:
    """The predictions monitoring looks at: ``replay_days`` replayed days before the track record, then
    the track record (see module doc). Outcome columns as float (nan = unknown)."""
    columns = list(PREDICTION_COLUMNS)
    parts = []
    if replay_days > 0:
        first = min(track["date"]) if len(track) else features["date"].iloc[-1]
        before = features[(features["date"] < first) & features["target_up"].notna()].tail(replay_days)
        if len(before):
            probability, signal = bundle_signal(model.bundle, before)
            parts.append(pd.DataFrame({
                "date": before["date"].to_numpy(), "symbol": before["symbol"].to_numpy(),
                "segment": REPLAY_SEGMENT, "probability": probability, "signal": signal,
                "target_up": before["target_up"].astype("float64").to_numpy(),
                "fwd_return": before["fwd_return"].to_numpy("float64"), "model_version": model.model_version,
            }))  # fmt: skip
    if len(track):
        parts.append(track[columns])
    if not parts:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(parts, ignore_index=True)
    frame["target_up"] = frame["target_up"].astype("float64")
    frame["fwd_return"] = frame["fwd_return"].astype("float64")
    return frame.sort_values("date").reset_index(drop=True)


def run_daily_monitoring(
    profile: Mapping[str, Any],
    features: pd.DataFrame,
    predictions: pd.DataFrame,
    step_stats: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    *,
    cost_bps: float = 1.0,
    config: MonitorConfig | None = None,
) -> tuple[MonitoringReport, pd.DataFrame]:
    """All checks (``monitor.run_monitoring``) and the rolling realized performance, at the model's cost.

    ``features`` is the recent feature table (drift uses its last ``drift_window`` rows).
    """
    cfg = config or MonitorConfig(cost_bps=cost_bps)
    report = run_monitoring(profile, features, predictions, step_stats, history, cfg)
    rolling = rolling_performance(predictions, cfg.performance_windows, cfg.cost_bps)
    return report, rolling


def alert_message(report: MonitoringReport, model_version: str, as_of: date | str) -> str:
    """The message a run ends with: the overall status and every alert and warning with its reason."""
    head = f"MONITORING {report.status.upper()} for {model_version} as of {as_of}"
    lines = [head, *[f"  [{c.status}] {c.name}: {c.reason}" for c in report.checks if c.status != "ok"]]
    if report.status == "ok":
        lines.append(f"  all {len(report.checks)} checks ok (skipped ones say why in the report)")
    return "\n".join(lines)


def finish(report_dict: Mapping[str, Any], message: str, fail_on_alert: bool) -> None:
    """Print the verdict; on alert with ``fail_on_alert`` raise (a non-zero exit for the scheduler)."""
    print(message)
    if report_dict["status"] == "alert" and fail_on_alert:
        raise SpyFlowError(f"monitoring alert (--fail-on-alert is on):\n{message}")


# --- pipeline health through the Metaflow Client ----------------------------------------------
def step_stats_from_records(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``step_stats`` rows (``run_id, step, task, seconds, peak_rss_mb``) from measured records."""
    columns = ["run_id", "step", "task", "seconds", "peak_rss_mb"]
    return pd.DataFrame([{k: r[k] for k in columns} for r in records], columns=columns)


def run_step_records(run: Any) -> list[dict[str, Any]]:
    """Every task of a Client ``Run`` that stored ``step_resources``: one record per task."""
    records = []
    for step in run:
        for task in step:
            if "step_resources" not in task:
                continue
            measured = task["step_resources"].data
            records.append({"run_id": str(run.id), "step": step.id, "task": str(task.id),
                            "seconds": float(measured["seconds"]),
                            "peak_rss_mb": float(measured["peak_rss_mb"])})  # fmt: skip
    return records


def read_step_stats(flow_name: str, run_id: str, history_runs: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(this run's step stats, the previous ``history_runs`` runs' step stats), read back with the Client.

    Only runs with at least one measured task count; the current run's unfinished step is absent.
    """
    from metaflow import Flow, namespace

    namespace(None)  # runs of every user and of the scheduler
    flow = Flow(flow_name)
    current = run_step_records(flow[str(run_id)])
    history: list[dict[str, Any]] = []
    seen = 0
    for run in flow.runs():  # newest first
        if seen >= history_runs:
            break
        if str(run.id) == str(run_id):
            continue
        records = run_step_records(run)
        if records:
            history.extend(records)
            seen += 1
    return step_stats_from_records(current), step_stats_from_records(history)


def health_trend(step_stats: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Seconds of the slowest task per step (columns) for each run (rows, newest first)."""
    frame = pd.concat([step_stats, history], ignore_index=True)
    if frame.empty:
        return pd.DataFrame()
    table = frame.pivot_table(index="run_id", columns="step", values="seconds", aggfunc="max", sort=False)
    order = sorted(table.index, key=lambda r: (0, int(r)) if str(r).isdigit() else (1, 0), reverse=True)
    return table.loc[order].round(2).reset_index()


# --- outputs: PNGs, JSON, card ----------------------------------------------------------------
def save_outputs(
    report: MonitoringReport,
    predictions: pd.DataFrame,
    track: pd.DataFrame,
    rolling: pd.DataFrame,
    step_stats: pd.DataFrame,
    history: pd.DataFrame,
    output_dir: str,
    run_id: str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Figures and files beside the predictions: ``{output_dir}/predictions/run_id={run_id}/``
    (``predictions.parquet/.csv`` = the track record after this run, ``monitoring.json``, one PNG per
    figure). Returns (figures, {name: path})."""
    from spylib.research.predict import write_predictions

    files = write_predictions(track[list(PREDICTION_COLUMNS)], output_dir, run_id)
    directory = Path(files["parquet"]).parent
    figures = plot_monitoring(report, predictions, rolling, step_stats, history)
    for path in save_figures(figures, directory):
        files[path.stem] = str(path)
    report_path = directory / "monitoring.json"
    report_path.write_text(json.dumps(report.to_dict(), indent=2))
    files["monitoring"] = str(report_path)
    return figures, files


def card_items(
    report: MonitoringReport,
    today: pd.DataFrame,
    model: DeployedModel,
    predictions: pd.DataFrame,
    figures: Mapping[str, Any],
    trend: pd.DataFrame,
) -> list[tuple[str, Any]]:
    """The monitoring card: verdict, today's prediction, the checks, the figures, the run trend."""
    replayed = int((predictions["segment"] == REPLAY_SEGMENT).sum()) if len(predictions) else 0
    daily = int((predictions["segment"] == DAILY_SEGMENT).sum()) if len(predictions) else 0
    window = model.profile.get("window") or {}
    items: list[tuple[str, Any]] = [
        ("markdown", f"# Daily inference and monitoring: **{report.status.upper()}**"),
        ("markdown", prediction_line(today, model)),
        ("markdown", f"Model `{model.model_version}` (sha256 `{model.model_sha256[:16]}`), reference window "
                     f"{window.get('start')}..{window.get('end')}. "
                     f"Monitored predictions: {daily} daily, {replayed} replayed."),
        ("table", report.to_frame()),
    ]  # fmt: skip
    titles = {
        "drift": "Drift per feature (PSI)",
        "performance": "Rolling realized performance",
        "probability": "Predicted probability over time",
        "step_durations": "Step durations",
    }
    for key, title in titles.items():
        if key in figures:
            items += [("markdown", f"## {title}"), ("figure", figures[key])]
        else:
            items.append(("markdown", f"## {title}\n\nNo data yet."))
    if len(trend):
        items += [("markdown", "## Seconds per step, last runs"), ("table", trend)]
    return items


def monitoring_to_artifacts(report: MonitoringReport) -> tuple[dict[str, Any], str]:
    """(``monitoring`` dict with status and checks, ``monitoring_status``)."""
    document = report.to_dict()
    return document, str(document["status"])


def to_card_components(items: list[tuple[str, Any]]) -> list[Any]:
    """Card components of :func:`card_items` (imports Metaflow's card classes lazily)."""
    from spylib.stages.cards import to_card_components as convert

    return convert(items)
