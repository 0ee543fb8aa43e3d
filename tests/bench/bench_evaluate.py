"""evaluate. The join's time against the number of trials (6 to 2,000) and of walk-forward blocks (5 to
50), phase by phase, as CPU seconds of this process (``time.process_time``: a loaded machine changes it
far less than wall time).

The trials are real ``ConfigResult`` values made by ``score_configuration`` (every trade rule's
positions, net returns and out-of-fold metrics) on a synthetic market with no edge, but the models are
replaced by a seeded random probability per configuration and block, so that the sizes can grow without
fitting thousands of models: what is timed is the evaluate step's own work, which sees only the results.
Trials = configurations x trade rules (thresholds x filters x sizings; the default 40 rules = 5 x 4 x 2;
fewer for the small counts, as a custom sweep would have).

Phases (the calls of ``spylib.stages.training.evaluate.run_evaluate``, in its order):

* ``selection``: ``combine_trials`` + ``walk_forward_selection`` alone (the choice again at every refit
  date, from the blocks before it), for its own growth; not in ``total``;
* ``assess``: what the step's "selection and statistics" phase runs, ``assess``: the selection, the
  track's figures and inference (PSR, DSR with N_eff, the block-bootstrap tests against buy-and-hold
  and the volatility-targeted rule), the selection's (CSCV), the seed spread (the selection redone per
  seed member), the choices' stability (redone on 8 perturbed copies) and the gate;
* ``baselines``: ``baseline_table`` (buy-and-hold, momentum, a logistic regression refit on every traded
  block's training rows: with the expanding window its work grows with blocks x rows, not with trials);
* ``card``: ``evaluation_report`` (the card's items: tables and figures) and ``to_card_components``.

Not timed here (independent of the trials): the final model's refit and the permutation importance of
the chosen configuration (one fit each; ``bench_sweep.py`` times the whole join once).

The growth exponents (slope of log time on log size) are printed per phase, against the trials at a fixed
number of blocks and against the blocks at 560 trials (the default sweep's count). No phase may grow
faster than trials x blocks: exponent at most ~1 in each.

Run: ``python tests/bench/bench_evaluate.py`` (~3 minutes of CPU; ``--quick``: 6/40/560 trials and
5/10/20 blocks).
"""

from __future__ import annotations

import argparse
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from benchcommon import describe_growth, format_table, growth_exponent, machine_header

from spylib.core.config import GateConfig, ModelSpec, SweepConfig, WalkForwardConfig
from spylib.data.synthetic import generate_market, parse_spec
from spylib.evaluation.assessment import AssessmentSettings, assess
from spylib.evaluation.baselines import BASELINE_COLUMNS, baseline_table
from spylib.evaluation.evidence import power_summary
from spylib.evaluation.selection import chosen_trial, combine_trials, walk_forward_selection
from spylib.evaluation.simulation import load_simulated_power
from spylib.features.table import build_features, feature_columns
from spylib.modelling import scoring
from spylib.modelling.walk_forward import Splits, walk_forward_splits

COST_BPS = 1.0
SEED = 42
WALK_FORWARD = WalkForwardConfig(block_months=12, min_train_days=750, embargo_days=60, min_selection_blocks=2)
THRESHOLDS = (0.5, 0.525, 0.55, 0.575, 0.6)
FILTERS: tuple[tuple[str, ...], ...] = ((), ("trend_up",), ("trend_up", "in_play_120"), ("low_vol",))
SIZINGS = ("long_flat", "vol_target")
# trials -> (configurations, thresholds, filters, sizings)
SHAPES = {
    6: (1, 3, 2, 1),
    8: (1, 2, 2, 2),
    40: (1, 5, 4, 2),
    200: (5, 5, 4, 2),
    560: (14, 5, 4, 2),
    2000: (50, 5, 4, 2),
}


def random_probability_models() -> None:
    """Replace the fits inside ``score_configuration`` by a seeded random probability per configuration
    and block (the evaluate step sees only the results)."""

    def fit(spec: ModelSpec, X: pd.DataFrame, y: np.ndarray, seed: int, **_: Any) -> tuple[str, int]:
        return spec.config_id, seed

    def predict(model: tuple[str, int], X: pd.DataFrame) -> np.ndarray:
        key = zlib.crc32(f"{model[0]}|{model[1]}|{X.index[0]}".encode())
        return np.random.default_rng(key).uniform(0.35, 0.65, len(X))

    scoring.fit_model = fit  # type: ignore[assignment]
    scoring.predict_up_probability = predict  # type: ignore[assignment]


def market(blocks: int) -> tuple[pd.DataFrame, Splits]:
    """A synthetic market (no edge) long enough for about ``blocks`` yearly blocks after the burn-in."""
    years = blocks + 4
    features = build_features(
        generate_market(parse_spec(f"synthetic:edge=0,years={years},seed=5")), "SPY", "QQQ", "open_to_open"
    )
    labelled = features["target_up"].notna().to_numpy()
    splits = walk_forward_splits(list(features["date"]), labelled, WALK_FORWARD, 2)
    return features, splits


