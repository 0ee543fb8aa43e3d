"""evaluate (the join): the walk-forward selection, the track, the evidence and the gate's decision, the
baselines, the optional holdout, the feature importance and the evaluation card's items.

The stages only wire the library together and do not import Metaflow, so each runs (and is tested) in
a plain Python process. Each Metaflow task is a fresh process: the modelling modules (scikit-learn,
scipy.stats: ~1.3 s) and the report (matplotlib: ~0.5 s) are imported inside the stages that need them,
so the other steps start about 2 s faster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from spylib.data.sources import data_note
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import EvaluateResult, TrainingData

if TYPE_CHECKING:
    from spylib.core.config import ModelSpec
    from spylib.evaluation.evidence import Evidence
    from spylib.modelling.scoring import ConfigResult
    from spylib.reporting.evaluation_card import EvaluationInputs


def fit_on_labelled(spec: ModelSpec, rows: pd.DataFrame, columns: list[str], seed: int) -> Any:
    """``spec`` fitted on the labelled days of ``rows``."""
    from spylib.modelling.models import fit_model

    rows = rows[rows["target_up"].notna()]
    return fit_model(spec, rows[columns], rows["target_up"].to_numpy("int8"), seed)


def holdout_figures(
    model: Any, data: TrainingData, best: dict[str, Any], settings: TrainingSettings
) -> dict[str, Any]:
    """The registered model scored once on the untouched holdout (nothing when there is none)."""
    if "holdout" not in data.splits:
        return {}
    from spylib.evaluation.holdout import evaluate_holdout
    from spylib.modelling.models import predict_up_probability

    frame = data.segment("holdout")
    return evaluate_holdout(
        predict_up_probability(model, frame[list(data.feature_columns)]),
        frame,
        best,
        cost_bps=settings.cost_bps,
        target_volatility=settings.plan.sweep.target_volatility,
    )


def last_block_importance(spec: ModelSpec, data: TrainingData, seed: int) -> pd.DataFrame:
    """Permutation importance on the last traded block, of ``spec`` fitted on the days before it."""
    from spylib.evaluation.holdout import permutation_importance_table

    cols, last = list(data.feature_columns), data.splits.traded_blocks[-1]
    oos_model = fit_on_labelled(spec, data.features.iloc[last.train_rows()], cols, seed)
    return permutation_importance_table(oos_model, data.features.iloc[last.rows()], cols, seed)


def run_evaluate(
    task_results: Sequence[Sequence[ConfigResult]],
    data: TrainingData,
    settings: TrainingSettings,
    provenance: Mapping[str, Any],
    data_quality: Mapping[str, Any],
) -> EvaluateResult:
    """The join: every task's trials, the selection and its track, the evidence and the gate, the final
    model refit on every labelled day, the baselines, the holdout and the card."""
    from spylib.evaluation.assessment import assess
    from spylib.evaluation.baselines import BASELINE_COLUMNS, baseline_table
    from spylib.evaluation.evidence import power_summary
    from spylib.evaluation.selection import chosen_trial
    from spylib.evaluation.simulation import load_simulated_power
    from spylib.monitoring.reference import chosen_record
    from spylib.reporting.evaluation_card import EvaluationInputs

    plan, cols, splits = settings.plan, list(data.feature_columns), data.splits
    results = [r for batch in task_results for r in batch]
    verdict = assess(
        results, data.features, splits, plan.sweep, settings.gate, cost_bps=settings.cost_bps, seed=plan.seed
    )
    trialset, walk, gate = verdict.trialset, verdict.walk, verdict.decision
    print(
        f"evaluate: {trialset.n_trials} trials; the selection was made again at {len(walk.refits)} refit dates"
    )
    best = chosen_trial(trialset, walk.final)
    spec = next(r.spec for r in results if r.spec.config_id == best["config_id"])
    model = fit_on_labelled(spec, data.features.iloc[splits.final_train_rows()], cols, plan.seed)
    evidence: Evidence = dataclasses.replace(
        verdict.evidence, execution=plan.execution, shuffle_labels=plan.shuffle_labels
    )
    power = power_summary(evidence, settings.gate, load_simulated_power())
    chosen = evidence.baseline_figures(BASELINE_COLUMNS)
    baselines = baseline_table(
        data.features,
        cols,
        splits,
        settings.cost_bps,
        chosen=chosen,
        target_volatility=plan.sweep.target_volatility,
    )
    inputs = EvaluationInputs(
        data_note=data_note(provenance),
        quality_note=str(data_quality.get("note", "")),
        trials=trialset.trials,
        best=best,
        evidence=evidence,
        baselines=baselines,
        track=walk.track,
        refits=walk.refits,
        splits=splits,
        importance=last_block_importance(spec, data, plan.seed),
        gate=gate,
        power=power,
        holdout=holdout_figures(model, data, best, settings),
    )
    result = evaluate_result(inputs, model)
    # monitoring's reference: the chosen trial's own out-of-sample days (not the track's mix)
    return dataclasses.replace(result, reference_record=chosen_record(trialset, walk.final, data.features))


def evaluate_result(inputs: EvaluationInputs, model: Any) -> EvaluateResult:
    """The evaluate step's artifacts: what the card shows, the final model, and the public dict forms
    of the evidence (``metrics``) and of the gate's decision (``gate``)."""
    from spylib.reporting.evaluation_card import evaluation_report

    return EvaluateResult(
        trials=inputs.trials,
        best=inputs.best,
        model=model,
        evidence=inputs.evidence,
        metrics=inputs.evidence.to_dict(),
        baselines=inputs.baselines,
        track=inputs.track,
        refits=inputs.refits,
        importance=inputs.importance,
        holdout_metrics=inputs.holdout,
        power=inputs.power,
        gate_decision=inputs.gate,
        gate=inputs.gate.to_dict(),
        card_items=evaluation_report(inputs),
    )
