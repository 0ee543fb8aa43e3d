"""The one strategy: its JSON form, and parity between the track and every consumer that applies it.

The parity test replays the last traded block of a walk-forward run through PredictFlow's stages
(cut the prices at each day, build the features, score and size the day, merge it into the lake's
track record), through monitoring (realised net returns) and through the serving handlers shipped in
``model.tar.gz``, and asserts the track's positions and net returns exactly (no tolerance).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spylib.core.config import GateConfig, ModelSpec, SweepConfig, WalkForwardConfig
from spylib.core.conventions import PERIODS_PER_YEAR
from spylib.core.errors import ConfigError
from spylib.evaluation.assessment import AssessmentSettings, assess
from spylib.evaluation.holdout import traded_block_bundle
from spylib.features.table import build_features, feature_columns
from spylib.modelling import rule
from spylib.modelling.models import apply_bundle
from spylib.modelling.scoring import ScoringData, score_configuration
from spylib.modelling.strategy import ModelBundle, Strategy, TradeContext
from spylib.modelling.trading import strategy_returns
from spylib.modelling.walk_forward import walk_forward_splits
from spylib.monitoring import reference_profile, rolling_performance
from spylib.registry import LocalRegistry, RegistrationRequest, build_model_tarball, serialize_bundle
from spylib.registry.provenance import Provenance
from spylib.stages import daily
from spylib.stages.settings import DailySettings
from tests.helpers.strategies import strategy_for
from tests.helpers.synthetic import synthetic_prices

# Volatility-targeted sizing only: the case that was long/flat downstream before the strategy existed.
SWEEP = SweepConfig(
    models=(
        ModelSpec("random_forest", {"n_estimators": 20, "max_depth": 3, "min_samples_leaf": 20}),
        ModelSpec("logistic", {"C": 0.1}),
    ),
    thresholds=(0.48, 0.52),
    filters=((), ("trend_up",)),
    sizings=("vol_target",),
    target_volatility=0.10,
    walk_forward=WalkForwardConfig(min_train_days=250, embargo_days=20, min_selection_blocks=1),
)
LENIENT = GateConfig(min_trades_per_year=0.0, min_exposure=0.0)
COST_BPS = 2.0
SEED = 7


def test_the_json_form_round_trips_and_refuses_another_version() -> None:
    strategy = strategy_for(
        ["ret_5", "rsi_14"], 0.55, ["trend_up"], sizing="vol_target", target_volatility=0.12
    )
    assert Strategy.from_dict(json.loads(json.dumps(strategy.to_dict()))) == strategy
    assert strategy.input_columns == ["ret_5", "rsi_14", "trend_up", "vol_20"]
    with pytest.raises(ConfigError, match="strategy_format_version"):
        Strategy.from_dict({**strategy.to_dict(), "strategy_format_version": 2})
    with pytest.raises(ConfigError, match=r"sizing\.kind"):
        Strategy.from_dict(
            {**strategy.to_dict(), "sizing": {**strategy.to_dict()["sizing"], "kind": "kelly"}}
        )
    with pytest.raises(ConfigError, match="threshold"):
        Strategy.from_dict({**strategy.to_dict(), "threshold": "high"})


def test_the_rule_annualizes_like_the_library() -> None:
    assert rule.PERIODS_PER_YEAR == PERIODS_PER_YEAR


def test_a_bundle_registered_before_the_strategy_gets_one_from_its_flat_keys() -> None:
    strategy = strategy_for(["ret_5"], 0.6, ["trend_up"])
    payload = ModelBundle("estimator", strategy).to_payload()
    old = {k: v for k, v in payload.items() if k != "strategy"}
    typed = ModelBundle.from_payload(old)
    assert typed.strategy.threshold == 0.6
    assert typed.strategy.regime_filter.columns == ("trend_up",)
    assert typed.strategy.model.config_id == "unrecorded"


@pytest.fixture(scope="module")
def run() -> dict:
    """A walk-forward run in miniature: prices, features, the track and the last block's choice."""
    prices = synthetic_prices(1070, seed=11)  # the last block (2005) is 25 days, each replayed
    features = build_features(prices, "SPY", "QQQ")
    splits = walk_forward_splits(
        list(features["date"]), features["target_up"].notna().to_numpy(), SWEEP.walk_forward, 1
    )
    cols = feature_columns()
    results = [
        score_configuration(spec, ScoringData(features, cols, splits), SWEEP, COST_BPS, SEED)
        for spec in SWEEP.models
    ]
    context = TradeContext("SPY", tuple(cols), "close_to_close", COST_BPS, SWEEP.target_volatility)
    verdict = assess(
        results, features, splits, AssessmentSettings(SWEEP, LENIENT, COST_BPS, SEED), context=context
    )
    track, last = verdict.walk.track, splits.traded_blocks[-1]
    chosen = verdict.trialset.trials.iloc[int(verdict.walk.refits["trial_id"].iloc[-1])].to_dict()
    bundle = traded_block_bundle(features, splits, chosen, last.name, context, seed=SEED)
    # Applying the strategy gives the positions the trial was scored with (the one rule, two callers).
    trial = int(verdict.walk.refits["trial_id"].iloc[-1])
    here = verdict.trialset.block == last.index
    np.testing.assert_array_equal(
        track.loc[track["block"] == last.name, "position"].to_numpy(), verdict.trialset.positions[here, trial]
    )
    return {
        "prices": prices,
        "features": features,
        "track": track,
        "block": track[track["block"] == last.name].reset_index(drop=True),
        "bundle": bundle,
        "cols": cols,
    }


