"""What holds across seeds: the default run for several ``--seed`` values, one table.

For each seed, the default SpyFlow run's stages (``spylib.stages.training``: train, then evaluate,
with SpyFlow's default settings from ``benchcommon``, the embedded data and the default grid) in one
process: one row per seed (the track's net Sharpe, buy-and-hold's on the same days, the p-value of
the track against buy-and-hold, PSR(0), the gate's DSR, the first traded block's net return, the
verdict), then the median and range of each figure. The README's "What it finds" quotes this table.

    nice -n 10 python tests/bench/bench_seeds.py                  # seeds 0 1 2 3 4 42
    python tests/bench/bench_seeds.py --seeds 0 1 2
    python tests/bench/bench_seeds.py --sweep tests/data/sweep_small.json   # the tests' small grid (fast)

The data, features and walk-forward plan do not depend on the seed and are made once. Only the
forests (random forest, extra trees) draw on the seed: histogram gradient boosting here has no early
stopping and never subsamples for its bins (fewer than 200,000 rows), and logistic regression's
solver is deterministic; so their configurations are scored once and reused for every seed (the same
numbers a run computes). Cost: per seed, the forests' walk-forward fits plus one evaluate step.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from benchcommon import machine_header, training_settings

SEEDED_FAMILIES = ("random_forest", "extra_trees")
FIGURES = (
    ("sharpe_net", "track net Sharpe"),
    ("buy_and_hold_sharpe_net", "buy-and-hold net Sharpe"),
    ("vs_buy_and_hold_p_value", "p vs buy-and-hold"),
    ("psr", "PSR(0)"),
    ("dsr_effective", "DSR (gate's N)"),
)


def main() -> int:
    from spylib.stages.training.evaluate import run_evaluate
    from spylib.stages.training.features import run_features
    from spylib.stages.training.ingest import run_ingest
    from spylib.stages.training.split import run_split
    from spylib.stages.training.train import run_train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 42])
    parser.add_argument("--sweep", help="another sweep config file (default: the flow's)")
    args = parser.parse_args()
    over = {"sweep": args.sweep} if args.sweep else {}
    print(machine_header("bench_seeds: the default run across seeds"))
    rows: list[dict[str, Any]] = []
    reused: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="spyflow-bench-seeds-") as tmp:
        first = training_settings(tmp, seed=args.seeds[0], **over)
        ingested = run_ingest(first, "bench")
        made = run_features(ingested.prices, first, "bench", ingested.lake_files)
        data = run_split(
            made.feature_table, made.feature_columns, made.data_quality, first.plan
        ).training_data
        for seed in args.seeds:
            settings = training_settings(f"{tmp}/{seed}", seed=seed, **over)
            started = time.perf_counter()
            results = []
            for spec in settings.plan.sweep.models:
                if spec.family in SEEDED_FAMILIES or spec.config_id not in reused:
                    (result,) = run_train([spec], data, settings.plan, settings.cost_bps).results
                    if spec.family not in SEEDED_FAMILIES:
                        reused[spec.config_id] = result
                results.append(reused.get(spec.config_id, result))
            trained = time.perf_counter() - started
            evaluation = run_evaluate([results], data, settings, ingested.data_provenance, made.data_quality)
            m = evaluation.metrics
            rows.append(
                {
                    "seed": seed,
                    **{key: float(m.get(key, float("nan"))) for key, _ in FIGURES},
                    "status": evaluation.gate_decision.status,
                    "first_block": float(evaluation.refits["block_return_net"].iloc[0]),
                    "choices": " ".join(str(t) for t in evaluation.refits["trial_id"]),
                    "spread": {k: v for k, v in m.items() if k.startswith("seed_") or "choice_change" in k},
                    "seconds": time.perf_counter() - started,
                    "train_seconds": trained,
                }
            )
            row = rows[-1]
            print(
                f"seed {seed}: track net Sharpe {row['sharpe_net']:.3f}, p {row['vs_buy_and_hold_p_value']:.3f}, "
                f"{row['status']} (train {trained:.0f} s, with evaluate {row['seconds']:.0f} s)",
                flush=True,
            )
    print_tables(rows)
    return 0


def print_tables(rows: list[dict[str, Any]]) -> None:
    print()
    head = ["seed", *[label for _, label in FIGURES], "first traded block (net)", "verdict"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        cells = [str(row["seed"]), *[f"{row[key]:.3f}" for key, _ in FIGURES]]
        cells += [f"{row['first_block']:+.1%}", str(row["status"])]
        print("| " + " | ".join(cells) + " |")
    print()
    print(f"Over {len(rows)} seeds:\n")
    print("| figure | median | min | max |")
    print("|---|---|---|---|")
    for key, label in FIGURES:
        values = [row[key] for row in rows]
        print(f"| {label} | {statistics.median(values):.3f} | {min(values):.3f} | {max(values):.3f} |")
    approved = sum(row["status"] == "Approved" for row in rows)
    print(f"| verdict | {approved} of {len(rows)} Approved | | |")
    print("\nrefit choices (trial ids, the first traded block first) per seed:")
    for row in rows:
        print(f"  seed {row['seed']:>3}: {row['choices']}")
    if any(row["spread"] for row in rows):
        print("\nwithin each run (single seed members, choice stability):")
        for row in rows:
            print(f"  seed {row['seed']:>3}: " + ", ".join(f"{k}={v:.3g}" for k, v in row["spread"].items()))


if __name__ == "__main__":
    raise SystemExit(main())
