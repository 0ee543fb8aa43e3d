"""the sweep. What each model family costs and what it adds, and how the join grows
with the number of configurations.

Everything runs in this process on the default data and settings (SpyFlow's defaults, see
``benchcommon.settings_kwargs``), through the flow's own calls: ``run_train`` per configuration (the
configuration fitted on every walk-forward block: one ``train`` task's work), then the join.

* Per family (the default grid of ``flows/config/sweep.json``): seconds per configuration and per fit
  (one core, one configuration at a time), configurations per minute; its value: the best
  out-of-fold net Sharpe of its trials (all of them, and those the selection may pick: the gate's
  activity rule), its mean out-of-fold AUC, how many refit dates of the walk-forward selection chose
  it; and how redundant it is: the clusters of the trials' out-of-fold returns
  (``spylib.stats.hypothesis.effective_number_of_trials``, the N_eff of the deflated Sharpe) that
  its trials fall in, how many of them it shares with another family, and the mean correlation of
  its configurations' out-of-fold probabilities with each family's.
* Trees: the first random forest and extra-trees configuration again with 200 trees (the previous
  grid's count): time ratio and how much their predictions and best trial move.
* ``--previous-grid``: the grid before the trim (random forest 8, extra trees 8, both with 200 trees,
  hist gradient boosting 4, logistic 4; the walk-forward and trade rules of today's default) timed
  and valued the same way, with the same table. Slow: ~24 configurations with up to 200 trees.
* Growth: a configuration's training does not depend on how many others there are, so the train
  total for N configurations is the sum of N measured times (the default configurations taken
  round-robin over the families, cycled beyond the default count). The join's selection and
  statistics (``spylib.evaluation.assessment.assess``: walk-forward selection, track, DSR with N_eff,
  CSCV) depend on N: they are timed at each N on N distinct trial sets (the measured results,
  relabelled as distinct configurations beyond the default count); the whole join
  (``run_evaluate``, which also refits the chosen model, its permutation importance, the baselines and
  the report) once, on the default grid.

Run: ``python tests/bench/bench_sweep.py`` (~2 minutes on a loaded 2-core machine; ``--quick``: one
configuration per family, N = 8 and 16; ``--previous-grid`` adds ~5 minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from benchcommon import (
    describe_growth,
    format_table,
    growth_exponent,
    machine_header,
    settings_kwargs,
    training_settings,
)

from spylib.core.config import ModelSpec
from spylib.evaluation.assessment import AssessmentSettings, assess
from spylib.evaluation.selection import activity, combine_trials, walk_forward_selection
from spylib.modelling.scoring import ConfigResult
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import TrainingData
from spylib.stages.training.evaluate import run_evaluate
from spylib.stages.training.features import run_features
from spylib.stages.training.ingest import run_ingest
from spylib.stages.training.split import run_split
from spylib.stages.training.train import run_train
from spylib.stats.trials import effective_number_of_trials

# The grid before the trim (the previous flows/config/sweep.json): 24 configurations.
PREVIOUS_MODELS: dict[str, dict[str, list[Any]]] = {
    "random_forest": {
        "n_estimators": [200],
        "max_depth": [3, 6],
        "min_samples_leaf": [25, 100],
        "max_features": ["sqrt", 0.5],
    },
    "extra_trees": {
        "n_estimators": [200],
        "max_depth": [3, 6],
        "min_samples_leaf": [25, 100],
        "max_features": ["sqrt", 0.5],
    },
    "hist_gradient_boosting": {
        "learning_rate": [0.03, 0.1],
        "max_depth": [2, 3],
        "max_iter": [100],
        "min_samples_leaf": [100],
    },
    "logistic": {"C": [0.001, 0.01, 0.1, 1.0]},
}


def relabel(result: ConfigResult, copy: int) -> ConfigResult:
    """The same result as a distinct configuration (a new config id): used to reach N > 14 trial sets."""
    if copy == 0:
        return result
    spec = ModelSpec(result.spec.family, {**result.spec.params, "copy": copy})
    return dataclasses.replace(result, spec=spec, trials=result.trials.assign(config_id=spec.config_id))


def round_robin(families: list[str]) -> list[int]:
    """Indices of the configurations interleaved in proportion to their families' counts, so that the
    first N have (about) the sweep's family mix: the k-th of a family's n configurations is placed
    at (k + 0.5) / n."""
    counts: dict[str, int] = {}
    position: list[tuple[float, int]] = []
    total = {f: families.count(f) for f in families}
    for i, family in enumerate(families):
        k = counts.get(family, 0)
        counts[family] = k + 1
        position.append(((k + 0.5) / total[family], i))
    return [i for _, i in sorted(position)]


def score_all(
    specs: Sequence[ModelSpec], data: TrainingData, settings: TrainingSettings
) -> tuple[list[ConfigResult], list[float]]:
    """Every configuration through ``run_train`` (one at a time), and each one's wall seconds. The
    settings' grid becomes ``specs`` (``run_train`` numbers each configuration by its place there, and
    refuses one that is not in it)."""
    grid = dataclasses.replace(
        settings.plan, sweep=dataclasses.replace(settings.plan.sweep, models=tuple(specs))
    )
    results: list[ConfigResult] = []
    seconds: list[float] = []
    for spec in specs:
        started = time.perf_counter()
        results += run_train([spec], data, grid, settings.cost_bps).results
        seconds.append(time.perf_counter() - started)
    return results, seconds


def family_table(
    results: Sequence[ConfigResult], seconds: Sequence[float], data: TrainingData, settings: TrainingSettings
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per family: cost, value and redundancy (see the module docstring); and the sweep's
    N_eff, eigenvalue N_eff and the selection's final choice."""
    trialset = combine_trials(results, data.splits)
    trials = trialset.trials
    walk = walk_forward_selection(
        trialset,
        data.features,
        data.splits,
        settings.plan.sweep.selection_metric,
        settings.gate,
        settings.cost_bps,
    )
    effective = effective_number_of_trials(trialset.net_returns)
    labels = effective.labels
    per_year, exposure = activity(trialset.positions)
    eligible = (per_year >= settings.gate.min_trades_per_year) & (exposure >= settings.gate.min_exposure)
    family_of_trial = trials["family"].to_numpy()
    # configurations in combine_trials' order (by config id), their families and OOF probabilities
    ordered = sorted(results, key=lambda r: r.spec.config_id)
    config_family = np.array([r.spec.family for r in ordered])
    prob_corr = np.corrcoef(trialset.probability.T)
    refit_family = [str(c).split("(")[0] for c in walk.refits["config_id"]]
    families = list(dict.fromkeys(r.spec.family for r in results))
    rows: list[dict[str, Any]] = []
    for family in families:
        t = [sec for r, sec in zip(results, seconds, strict=True) if r.spec.family == family]
        members = family_of_trial == family
        own_clusters = set(labels[members].tolist())
        shared = {c for c in own_clusters if (family_of_trial[labels == c] != family).any()}
        fam_cfg = config_family == family
        row: dict[str, Any] = {
            "family": family,
            "configs": len(t),
            "trees": ",".join(
                sorted(
                    {str(r.spec.params.get("n_estimators", "")) for r in results if r.spec.family == family}
                    - {""}
                )
            )
            or "-",
            "s/config": sum(t) / len(t),
            "s/fit": sum(t) / len(t) / len(data.splits.blocks),
            "configs/min (1 core)": 60.0 * len(t) / sum(t),
            "best OOF net Sharpe": float(trials.loc[members, "oof_sharpe_net"].max()),
            "best eligible": float(trials.loc[members & eligible, "oof_sharpe_net"].max())
            if (members & eligible).any()
            else float("nan"),
            "mean OOF AUC": float(trials.loc[members, "oof_auc"].mean()),
            "refits chosen": f"{refit_family.count(family)}/{len(refit_family)}",
            "clusters (shared)": f"{len(own_clusters)} ({len(shared)})",
        }
        for other in families:
            block = prob_corr[np.ix_(fam_cfg, config_family == other)]
            if other == family:
                off = block[~np.eye(len(block), dtype=bool)]
                row[f"p corr {short(other)}"] = float(off.mean()) if off.size else float("nan")
            else:
                row[f"p corr {short(other)}"] = float(block.mean())
        rows.append(row)
    summary = {
        "n_trials": trialset.n_trials,
        "n_clusters": effective.n_clusters,
        "eigen_n_eff": effective.eigen_n_eff,
        "rule": effective.rule,
        "silhouette": effective.silhouette,
        "final": "{} threshold {} filter {} sizing {}".format(
            *trials.iloc[walk.final.trial_id][["config_id", "threshold", "filter", "sizing"]]
        ),
        "train_s": float(sum(seconds)),
    }
    return rows, summary


