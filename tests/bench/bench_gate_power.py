"""The gate's error rates, measured: false approvals on markets with no edge, power on planted edges.

Every replication is a synthetic market (``synthetic:edge=E,years=Y,seed=S``) run through the whole
walk-forward selection and the gate (``spylib.evaluation.simulation``: the same ``assess`` a flow run
calls), with a small sweep (3 configurations x 16 trade rules = 48 trials). Prints the approval rate
per edge with its exact 95% interval, the analytic minimum detectable Sharpe for the simulated track
length, and writes the figures to ``spylib/evaluation/resources/gate_power.json`` (the card and the
README quote them).

    python tests/bench/bench_gate_power.py                      # 200 null + 5 edges x 40, 2 workers
    python tests/bench/bench_gate_power.py --null 50 --per-edge 10 --no-write
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd

from spylib.data.synthetic import signal_benchmarks
from spylib.evaluation.simulation import RESULTS_FILE, SimulationSetup, power_table, simulate_gate
from spylib.stats.power import minimum_detectable_sharpe

EDGES = (0.05, 0.1, 0.15, 0.2, 0.3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null", type=int, default=200, help="replications with no edge")
    parser.add_argument("--per-edge", type=int, default=40, help="replications per planted edge")
    parser.add_argument("--years", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; keep the shipped figures")
    args = parser.parse_args()

    setup = SimulationSetup(years=args.years)
    started = time.perf_counter()
    null = simulate_gate([0.0], args.null, setup, workers=args.workers)
    edges = simulate_gate(list(EDGES), args.per_edge, setup, workers=args.workers, first_seed=5000)
    seconds = time.perf_counter() - started
    table = power_table(pd.concat([null, edges], ignore_index=True))
    track_days = round(float(null["track_years"].mean()) * 252)
    # PSR(0)'s level when it is gated, else the difference tests' level.
    alpha = 1 - setup.gate.min_psr if setup.gate.min_psr is not None else setup.gate.max_difference_p_value
    mde = minimum_detectable_sharpe(track_days, alpha=alpha, power=0.8)

    print(
        f"# bench_gate_power: {args.null} null + {len(EDGES)} x {args.per_edge} replications of {args.years:g} "
        f"years, {seconds:.0f} s on {args.workers} workers"
    )
    print(
        f"simulated track: {track_days} days ({track_days / 252:.1f} years); analytic minimum detectable "
        f"annualized Sharpe at 80% power, one-sided {alpha:.0%}: {mde.annualized:.2f}\n"
    )
    print(
        "| edge E | signal AUC | ideal long/flat Sharpe | replications | approved | rate | 95% interval | mean track net Sharpe |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in table.itertuples():
        bench = signal_benchmarks(row.edge)
        print(
            f"| {row.edge:g} | {bench['auc']:.3f} | {bench['sharpe_long_flat']:.2f} | {row.replications} | "
            f"{row.approved} | {row.approval_rate:.1%} | {row.ci_low:.1%} - {row.ci_high:.1%} | "
            f"{row.mean_track_sharpe_net:.2f} |"
        )
    failed = null.explode("failed")["failed"].value_counts()
    print("\nnull replications, checks failed (a replication fails several):", failed.to_dict())

    zero = table[table["edge"] == 0.0].iloc[0]
    result = {
        "years": args.years,
        "track_days": track_days,
        "sweep": f"{len(setup.sweep.models)} configurations x {setup.sweep.rules_per_model} trade rules",
        "seconds": round(seconds, 1),
        "false_approval": {
            "replications": int(zero["replications"]),
            "approved": int(zero["approved"]),
            "rate": float(zero["approval_rate"]),
            "ci_low": float(zero["ci_low"]),
            "ci_high": float(zero["ci_high"]),
        },
        "power_curve": [
            {
                "edge": float(r.edge),
                "auc": signal_benchmarks(r.edge)["auc"],
                "replications": int(r.replications),
                "approved": int(r.approved),
                "rate": float(r.approval_rate),
                "ci_low": float(r.ci_low),
                "ci_high": float(r.ci_high),
                "mean_track_sharpe_net": float(r.mean_track_sharpe_net),
            }
            for r in table.itertuples()
            if r.edge > 0
        ],
        "analytic_min_detectable_sharpe": mde.annualized,
    }
    if not args.no_write:
        RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_FILE.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {RESULTS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
