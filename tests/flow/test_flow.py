"""SpyFlow end to end with metaflow.Runner on the session's isolated datastore (small sweep)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from metaflow import Run

from spylib.core.errors import ConfigError
from tests.helpers.cards import card_text
from tests.helpers.flowrun import data_of, run_flow, task_of
from tests.helpers.metaflow_env import flow_env, pythonpath
from tests.helpers.paths import PLUGINS, REPO, SEED_DATA

PUBLIC_ARTIFACTS = (
    "prices",
    "data_provenance",
    "feature_table",
    "feature_columns",
    "leakage_audit",
    "data_quality",
    "splits",
    "training_data",
    "trials",
    "best",
    "model",
    "metrics",
    "baselines",
    "gate",
    "track",
    "refits",
    "power",
    "importance",
    "holdout_metrics",
    "bundle",
    "predictions",
    "prediction_files",
    "registration",
    "lake_files",
    "settings",
)


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """One run with the defaults and the small sweep, shared by this module's read-only tests."""
    tmp = tmp_path_factory.mktemp("embedded")
    result = run_flow(tmp)
    assert result.status == "successful", result.stderr
    return result.run, tmp


def test_run_produces_every_public_artifact(embedded_run: tuple[Run, Path]) -> None:
    run, _ = embedded_run
    data = task_of(run, "end").data
    missing = [name for name in PUBLIC_ARTIFACTS if name not in data]
    assert not missing
    # `features` is the features step's artifact (the name is also the step's: later steps carry it
    # as `feature_table`, the same stored object).
    features = task_of(run, "features").data.features
    assert features.shape[0] > 4000
    assert features.equals(data.feature_table)


def test_walk_forward_blocks_train_on_the_past_and_the_track_is_long(embedded_run: tuple[Run, Path]) -> None:
    run, _ = embedded_run
    data = task_of(run, "end").data
    splits = data.splits
    # The embedded S&P 500 stand-in has stale opens (within 1 bp of the previous close on at least half
    # the days) in 1999-2007 and 2012: those years only train, and no block covers them.
    stale = data.data_quality["stale_open_years"]
    for earlier, later in itertools.pairwise(splits.blocks):
        skipped = set(range(pd.Timestamp(earlier.end).year + 1, pd.Timestamp(later.start).year))
        assert skipped <= set(stale), skipped
        if not skipped:
            assert later.first_row == earlier.last_row + 1
    for block in splits.blocks:
        # purge (label span) and embargo between the last training row and the block
        assert block.first_row - block.train_last - 1 == splits.label_horizon + splits.embargo_days
    assert set(stale) == {*range(1999, 2008), 2012}
    assert data.data_quality["stale_open_tolerance"] == 1e-4
    assert 0.5 <= stale[2007] < stale[2012] < stale[2006] < 0.8
    assert pd.Timestamp(splits.blocks[0].start).year == 2008
    track = data.track
    assert 2012 not in set(pd.to_datetime(track["date"]).dt.year)
    assert len(track) / 252 >= 7.5
    assert list(track["block"].unique()) == [b.name for b in splits.traded_blocks]
    assert len(data.refits) == len(splits.traded_blocks)


def test_trials_table_and_gate(embedded_run: tuple[Run, Path]) -> None:
    run, _ = embedded_run
    data = task_of(run, "end").data
    assert len(data.trials) == 2 * 2 * 2 * 2  # configurations x thresholds x filters x sizings
    assert data.trials["trial_id"].is_unique
    assert data.best["trial_id"] in set(data.trials["trial_id"])
    assert data.gate["status"] in ("Approved", "Rejected")
    names = [c["name"] for c in data.gate["checks"]]
    assert names == [
        "dsr_selection",
        "track_beats_buy_and_hold",
        "track_beats_vol_target_long",
        "trades_per_year",
        "exposure",
        "auc_track_ci_low",
    ]
    assert all(c["value"] is not None for c in data.gate["checks"])
    assert data.metrics["n_trials"] == 16
    assert 1 <= data.metrics["n_trials_effective"] <= 16
    # The buy-and-hold row of the baseline table is on the track's days.
    baselines = data.baselines.set_index("strategy")
    bh = baselines.loc["buy_and_hold"]
    assert bh["exposure"] == 1.0
    assert data.metrics["buy_and_hold_sharpe_net"] == pytest.approx(bh["sharpe_net"])
    # The sizing rule with no model: the same figure in the baselines and in the gate's evidence.
    sized = baselines.loc["vol_target_always_long"]
    assert data.metrics["vol_target_long_sharpe_net"] == pytest.approx(sized["sharpe_net"])
    assert "moving_average_200" in baselines.index
    # PSR(0) and CSCV are reported though not gated; the HAC p beside the gate's bootstrap p.
    for key in ("psr", "prob_oos_loss", "vs_buy_and_hold_p_value_hac", "vs_vol_target_long_p_value_hac"):
        assert 0 <= data.metrics[key] <= 1, key
    assert data.power["track_days"] == len(data.track)
    assert 0 < data.power["min_detectable_sharpe"] < 2


