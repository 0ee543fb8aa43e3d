"""What holds across seeds: the default SpyFlow run for several ``--seed`` values, one table.

Runs ``flows/spy_flow.py run --seed S`` (everything else default: the embedded data, the default grid)
for each seed, each in its own temporary directory and Metaflow datastore, and prints one row per
seed (the track's net Sharpe, buy-and-hold's on the same days, the p-value of the track against
buy-and-hold, PSR(0), the final choice, the verdict) and then the median and range of each figure.
The README's "What it finds" quotes this table.

    nice -n 10 python tests/bench/bench_seeds.py                  # seeds 0 1 2 3 4 42
    python tests/bench/bench_seeds.py --seeds 0 1 2 --repo ../other-checkout

``--repo`` runs another checkout's flow (its own ``spylib`` first on the path): the same table before
and after a change. Cost: one default run per seed (~45 s each on a quiet 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[2]

FIGURES = (
    ("sharpe_net", "track net Sharpe"),
    ("buy_and_hold_sharpe_net", "buy-and-hold net Sharpe"),
    ("vs_buy_and_hold_p_value", "p vs buy-and-hold"),
    ("psr", "PSR(0)"),
    ("dsr_effective", "DSR (N_eff)"),
)


def run_seed(repo: Path, seed: int, workers: str) -> dict[str, Any]:
    """One default run with ``--seed seed``; its metrics, gate and chosen trial."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-seeds-{seed}-"))
    env = dict(os.environ)
    env.update(
        METAFLOW_USER=env.get("METAFLOW_USER", "spyflow"),
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(out / "datastore"),
        PYTHONPATH=str(repo),
    )
    cmd = [
        sys.executable, str(repo / "flows" / "spy_flow.py"), "--quiet", "run",
        "--seed", str(seed), "--max-workers", workers,
        "--output-dir", str(out / "out"), "--lake-root", "", "--registry-location", str(out / "registry"),
        "--run-id-file", str(out / "run_id"),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=out, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    run_id = (out / "run_id").read_text().strip()
    os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(out / "datastore")
    from metaflow import Run, namespace

    namespace(None)
    data = Run(f"SpyFlow/{run_id}").data
    metrics = dict(data.metrics)
    best = dict(data.best)
    refits = data.refits
    return {
        "seed": seed,
        **{key: float(metrics.get(key, float("nan"))) for key, _ in FIGURES},
        "status": dict(data.gate)["status"],
        "best": f"{best.get('family')} t={best.get('threshold')} {best.get('filter')} {best.get('sizing')}",
        "choices": " ".join(str(t) for t in refits["trial_id"]),
        "return_2008": float(refits["block_return_net"].iloc[0]),
        "seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 42])
    parser.add_argument("--repo", type=Path, default=HERE, help="the checkout whose flow runs")
    parser.add_argument("--max-workers", default="2")
    args = parser.parse_args()
    repo = args.repo.resolve()
    print(f"checkout: {repo.name}; seeds {args.seeds}; load average {os.getloadavg()[0]:.1f}")
    rows = []
    for seed in args.seeds:
        row = run_seed(repo, seed, args.max_workers)
        rows.append(row)
        print(
            f"seed {seed}: track net Sharpe {row['sharpe_net']:.2f}, p {row['vs_buy_and_hold_p_value']:.3f}, "
            f"{row['status']} ({row['seconds']:.0f} s)",
            flush=True,
        )
    print()
    head = ["seed", *[label for _, label in FIGURES], "first traded block (net)", "verdict", "final choice"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        cells = [str(row["seed"]), *[f"{row[key]:.3f}" for key, _ in FIGURES]]
        cells += [f"{row['return_2008']:+.1%}", row["status"], row["best"]]
        print("| " + " | ".join(cells) + " |")
    print()
    print("| figure | median | min | max |")
    print("|---|---|---|---|")
    for key, label in FIGURES:
        values = [row[key] for row in rows]
        print(f"| {label} | {statistics.median(values):.3f} | {min(values):.3f} | {max(values):.3f} |")
    approved = sum(row["status"] == "Approved" for row in rows)
    print(f"| verdict | {approved} of {len(rows)} Approved | | |")
    print("\nrefit choices (trial ids) per seed:")
    for row in rows:
        print(f"  seed {row['seed']:>3}: {row['choices']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
