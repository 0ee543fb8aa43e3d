"""The gate, measured: the whole selection and gate run on synthetic markets with a known edge.

Each replication generates a synthetic market (:mod:`spylib.data.synthetic`) with planted edge E
and its own seed, builds the features, fits a small sweep on every walk-forward block, makes the
walk-forward selection and applies the gate (:func:`spylib.evaluation.evidence.assess`, the function a
flow run uses). With E = 0 the share of approvals is the gate's false approval rate; with E > 0 it is
its power. ``tests/bench/bench_gate_power.py`` runs it at scale and writes the figures the card and the
README quote (``spylib/evaluation/resources/gate_power.json``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from spylib.core.config import LABEL_HORIZON, GateConfig, ModelSpec, SweepConfig, WalkForwardConfig
from spylib.data.synthetic import generate_market, parse_spec
from spylib.evaluation.assessment import assess
from spylib.features.table import build_features, feature_columns
from spylib.modelling.scoring import score_configuration
from spylib.modelling.walk_forward import walk_forward_splits

RESULTS_FILE = Path(__file__).resolve().parent / "resources" / "gate_power.json"

# A small sweep: two model families, the default trade rules' shape. Enough trials for the selection
# and its deflation to matter, cheap enough for hundreds of replications.
SIMULATION_SWEEP = SweepConfig(
    models=(
        ModelSpec("logistic", {"C": 0.01}),
        ModelSpec("logistic", {"C": 1.0}),
        ModelSpec(
            "hist_gradient_boosting",
            {"learning_rate": 0.1, "max_depth": 2, "max_iter": 50, "min_samples_leaf": 100},
        ),
    ),
    thresholds=(0.5, 0.525, 0.55, 0.575),
    filters=((), ("trend_up",)),
    sizings=("long_flat", "vol_target"),
    walk_forward=WalkForwardConfig(
        block_months=12, min_train_days=750, embargo_days=60, min_selection_blocks=2
    ),
)


@dataclass(frozen=True)
class Replication:
    edge: float
    seed: int
    approved: bool
    failed: tuple[str, ...]
    track_years: float
    track_sharpe_net: float
    buy_and_hold_sharpe_net: float
    psr: float
    dsr_effective: float
    p_vs_buy_and_hold: float
    seconds: float


@dataclass(frozen=True)
class SimulationSetup:
    years: float = 20.0
    execution: str = "open_to_open"
    cost_bps: float = 1.0
    sweep: SweepConfig = SIMULATION_SWEEP
    gate: GateConfig = field(default_factory=GateConfig)


def replicate(edge: float, seed: int, setup: SimulationSetup) -> Replication:
    """One synthetic market with planted ``edge``, the whole selection and the gate."""
    started = time.perf_counter()
    spec = parse_spec(f"synthetic:edge={edge},years={setup.years},seed={seed}")
    prices = generate_market(spec)
    features = build_features(prices, "SPY", "QQQ", setup.execution)
    cols = feature_columns()
    splits = walk_forward_splits(
        list(features["date"]),
        features["target_up"].notna().to_numpy(),
        setup.sweep.walk_forward,
        LABEL_HORIZON[setup.execution],
    )
    results = [
        score_configuration(m, features, cols, splits, setup.sweep, setup.cost_bps, seed)
        for m in setup.sweep.models
    ]
    verdict = assess(results, features, splits, setup.sweep, setup.gate, cost_bps=setup.cost_bps, seed=seed)
    m = verdict.evidence
    return Replication(
        edge=edge,
        seed=seed,
        approved=verdict.decision.status == "Approved",
        failed=tuple(c.name for c in verdict.decision.checks if not c.passed),
        track_years=float(m.years),
        track_sharpe_net=float(m.sharpe_net),
        buy_and_hold_sharpe_net=float(m.buy_and_hold_sharpe_net),
        psr=float(m.psr),
        dsr_effective=float(m.dsr_effective),
        p_vs_buy_and_hold=float(m.vs_buy_and_hold_p_value),
        seconds=time.perf_counter() - started,
    )


def _replicate_args(args: tuple[float, int, SimulationSetup]) -> Replication:
    return replicate(*args)


def simulate_gate(
    edges: Sequence[float],
    replications: int,
    setup: SimulationSetup | None = None,
    *,
    first_seed: int = 1000,
    workers: int = 1,
) -> pd.DataFrame:
    """``replications`` markets per edge (seeds ``first_seed ..``), one row per replication."""
    setup = setup or SimulationSetup()
    jobs = [(float(e), first_seed + i, setup) for e in edges for i in range(replications)]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(_replicate_args, jobs, chunksize=4))
    else:
        rows = [_replicate_args(job) for job in jobs]
    return pd.DataFrame([asdict(r) for r in rows])


def power_table(replications: pd.DataFrame) -> pd.DataFrame:
    """Per edge: approvals, the approval rate and its exact (Clopper-Pearson) 95% interval."""
    from spylib.stats.power import binomial_interval

    rows = []
    for edge, group in replications.groupby("edge"):
        k, n = int(group["approved"].sum()), len(group)
        ci = binomial_interval(k, n)
        rows.append(
            {
                "edge": float(edge),
                "replications": n,
                "approved": k,
                "approval_rate": k / n,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "track_years": float(group["track_years"].mean()),
                "mean_track_sharpe_net": float(group["track_sharpe_net"].mean()),
            }
        )
    return pd.DataFrame(rows)


def load_simulated_power(path: Path = RESULTS_FILE) -> dict[str, Any] | None:
    """The figures of the last ``bench_gate_power.py`` run shipped with the package, or None."""
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded
