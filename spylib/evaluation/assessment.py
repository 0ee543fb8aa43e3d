"""The whole verdict on a sweep: the walk-forward selection, the evidence and the gate's decision, by
one function shared by a flow run and every replication of the gate's simulation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.config import GateConfig, SweepConfig
from spylib.evaluation.evidence import (
    Evidence,
    selection_inference,
    track_inference,
    track_metrics,
    with_vol_target_long,
)
from spylib.evaluation.gate import GateDecision, apply_gate
from spylib.evaluation.selection import (
    TrialSet,
    WalkForward,
    choice_stability,
    combine_trials,
    walk_forward_selection,
)
from spylib.modelling.scoring import ConfigResult, member_result
from spylib.modelling.strategy import TradeContext
from spylib.modelling.walk_forward import Splits
from spylib.stats import performance as stats
from spylib.stats.hypothesis import sharpe_difference_test


@dataclass(frozen=True)
class Assessment:
    """The whole verdict on a sweep: the trials, the walk-forward track, every figure and the gate."""

    trialset: TrialSet
    walk: WalkForward
    evidence: Evidence
    decision: GateDecision


@dataclass(frozen=True)
class AssessmentSettings:
    """What a sweep is judged by: the sweep (its selection metric and volatility target), the gate, the
    cost per side in basis points, and the seed of the bootstrap and of the stability measurement."""

    sweep: SweepConfig
    gate: GateConfig
    cost_bps: float
    seed: int


def assess(
    results: Sequence[ConfigResult],
    features: pd.DataFrame,
    splits: Splits,
    settings: AssessmentSettings,
    *,
    ledger_trials: int | None = None,
    robustness: bool = True,
    context: TradeContext | None = None,
) -> Assessment:
    """Walk-forward selection, the track's and the selection's figures, and the gate's decision: the
    same function for a flow run and for every replication of the gate's simulation. ``ledger_trials``
    is the trials ledger's N (the DSR's); ``robustness`` adds the seed spread and the choices'
    stability under price noise (the selection redone a dozen times)."""
    sweep, gate, cost_bps, seed = settings.sweep, settings.gate, settings.cost_bps, settings.seed
    trialset = combine_trials(results, splits)
    walk = walk_forward_selection(trialset, features, splits, sweep.selection_metric, gate, cost_bps, context)
    # The sizing rule with no model, on the track's days: the gate's second comparison.
    walk = replace(walk, track=with_vol_target_long(walk.track, features, sweep.target_volatility, cost_bps))
    robust: dict[str, Any] = {}
    if robustness:
        fwd = features["fwd_return"].to_numpy("float64")[trialset.rows]
        stability = choice_stability(trialset, splits, fwd, (sweep.selection_metric, gate), seed=seed)
        robust = {**seed_spread(results, features, splits, sweep, gate, cost_bps), **stability.to_dict()}
    evidence = Evidence(
        **track_metrics(walk.track, cost_bps),
        **track_inference(walk.track, seed=seed, gate=gate),
        **selection_inference(trialset, walk.final, ledger_trials),
        **robust,
        cost_bps=cost_bps,
        annualization=stats.PERIODS_PER_YEAR,
        selection_metric=sweep.selection_metric,
    )
    return Assessment(trialset, walk, evidence, apply_gate(evidence, gate))


def seed_spread(
    results: Sequence[ConfigResult],
    features: pd.DataFrame,
    splits: Splits,
    sweep: SweepConfig,
    gate: GateConfig,
    cost_bps: float,
) -> dict[str, Any]:
    """What one seed alone would have given: the selection and the track redone with each seed
    member's probabilities in place of the seed-averaged ones (:mod:`spylib.modelling.models`), the
    deterministic configurations unchanged. Median, min and max over the members of the track's
    annualized net Sharpe and of its p-value against buy-and-hold (HAC). These are independent
    single-seed runs of the same data at no extra fit; the averaged run varies less than they do."""
    members = max(
        (r.member_probability.shape[1] for r in results if r.member_probability is not None), default=1
    )
    out: dict[str, Any] = {"seed_members": members}
    if members < 2:
        return out
    sharpes, p_values = [], []
    for k in range(members):
        alone = [member_result(r, k, features, sweep.target_volatility, cost_bps) for r in results]
        walk = walk_forward_selection(
            combine_trials(alone, splits), features, splits, sweep.selection_metric, gate, cost_bps
        )
        net = walk.track["strategy_net"].to_numpy("float64")
        sharpes.append(stats.sharpe_ratio(net))
        bh = walk.track["buy_and_hold_net"].to_numpy("float64")
        p_values.append(sharpe_difference_test(net, bh, method="hac").p_value)
    for name, values in (("seed_track_sharpe_net", sharpes), ("seed_p_value", p_values)):
        out[f"{name}_median"] = float(np.median(values))
        out[f"{name}_min"] = float(np.min(values))
        out[f"{name}_max"] = float(np.max(values))
    return out