def test_predictions_written_and_registered(embedded_run: tuple[Run, Path]) -> None:
    run, tmp = embedded_run
    data = task_of(run, "end").data
    predictions = data.predictions
    assert set(predictions["segment"]) == {"walk_forward", "latest"}
    walk = predictions[predictions["segment"] == "walk_forward"]
    assert len(walk) == len(data.track)
    np.testing.assert_array_equal(walk["probability"], data.track["probability"])
    latest = predictions[predictions["segment"] == "latest"]
    assert len(latest) == 2  # open_to_open: the last two days' labels are unknown
    assert latest["target_up"].isna().all()
    on_disk = pd.read_parquet(data.prediction_files["parquet"])
    assert len(on_disk) == len(predictions)
    assert Path(data.prediction_files["csv"]).is_file()
    reg = data.registration
    assert reg["status"] == data.gate["status"]
    manifest = Path(reg["location"]) / "manifest.json"
    assert manifest.is_file()
    assert Path(reg["location"]).parent.parent.parent == tmp / "registry"


def test_card_is_rendered(embedded_run: tuple[Run, Path]) -> None:
    run, _ = embedded_run
    text = card_text(run.id, "evaluate", task_of(run, "evaluate").id, "evaluation")
    status = task_of(run, "end").data.gate["status"]
    assert f"{status}:" in text  # the verdict banner
    assert "stand-ins" in text  # the embedded data is named as what it is
    assert "bp of the previous close on at least half the days" in text  # and its quirk (stale opens)
    # the scheme, the track and the importance
    assert text.count('"type": "image"') >= 3


def test_readme_client_example_runs(embedded_run: tuple[Run, Path]) -> None:
    """The README's Client example, executed against a real run."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- client-example -->\s*```python\n(.*?)```", readme, re.S)
    assert block, "README.md has no client example block"
    namespace: dict[str, Any] = {}  # the globals of the exec'd example
    exec(compile(block.group(1), "README.md:client-example", "exec"), namespace)
    assert namespace["run"].successful


def test_an_unwritable_registry_fails_in_start_with_one_line(tmp_path: Path) -> None:
    """Found by start's probe write, before any work (resume after a late failure: tests/flow/test_faults.py)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the registry directory should go")
    result = run_flow(tmp_path, registry_location=str(blocker / "registry"))
    assert result.status == "failed"
    assert [s.id for s in result.run] == ["start"]
    stderr = task_of(result.run, "start").stderr
    assert (
        f"spylib.core.errors.ConfigError: --registry-location: cannot write to {blocker / 'registry'}"
        in stderr
    )
    assert "Traceback" not in stderr


def test_shuffled_labels_control_finds_nothing_and_is_rejected(tmp_path: Path) -> None:
    result = run_flow(tmp_path, shuffle_labels=True)
    assert result.status == "successful", result.stderr
    metrics = data_of(result.run).metrics
    assert abs(metrics["auc"] - 0.5) < 0.08
    gate = data_of(result.run).gate
    assert gate["status"] == "Rejected"
    # Noise does not beat the sizing rule it is made of.
    failed = {c["name"] for c in gate["checks"] if not c["passed"]}
    assert "track_beats_vol_target_long" in failed, gate["reasons"]
    assert_registered_as_control(tmp_path, data_of(result.run).registration, "shuffled labels")


