"""The gate: each check on its own figure, PSR(0) and CSCV gated only when configured, the config's new
keys, and a rule with no model (the volatility-targeted always-long sizing) entered as a model."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from spylib.core.config import GateConfig, ModelSpec, SweepConfig, WalkForwardConfig, parse_gate
from spylib.core.errors import ConfigError
from spylib.evaluation.assessment import AssessmentSettings, assess
from spylib.evaluation.baselines import vol_target_long_positions
from spylib.evaluation.evidence import Evidence
from spylib.evaluation.gate import GateDecision, apply_gate
from spylib.features.table import build_features, feature_columns
from spylib.modelling import scoring
from spylib.modelling.scoring import ScoringData, score_configuration
from spylib.modelling.trading import strategy_returns
from spylib.modelling.walk_forward import walk_forward_splits
from tests.helpers.evidence import make_evidence
from tests.helpers.synthetic import synthetic_prices

REPO = Path(__file__).resolve().parents[2]


def passing(**over: float) -> Evidence:
    base = {
        "dsr": 0.99, "dsr_effective": 0.99, "n_trials": 100, "n_trials_effective": 10, "psr": 0.99,
        "vs_buy_and_hold_p_value": 0.01, "vs_vol_target_long_p_value": 0.01, "prob_oos_loss": 0.05,
        "pbo": 0.1, "trades_per_year": 20.0, "exposure": 0.5, "auc_ci_low": 0.52,
    }  # fmt: skip
    return make_evidence(**{**base, **over})


def test_gate_checks_each_hypothesis_and_nan_never_passes() -> None:
    gate = GateConfig()
    assert apply_gate(passing(), gate).status == "Approved"
    failing = [
        ("dsr_effective", 0.9), ("vs_buy_and_hold_p_value", 0.2), ("vs_vol_target_long_p_value", 0.06),
        ("trades_per_year", 5.0), ("exposure", 0.05), ("auc_ci_low", 0.49),
        ("vs_vol_target_long_p_value", math.nan), ("vs_buy_and_hold_p_value", math.nan),
    ]  # fmt: skip
    for key, bad in failing:
        decision = apply_gate(passing(**{key: bad}), gate)
        assert decision.status == "Rejected", key
        assert len(decision.failed) == 1
    # dsr_trials chooses which deflation is gated
    assert apply_gate(passing(dsr=0.5), gate).status == "Approved"
    assert apply_gate(passing(dsr=0.5), replace(gate, dsr_trials="all")).status == "Rejected"
    unrequired = replace(gate, require_beat_buy_and_hold=False, require_beat_vol_target=False)
    assert apply_gate(
        passing(vs_buy_and_hold_p_value=0.5, vs_vol_target_long_p_value=0.5), unrequired
    ).status == ("Approved")
    # the PBO is reported, and gated only when max_pbo is set
    assert apply_gate(passing(pbo=0.7), gate).status == "Approved"
    decision = apply_gate(passing(pbo=0.7), replace(gate, max_pbo=0.5))
    assert decision.status == "Rejected"
    assert GateDecision.from_dict(decision.to_dict()) == decision


def test_psr_and_cscv_are_reported_and_gated_only_when_set() -> None:
    gate = GateConfig()
    names = [c.name for c in apply_gate(passing(), gate).checks]
    assert names == [
        "dsr_selection",
        "track_beats_buy_and_hold",
        "track_beats_vol_target_long",
        "trades_per_year",
        "exposure",
        "auc_track_ci_low",
    ]
    noise = passing(psr=0.5, prob_oos_loss=0.6)
    assert apply_gate(noise, gate).status == "Approved"
    both = replace(gate, min_psr=0.95, max_prob_oos_loss=0.25)
    assert sorted(c.name for c in apply_gate(noise, both).checks if not c.passed) == [
        "cscv_oos_loss",
        "psr_track",
    ]


def test_the_shipped_gate_config_is_the_default() -> None:
    shipped = parse_gate(
        json.loads((REPO / "flows" / "config" / "gate.json").read_text()), source="gate.json"
    )
    assert shipped == GateConfig()
    assert shipped.bootstrap_block_lengths == (5, 10, 20, 40, 60, 120)
    assert (shipped.min_psr, shipped.max_prob_oos_loss) == (None, None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"bootstrap_block_lengths": []}, "must list positive integers"),
        ({"bootstrap_block_lengths": [5, 0]}, "must list positive integers"),
        ({"bootstrap_block_lengths": "20"}, "must list positive integers"),
        ({"bootstrap_replicates": 50}, "integer >= 99"),
        ({"require_beat_vol_target": "yes"}, "must be true or false"),
        ({"min_psr": 1.5}, r"within \[0, 1\]"),
    ],
)
def test_bad_gate_keys_are_named(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_gate(raw, source="gate.json")


SWEEP = SweepConfig(
    models=(ModelSpec("logistic", {"C": 0.1}),),
    thresholds=(0.5,),
    filters=((),),
    sizings=("vol_target",),
    walk_forward=WalkForwardConfig(min_train_days=250, embargo_days=20, min_selection_blocks=1),
)


def test_the_vol_targeted_always_long_rule_entered_as_a_model_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A "model" that is always sure of an up day, sized like the sweep's vol_target trials, is the
    # sizing rule itself: its track must not beat it, whatever else it passes.
    features = build_features(synthetic_prices(1500, seed=8), "SPY", "QQQ")
    splits = walk_forward_splits(
        list(features["date"]), features["target_up"].notna().to_numpy(), SWEEP.walk_forward, 1
    )
    monkeypatch.setattr(scoring, "predict_up_probability", lambda model, x: np.ones(len(x)))
    result = score_configuration(
        SWEEP.models[0], ScoringData(features, feature_columns(), splits), SWEEP, 1.0, 3
    )
    verdict = assess([result], features, splits, AssessmentSettings(SWEEP, GateConfig(), 1.0, 3))
    track: pd.DataFrame = verdict.walk.track
    rows = pd.Index(features["date"]).get_indexer(track["date"])
    expected = vol_target_long_positions(features.iloc[rows], SWEEP.target_volatility)
    np.testing.assert_array_equal(track["position"].to_numpy(), expected)
    _, net = strategy_returns(expected, track["fwd_return"].to_numpy(), 1.0)
    np.testing.assert_array_equal(track["vol_target_long_net"].to_numpy(), net)
    m = verdict.evidence
    assert m.vs_vol_target_long_p_value == 0.5  # the same series: never a rejection
    assert m.vol_target_long_sharpe_net == pytest.approx(m.sharpe_net)
    failed = [c.name for c in verdict.decision.checks if not c.passed]
    assert verdict.decision.status == "Rejected"
    assert "track_beats_vol_target_long" in failed
