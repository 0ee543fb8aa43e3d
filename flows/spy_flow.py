"""SpyFlow: will SPY close higher on the next trading day?

Steps (each a few lines of wiring: one call to ``spylib.stages.training.<step>.run_<step>``, whose
result's fields are the artifacts the step sets):

* ``start``    validate the parameters and the config files (sweep, gate, resources, schedule, data checks),
               that the source files can be read and the output, lake and registry locations written;
* ``ingest``   load SPY and its benchmark (embedded stand-ins, CSV/Parquet, local or s3://), validate, align;
* ``features`` indicators and labels; the look-ahead audit runs on every run;
* ``split``    the burn-in, the walk-forward blocks (purged, embargoed) and the optional untouched holdout;
* ``train``    ``foreach`` batch of the sweep's configurations (locally one task over a process pool of the
               cores; with ``--with batch`` one task per configuration): each fitted on the days before
               every block and predicting the block (out-of-fold trials);
* ``evaluate`` the join: the walk-forward selection and its track, the evidence (deflated Sharpe, PSR,
               the test against buy-and-hold, CSCV), the baselines, the quality gate, the evaluation card;
* ``predict``  the registered bundle's predictions: the track as traded, the holdout and the latest day,
               written as Parquet and CSV;
* ``register`` the model, its evidence and the gate's decision in the model registry (against the champion);
* ``end``      check that every staged file is still there, publish the run's prediction files and lake
               files (staged until now: a failed run is invisible to readers), then the verdict and
               where everything is.

Every step carries ``one_line_step_errors`` and the ``resources`` Config's cpu and memory where it names
the step, applied once by the ``StepDecorators`` flow mutator. Run ``python flows/spy_flow.py run``;
inspect with ``metaflow.Flow("SpyFlow").latest_run``.
"""

from __future__ import annotations

from pathlib import Path

from spylib.core.runtime import ensure_metaflow_user

ensure_metaflow_user()  # before metaflow is imported: it refuses the user name "root"

from spylib.core.runtime import exit_on_config_error, metaflow_batch_image  # noqa: E402
from spylib.storage.s3 import check_endpoint_variables  # noqa: E402

exit_on_config_error(check_endpoint_variables)  # Metaflow's own S3 client reads them too

from metaflow import (  # noqa: E402
    Config,
    FlowSpec,
    Parameter,
    card,
    config_expr,
    current,
    schedule,
    step,
)
from metaflow.exception import MetaflowException  # noqa: E402

from spylib.core import outputs  # noqa: E402
from spylib.core.errors import ConfigError  # noqa: E402
from spylib.stages.flow_decorators import StepDecorators, runs_remotely  # noqa: E402
from spylib.stages.resume import check_resumed_sources, source_digests  # noqa: E402
from spylib.stages.settings import build_training_settings, check_run_io, config_from_text  # noqa: E402
from spylib.stages.training.artifacts import set_artifacts  # noqa: E402

# Each step imports its stage inside its body: every task is a fresh process, and a stage's imports
# (scikit-learn and scipy for the evaluation's figures, matplotlib for the card) would otherwise be
# paid by every task of every step, not only by the steps that use them.

CONFIG_DIR = Path(__file__).resolve().parent / "config"
# The Parameters passed by name to build_training_settings (the Configs are passed beside them).
PARAMETERS: tuple[str, ...] = (
    "source",
    "symbol",
    "benchmark",
    "holdout_start",
    "execution",
    "cost_bps",
    "configs_per_task",
    "seed",
    "shuffle_labels",
    "extra_features",
    "output_dir",
    "lake_root",
    "glue_database",
    "registry",
    "registry_location",
    "model_group",
    "sagemaker_image_uri",
)


class InvalidConfig(MetaflowException):
    headline = "Invalid config"


def config_parser(name: str):
    """The parser of the Config ``name``: one line on invalid JSON or a non-object, before Metaflow
    uses the value (the resources and schedule configs, read by decorators, are validated whole)."""

    def parse(text: str) -> dict:
        try:
            return config_from_text(name, text)
        except ConfigError as exc:
            raise InvalidConfig(str(exc)) from None

    return parse


SCHEDULE, SCHEDULE_FILE = outputs.SCHEDULE_CONFIGS["SpyFlow"]