def assert_registered_as_control(tmp_path: Path, registration: dict, reason: str) -> None:
    """A control, run with the default group, lands in ``<group>-control``; the default group stays
    empty, and PredictFlow refuses the control even when pointed at its group."""
    from spylib.registry import LocalRegistry
    from spylib.stages import daily
    from spylib.stages.settings import DailySettings

    assert registration["group"] == "spy-direction-control"
    registry = LocalRegistry(tmp_path / "registry")
    assert registry.list_versions("spy-direction") == []
    registry.set_status("spy-direction-control", registration["version"], "Approved", "test: try to serve it")
    settings = DailySettings(
        source="embedded", symbol="SPY", benchmark="QQQ", as_of=None, extra_features=(),
        output_dir=str(tmp_path / "out"), lake_root=str(tmp_path / "lake"), registry="local",
        registry_location=str(tmp_path / "registry"), model_group="spy-direction-control", history_runs=5,
        replay_days=0, fail_on_alert=False,
    )  # fmt: skip
    with pytest.raises(ConfigError, match=f"is a control .trained on {reason}.; controls are never served"):
        daily.load_approved_model(settings)


@pytest.mark.parametrize(("edge", "status"), [(0.0, "Rejected"), (0.3, "Approved")])
def test_synthetic_controls(tmp_path: Path, edge: float, status: str) -> None:
    """The negative control (no edge) is rejected; a planted edge far above the gate's stated minimum
    detectable Sharpe for this track length is approved."""
    result = run_flow(tmp_path, source=f"synthetic:edge={edge},years=14,seed=7")
    assert result.status == "successful", result.stderr
    data = data_of(result.run)
    assert data.gate["status"] == status, data.gate["reasons"]
    assert "SYNTHETIC market" in data.data_provenance["descriptions"]["SPY"]
    if edge:
        assert data.metrics["sharpe_net"] > data.power["min_detectable_sharpe"]
        # A real edge beats both buy-and-hold and its own sizing on always-long, by the bootstrap test.
        assert data.metrics["vs_vol_target_long_p_value"] <= 0.05
        assert data.metrics["vs_buy_and_hold_p_value"] <= 0.05
    else:
        failed = {c["name"] for c in data.gate["checks"] if not c["passed"]}
        assert "track_beats_vol_target_long" in failed, data.gate["reasons"]
    assert_registered_as_control(tmp_path, data.registration, "a synthetic market")


def test_batched_configurations_give_the_same_trials(embedded_run: tuple[Run, Path], tmp_path: Path) -> None:
    """The default local run scores its configurations in one train task over a process pool;
    --configs-per-task 1 gives each its own task, scored in that task's process: the same trials."""
    run, _ = embedded_run
    assert len(list(run["train"])) == 1  # the default: one pooled task
    result = run_flow(tmp_path, configs_per_task=1)
    assert result.status == "successful", result.stderr
    assert len(list(result.run["train"])) == 2  # 2 configurations, 1 per task
    pd.testing.assert_frame_equal(data_of(result.run).trials, data_of(run).trials)
    assert data_of(result.run).best["trial_id"] == data_of(run).best["trial_id"]


def test_planted_lookahead_feature_stops_the_run(tmp_path: Path) -> None:
    env = flow_env(PYTHONPATH=pythonpath(PLUGINS))
    result = run_flow(tmp_path, env=env, extra_features="leaky_features:tomorrow_return")
    assert result.status == "failed"
    stderr = task_of(result.run, "features").stderr
    assert "feature 'tomorrow_return' uses the future" in stderr
    assert "split" not in [s.id for s in result.run]
    assert not (tmp_path / "registry").exists()


@pytest.mark.skipif(not SEED_DATA.is_dir(), reason="../shared/data/seed is not present")
def test_seed_project_files(tmp_path: Path) -> None:
    source = str(SEED_DATA / "{symbol_lower}_daily.csv")
    result = run_flow(tmp_path, source=source)
    assert result.status == "successful", result.stderr
    provenance = data_of(result.run).data_provenance
    assert provenance["layouts"] == {"SPY": "seed", "QQQ": "seed"}
    assert provenance["first_date"] == "2005-04-15"
    assert np.isfinite(data_of(result.run).metrics["sharpe_net"])