def register_block_model(root: Path, run: dict) -> None:
    """The last block's model and strategy, registered Approved with provenance and a profile."""
    bundle: ModelBundle = run["bundle"]
    features = run["features"]
    profile = reference_profile(features, run["cols"])
    provenance = Provenance(
        "file", "prices.csv", "fp", "2001-01-02", "2005-03-18", ("SPY", "QQQ"), "s", "g", "c", 7, False
    )
    LocalRegistry(root).register(
        RegistrationRequest(
            group="spy-direction",
            bundle=bundle,
            approval_status="Approved",
            metrics={"cost_bps": COST_BPS},
            gate_reasons=[],
            run_pathspec="SpyFlow/parity",
            data_fingerprint="fp",
            code_version="c",
            extra_files={"reference_profile.json": json.dumps(profile).encode()},
            provenance=provenance,
        )
    )


def daily_settings(tmp_path: Path) -> DailySettings:
    return DailySettings(
        source="prices.csv", symbol="SPY", benchmark="QQQ", as_of=None, extra_features=(),
        output_dir=str(tmp_path / "out"), lake_root=str(tmp_path / "lake"), registry="local",
        registry_location=str(tmp_path / "registry"), model_group="spy-direction", history_runs=5,
        replay_days=0, fail_on_alert=False,
    )  # fmt: skip


def test_the_track_is_the_chosen_strategy_applied(run: dict) -> None:
    block = run["block"]
    assert run["bundle"].strategy.sizing.kind == "vol_target"
    frame = run["features"].set_index("date").loc[block["date"]].reset_index()
    scored = apply_bundle(run["bundle"], frame)
    np.testing.assert_array_equal(scored.probability, block["probability"].to_numpy())
    np.testing.assert_array_equal(scored.position, block["position"].to_numpy())
    assert np.mean((scored.position > 0) & (scored.position < 1)) > 0  # sized, not long/flat


