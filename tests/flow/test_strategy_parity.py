"""The last traded block of a SpyFlow run, replayed through PredictFlow (real flow runs): the block's
model and strategy (:func:`spylib.evaluation.holdout.traded_block_bundle`) registered and approved,
PredictFlow run at the block's first and last day, gives the track's probabilities, positions and
net returns exactly. Every day of the block is replayed through PredictFlow's stages in
``tests/unit/test_strategy.py``; here two days go through the flow itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spylib.evaluation.holdout import traded_block_bundle
from spylib.modelling.strategy import TradeContext
from spylib.modelling.trading import strategy_returns
from spylib.registry import LocalRegistry, RegistrationRequest
from spylib.registry.provenance import Provenance
from spylib.storage.lake import read_table
from tests.helpers.flowrun import data_of, run_flow
from tests.helpers.predict_flow import run_predict_flow

# Slow (a SpyFlow run, then PredictFlow day by day): `pytest -m slow`, its own line in .ci/run.
pytestmark = pytest.mark.slow


def test_the_last_traded_block_through_predict_flow_gives_the_track(tmp_path: Path) -> None:
    result = run_flow(tmp_path / "train")
    assert result.status == "successful", result.stderr
    data = data_of(result.run)
    registry = LocalRegistry(tmp_path / "train" / "registry")
    trained = registry.list_versions("spy-direction")[0]
    metadata = registry.read_metadata(trained)
    settings, training, refit = data.settings, data.training_data, data.refits.iloc[-1]
    context = TradeContext(
        settings.data.symbol, tuple(training.feature_columns), settings.plan.execution, settings.cost_bps,
        settings.plan.sweep.target_volatility,
    )  # fmt: skip
    bundle = traded_block_bundle(
        training.features, training.splits, data.trials.iloc[int(refit["trial_id"])].to_dict(),
        str(refit["block"]), context, seed=settings.plan.seed,
    )  # fmt: skip
    profile = Path(trained.location, "reference_profile.json").read_bytes()
    LocalRegistry(tmp_path / "daily" / "registry").register(
        RegistrationRequest(
            group="spy-direction", bundle=bundle, approval_status="Approved", metrics=metadata["metrics"],
            gate_reasons=[], run_pathspec=f"replay/{result.run.id}", data_fingerprint="replay",
            code_version="replay", extra_files={"reference_profile.json": profile},
            provenance=Provenance.from_dict(metadata["provenance"]),
        )
    )  # fmt: skip
    track = data.track
    block = track[track["block"] == refit["block"]].reset_index(drop=True)
    days = [block["date"].iloc[0], block["date"].iloc[-1]]
    for day in days:
        daily = run_predict_flow(tmp_path / "daily", str(day))
        assert daily.successful
    rows = read_table("predictions", str(tmp_path / "daily" / "lake"), [("segment", "=", "daily")])
    rows["date"] = rows["date"].dt.date
    want = block.set_index("date").loc[days]
    np.testing.assert_array_equal(rows["probability"].to_numpy(), want["probability"].to_numpy())
    np.testing.assert_array_equal(rows["position"].to_numpy(), want["position"].to_numpy())
    # The first day's outcome, filled by the second run, and its net return from the track's prior position.
    first = track.index[track["date"] == days[0]][0]
    assert rows["fwd_return"].iloc[0] == track["fwd_return"].iloc[first]
    held = np.array([track["position"].iloc[first - 1], rows["position"].iloc[0]])
    _, net = strategy_returns(held, [0.0, rows["fwd_return"].iloc[0]], bundle.strategy.cost_bps)
    assert net[1] == track["strategy_net"].iloc[first]
    assert json.loads(json.dumps(bundle.strategy.to_dict()))["sizing"]["kind"] == block_sizing(data)


def block_sizing(data: object) -> str:
    return str(data.refits["sizing"].iloc[-1])  # type: ignore[attr-defined]
