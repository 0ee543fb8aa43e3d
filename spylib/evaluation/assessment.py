"""The whole verdict on a sweep: the walk-forward selection, the evidence and the gate's decision, by
one function shared by a flow run and every replication of the gate's simulation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

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
from spylib.evaluation.selection import TrialSet, WalkForward, combine_trials, walk_forward_selection
from spylib.modelling.scoring import ConfigResult
from spylib.modelling.walk_forward import Splits
from spylib.stats import performance as stats


@dataclass(frozen=True)
class Assessment:
    """The whole verdict on a sweep: the trials, the walk-forward track, every figure and the gate."""

    trialset: TrialSet
    walk: WalkForward
    evidence: Evidence
    decision: GateDecision


def assess(
    results: Sequence[ConfigResult],
    features: pd.DataFrame,
    splits: Splits,
    sweep: SweepConfig,
    gate: GateConfig,
    *,
    cost_bps: float,
    seed: int,
) -> Assessment:
    """Walk-forward selection, the track's and the selection's figures, and the gate's decision: the
    same function for a flow run and for every replication of the gate's simulation."""
    trialset = combine_trials(results, splits)
    walk = walk_forward_selection(trialset, features, splits, sweep.selection_metric, gate, cost_bps)
    # The sizing rule with no model, on the track's days: the gate's second comparison.
    walk = replace(walk, track=with_vol_target_long(walk.track, features, sweep.target_volatility, cost_bps))
    evidence = Evidence(
        **track_metrics(walk.track, cost_bps),
        **track_inference(walk.track, seed=seed, gate=gate),
        **selection_inference(trialset, walk.final),
        cost_bps=cost_bps,
        annualization=stats.PERIODS_PER_YEAR,
        selection_metric=sweep.selection_metric,
    )
    return Assessment(trialset, walk, evidence, apply_gate(evidence, gate))
