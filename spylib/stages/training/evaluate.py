"""What SpyFlow's steps call: each stage takes typed values and returns the step's artifacts.

This layer only wires the research, storage and registry modules together; it does not import
Metaflow, so every stage runs (and is tested) in a plain Python process. Each Metaflow task is a fresh
process: the modelling modules (scikit-learn, scipy.stats: ~1.3 s) and the report (matplotlib: ~0.5 s)
are imported inside the stages that need them, so the other steps start about 2 s faster.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from spylib.data.sources import data_note
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import Evaluation, TrainingData

if TYPE_CHECKING:
    from spylib.core.config import ModelSpec
    from spylib.modelling.scoring import ConfigResult


log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------------------------
def plain_text(markdown: str) -> str:
    """A Markdown line for the console: no emphasis markers or code quotes."""
    return markdown.replace("**", "").replace("`", "")


@contextmanager
def phase(name: str, detail: str = "") -> Iterator[None]:
    """Print what the step is doing now, then how long it took (a long step is never silent)."""
    print(f"evaluate: {name}{': ' + detail if detail else ''}...", flush=True)
    started = time.perf_counter()
    yield
    print(f"evaluate: {name} done in {time.perf_counter() - started:.1f} s", flush=True)


def refit_lines(refits: Any, labels: Mapping[str, str], metric: str) -> list[str]:
    """One line per refit: the trial chosen on the blocks before it, and how its block went."""
    unit = "per-period net Sharpe" if metric == "sharpe_net" else metric.upper()
    return [
        f"  refit {r.refit_date} ({r.blocks_used} blocks before): trial {r.trial_id}, "
        f"{labels.get(r.config_id, r.config_id)}, threshold {r.threshold:g}, score {r.selection_score:.4f} "
        f"({unit}); block {r.block}: annualized net Sharpe {r.block_sharpe_net:.2f}"
        for r in refits.itertuples()
    ]


def final_model(
    spec: ModelSpec, best: Mapping[str, Any], data: TrainingData, settings: TrainingSettings, label: str
) -> tuple[Any, dict[str, Any]]:
    """The chosen configuration refit on every labelled day, and its holdout figures (if any)."""
    from spylib.evaluation.holdout import evaluate_holdout
    from spylib.modelling.models import fit_model, predict_up_probability

    cols = list(data.feature_columns)
    rows = data.features.iloc[data.splits.final_train_rows()]
    rows = rows[rows["target_up"].notna()]
    with phase("final model", f"{label} on {len(rows)} labelled days"):
        model = fit_model(spec, rows[cols], rows["target_up"].to_numpy("int8"), settings.seed)
    if "holdout" not in data.splits:
        return model, {}
    frame = data.segment("holdout")
    holdout = evaluate_holdout(
        predict_up_probability(model, frame[cols]),
        frame,
        dict(best),
        cost_bps=settings.cost_bps,
        target_volatility=settings.sweep.target_volatility,
    )
    return model, holdout


def importance_on_last_block(spec: ModelSpec, data: TrainingData, seed: int) -> Any:
    """Permutation importance out of sample: the configuration fitted on the last traded block's own
    training rows, scored on that block."""
    from spylib.evaluation.holdout import permutation_importance_table
    from spylib.modelling.models import fit_model

    cols, last = list(data.feature_columns), data.splits.traded_blocks[-1]
    train = data.features.iloc[last.train_rows()]
    train = train[train["target_up"].notna()]
    with phase("permutation importance", f"{len(cols)} features on block {last.name}"):
        model = fit_model(spec, train[cols], train["target_up"].to_numpy("int8"), seed)
        return permutation_importance_table(model, data.features.iloc[last.rows()], cols, seed)


def run_evaluate(
    task_results: Sequence[Sequence[ConfigResult]],
    data: TrainingData,
    settings: TrainingSettings,
    provenance: Mapping[str, Any],
    data_quality: Mapping[str, Any],
) -> Evaluation:
    """The join: the walk-forward selection and every figure of the evidence, the final model, the
    baselines, the importance and the card; each phase prints its progress and time."""
    from spylib.evaluation.baselines import BASELINE_COLUMNS, baseline_table
    from spylib.evaluation.evidence import assess, power_summary
    from spylib.evaluation.selection import chosen_trial
    from spylib.evaluation.simulation import load_simulated_power
    from spylib.reporting.evaluation_card import config_labels, evaluation_report

    sweep, features, splits, cols = settings.sweep, data.features, data.splits, list(data.feature_columns)
    results = [r for batch in task_results for r in batch]
    n_trials = sum(len(r.trials) for r in results)
    labels = config_labels([s.config_id for s in sweep.models] + [r.spec.config_id for r in results])
    with phase(
        "selection and statistics",
        f"{n_trials} trials, the selection remade at each of {len(splits.traded_blocks)} refits; then PSR, "
        "DSR, PBO, the bootstrap interval, the test against buy-and-hold and the gate",
    ):
        verdict = assess(
            results, features, splits, sweep, settings.gate, cost_bps=settings.cost_bps, seed=settings.seed
        )
    trialset, walk, gate = verdict.trialset, verdict.walk, verdict.decision
    print("\n".join(refit_lines(walk.refits, labels, sweep.selection_metric)))
    best = chosen_trial(trialset, walk.final)
    spec = next(r.spec for r in results if r.spec.config_id == best["config_id"])
    model, holdout = final_model(spec, best, data, settings, labels.get(spec.config_id, spec.config_id))
    metrics = {**verdict.metrics, "execution": settings.execution, "shuffle_labels": settings.shuffle_labels}
    power = power_summary(metrics, settings.gate, load_simulated_power())
    chosen_columns = {k: v for k, v in metrics.items() if k in BASELINE_COLUMNS}
    with phase("baselines", f"the fitted ones refit on each of {len(splits.traded_blocks)} traded blocks"):
        baselines = baseline_table(features, cols, splits, settings.cost_bps, chosen=chosen_columns)
    importance = importance_on_last_block(spec, data, settings.seed)
    with phase("card", "figures and tables"):
        items = evaluation_report(
            data_note=data_note(provenance),
            quality_note=str(data_quality.get("note", "")),
            trials=trialset.trials,
            best=best,
            metrics=metrics,
            baselines=baselines,
            track=walk.track,
            refits=walk.refits,
            splits=splits,
            importance=importance,
            gate=gate,
            power=power,
            holdout=holdout,
            labels=labels,
        )
    return Evaluation(
        trialset.trials,
        best,
        model,
        metrics,
        baselines,
        walk.track,
        walk.refits,
        importance,
        holdout,
        power,
        gate,
        items,
    )
