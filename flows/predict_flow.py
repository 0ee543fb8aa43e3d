"""PredictFlow: daily batch inference from the model registry, with monitoring.

Steps (each a few lines of wiring; the logic lives in ``spylib.stages.daily`` and ``spylib.monitoring``):

* ``start``    validate the parameters; load the latest Approved model (sha256 checked) and its
               reference profile;
* ``ingest``   the training sources (or ``--source yfinance``), validated, aligned, cut at ``--as-of``;
               then the training feature code, with the model's label convention;
* ``predict``  the next trading day from the as-of row; stage it for the lake's ``predictions`` table
               (first prediction of a day kept, outcomes filled once known; no duplicate rows);
* ``monitor``  data drift, prediction drift, realized performance, pipeline health (read back from
               this run and the last runs); card, PNGs and ``monitoring.json`` beside the predictions;
* ``end``      publish the staged lake rows (a run that failed earlier shows none); the verdict; with
               ``--fail-on-alert true`` an alert fails the run (non-zero exit), after publishing.

Every step measures its own duration and peak memory into the artifact ``step_resources`` and prints
expected errors as one line: both applied once by the ``StepDecorators`` flow mutator.

Run: ``python flows/predict_flow.py run [--as-of YYYY-MM-DD]``; ``--config data_checks FILE`` (before
``run``) gives the ingest's rules, as for SpyFlow. Deploy the daily schedule (the
``schedule`` Config, ``flows/config/predict_schedule.json``: 22:30 UTC, Monday to Friday, after the US
close) with ``SPYFLOW_FAIL_ON_ALERT=true python flows/predict_flow.py step-functions create``.
"""

from __future__ import annotations

from spylib.core.runtime import ensure_metaflow_user

ensure_metaflow_user()  # before metaflow is imported: it refuses the user name "root"

from spylib.core.runtime import env_flag, exit_on_config_error  # noqa: E402
from spylib.storage.s3 import check_endpoint_variables  # noqa: E402

exit_on_config_error(check_endpoint_variables)  # Metaflow's own S3 client reads them too
# A Parameter default Metaflow evaluates (a typo there would be an "Internal error"): checked first.
exit_on_config_error(lambda: env_flag("SPYFLOW_FAIL_ON_ALERT"))

from pathlib import Path  # noqa: E402

from metaflow import Config, FlowSpec, Parameter, card, config_expr, current, schedule, step  # noqa: E402
from metaflow.exception import MetaflowException  # noqa: E402

from spylib.core import outputs  # noqa: E402
from spylib.core.errors import ConfigError  # noqa: E402
from spylib.monitoring import alert_message, health_trend  # noqa: E402
from spylib.monitoring.card import card_items, predict_summary, prediction_line  # noqa: E402
from spylib.monitoring.track_record import monitoring_predictions  # noqa: E402
from spylib.stages import daily  # noqa: E402
from spylib.stages.cards import to_card_components  # noqa: E402
from spylib.stages.flow_decorators import StepDecorators  # noqa: E402
from spylib.stages.settings import build_daily_settings, check_run_io, config_from_text  # noqa: E402
from spylib.stages.step_history import read_step_stats  # noqa: E402

CONFIG_DIR = Path(__file__).resolve().parent / "config"
SCHEDULE, SCHEDULE_FILE = outputs.SCHEDULE_CONFIGS["PredictFlow"]
# The Parameters passed by name to build_daily_settings.
PARAMETERS: tuple[str, ...] = (
    "source",
    "symbol",
    "benchmark",
    "as_of",
    "extra_features",
    "output_dir",
    "lake_root",
    "registry",
    "registry_location",
    "model_group",
    "history_runs",
    "replay_days",
    "fail_on_alert",
)


class InvalidConfig(MetaflowException):
    headline = "Invalid config"


def config_parser(name: str):
    """The parser of the Config ``name``: one line on invalid JSON or a non-object, before Metaflow uses
    the value (the schedule, read by ``@schedule``, is validated whole)."""

    def parse(text: str) -> dict:
        try:
            return config_from_text(name, text)
        except ConfigError as exc:
            raise InvalidConfig(str(exc)) from None

    return parse