def test_the_last_block_replayed_through_predict_flow_gives_the_track(run: dict, tmp_path: Path) -> None:
    register_block_model(tmp_path / "registry", run)
    settings = daily_settings(tmp_path)
    model = daily.load_approved_model(settings)
    block, track = run["block"], run["track"]
    for i, day in enumerate(block["date"]):
        cut = daily.cut_at(run["prices"], day, "prices.csv")
        features = daily.run_features(cut.prices, settings, model, cut.as_of)
        daily.run_predict(model, features, settings, cut.as_of, f"daily-{i}", "fp")
        daily.publish_predictions(settings, f"daily-{i}", "fp")  # as PredictFlow's end does
    final = daily.run_features(run["prices"], settings, model, run["prices"]["date"].max())
    record = daily.run_predict(model, final, settings, final["date"].iloc[-1], "daily-last", "fp").track
    replayed = record[record["date"].isin(set(block["date"]))].reset_index(drop=True)
    # The positions: exactly the track's (no tolerance), sized by the strategy.
    assert list(replayed["date"]) == list(block["date"])
    # The probabilities agree to the last bits (a seed-averaged forest of 500 trees, scored a day at a
    # time against a block at once, may round its sum of tree votes differently by one ulp); the
    # positions and net returns, which are what is traded, are the track's exactly.
    np.testing.assert_allclose(
        replayed["probability"].to_numpy(), block["probability"].to_numpy(), rtol=0, atol=1e-12
    )
    np.testing.assert_array_equal(replayed["position"].to_numpy(), block["position"].to_numpy())
    np.testing.assert_array_equal(replayed["fwd_return"].to_numpy(), block["fwd_return"].to_numpy())
    # The net returns monitoring realises: the track's, exactly (the earlier blocks as traded, then
    # the replayed block, so the first day's cost starts from the same position).
    earlier = track[track["date"] < block["date"].iloc[0]]
    history = pd.concat(
        [earlier.assign(signal=(earlier["position"] > 0).astype("int8")), replayed], ignore_index=True
    )[["date", "probability", "signal", "position", "target_up", "fwd_return"]]
    realised = rolling_performance(history, windows=(20,), cost_bps=model.cost_bps)
    np.testing.assert_array_equal(realised["net_return"].to_numpy(), track["strategy_net"].to_numpy())
    _, net = strategy_returns(history["position"], history["fwd_return"], model.strategy.cost_bps)
    np.testing.assert_array_equal(net, track["strategy_net"].to_numpy())


def test_the_serving_handlers_give_the_track(run: dict, tmp_path: Path) -> None:
    import importlib.util

    model_dir = tmp_path / "model"
    tarball = build_model_tarball(serialize_bundle(run["bundle"]))
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        tar.extractall(model_dir, filter="data")
    spec = importlib.util.spec_from_file_location("shipped", model_dir / "code" / "inference.py")
    assert spec is not None
    assert spec.loader is not None
    inference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inference)
    loaded = inference.model_fn(str(model_dir))
    block = run["block"]
    rows = run["features"].set_index("date").loc[block["date"]].reset_index()
    body = rows[inference.model_columns(loaded)].to_csv(index=False)
    text, _ = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, "text/csv"), loaded), "text/csv"
    )
    answer = pd.read_csv(io.StringIO(text))
    np.testing.assert_array_equal(answer["probability"].to_numpy(), block["probability"].to_numpy())
    np.testing.assert_array_equal(answer["position"].to_numpy(), block["position"].to_numpy())


def test_predict_flow_refuses_a_control_and_other_symbols(run: dict, tmp_path: Path) -> None:
    synthetic = Provenance(
        "synthetic", "synthetic:edge=0.3", "fp", "a", "b", ("SPY", "QQQ"), "s", "g", "c", 1, False
    )
    with pytest.raises(
        ConfigError,
        match=re.escape("is a control (trained on a synthetic market); controls are never served"),
    ):
        daily.check_servable("g/v1", synthetic, ("SPY", "QQQ"), source="registry")
    shuffled = Provenance("file", "x.csv", "fp", "a", "b", ("SPY", "QQQ"), "s", "g", "c", 1, True)
    with pytest.raises(ConfigError, match="shuffled labels"):
        daily.check_servable("g/v1", shuffled, ("SPY", "QQQ"), source="registry")
    real = Provenance("file", "x.csv", "fp", "a", "b", ("SPY", "IWM"), "s", "g", "c", 1, False)
    with pytest.raises(ConfigError, match="trained on symbols SPY IWM, this run's inputs are SPY QQQ"):
        daily.check_servable("g/v1", real, ("SPY", "QQQ"), source="registry")
    daily.check_servable("g/v1", None, ("SPY", "QQQ"), source="registry")  # older versions: nothing to check


def test_predict_flow_refuses_a_model_on_another_feature_set(run: dict, tmp_path: Path) -> None:
    narrow = ModelBundle(run["bundle"].estimator, strategy_for(run["cols"][:-1]))
    model = daily.DeployedModel(narrow.to_payload(), "g", 1, "sha", "here", {}, {}, None)
    settings = daily_settings(tmp_path)
    last = run["prices"]["date"].max()
    with pytest.raises(ConfigError, match=f"'{run['cols'][-1]}' is not one of the model's"):
        daily.run_features(run["prices"], settings, model, last)
    assert isinstance(last, date)
