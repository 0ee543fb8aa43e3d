"""The gate's simulation on the realistic families, and the measured error rates looked up for a run's
own number of trials and track length (the ``power`` artifact and the card's sentence)."""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, fields

import pytest

from spylib.core.config import GateConfig, ModelSpec, SweepConfig, WalkForwardConfig
from spylib.evaluation import simulation
from spylib.evaluation.evidence import Evidence, power_summary
from spylib.evaluation.simulation import NULLS_SWEEP, SimulationSetup, replicate
from spylib.reporting.evaluation_card import _simulation_sentence
from spylib.stats.power import minimum_detectable_edge, run_error_rates

ROOT = simulation.RESULTS_FILE.parents[3]


def _row(family: str, trials: int, days: int, approved: int = 0, **extra: object) -> dict[str, object]:
    return {
        "family": family,
        "trials": trials,
        "track_days": days,
        "replications": 100,
        "approved": approved,
        "rate": approved / 100,
        "ci_low": 0.0,
        "ci_high": 0.036,
        "min_detectable_edge": 0.2,
        "min_detectable_sharpe": 2.0,
        "power_replications": 20,
        **extra,
    }


def test_nulls_sweep_has_the_default_grids_trial_count_and_rules() -> None:
    raw = json.loads((ROOT / "flows" / "config" / "sweep.json").read_text(encoding="utf-8"))
    default_configs = sum(math.prod(len(v) for v in grid.values()) for grid in raw["models"].values())
    assert NULLS_SWEEP.n_trials == default_configs * NULLS_SWEEP.rules_per_model == 560
    assert list(NULLS_SWEEP.thresholds) == raw["thresholds"]
    assert [list(f) for f in NULLS_SWEEP.filters] == raw["filters"]
    assert list(NULLS_SWEEP.sizings) == raw["sizings"]
    assert NULLS_SWEEP.walk_forward.min_train_days == raw["walk_forward"]["min_train_days"]


def test_minimum_detectable_edge_interpolates_the_first_crossing() -> None:
    assert minimum_detectable_edge([(0.0, 0.0), (0.1, 0.4), (0.2, 1.0)]) == pytest.approx(
        0.1 + 0.4 / 0.6 * 0.1
    )
    assert minimum_detectable_edge([(0.0, 0.02), (0.15, 0.5), (0.3, 0.7)]) is None
    assert minimum_detectable_edge([(0.3, 0.9), (0.1, 0.85)]) == pytest.approx(0.1)


def test_run_error_rates_picks_the_nearest_setting_per_family() -> None:
    rows = [
        _row("garch", 560, 3400, approved=2),
        _row("garch", 48, 3400),
        _row("garch", 560, 800, approved=5),
        _row("gaussian", 48, 3390),
    ]
    near = {r.family: r for r in run_error_rates(rows, n_trials=600, track_days=3000)}
    assert (near["garch"].trials, near["garch"].track_days, near["garch"].approved) == (560, 3400, 2)
    assert near["garch"].distance == pytest.approx(
        abs(math.log(600 / 560)) + abs(math.log(3000 / 3400)), abs=1e-6
    )
    assert near["gaussian"].trials == 48  # the only Gaussian setting, however far
    short = {r.family: r for r in run_error_rates(rows, n_trials=560, track_days=700)}
    assert short["garch"].approved == 5


def test_power_summary_quotes_the_runs_own_setting_and_the_card_says_so() -> None:
    figures: dict[str, object] = {f.name: 0.0 for f in fields(Evidence) if f.default is MISSING}
    figures.update(n_days=3300, n_trials=560, track_skew=-0.2, track_kurtosis=9.0)
    metrics = Evidence(**figures)  # type: ignore[arg-type]
    simulated = {
        "years": 20.0,
        "false_approval": {"replications": 200, "approved": 0, "rate": 0.0, "ci_low": 0.0, "ci_high": 0.018},
        "error_rates": [
            _row("garch", 560, 3400, approved=3),
            _row("bootstrap", 560, 3400, min_detectable_edge=None, min_detectable_sharpe=None),
            _row(
                "regimes",
                560,
                3400,
                min_detectable_edge=None,
                min_detectable_sharpe=None,
                power_replications=3,
            ),
        ],
    }
    power = power_summary(metrics, GateConfig(), simulated)
    assert "error_rates" not in power["simulation"]
    assert [r["family"] for r in power["error_rates"]] == ["garch", "bootstrap", "regimes"]
    sentence = _simulation_sentence(power)
    assert "GJR-GARCH-t, 560 trials, 3,400 days: 3 of 100 (3.00%" in sentence
    assert "block bootstrap of the index: above the largest edge simulated" in sentence
    assert "E = 0.2" in sentence
    assert "calm/turbulent regimes with crashes: not measured (too few replications)" in sentence
    del power["error_rates"]
    assert "200 synthetic markets with no edge" in _simulation_sentence(power)  # the older figure alone


def test_a_replication_runs_the_gate_on_a_realistic_family() -> None:
    sweep = SweepConfig(
        models=(ModelSpec("logistic", {"C": 0.01}),),
        thresholds=(0.5, 0.55),
        walk_forward=WalkForwardConfig(
            block_months=12, min_train_days=750, embargo_days=60, min_selection_blocks=2
        ),
    )
    rep = replicate(0.0, 3, SimulationSetup(years=7, sweep=sweep, family="bootstrap"))
    again = replicate(0.0, 3, SimulationSetup(years=7, sweep=sweep, family="bootstrap"))
    other = replicate(0.0, 3, SimulationSetup(years=7, sweep=sweep, family="garch"))
    assert rep.family == "bootstrap"
    assert other.family == "garch"
    assert rep.track_sharpe_net == again.track_sharpe_net  # deterministic per seed
    assert rep.buy_and_hold_sharpe_net != other.buy_and_hold_sharpe_net
    assert rep.track_years > 1.0


def test_shipped_error_rate_table_has_every_null_family() -> None:
    if not simulation.ERROR_RATES_FILE.is_file():
        pytest.skip("the bench has not written its table")
    table = json.loads(simulation.ERROR_RATES_FILE.read_text(encoding="utf-8"))
    families = {r["family"] for r in table["rows"]}
    assert {"garch", "regimes", "bootstrap"} <= families
    for row in table["rows"]:
        assert row["ci_low"] <= row["rate"] <= row["ci_high"]
        assert row["replications"] > 0
        assert row["trials"] > 0
        assert row["track_days"] > 0
    assert "bench_gate_nulls.py" in table["command"]