def sweep_of(trials: int) -> SweepConfig:
    n_configs, n_thr, n_filters, n_sizings = SHAPES[trials]
    return SweepConfig(
        models=tuple(ModelSpec("logistic", {"C": round(0.001 * (i + 1), 6)}) for i in range(n_configs)),
        thresholds=THRESHOLDS[:n_thr],
        filters=FILTERS[:n_filters],
        sizings=SIZINGS[:n_sizings],
        walk_forward=WALK_FORWARD,
    )


def cpu(clock: dict[str, float], phase: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    started = time.process_time()
    out = func(*args, **kwargs)
    clock[phase] = time.process_time() - started
    return out


def time_evaluate(trials: int, features: pd.DataFrame, splits: Splits) -> dict[str, Any]:
    """The phases of the evaluate step on ``trials`` trials of ``splits``' blocks (CPU seconds)."""
    from spylib.reporting.evaluation_card import EvaluationInputs, evaluation_report
    from spylib.stages.cards import to_card_components

    sweep, gate, cols = sweep_of(trials), GateConfig(), feature_columns()
    results = [
        scoring.score_configuration(spec, scoring.ScoringData(features, cols, splits), sweep, COST_BPS, SEED)
        for spec in sweep.models
    ]
    clock: dict[str, float] = {}
    started = time.process_time()
    trialset = combine_trials(results, splits)
    walk_forward_selection(trialset, features, splits, sweep.selection_metric, gate, COST_BPS)
    clock["selection"] = time.process_time() - started
    # What the step runs (judge_sweep): the selection again, the track's and the selection's figures,
    # the bootstrap tests, the seed spread, the choices' stability, and the gate.
    judged = cpu(
        clock, "assess", assess, results, features, splits, AssessmentSettings(sweep, gate, COST_BPS, SEED)
    )
    trialset, walk, evidence, decision = judged.trialset, judged.walk, judged.evidence, judged.decision
    chosen = evidence.baseline_figures(BASELINE_COLUMNS)
    baselines = cpu(clock, "baselines", baseline_table, features, cols, splits, COST_BPS, chosen=chosen)
    inputs = EvaluationInputs(
        data_note="synthetic market",
        quality_note="",
        trials=trialset.trials,
        best=chosen_trial(trialset, walk.final),
        evidence=evidence,
        baselines=baselines,
        track=walk.track,
        refits=walk.refits,
        splits=splits,
        importance=pd.DataFrame({"feature": cols, "auc_drop_mean": 0.0, "auc_drop_std": 0.0}),
        gate=decision,
        power=power_summary(evidence, gate, load_simulated_power()),
        holdout={},
    )
    started = time.process_time()
    to_card_components(evaluation_report(inputs))
    clock["card"] = time.process_time() - started
    total = sum(v for k, v in clock.items() if k != "selection")  # assess includes a selection
    return {"trials": trialset.n_trials, "blocks": len(splits.blocks), **clock, "total": total}


PHASES = ("selection", "assess", "baselines", "card", "total")


def growth_lines(rows: list[dict[str, Any]], size: str) -> str:
    lines = []
    for phase in PHASES:
        exponent = growth_exponent([r[size] for r in rows], [max(r[phase], 1e-4) for r in rows])
        lines.append(f"- {phase}: {describe_growth(exponent)}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6/40/560 trials; 5/10/20 blocks")
    parser.add_argument(
        "--fixed-blocks", type=int, default=18, help="blocks of the trials table (default 18)"
    )
    args = parser.parse_args()
    print(machine_header("bench_evaluate: the evaluate step against trials and blocks"))
    random_probability_models()
    trial_counts = [6, 40, 560] if args.quick else [6, 8, 40, 200, 560, 2000]
    block_counts = [5, 10, 20] if args.quick else [5, 10, 20, 50]
    features, splits = market(args.fixed_blocks)
    by_trials = []
    for n in trial_counts:
        by_trials.append(time_evaluate(n, features, splits))
        print(f"... {n} trials x {len(splits.blocks)} blocks: {by_trials[-1]['total']:.2f} s CPU", flush=True)
    by_blocks = []
    for b in block_counts:
        features_b, splits_b = market(b)
        by_blocks.append(time_evaluate(560, features_b, splits_b))
        print(
            f"... 560 trials x {len(splits_b.blocks)} blocks: {by_blocks[-1]['total']:.2f} s CPU", flush=True
        )
    print(f"\n## Against the trials ({len(splits.blocks)} blocks; CPU seconds per phase)\n")
    print(format_table(by_trials, floatfmt="{:.3g}"))
    print("\nGrowth with the trials:")
    print(growth_lines(by_trials, "trials"))
    print("\n## Against the blocks (560 trials; CPU seconds per phase)\n")
    print(format_table(by_blocks, floatfmt="{:.3g}"))
    print("\nGrowth with the blocks:")
    print(growth_lines(by_blocks, "blocks"))


if __name__ == "__main__":
    main()