# Retraining on a schedule once deployed (`step-functions create`): weekly by default, after the week's
# last close; the cron comes from the `schedule` config. A plain `run` ignores it.
@StepDecorators(resources_config="resources")
@schedule(cron=config_expr("schedule.cron"))
class SpyFlow(FlowSpec):
    """Next-day SPY direction: ingest -> features -> split -> train (foreach) -> evaluate -> predict -> register."""

    sweep = Config(
        "sweep",
        default=str(CONFIG_DIR / "sweep.json"),
        help="JSON file with the model grid, thresholds, trade filters, walk-forward CV and selection rule.",
        parser=config_parser("sweep"),
    )
    gate_config = Config(
        "gate",
        default=str(CONFIG_DIR / "gate.json"),
        help="JSON file with the quality gate's thresholds.",
        parser=config_parser("gate"),
    )
    schedule_config = Config(
        SCHEDULE,
        default=str(CONFIG_DIR / SCHEDULE_FILE),
        help=f'JSON file with the retraining schedule of a deployed flow, {{"cron": "..."}}: an EventBridge '
        f"cron in UTC (default flows/config/{SCHEDULE_FILE}: weekly, Saturday 06:00).",
        parser=config_parser(SCHEDULE),
    )
    resources_config = Config(
        "resources",
        default=str(CONFIG_DIR / "resources.json"),
        help="JSON file with cpu/memory per step (Batch).",
        parser=config_parser("resources"),
    )
    data_checks_config = Config(
        "data_checks",
        default=str(CONFIG_DIR / "data_checks.json"),
        help="JSON file with the ingest's plausibility and calendar rules (largest one-day move, accepted "
        "extreme days, gaps, share of rows alignment may drop, weekend rows, zero-volume runs).",
        parser=config_parser("data_checks"),
    )

    source = Parameter(
        "source",
        default="embedded",
        help="'embedded' (offline stand-ins from the arch package), a CSV/Parquet path or s3:// URI template "
        "with {symbol} or {symbol_lower} (e.g. 'data/{symbol_lower}_daily.csv'), or a synthetic control market "
        "'synthetic:edge=E[,years=Y,seed=S]' whose next-day return has a planted edge E (0 = none).",
    )
    symbol = Parameter("symbol", default=outputs.DEFAULT_SYMBOL, help="The traded symbol.")
    benchmark = Parameter(
        "benchmark", default=outputs.DEFAULT_BENCHMARK, help="The benchmark for relative strength."
    )
    holdout_start = Parameter(
        "holdout-start",
        default="",
        help="First day (YYYY-MM-DD) of an untouched final holdout, scored once by the registered model after "
        "every choice; '' = no holdout (every labelled day is in the walk-forward).",
    )
    execution = Parameter(
        "execution",
        default="open_to_open",
        help="open_to_open (the signal from the close of t is traded at the open of t+1, held to the open of "
        "t+2: executable) or close_to_close (market-on-close at the same close that feeds the features).",
    )
    cost_bps = Parameter("cost-bps", default=1.0, type=float, help="Trading cost in basis points per side.")
    configs_per_task = Parameter(
        "configs-per-task",
        default=0,
        type=int,
        help="Configurations scored by one train task (over a process pool of the task's cores); 0 = automatic: "
        "one task for the whole sweep on a local run (a task start costs seconds of imports and artifact "
        "loads), one task per configuration on remote compute (--with batch: each task its own machine).",
    )
    seed = Parameter("seed", default=42, type=int, help="Random seed for every model and resampling.")
    shuffle_labels = Parameter(
        "shuffle-labels",
        default=False,
        type=bool,
        help="Negative control: permute labels within every training window. The gate must reject.",
    )
    extra_features = Parameter(
        "extra-features",
        default="",
        help="Comma-separated 'module:function' user features, each audited for look-ahead.",
    )
    output_dir = Parameter(
        "output-dir", default=outputs.DEFAULT_OUTPUT_DIR, help="Root of local outputs (predictions)."
    )
    lake_root = Parameter(
        "lake-root",
        default=outputs.DEFAULT_LAKE_ROOT,
        help="Parquet lake (prices, features, predictions; Hive partitions symbol=/year=): a directory or an "
        "s3:// prefix; '' turns the lake off.",
    )
    glue_database = Parameter(
        "glue-database",
        default="",
        help="If set (and the lake is on s3://), register the lake's tables in Glue.",
    )
    registry = Parameter(
        "registry", default=outputs.DEFAULT_REGISTRY, help="Model registry target: 'local' or 'sagemaker'."
    )
    registry_location = Parameter(
        "registry-location",
        default=outputs.DEFAULT_REGISTRY_LOCATION,
        help="Local registry directory, or the s3:// prefix for SageMaker model artifacts.",
    )
    model_group = Parameter(
        "model-group", default=outputs.DEFAULT_MODEL_GROUP, help="Model package group name."
    )
    sagemaker_image_uri = Parameter(
        "sagemaker-image-uri",
        default=metaflow_batch_image,
        help="Inference image of the SageMaker model package: default Metaflow's Batch image (the project "
        "image serves too: `docker run IMAGE serve`); a SageMaker scikit-learn image only if its version "
        "matches the training's (refused in start otherwise).",
    )

    def check_resume(self):
        """In a resumed run, every step executed again first checks that the source files are the ones
        the origin run read (spylib.stages.resume); a change allowed by the environment is recorded."""
        change = check_resumed_sources(
            getattr(self, "source_digests", None), self.settings, current.origin_run_id
        )
        if change:
            self.resume_source_change = change

    @step
    def start(self):
        """Validate every parameter and config, the sources and the output locations, before any work."""
        settings = build_training_settings(
            **{name: getattr(self, name) for name in PARAMETERS},
            sweep=self.sweep,
            gate=self.gate_config,
            resources=self.resources_config,
            schedule=self.schedule_config,
            data_checks=self.data_checks_config,
        )
        check_run_io(settings)  # the source files readable; output, lake, registry writable (probes)
        self.settings = settings
        self.source_digests = source_digests(settings)  # a resume compares the files with these
        # Outputs (lake partitions, prediction files) are keyed by this id. `start` is cloned on
        # resume, so a resumed run rewrites the origin run's files instead of adding a second copy.
        self.output_run_id = str(current.run_id)
        self.next(self.ingest)

    @step
    def ingest(self):
        """Load, validate and align the symbol and its benchmark; stage the prices in the lake."""
        from spylib.stages.training.ingest import run_ingest

        self.check_resume()
        set_artifacts(self, run_ingest(self.settings, self.output_run_id))
        self.next(self.features)

    @step
    def features(self):
        """Features and labels; the look-ahead audit (fails the run naming the feature); stale opens.
        Sets ``features`` (the public artifact) and ``feature_table``, the same stored object that later
        steps read: inside the flow ``self.features`` is this method."""
        from spylib.stages.training.features import run_features

        self.check_resume()
        set_artifacts(self, run_features(self.prices, self.settings, self.output_run_id, self.lake_files))
        self.next(self.split)

    @step
    def split(self):
        """Burn-in, walk-forward blocks and the optional holdout; the configurations to sweep."""
        from spylib.stages.training.split import run_split

        self.check_resume()
        split = run_split(
            self.feature_table,
            self.feature_columns,
            self.data_quality,
            self.settings.plan,
            one_machine=not runs_remotely(self, "train"),  # local: one train task over a process pool
        )
        set_artifacts(self, split)
        self.next(self.train, foreach="config_batches")

    @step
    def train(self):
        """One batch of configurations (locally the whole sweep, over a process pool of the cores): each
        fitted on the days before every walk-forward block and predicting the block."""
        from spylib.stages.training.train import run_train, start_workers

        assert self.input is not None  # a foreach task always has its item
        start_workers(len(self.input))  # the pool imports scikit-learn while this task loads its data
        self.check_resume()
        set_artifacts(
            self, run_train(self.input, self.training_data, self.settings.plan, self.settings.cost_bps)
        )
        self.next(self.evaluate)

    @card(type="blank", id="evaluation")
    @step
    def evaluate(self, inputs):
        """The walk-forward selection, the track, the baselines, the evidence and the gate."""
        from spylib.stages.cards import to_card_components
        from spylib.stages.training.evaluate import run_evaluate

        self.merge_artifacts(inputs, exclude=["results"])
        self.check_resume()
        evaluation = run_evaluate(
            [i.results for i in inputs],
            self.training_data,
            self.settings,
            self.data_provenance,
            self.data_quality,
        )
        set_artifacts(self, evaluation)
        current.card.extend(to_card_components(evaluation.card_items))
        self.evaluate_task_id = str(current.task_id)  # where the evaluation card is
        self.next(self.predict)

    @step
    def predict(self):
        """The predictions: the track as traded, the holdout and the latest day by the registered model."""
        from spylib.stages.training.predict import run_predict

        self.check_resume()
        made = run_predict(
            self.model,
            self.strategy,
            self.track,
            self.training_data,
            self.settings,
            self.output_run_id,
            self.lake_files,
        )
        set_artifacts(self, made)
        self.next(self.register)

    @step
    def register(self):
        """Register the model with its evidence and the gate's decision (atomic; idempotent per run)."""
        from spylib.stages.training.register import EvaluationVerdict, run_register

        self.check_resume()
        registered = run_register(
            self.bundle,
            EvaluationVerdict(self.evidence, self.gate_decision, self.track, self.reference_record),
            self.training_data,
            self.settings,
            self.data_provenance,
            # The origin run's id: a resumed run, or one retried after a crash here, registers once.
            pathspec=f"{current.flow_name}/{self.output_run_id}",
        )
        set_artifacts(self, registered)
        self.next(self.end)

    @step
    def end(self):
        """Publish the run's lake files (staged so far); the verdict, a short results table, and where the
        card, predictions, lake and registry are."""
        from spylib.stages.training.publish import run_end
        from spylib.stages.training.summary import RunOutputs, run_summary

        self.check_resume()
        # On remote compute (AWS Batch) each task has its own disk: the prediction files staged by
        # `predict` stayed in its container, so `end` checks and publishes the lake (S3) only; the
        # predictions are in the artifact and the lake.
        predictions_here = {} if runs_remotely(self, "predict") else self.prediction_files
        set_artifacts(
            self,
            run_end(
                self.settings.outputs,
                self.output_run_id,
                self.glue_catalog,
                staged=(predictions_here, self.lake_files),
            ),
        )
        where = RunOutputs(
            flow_file="flows/spy_flow.py",
            run_id=str(current.run_id),
            evaluate_task=self.evaluate_task_id,
            prediction_files=self.prediction_files,
            lake_root=self.settings.outputs.lake_root,
            registration=self.registration,
        )
        print(run_summary(self.gate_decision, self.evidence, self.baselines, where))


if __name__ == "__main__":
    SpyFlow()
