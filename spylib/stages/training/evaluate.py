"""What SpyFlow's steps call: each stage takes typed values and returns the step's artifacts.

This layer only wires the research, storage and registry modules together; it does not import
Metaflow, so every stage runs (and is tested) in a plain Python process. Each Metaflow task is a fresh
process: the modelling modules (scikit-learn, scipy.stats: ~1.3 s) and the report (matplotlib: ~0.5 s)
are imported inside the stages that need them, so the other steps start about 2 s faster.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from spylib.data.sources import data_note
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import Evaluation, TrainingData

if TYPE_CHECKING:
    from spylib.modelling.scoring import ConfigResult


log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------------------------
def plain_text(markdown: str) -> str:
    """A Markdown line for the console: no emphasis markers or code quotes."""
    return markdown.replace("**", "").replace("`", "")


def run_evaluate(
    task_results: Sequence[Sequence[ConfigResult]],
    data: TrainingData,
    settings: TrainingSettings,
    provenance: Mapping[str, Any],
    data_quality: Mapping[str, Any],
) -> Evaluation:
    from spylib.evaluation.baselines import BASELINE_COLUMNS, baseline_table
    from spylib.evaluation.evidence import assess, power_summary
    from spylib.evaluation.holdout import evaluate_holdout, permutation_importance_table
    from spylib.evaluation.selection import chosen_strategy, chosen_trial
    from spylib.evaluation.simulation import load_simulated_power
    from spylib.modelling.models import fit_model, predict_up_probability
    from spylib.modelling.strategy import TradeContext
    from spylib.reporting.evaluation_card import evaluation_report

    sweep, features, splits, cols = settings.sweep, data.features, data.splits, list(data.feature_columns)
    results = [r for batch in task_results for r in batch]
    context = TradeContext(
        settings.symbol, tuple(cols), settings.execution, settings.cost_bps, sweep.target_volatility
    )
    verdict = assess(
        results,
        features,
        splits,
        sweep,
        settings.gate,
        cost_bps=settings.cost_bps,
        seed=settings.seed,
        context=context,
    )
    trialset, walk, gate = verdict.trialset, verdict.walk, verdict.decision
    print(
        f"evaluate: {trialset.n_trials} trials; the selection was made again at {len(walk.refits)} refit dates"
    )
    best = chosen_trial(trialset, walk.final)
    strategy = chosen_strategy(trialset, walk.final, context)
    spec = next(r.spec for r in results if r.spec.config_id == best["config_id"])
    final_rows = features.iloc[splits.final_train_rows()]
    final_rows = final_rows[final_rows["target_up"].notna()]
    model = fit_model(spec, final_rows[cols], final_rows["target_up"].to_numpy("int8"), settings.seed)
    metrics = {**verdict.metrics, "execution": settings.execution, "shuffle_labels": settings.shuffle_labels}
    holdout: dict[str, Any] = {}
    if "holdout" in splits:
        frame = data.segment("holdout")
        holdout = evaluate_holdout(predict_up_probability(model, frame[cols]), frame, strategy)
    power = power_summary(metrics, settings.gate, load_simulated_power())
    chosen_columns = {k: v for k, v in metrics.items() if k in BASELINE_COLUMNS}
    baselines = baseline_table(features, cols, splits, settings.cost_bps, chosen=chosen_columns)
    last = splits.traded_blocks[-1]
    train_last = features.iloc[last.train_rows()]
    train_last = train_last[train_last["target_up"].notna()]
    oos_model = fit_model(spec, train_last[cols], train_last["target_up"].to_numpy("int8"), settings.seed)
    importance = permutation_importance_table(oos_model, features.iloc[last.rows()], cols, settings.seed)
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
    )
    return Evaluation(
        trialset.trials,
        best,
        strategy,
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
