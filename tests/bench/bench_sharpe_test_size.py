"""The size of the gate's Sharpe-difference tests on the run's own returns, not on textbook ones.

The walk-forward track and buy-and-hold of a SpyFlow run are made to have the same Sharpe ratio (the
track is shifted by a constant: ``a + SR_b * std(a) - mean(a)``, population moments), then the pair
is resampled jointly (the same days for both) by a stationary bootstrap (Politis and Romano 1994) with
mean blocks of 1 (iid), 20 and 60 days, which keeps the real pair's fat tails, correlation and
volatility clusters up to that span. In that world H0 (the track's Sharpe is not above
buy-and-hold's) holds exactly at its boundary, so a test that rejects at 5% more often than 5% is too
liberal. Each resample is tested one-sided at 5% (``p <= 0.05``, the gate's rule) by

* ``hac``: Ledoit and Wolf's HAC test (prewhitened Parzen kernel, Andrews bandwidth);
* ``boot b=T^1/3``: their studentized circular block bootstrap with one block of ``round(T^(1/3))``;
* ``boot rule``: the same bootstrap with the gate's rule: blocks of 5, 10, 20, 40, 60 and 120 days
  and the largest (most conservative) p-value.

The table gives the rejection rate with its 95% Clopper-Pearson interval and the CPU time per test
(process time, so a busy machine does not inflate it).
The goal is an interval that contains 5% or lies below it.

Run: ``python tests/bench/bench_sharpe_test_size.py --run-id RUN`` (a finished SpyFlow run on the
local datastore; without ``--run-id`` the latest successful one). ``--resamples`` (default 500) per
mean block, ``--n-boot`` bootstrap replicates inside each test (default 199: the gate uses 999; fewer
replicates add noise to each p-value but do not bias the size). ``--vs vol_target`` tests the track
against the volatility-targeted always-long rule instead of buy-and-hold.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
from benchcommon import format_table, machine_header

from spylib.stats.hypothesis import sharpe_difference_test
from spylib.stats.power import binomial_interval

ALPHA = 0.05


def stationary_bootstrap_indices(n: int, mean_block: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of one stationary-bootstrap resample: blocks with geometric lengths of mean
    ``mean_block`` starting at uniform days, wrapping around the end (circular)."""
    new_block = rng.random(n) < 1.0 / mean_block
    new_block[0] = True
    block_of_day = np.cumsum(new_block) - 1
    first_day = np.flatnonzero(new_block)
    starts = rng.integers(0, n, size=first_day.size)
    offset = np.arange(n) - first_day[block_of_day]
    return np.asarray((starts[block_of_day] + offset) % n)


def equal_sharpe(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` shifted so its population Sharpe ratio equals ``b``'s (the bootstrap world's null)."""
    return np.asarray(a - a.mean() + b.mean() / b.std() * a.std())


def load_pair(run_id: str | None, versus: str) -> tuple[np.ndarray, np.ndarray, str]:
    from metaflow import Flow, Run

    run = Run(f"SpyFlow/{run_id}") if run_id else Flow("SpyFlow").latest_successful_run
    track = run.data.track
    a = track["strategy_net"].to_numpy("float64")
    column = "buy_and_hold_net" if versus == "buy_and_hold" else "vol_target_long_net"
    return a, track[column].to_numpy("float64"), run.pathspec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-id", help="a finished SpyFlow run (default: the latest successful one)")
    parser.add_argument("--resamples", type=int, default=500)
    parser.add_argument("--n-boot", type=int, default=199)
    parser.add_argument("--mean-blocks", default="1,20,60")
    parser.add_argument("--vs", choices=("buy_and_hold", "vol_target"), default="buy_and_hold")
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()

    a, b, pathspec = load_pair(args.run_id, args.vs)
    n = a.size
    a0 = equal_sharpe(a, b)
    one_block = max(1, round(n ** (1 / 3)))
    tests: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "hac": lambda x, y: sharpe_difference_test(x, y, method="hac").p_value,
        f"boot b={one_block}": lambda x, y: (
            sharpe_difference_test(
                x, y, method="bootstrap", block_length=one_block, n_boot=args.n_boot
            ).p_value
        ),
        "boot rule": lambda x, y: (
            sharpe_difference_test(x, y, method="bootstrap", n_boot=args.n_boot).p_value
        ),
    }
    print(
        machine_header(
            f"Size of the Sharpe-difference tests: the track against {args.vs}, resampled with equal Sharpe"
        )
    )
    sr = math.sqrt(252)
    print(
        f"pair: {pathspec} track vs {args.vs}, T = {n} days; annualized net Sharpe "
        f"{a.mean() / a.std(ddof=1) * sr:.3f} vs {b.mean() / b.std(ddof=1) * sr:.3f}, correlation {np.corrcoef(a, b)[0, 1]:.3f}; "
        f"track shifted to {a0.mean() / a0.std(ddof=1) * sr:.3f}"
    )
    observed = {name: test(a, b) for name, test in tests.items()}
    print("observed p (unshifted pair): " + ", ".join(f"{k} {v:.3f}" for k, v in observed.items()))
    print(
        f"{args.resamples} stationary-bootstrap resamples per mean block; {args.n_boot} replicates inside "
        f"each bootstrap test; one-sided, reject when p <= {ALPHA}\n"
    )
    rows = []
    for mean_block in (float(m) for m in args.mean_blocks.split(",")):
        rng = np.random.default_rng([args.seed, int(mean_block)])
        rejections = dict.fromkeys(tests, 0)
        seconds = dict.fromkeys(tests, 0.0)
        for _ in range(args.resamples):
            idx = stationary_bootstrap_indices(n, mean_block, rng)
            x, y = a0[idx], b[idx]
            for name, test in tests.items():
                start = time.process_time()
                p = test(x, y)
                seconds[name] += time.process_time() - start
                rejections[name] += int(p <= ALPHA)
        for name in tests:
            ci = binomial_interval(rejections[name], args.resamples)
            rows.append(
                {
                    "mean block": f"{mean_block:g}",
                    "test": name,
                    "rejected": f"{rejections[name]}/{args.resamples}",
                    "rate": f"{ci.estimate:.1%}",
                    "95% CI": f"{ci.low:.1%} - {ci.high:.1%}",
                    "holds 5%": "yes" if ci.low <= ALPHA else "NO",
                    "CPU ms per test": f"{1000 * seconds[name] / args.resamples:.1f}",
                }
            )
        print(f"mean block {mean_block:g} done", flush=True)
    print()
    print(format_table(rows))


if __name__ == "__main__":
    main()
