"""Stable choices: how often a refit's choice changes when the input prices carry a +-1e-6 error.

Two vendors' files of the same index differ by about 1e-6 in their prices (daily returns within 2e-6).
This script makes such a copy of the default run's data ``--replications`` times (every price of a
day times ``1 + u``, ``u`` uniform in +-``--noise``, its own per day and symbol, so a day's open, high,
low and close keep their order), reruns the whole default pipeline on it (features, every
configuration's walk-forward fits, the selection) and counts the refits whose chosen trial differs
from the unperturbed run's: with the plain best-of rule (``standard_errors=0``: the best trial, ties
to the lowest id) and with the one-standard-error rule that keeps the previous choice
(:mod:`spylib.evaluation.selection`). Both rules read the same fits, so the difference is the rule's.
It also prints the run's own cheap figure (``choice_stability``: the selection redone on perturbed
out-of-fold returns, the models left as they are) beside it.

    nice -n 10 python tests/bench/bench_stability.py               # 3 replications, every configuration
    python tests/bench/bench_stability.py --quick                  # no forests (the slow fits), 2 replications

Cost: one default training per replication plus one (the forests dominate; ``--quick`` drops them).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from typing import Any

import numpy as np
import pandas as pd
from benchcommon import machine_header, training_settings

PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")


def perturbed(prices: pd.DataFrame, noise: float, seed: int) -> pd.DataFrame:
    """``prices`` with each row's prices times ``1 + u``, ``u`` uniform in +-``noise``."""
    factor = 1 + np.random.default_rng(seed).uniform(-noise, noise, len(prices))
    out = prices.copy()
    for column in PRICE_COLUMNS:
        if column in out.columns:
            out[column] = out[column].to_numpy("float64") * factor
    return out


def choices_under_both_rules(
    prices: pd.DataFrame, settings: Any, quality: dict[str, Any] | None
) -> dict[str, Any]:
    from spylib.evaluation.selection import choice_stability, combine_trials, refit_choices
    from spylib.stages.training.features import run_features
    from spylib.stages.training.split import run_split
    from spylib.stages.training.train import run_train

    made = run_features(prices, settings, "bench", {})
    # The walk-forward plan of the unperturbed data: the stale-open rule counts opens exactly equal
    # to the previous close, which a 1e-6 error breaks; the same calendar keeps the refits comparable.
    data = run_split(
        made.feature_table, made.feature_columns, quality or made.data_quality, settings.plan
    ).training_data
    results = run_train(list(settings.plan.sweep.models), data, settings.plan, settings.cost_bps).results
    trials = combine_trials(results, data.splits)
    metric, gate = settings.plan.sweep.selection_metric, settings.gate
    out: dict[str, Any] = {"quality": made.data_quality}
    for name, width in (("best-of", 0.0), ("one-SE, keep previous", 1.0)):
        choices, final = refit_choices(trials, data.splits, metric, gate, standard_errors=width)
        fwd = data.features["fwd_return"].to_numpy("float64")[trials.rows]
        proxy = choice_stability(
            trials, data.splits, fwd, (metric, gate), seed=settings.plan.seed, standard_errors=width
        )
        out[name] = ([c.trial_id for c in choices], final.trial_id, proxy)
    return out


def main() -> int:
    from spylib.stages.training.ingest import run_ingest

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=3)
    parser.add_argument("--noise", type=float, default=1e-6, help="relative price error (uniform +-)")
    parser.add_argument("--quick", action="store_true", help="no forests; 2 replications")
    args = parser.parse_args()
    replications = 2 if args.quick else args.replications
    print(machine_header("bench_stability: refit choices under a +-1e-6 price error"))
    with tempfile.TemporaryDirectory(prefix="spyflow-bench-stability-") as tmp:
        settings = training_settings(tmp)
        if args.quick:
            sweep = settings.plan.sweep
            kept = tuple(s for s in sweep.models if s.family not in ("random_forest", "extra_trees"))
            plan = dataclasses.replace(settings.plan, sweep=dataclasses.replace(sweep, models=kept))
            settings = dataclasses.replace(settings, plan=plan)
        ingested = run_ingest(settings, "bench")
        started = time.perf_counter()
        base = choices_under_both_rules(ingested.prices, settings, None)
        quality = base.pop("quality")
        print(f"... unperturbed run: {time.perf_counter() - started:.0f} s", flush=True)
        changed: dict[str, list[float]] = {name: [] for name in base}
        final_changed: dict[str, int] = dict.fromkeys(base, 0)
        for r in range(replications):
            noisy = perturbed(ingested.prices, args.noise, seed=1000 + r)
            again = choices_under_both_rules(noisy, settings, quality)
            again.pop("quality")
            for name, (choices, final, _) in again.items():
                reference, reference_final, _ = base[name]
                changed[name].append(
                    float(np.mean([a != b for a, b in zip(choices, reference, strict=True)]))
                )
                final_changed[name] += int(final != reference_final)
                print(f"... replication {r + 1} {name}: {choices} (unperturbed {reference})", flush=True)
    n_models = len(settings.plan.sweep.models)
    print(
        f"\n{n_models} configurations x {settings.plan.sweep.rules_per_model} trade rules; {replications} perturbed "
        f"copies (+-{args.noise:g} relative on every price)\n"
    )
    print("| selection rule | refit choices changed (whole run, refits included) | final choice changed | "
          "the run's own figure (selection on perturbed returns) |")  # fmt: skip
    print("|---|---|---|---|")
    for name in base:
        proxy = base[name][2]
        print(
            f"| {name} | {np.mean(changed[name]):.0%} (per copy: {', '.join(f'{c:.0%}' for c in changed[name])}) "
            f"| {final_changed[name]} of {replications} | {proxy.refit_change_rate:.0%} of refits, final "
            f"{proxy.final_change_rate:.0%} ({proxy.replications} copies) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
