"""A registered model's monitoring reference made as SpyFlow makes it, without Metaflow: the shipped
data, the flow's default settings (or another sweep), every configuration scored on the walk-forward
blocks, the final choice, its out-of-sample record and the reference profile over the training window.
Shared by the monitoring tests and ``tests/bench/bench_monitoring.py``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class MonitoredModel:
    features: pd.DataFrame  # the whole feature table
    columns: list[str]
    train_last: int  # last row (position) of the training window
    record: pd.DataFrame  # the chosen trial's out-of-sample record
    profile: dict[str, Any]
    trial: dict[str, Any]  # the chosen trial's row of the trials table


def monitored_model(tmp: Path, sweep: Path | None = None, **over: Any) -> MonitoredModel:
    """Ingest, features, split and every configuration scored, as the flow does; the chosen trial's
    record and the profile ``register`` would store."""
    from spylib.evaluation.selection import choose_trial, combine_trials
    from spylib.modelling.scoring import ScoringData, score_configuration
    from spylib.monitoring import reference_profile
    from spylib.monitoring.reference import chosen_record
    from spylib.stages.settings import build_training_settings
    from spylib.stages.training.features import run_features
    from spylib.stages.training.ingest import run_ingest
    from spylib.stages.training.split import run_split
    from tests.helpers.flow_defaults import config_defaults, flow_class, load_json_config, parameter_defaults
    from tests.helpers.paths import FLOW_FILE

    flow = flow_class(FLOW_FILE)
    defaults = {
        **parameter_defaults(flow),
        **{n: load_json_config(p) for n, p in config_defaults(flow).items()},
    }
    values = {
        **defaults,
        "output_dir": str(tmp / "out"),
        "lake_root": "",
        "registry_location": str(tmp / "reg"),
    }
    if sweep is not None:
        values["sweep"] = load_json_config(sweep)
    settings = build_training_settings(**{**values, **over})
    plan = settings.plan
    ingested = run_ingest(settings, "reference")  # the lake is off: nothing is staged
    made = run_features(ingested.prices, settings, "reference", {})
    data = run_split(made.feature_table, made.feature_columns, made.data_quality, plan).training_data
    results = [
        score_configuration(spec, ScoringData(data.features, data.feature_columns, data.splits),
                            plan.sweep, settings.cost_bps, plan.seed)
        for spec in plan.sweep.models
    ]  # fmt: skip
    trialset = combine_trials(results, data.splits)
    rows = pd.Series(True, index=range(len(trialset.rows))).to_numpy()
    choice = choose_trial(trialset, rows, plan.sweep.selection_metric, settings.gate)
    record = chosen_record(trialset, choice, data.features)
    train = data.splits.final_train_rows()
    profile = reference_profile(data.features.iloc[train], list(data.feature_columns), record=record)
    return MonitoredModel(
        data.features, list(data.feature_columns), int(train[-1]), record, profile,
        trialset.trials.iloc[choice.trial_id].to_dict(),
    )  # fmt: skip
