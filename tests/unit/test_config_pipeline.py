"""Config parsing (valid inputs), Settings validation and the root-user handling.

The settings start from SpyFlow's own defaults, read from the flow class (every Parameter's default,
every Config's default file), so no default is restated here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from spylib.core.config import ModelSpec, parse_sweep
from spylib.core.errors import ConfigError
from spylib.core.runtime import ensure_metaflow_user
from spylib.stages.settings import TrainingSettings, build_training_settings
from tests.helpers.flow_defaults import config_defaults, flow_class, load_json_config, parameter_defaults
from tests.helpers.paths import FLOW_FILE


@pytest.fixture(scope="module")
def spy_flow_defaults() -> dict[str, Any]:
    """What ``start`` receives in a run without options: SpyFlow's Parameter defaults and its Configs'
    default files, loaded."""
    flow = flow_class(FLOW_FILE)
    configs = {name: load_json_config(path) for name, path in config_defaults(flow).items()}
    return {**parameter_defaults(flow), **configs}


@pytest.fixture
def build(spy_flow_defaults: dict[str, Any]) -> Callable[..., TrainingSettings]:
    """``build(**over)``: the settings of a run with the defaults, except ``over``."""

    def make(**over: Any) -> TrainingSettings:
        return build_training_settings(**{**spy_flow_defaults, **over})

    return make


def test_default_sweep_has_four_families_two_sizings_and_counts_every_trial() -> None:
    sweep = parse_sweep(load_json_config(config_defaults(flow_class(FLOW_FILE))["sweep"]))
    families = {m.family for m in sweep.models}
    assert families == {"random_forest", "extra_trees", "hist_gradient_boosting", "logistic"}
    assert all(sum(m.family == f for m in sweep.models) >= 2 for f in families)
    assert set(sweep.sizings) == {"long_flat", "vol_target"}
    assert sweep.n_trials == len(sweep.models) * len(sweep.thresholds) * len(sweep.filters) * len(
        sweep.sizings
    )
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


def test_configurations_are_batched_in_order() -> None:
    from spylib.stages.training.split import batch_configs

    specs = [ModelSpec("logistic", {"C": float(c)}) for c in range(1, 6)]
    assert batch_configs(specs, 2) == [specs[0:2], specs[2:4], specs[4:5]]
    assert batch_configs(specs[:2], 1) == [[specs[0]], [specs[1]]]
    # 0 = automatic: one pooled task on one machine; one task per configuration on remote compute
    assert batch_configs(specs, 0) == [specs]
    assert batch_configs(specs, 0, one_machine=False) == [[s] for s in specs]


def test_settings_are_validated_and_normalized(build: Callable[..., TrainingSettings]) -> None:
    settings = build(symbol="spy")
    assert settings.data.symbol == "SPY"
    assert settings.plan.execution == "open_to_open"
    assert settings.plan.label_horizon == 2
    assert build(execution="close_to_close").plan.label_horizon == 1
    assert settings.registry.group == "spy-direction"
    assert settings.outputs.lake_root.endswith("lake")


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"registry": "sagemaker"}, "--registry-location: the SageMaker registry stores artifacts in S3"),
        ({"registry_location": "s3://b/p"}, "--registry-location: the local registry needs a directory"),
        ({"glue_database": "db"}, "--glue-database: Glue catalogs S3 data only"),
        ({"holdout_start": "2018-02-30"}, "--holdout-start: '2018-02-30' is not a YYYY-MM-DD date"),
        ({"source": "synthetic:edge=1.5"}, "--source, key 'edge': must be in [0, 1), got 1.5"),
        ({"output_dir": "s3://b/out"}, "--output-dir: predictions are written to a local directory"),
        ({"configs_per_task": -1}, "--configs-per-task: must be 0 (automatic) or more, got -1"),
        (
            {"resources": {"trian": {"cpu": 1, "memory": 1024}}},
            "config 'resources', key 'trian': unknown step (steps with resources: ingest, features, train",
        ),
    ],
)
def test_inconsistent_settings_fail_in_start(
    build: Callable[..., TrainingSettings], over: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build(**over)
    assert str(info.value).startswith(message)
