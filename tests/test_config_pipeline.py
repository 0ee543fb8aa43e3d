"""Config parsing (valid inputs), Settings validation and the root-user handling."""

from __future__ import annotations

import pytest
from conftest import REPO

from spylib.core.config import load_json_config, parse_sweep
from spylib.core.errors import ConfigError
from spylib.core.runtime import ensure_metaflow_user
from spylib.core.settings import TrainingSettings, build_training_settings


def test_default_sweep_has_four_families_and_at_least_24_configurations() -> None:
    sweep = parse_sweep(load_json_config(REPO / "flows" / "config" / "sweep.json"))
    families = {m.family for m in sweep.models}
    assert families == {"random_forest", "extra_trees", "hist_gradient_boosting", "logistic"}
    assert len(sweep.models) >= 24
    assert sum(m.family == "random_forest" for m in sweep.models) >= 8
    assert sweep.n_trials == len(sweep.models) * len(sweep.thresholds) * len(sweep.filters)
    assert len({m.config_id for m in sweep.models}) == len(sweep.models)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"USER": "root"}, "spyflow"),
        ({}, "spyflow"),
        ({"USER": "alice"}, "alice"),
        ({"USER": "root", "METAFLOW_USER": "bob"}, "bob"),
    ],
)
def test_metaflow_user_is_never_root(env: dict[str, str], expected: str) -> None:
    env = dict(env)
    assert ensure_metaflow_user(env) == expected
    assert env["METAFLOW_USER"] == expected


def build(**over: object) -> TrainingSettings:
    base = dict(
        source="embedded", symbol="spy", benchmark="QQQ", split_dates="", gap_rows=60, execution="close_to_close",
        cost_bps=1.0, seed=1, shuffle_labels=False, extra_features="", output_dir="data", lake_root="data/lake",
        glue_database="", registry="local", registry_location="data/registry", model_group="spy-direction",
        sagemaker_image_uri="", configs_per_task=1, sweep=load_json_config(REPO / "flows" / "config" / "sweep.json"),
        gate=load_json_config(REPO / "flows" / "config" / "gate.json"),
        resources=load_json_config(REPO / "flows" / "config" / "resources.json"),
    )  # fmt: skip
    base.update(over)
    return build_training_settings(**base)  # type: ignore[arg-type]


def test_configurations_are_batched_in_order() -> None:
    from spylib.stages.training import batch_configs

    assert batch_configs([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert batch_configs([1, 2], 1) == [[1], [2]]


def test_settings_are_validated_and_normalized() -> None:
    settings = build()
    assert settings.symbol == "SPY"
    assert settings.label_horizon == 1
    assert build(execution="open_to_open").label_horizon == 2


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"registry": "sagemaker"}, "--registry-location: the SageMaker registry stores artifacts in S3"),
        ({"registry_location": "s3://b/p"}, "--registry-location: the local registry needs a directory"),
        ({"glue_database": "db"}, "--glue-database: Glue catalogs S3 data only"),
        ({"gap_rows": 0}, "--gap-rows: must be at least the label span (1)"),
        ({"output_dir": "s3://b/out"}, "--output-dir: predictions are written to a local directory"),
        ({"configs_per_task": 0}, "--configs-per-task: must be at least 1, got 0"),
        (
            {"resources": {"trian": {"cpu": 1, "memory": 1024}}},
            "config 'resources', key 'trian': unknown step (steps with resources: ingest, features, train",
        ),
    ],
)
def test_inconsistent_settings_fail_in_start(over: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(**over)
    assert str(info.value).startswith(message)
