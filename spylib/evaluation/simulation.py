"""The gate, measured: the whole selection and gate run on synthetic markets with a known edge.

Each replication generates a synthetic market of a family (:mod:`spylib.data.synthetic`'s Gaussian
one, or :mod:`spylib.data.markets`' ``garch``, ``regimes`` and ``bootstrap``) with planted edge E
and its own seed, builds the features, fits a small sweep on every walk-forward block, makes the
walk-forward selection and applies the gate (:func:`spylib.evaluation.assessment.assess`, the function a
flow run uses). With E = 0 the share of approvals is the gate's false approval rate; with E > 0 it is
its power. ``tests/bench/bench_gate_power.py`` (Gaussian, 48 trials) and
``tests/bench/bench_gate_nulls.py`` (every family, the default grid's 560 trials: ``NULLS_SWEEP``)
run it at scale and write the figures the card and the README quote
(``spylib/evaluation/resources/gate_power.json``, ``gate_error_rates.json``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.config import LABEL_HORIZON, GateConfig, ModelSpec, SweepConfig, WalkForwardConfig
from spylib.data.markets import IdealSharpe, generate_family_market
from spylib.data.synthetic import parse_spec
from spylib.evaluation.assessment import AssessmentSettings, assess
from spylib.features.table import build_features, feature_columns
from spylib.modelling.scoring import ScoringData, score_configuration
from spylib.modelling.walk_forward import walk_forward_splits
from spylib.stats.power import minimum_detectable_edge

RESULTS_FILE = Path(__file__).resolve().parent / "resources" / "gate_power.json"
ERROR_RATES_FILE = Path(__file__).resolve().parent / "resources" / "gate_error_rates.json"
# A minimum detectable edge is read off the power curve only when every planted edge has at least
# this many replications (with fewer, one approval moves the 80% crossing by a whole grid step).
MIN_POWER_REPLICATIONS = 10
ERROR_RATES_COMMAND = (
    "nice -n 10 python tests/bench/bench_gate_nulls.py --null 100 --per-edge 10 --shard 0/2 --resume "
    "--out a.csv,b.csv & nice -n 10 python tests/bench/bench_gate_nulls.py --null 100 --per-edge 10 "
    "--shard 1/2 --resume --out b.csv,a.csv; wait; python tests/bench/bench_gate_nulls.py --summarize --out a.csv,b.csv"
)

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


# The default grid's size (flows/config/sweep.json: 14 configurations x 5 thresholds x 4 filters x
# 2 sizings = 560 trials) with cheap configurations, so that hundreds of replications are affordable:
# twelve L2 logistic regressions (C from 1e-4 to 10) and two small gradient-boosted tree models. The
# trade-rule grid (thresholds, filters, sizings) and the walk-forward are the default's exactly, so the
# selection chooses among as many trials, and the deflation corrects for as many, as in a default run;
# the random forests and extra trees of the default are swapped for faster learners of similar
# flexibility (their cost, not their count, is what differs).
NULLS_SWEEP = SweepConfig(
    models=(
        *(
            ModelSpec("logistic", {"C": c})
            for c in (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 10.0)
        ),
        *(
            ModelSpec(
                "hist_gradient_boosting",
                {"learning_rate": 0.1, "max_depth": depth, "max_iter": 30, "min_samples_leaf": 200},
            )
            for depth in (2, 3)
        ),
    ),
    thresholds=(0.5, 0.525, 0.55, 0.575, 0.6),
    filters=((), ("trend_up",), ("trend_up", "in_play_120"), ("low_vol",)),
    sizings=("long_flat", "vol_target"),
    walk_forward=WalkForwardConfig(
        block_months=12, min_train_days=750, embargo_days=60, min_selection_blocks=2
    ),
)


@dataclass(frozen=True)
class Replication:
    family: str
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
    family: str = "gaussian"


def market_spec(family: str, edge: float, years: float, seed: int) -> str:
    """The ``--source`` spelling of one replication's market (a user can run the same market)."""
    head = "" if family == "gaussian" else f"family={family},"
    return f"synthetic:{head}edge={edge},years={years},seed={seed}"


def replicate(edge: float, seed: int, setup: SimulationSetup) -> Replication:
    """One synthetic market of ``setup.family`` with planted ``edge``, the whole selection and the gate."""
    started = time.perf_counter()
    spec = parse_spec(market_spec(setup.family, edge, setup.years, seed))
    prices = generate_family_market(spec)
    features = build_features(prices, "SPY", "QQQ", setup.execution)
    cols = feature_columns()
    splits = walk_forward_splits(
        list(features["date"]),
        features["target_up"].notna().to_numpy(),
        setup.sweep.walk_forward,
        LABEL_HORIZON[setup.execution],
    )
    results = [
        score_configuration(m, ScoringData(features, cols, splits), setup.sweep, setup.cost_bps, seed)
        for m in setup.sweep.models
    ]
    judged_by = AssessmentSettings(setup.sweep, setup.gate, setup.cost_bps, seed)
    verdict = assess(results, features, splits, judged_by)
    m = verdict.evidence
    return Replication(
        family=setup.family,
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
    keys = ["family", "edge"] if "family" in replications else ["edge"]
    for key, group in replications.groupby(keys):
        family, edge = key if len(keys) == 2 else ("gaussian", key[0])
        k, n = int(group["approved"].sum()), len(group)
        ci = binomial_interval(k, n)
        rows.append(
            {
                "family": str(family),
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


def _curve_row(
    family: str, rows: pd.DataFrame, ideal: Mapping[tuple[str, float], IdealSharpe]
) -> dict[str, Any]:
    """One family's table row: its null figures, power curve and minimum detectable edge."""
    null = rows[rows["edge"] == 0.0].iloc[0]
    curve = [
        {
            "edge": float(r.edge),
            "ideal_sharpe_long_flat": ideal[(family, float(r.edge))].long_flat,
            "ideal_sharpe_buy_and_hold": ideal[(family, float(r.edge))].buy_and_hold,
            "replications": int(r.replications),
            "approved": int(r.approved),
            "rate": float(r.approval_rate),
            "ci_low": float(r.ci_low),
            "ci_high": float(r.ci_high),
            "mean_track_sharpe_net": float(r.mean_track_sharpe_net),
        }
        for r in rows.itertuples()
    ]
    power_reps = min((c["replications"] for c in curve if c["edge"] > 0), default=0)
    edge = (
        minimum_detectable_edge([(c["edge"], c["rate"]) for c in curve])
        if power_reps >= MIN_POWER_REPLICATIONS
        else None
    )
    return {
        "family": family,
        "track_days": round(float(null["track_years"]) * 252),
        "replications": int(null["replications"]),
        "approved": int(null["approved"]),
        "rate": float(null["approval_rate"]),
        "ci_low": float(null["ci_low"]),
        "ci_high": float(null["ci_high"]),
        "power_replications": power_reps,
        "min_detectable_edge": edge,
        "min_detectable_sharpe": None if edge is None else _interpolate(curve, edge),
        "power_curve": [c for c in curve if c["edge"] > 0],
    }


def _interpolate(curve: Sequence[Mapping[str, Any]], edge: float) -> float:
    """The ideal long/flat Sharpe at ``edge``, linear between the measured edges."""
    xs = [float(c["edge"]) for c in curve]
    ys = [float(c["ideal_sharpe_long_flat"]) for c in curve]
    return float(np.interp(edge, xs, ys))


def error_rate_table(
    table: pd.DataFrame,
    ideal: Mapping[tuple[str, float], IdealSharpe],
    n_trials: int,
    *,
    years: float,
    cpu_seconds: float,
    wall_seconds: float,
    gate: str,
) -> dict[str, Any]:
    """What ``bench_gate_nulls.py --summarize`` ships: per family (with a null row) at ``n_trials``
    trials, and the Gaussian 48-trial figures of ``gate_power.json`` when present."""
    rows = [
        {**_curve_row(str(family), group, ideal), "trials": n_trials}
        for family, group in table.groupby("family", sort=False)
        if (group["edge"] == 0.0).any()
    ]
    legacy = load_simulated_power(RESULTS_FILE)
    if legacy:
        rows.append(_legacy_row(legacy))
    return {
        "command": ERROR_RATES_COMMAND,
        "gate": gate,
        "years": years,
        "sweep": f"{n_trials} trials: 12 logistic regressions and 2 small gradient-boosted models x 40 trade rules",
        "cpu_seconds": round(cpu_seconds),
        "wall_seconds": round(wall_seconds),
        "power": 0.8,
        "rows": rows,
    }


def _legacy_row(legacy: Mapping[str, Any]) -> dict[str, Any]:
    """The Gaussian market at 48 trials (``bench_gate_power.py``), in the table's shape."""
    from spylib.data.synthetic import signal_benchmarks

    fa = legacy["false_approval"]
    curve = [
        {
            **c,
            "ideal_sharpe_long_flat": signal_benchmarks(c["edge"])["sharpe_long_flat"],
            "ideal_sharpe_buy_and_hold": signal_benchmarks(c["edge"])["sharpe_buy_and_hold"],
        }
        for c in legacy["power_curve"]
    ]
    full = [
        {"edge": 0.0, "rate": fa["rate"], "ideal_sharpe_long_flat": curve[0]["ideal_sharpe_buy_and_hold"]},
        *curve,
    ]
    edge = minimum_detectable_edge([(c["edge"], c["rate"]) for c in full])
    trials = int(legacy["sweep"].split()[0]) * int(legacy["sweep"].split()[3])
    return {
        "family": "gaussian",
        "trials": trials,
        "track_days": int(legacy["track_days"]),
        **{k: fa[k] for k in ("replications", "approved", "rate", "ci_low", "ci_high")},
        "power_replications": min(c["replications"] for c in curve),
        "min_detectable_edge": edge,
        "min_detectable_sharpe": None if edge is None else _interpolate(full, edge),
        "power_curve": curve,
    }


def load_simulated_power(path: Path = RESULTS_FILE) -> dict[str, Any] | None:
    """The figures of the last ``bench_gate_power.py`` run shipped with the package, or None; with the
    rows of ``bench_gate_nulls.py``'s table (``ERROR_RATES_FILE``) under ``error_rates`` when shipped."""
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if path == RESULTS_FILE and ERROR_RATES_FILE.is_file():
        loaded["error_rates"] = json.loads(ERROR_RATES_FILE.read_text(encoding="utf-8"))["rows"]
    return loaded