def short(family: str) -> str:
    return {
        "random_forest": "RF",
        "extra_trees": "ET",
        "hist_gradient_boosting": "HGB",
        "logistic": "LR",
    }.get(family, family)


def print_families(title: str, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    print(f"\n## {title}\n")
    print(format_table(rows, floatfmt="{:.3g}"))
    print(
        f"\n{summary['n_trials']} trials; train {summary['train_s']:.1f} s on one core; N_eff "
        f"{summary['n_clusters']} clusters ({summary['rule']}, mean silhouette {summary['silhouette']:.2f}), "
        f"eigenvalue N_eff {summary['eigen_n_eff']:.1f}; the final choice: {summary['final']}"
    )


def trees_check(data: TrainingData, settings: TrainingSettings, specs: Sequence[ModelSpec]) -> list[dict]:
    """The first random forest and extra-trees configuration of the grid, again with 200 trees."""
    rows = []
    for family in ("random_forest", "extra_trees"):
        base = next((s for s in specs if s.family == family and "n_estimators" in s.params), None)
        if base is None:
            continue
        more = ModelSpec(family, {**base.params, "n_estimators": 200})
        (r_base, r_more), (s_base, s_more) = score_all([base, more], data, settings)
        rows.append(
            {
                "configuration": base.config_id,
                f"{base.params['n_estimators']} trees s": s_base,
                "200 trees s": s_more,
                "time ratio": s_more / s_base,
                "OOF probability corr": float(np.corrcoef(r_base.probability, r_more.probability)[0, 1]),
                f"best OOF net Sharpe ({base.params['n_estimators']})": float(
                    r_base.trials["oof_sharpe_net"].max()
                ),
                "best (200)": float(r_more.trials["oof_sharpe_net"].max()),
                "OOF AUC": f"{r_base.trials['oof_auc'].iloc[0]:.3f} / {r_more.trials['oof_auc'].iloc[0]:.3f}",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one configuration per family; N = 8, 16")
    parser.add_argument(
        "--previous-grid", action="store_true", help="also time and value the grid before the trim (slow)"
    )
    args = parser.parse_args()
    print(machine_header("bench_sweep: cost and value per model family, growth"))

    with tempfile.TemporaryDirectory(prefix="spyflow-bench-") as tmp:
        settings = training_settings(tmp)
        ingested = run_ingest(settings, "bench")
        made = run_features(ingested.prices, settings, "bench", ingested.lake_files)
        data = run_split(
            made.feature_table, made.feature_columns, made.data_quality, settings.plan
        ).training_data
        specs = list(settings.plan.sweep.models)
        if args.quick:
            seen: set[str] = set()
            specs = [s for s in specs if not (s.family in seen or seen.add(s.family))]  # type: ignore[func-returns-value]
        n_blocks = len(data.splits.blocks)
        print(
            f"... data: {len(data.features)} feature rows, {n_blocks} walk-forward blocks "
            f"({len(data.splits.traded_blocks)} traded), {len(specs)} configurations x "
            f"{settings.plan.sweep.rules_per_model} trade rules",
            flush=True,
        )
        results, seconds = score_all(specs, data, settings)
        fam_rows, summary = family_table(results, seconds, data, settings)
        trees = [] if args.quick else trees_check(data, settings, specs)
        previous: tuple[list[dict[str, Any]], dict[str, Any]] | None = None
        if args.previous_grid:
            old_settings = training_settings(
                tmp, sweep={**settings_kwargs(tmp)["sweep"], "models": PREVIOUS_MODELS}
            )
            old_specs = list(old_settings.plan.sweep.models)
            print(f"... previous grid: {len(old_specs)} configurations", flush=True)
            old_results, old_seconds = score_all(old_specs, data, old_settings)
            previous = family_table(old_results, old_seconds, data, old_settings)

        sizes = [8, 16] if args.quick else [8, 16, 32, 64]
        order = round_robin([s.family for s in specs])
        assess(
            results[:2],
            data.features,
            data.splits,
            AssessmentSettings(settings.plan.sweep, settings.gate, 1.0, 0),
        )
        judged_by = AssessmentSettings(
            settings.plan.sweep, settings.gate, settings.cost_bps, settings.plan.seed
        )
        growth_rows = []
        for n in sizes:
            picks = [order[i % len(order)] for i in range(n)]
            chosen = [relabel(results[j], i // len(order)) for i, j in enumerate(picks)]
            started = time.perf_counter()
            verdict = assess(chosen, data.features, data.splits, judged_by)
            assess_s = time.perf_counter() - started
            growth_rows.append(
                {
                    "configs": n,
                    "trials": verdict.trialset.n_trials,
                    "N_eff": verdict.evidence.n_trials_effective,
                    "train total s (1 core)": sum(seconds[j] for j in picks),
                    "selection + statistics s": assess_s,
                }
            )
            print(f"... N={n}: assess {assess_s:.2f} s", flush=True)
        started = time.perf_counter()
        evaluation = run_evaluate([results], data, settings, ingested.data_provenance, made.data_quality)
        join_s = time.perf_counter() - started

    print_families(
        f"Per family, the default grid ({len(specs)} configurations x {n_blocks} walk-forward fits; one core)",
        fam_rows,
        summary,
    )
    print(
        "\nbest eligible = best among the trials the selection may pick (the gate's activity rule: "
        f">= {settings.gate.min_trades_per_year:g} trades a year, exposure >= {settings.gate.min_exposure:g}); "
        "clusters (shared) = the N_eff clusters holding the family's trials (how many also hold another "
        "family's); p corr XX = mean correlation of the configurations' out-of-fold probabilities with "
        "family XX's (own family: between distinct configurations)"
    )
    if trees:
        print("\n## Trees: 200 against the grid's count (same configuration otherwise)\n")
        print(format_table(trees, floatfmt="{:.3g}"))
    if previous is not None:
        print_families(
            "Per family, the previous grid (RF 8, ET 8 with 200 trees, HGB 4, logistic 4)", *previous
        )
        print(
            f"\nprevious grid / default grid, train seconds: {previous[1]['train_s'] / summary['train_s']:.2f}"
        )
    print("\n## The join as the sweep grows\n")
    print(format_table(growth_rows, floatfmt="{:.3g}"))
    ns = [r["configs"] for r in growth_rows]
    print(
        "\ngrowth from {} to {} configurations: train total {}; selection + statistics {}".format(
            ns[0],
            ns[-1],
            describe_growth(growth_exponent(ns, [r["train total s (1 core)"] for r in growth_rows])),
            describe_growth(growth_exponent(ns, [r["selection + statistics s"] for r in growth_rows])),
        )
    )
    print(
        f"the whole join on the default grid (run_evaluate: selection, statistics, refit of "
        f"{evaluation.best['config_id']}, permutation importance, baselines, report): {join_s:.1f} s; "
        f"train total {sum(seconds):.1f} s on one core. Copies beyond the default count are the same "
        "returns under new ids, so N_eff stops growing there; the time is what N trial columns cost."
    )


if __name__ == "__main__":
    main()
