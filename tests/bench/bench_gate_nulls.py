"""The gate's error rates on realistic markets, at the default grid's size (560 trials).

Every replication is a market of one family (``synthetic:family=F,edge=E,years=Y,seed=S``: GJR-GARCH-t,
calm/turbulent regimes with crashes, or a stationary block bootstrap of the embedded index; see
``spylib.data.markets``) run through the whole walk-forward selection and the gate
(``spylib.evaluation.simulation``: the same ``assess`` a flow run calls) with ``NULLS_SWEEP``: 14 cheap
configurations (twelve logistic regressions, two small gradient-boosted models) x the default's 40
trade rules = 560 trials, the default grid's count. With ``edge=0`` an approval is a false approval;
with a planted edge it is power.

Replications are interleaved (a round of nulls of every family, then every few rounds a round of
planted edges), each one appended to ``--out`` as soon as it ends, so a run stopped at any time leaves
comparable counts per family and ``--resume`` goes on where it stopped. ``--summarize`` reads that file,
prints the false-approval rate per family with its exact (Clopper-Pearson) 95% interval, the power
curve with each edge's ideal Sharpe, the cost, and writes ``spylib/evaluation/resources/
gate_error_rates.json`` (the table the card's power sentence looks up).

    nice -n 10 python tests/bench/bench_gate_nulls.py --null 100 --per-edge 10 --out /tmp/nulls.csv
    python tests/bench/bench_gate_nulls.py --summarize --out /tmp/nulls.csv

On two cores, two shards halve the wall time: ``--shard 0/2 --resume --out a.csv,b.csv`` and
``--shard 1/2 --resume --out b.csv,a.csv`` (each appends to its first file and skips what either
holds), then ``--summarize --out a.csv,b.csv``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import pandas as pd

from spylib.data.markets import ideal_sharpe
from spylib.evaluation.simulation import NULLS_SWEEP, SimulationSetup, power_table, replicate

FAMILIES = ("garch", "regimes", "bootstrap")
EDGES = (0.15, 0.2, 0.3)
NULL_SEED, EDGE_SEED = 1000, 5000
GATE = (
    "every check of the default GateConfig: deflated Sharpe of the selection (effective trials), the track "
    "beats buy-and-hold and the volatility-targeted always-long rule (Ledoit-Wolf studentized block "
    "bootstrap, one-sided 5%), trades per year, exposure, AUC interval"
)


def jobs(null: int, per_edge: int, every: int) -> list[tuple[str, float, int]]:
    """(family, edge, seed) in the order they run: a null round of every family, and after every
    ``every`` null rounds a round of planted edges, until both counts are reached."""
    out: list[tuple[str, float, int]] = []
    power_rounds = 0
    for i in range(max(null, per_edge * every)):
        if i < null:
            out += [(f, 0.0, NULL_SEED + i) for f in FAMILIES]
        if i % every == every - 1 and power_rounds < per_edge:
            out += [(f, e, EDGE_SEED + power_rounds) for e in EDGES for f in FAMILIES]
            power_rounds += 1
    return out


def shard_spec(text: str) -> tuple[int, int]:
    """``K/N`` -> (K, N), 0 <= K < N; one line naming the value otherwise."""
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N with 0 <= K < N (e.g. 0/2)")
    return int(k), int(n)


def run(args: argparse.Namespace) -> None:
    # Written to the first file; --resume skips what any of them holds (another shard's file too).
    paths = [Path(p) for p in args.out.split(",")]
    out = paths[0]
    done: set[tuple[str, float, int]] = set()
    for path in paths if args.resume else []:
        if path.is_file():
            done |= {(r.family, float(r.edge), int(r.seed)) for r in pd.read_csv(path).itertuples()}
    shard, shards = args.shard
    todo = [
        j
        for i, j in enumerate(jobs(args.null, args.per_edge, args.every))
        if j not in done and i % shards == shard
    ]
    print(f"# {len(todo)} replications to run ({len(done)} already in {out}), 560 trials each", flush=True)
    for family, edge, seed in todo:
        setup = SimulationSetup(years=args.years, sweep=NULLS_SWEEP, family=family)
        cpu = time.process_time()
        rep = replicate(edge, seed, setup)
        row = {**dataclasses.asdict(rep), "cpu_seconds": time.process_time() - cpu}
        row["failed"] = "+".join(rep.failed)
        header = not out.is_file()
        pd.DataFrame([row]).to_csv(out, mode="a", header=header, index=False)
        print(
            f"{family} E={edge:g} seed={seed}: {'Approved' if rep.approved else 'Rejected'} "
            f"(track {rep.track_sharpe_net:.2f}, {rep.seconds:.0f} s)",
            flush=True,
        )


def summarize(args: argparse.Namespace) -> None:
    from spylib.evaluation.simulation import ERROR_RATES_FILE, error_rate_table

    reps = pd.concat([pd.read_csv(path) for path in args.out.split(",")], ignore_index=True)
    reps["failed"] = reps["failed"].fillna("").map(lambda s: tuple(x for x in s.split("+") if x))
    table = power_table(reps)
    ideal = {(f, e): ideal_sharpe(f, e) for f, e in table[["family", "edge"]].itertuples(index=False)}
    wall, cpu = float(reps["seconds"].sum()), float(reps["cpu_seconds"].sum())
    print(
        f"# bench_gate_nulls: {len(reps)} replications, 560 trials each ({NULLS_SWEEP.n_trials} checked), "
        f"{args.years:g}-year markets; cost {cpu / 60:.0f} CPU minutes, {wall / 60:.0f} wall minutes "
        f"({cpu / len(reps):.1f} CPU s a replication)\n"
    )
    print(
        "| family | edge E | ideal Sharpe long/flat (buy and hold) | replications | approved | rate | "
        "95% interval | mean track net Sharpe |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in table.itertuples():
        i = ideal[(r.family, r.edge)]
        print(
            f"| {r.family} | {r.edge:g} | {i.long_flat:.2f} ({i.buy_and_hold:.2f}) | {r.replications} | "
            f"{r.approved} | {r.approval_rate:.1%} | {r.ci_low:.1%} - {r.ci_high:.1%} | "
            f"{r.mean_track_sharpe_net:.2f} |"
        )
    nulls = reps[reps["edge"] == 0.0]
    checks = sorted({c for failed in reps["failed"] for c in failed})
    print(
        "\nEach check alone on the null markets: the share of replications it PASSED (its own false-pass rate)\n"
    )
    print("| family | replications | " + " | ".join(checks) + " |")
    print("|---|---|" + "---|" * len(checks))
    for family, group in nulls.groupby("family"):
        shares = [1.0 - float(group["failed"].map(lambda f, c=c: c in f).mean()) for c in checks]
        print(f"| {family} | {len(group)} | " + " | ".join(f"{x:.0%}" for x in shares) + " |")
    result = error_rate_table(
        table,
        ideal,
        NULLS_SWEEP.n_trials,
        years=args.years,
        cpu_seconds=cpu,
        wall_seconds=wall,
        gate=args.gate,
    )
    if not args.no_write:
        ERROR_RATES_FILE.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {ERROR_RATES_FILE}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null", type=int, default=100, help="null replications per family")
    parser.add_argument("--per-edge", type=int, default=20, help="replications per family and planted edge")
    parser.add_argument("--every", type=int, default=3, help="null rounds between planted-edge rounds")
    parser.add_argument("--years", type=float, default=20.0)
    parser.add_argument(
        "--out",
        default="gate_nulls.csv",
        help="replications, one CSV row each (--summarize: several files, comma-separated)",
    )
    parser.add_argument(
        "--shard",
        type=shard_spec,
        default=(0, 1),
        help="K/N: run only every N-th replication from the K-th (0-based); one process a core, each "
        "writing the first file of its own --out, e.g. --shard 0/2 --out a.csv,b.csv and --shard 1/2 "
        "--out b.csv,a.csv (with --resume, each skips what either file holds)",
    )
    parser.add_argument("--resume", action="store_true", help="skip the replications already in --out")
    parser.add_argument("--summarize", action="store_true", help="print and write the figures of --out")
    parser.add_argument(
        "--gate",
        default=GATE,
        help="which gate the replications measured (written with the figures)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; keep the shipped figures")
    args = parser.parse_args()
    summarize(args) if args.summarize else run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