def parse_schedule(text: str) -> dict:
    """The schedule Config, validated whole before ``@schedule`` reads it: one line when it is wrong."""
    return config_parser(SCHEDULE)(text)


# The daily schedule once deployed (`step-functions create`): an EventBridge cron in UTC from the
# `schedule` config; 22:30 UTC is 17:30/18:30 in New York, after the 16:00 close and the closing
# auction prints, all year round. A plain `run` ignores it.
@StepDecorators(measure=True)
@schedule(cron=config_expr("schedule.cron"))
class PredictFlow(FlowSpec):
    """Daily: latest Approved model -> ingest + features -> predict (lake) -> monitor (card, PNGs)."""

    schedule_config = Config(
        SCHEDULE,
        default=str(CONFIG_DIR / SCHEDULE_FILE),
        help=f'JSON file with the daily schedule of a deployed flow, {{"cron": "..."}}: an EventBridge cron '
        f"in UTC (default flows/config/{SCHEDULE_FILE}: 22:30, Monday to Friday).",
        parser=parse_schedule,
    )
    data_checks_config = Config(
        "data_checks",
        default=str(CONFIG_DIR / "data_checks.json"),
        help="JSON file with the ingest's plausibility and calendar rules: the same file as SpyFlow's "
        "(files that SpyFlow accepted with a config are accepted by PredictFlow with the same config).",
        parser=config_parser("data_checks"),
    )

    source = Parameter(
        "source",
        default=lambda ctx: outputs.env_or(outputs.SOURCE_ENV),
        help="Default $SPYFLOW_SOURCE or 'embedded'. As for SpyFlow ('embedded' stand-ins, or a CSV/Parquet path or s3:// template with {symbol}), "
        "or 'yfinance' for live Yahoo Finance prices (pip install 'spy-flow[live]'; needs network).",
    )
    symbol = Parameter(
        "symbol", default=outputs.DEFAULT_SYMBOL, help="The traded symbol (must match the model's)."
    )
    benchmark = Parameter(
        "benchmark", default=outputs.DEFAULT_BENCHMARK, help="The benchmark the model was trained with."
    )
    as_of = Parameter(
        "as-of",
        default="",
        help="Predict from this day's close (YYYY-MM-DD, a trading day of the data); '' = the latest day.",
    )
    extra_features = Parameter(
        "extra-features", default="", help="The model's 'module:function' user features, if it has any."
    )
    output_dir = Parameter(
        "output-dir",
        default=outputs.DEFAULT_OUTPUT_DIR,
        help="Root of local outputs (predictions/run_id=.../ with PNGs).",
    )
    lake_root = Parameter(
        "lake-root",
        default=lambda ctx: outputs.env_or(outputs.LAKE_ENV),
        help="The Parquet lake holding the predictions table (dir or s3://). Default $SPYFLOW_LAKE_ROOT or data/lake.",
    )
    registry = Parameter(
        "registry",
        default=lambda ctx: outputs.env_or(outputs.REGISTRY_ENV),
        help="Model registry target: 'local' or 'sagemaker'. Default $SPYFLOW_REGISTRY or local.",
    )
    registry_location = Parameter(
        "registry-location",
        default=lambda ctx: outputs.env_or(outputs.LOCATION_ENV),
        help="Local registry directory, or the s3:// prefix of the SageMaker model artifacts. "
        "Default $SPYFLOW_REGISTRY_LOCATION or data/registry.",
    )
    model_group = Parameter(
        "model-group", default=outputs.DEFAULT_MODEL_GROUP, help="Model package group name."
    )
    history_runs = Parameter(
        "history-runs", default=10, type=int, help="Previous runs compared in the pipeline-health checks."
    )
    replay_days = Parameter(
        "replay-days",
        default=0,
        type=int,
        help="Also monitor the model replayed on this many labelled days before the track record "
        "(0 = the daily track record only).",
    )
    fail_on_alert = Parameter(
        "fail-on-alert",
        type=bool,
        # Evaluated at deploy time too: SPYFLOW_FAIL_ON_ALERT=true bakes 'true' into the schedule.
        default=lambda ctx: daily.env_flag(),
        help="Fail the run (non-zero exit) when monitoring alerts. Default: $SPYFLOW_FAIL_ON_ALERT or false.",
    )

    @step
    def start(self):
        """Validate the parameters; load the latest Approved model and its reference profile."""
        self.settings = build_daily_settings(
            **{name: getattr(self, name) for name in PARAMETERS}, data_checks=self.data_checks_config
        )
        check_run_io(self.settings)  # sources readable, output and lake writable: before any work
        self.model = daily.load_approved_model(self.settings)
        print(
            f"Model {self.model.model_version} (sha256 {self.model.model_sha256[:16]}) from "
            f"{self.model.location}"
        )
        self.next(self.ingest)

    @step
    def ingest(self):
        """Load, validate and align the symbol and its benchmark, cut at the as-of day; then the training
        feature code with the model's label convention."""
        data = daily.run_ingest(self.settings)
        self.prices, self.data_provenance, self.as_of_date = data.prices, data.provenance, data.as_of
        self.feature_table = daily.run_features(self.prices, self.settings, self.model, self.as_of_date)
        self.next(self.predict)

    @step
    def predict(self):
        """Predict the next trading day; stage it for the lake (no duplicates, outcomes filled)."""
        predicted = daily.run_predict(
            self.model,
            self.feature_table,
            self.settings,
            self.as_of_date,
            str(current.run_id),
            self.data_provenance["fingerprint"],
        )
        self.prediction, self.track_record = predicted.today, predicted.track
        self.lake_files = predicted.files
        print(prediction_line(self.prediction, self.model))
        self.next(self.monitor)

    # The card is rendered in a subprocess after the step; Metaflow's 45 s default was measured too
    # short for this card's figures on a loaded 2-core machine (the card was lost, the run succeeded).
    @card(type="blank", id="monitoring", timeout=300)
    @step
    def monitor(self):
        """All checks; the card, the PNGs and monitoring.json beside the predictions."""
        stats = read_step_stats(str(current.flow_name), str(current.run_id), self.settings.history_runs)
        self.step_stats, self.step_history = stats.current, stats.history
        replay = daily.cut_replay_at_training(
            monitoring_predictions(
                self.track_record,
                self.model,
                self.feature_table,
                self.settings.replay_days,
                as_of=self.as_of_date,
            ),
            self.model.profile,
            self.settings.replay_days,
        )
        self.monitored_predictions, self.replay_note = replay.predictions, replay.note
        if replay.note:
            print(replay.note)
        monitored = daily.run_daily_monitoring(
            self.model.profile,
            self.feature_table,
            self.monitored_predictions,
            self.step_stats,
            self.step_history,
            cost_bps=self.model.cost_bps,
        )
        report, self.rolling = monitored.report, monitored.rolling
        self.monitoring, self.monitoring_status = report.to_dict(), report.status
        saved = daily.save_outputs(
            monitored,
            self.monitored_predictions,
            self.track_record,
            self.step_stats,
            self.step_history,
            self.settings.output_dir,
            str(current.run_id),
        )
        self.output_files = saved.files
        trend = health_trend(self.step_stats, self.step_history)
        items = card_items(
            report, self.prediction, self.model, self.monitored_predictions, saved.figures, trend
        )
        current.card.extend(to_card_components(items))
        self.message = alert_message(report, self.model.model_version, self.as_of_date)
        self.monitor_task_id = str(current.task_id)  # where the monitoring card is
        self.summary = predict_summary(
            report,
            self.prediction,
            self.model,
            run_id=str(current.run_id),
            monitor_task=self.monitor_task_id,
            output_files={"monitoring": self.output_files.get("monitoring", "")},
        )
        self.next(self.end)

    @step
    def end(self):
        """Publish the run's lake rows; the verdict (an alert with --fail-on-alert fails the run)."""
        self.publication = daily.publish_predictions(
            self.settings, str(current.run_id), self.data_provenance["fingerprint"]
        )
        print(self.summary)
        daily.finish(self.monitoring, self.message, self.settings.fail_on_alert)


if __name__ == "__main__":
    PredictFlow()
