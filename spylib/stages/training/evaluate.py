"""evaluate (the join): the walk-forward selection, the track, the evidence and the gate's decision, the
baselines, the optional holdout, the feature importance and the evaluation card's items.

The stages only wire the library together and do not import Metaflow, so each runs (and is tested) in
a plain Python process. Each Metaflow task is a fresh process: the modelling modules (scikit-learn,
scipy.stats: ~1.3 s) and the report (matplotlib: ~0.5 s) are imported inside the stages that need them,
so the other steps start about 2 s faster.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from spylib.data.sources import data_note
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import EvaluateResult, TrainingData

if TYPE_CHECKING:
    from spylib.core.config import ModelSpec
    from spylib.evaluation.assessment import Assessment
    from spylib.evaluation.baselines import FittedBaselines
    from spylib.evaluation.record import Evidence
    from spylib.modelling.scoring import ConfigResult
    from spylib.modelling.strategy import Strategy, TradeContext
    from spylib.reporting.evaluation_card import EvaluationInputs

T = TypeVar("T")


@contextmanager
def phase(name: str, detail: str = "") -> Iterator[None]:
    """Print what the step is doing now, then how long it took (a long step is never silent)."""
    print(f"evaluate: {name}{': ' + detail if detail else ''}...", flush=True)
    started = time.perf_counter()
    yield
    print(f"evaluate: {name} done in {time.perf_counter() - started:.1f} s", flush=True)


def refit_lines(refits: pd.DataFrame, labels: Mapping[str, str], metric: str) -> list[str]:
    """One line per refit: the trial chosen on the blocks before it, and how its block went."""
    unit = "per-period net Sharpe" if metric == "sharpe_net" else metric.upper()
    return [
        f"  refit {r.refit_date} ({r.blocks_used} blocks before): trial {r.trial_id}, "
        f"{labels.get(r.config_id, r.config_id)}, threshold {r.threshold:g}, score {r.selection_score:.4f} "
        f"({unit}); block {r.block}: annualized net Sharpe {r.block_sharpe_net:.2f}"
        for r in refits.itertuples()
    ]


def fit_on_labelled(spec: ModelSpec, rows: pd.DataFrame, columns: list[str], seed: int) -> Any:
    """``spec`` fitted on the labelled days of ``rows``."""
    from spylib.modelling.models import fit_model

    rows = rows[rows["target_up"].notna()]
    return fit_model(spec, rows[columns], rows["target_up"].to_numpy("int8"), seed)


def holdout_figures(model: Any, data: TrainingData, strategy: Strategy) -> dict[str, Any]:
    """The registered model scored once on the untouched holdout (nothing when there is none)."""
    if "holdout" not in data.splits:
        return {}
    from spylib.evaluation.holdout import evaluate_holdout
    from spylib.modelling.models import predict_up_probability

    frame = data.segment("holdout")
    return evaluate_holdout(predict_up_probability(model, frame[list(data.feature_columns)]), frame, strategy)


def last_block_importance(spec: ModelSpec, data: TrainingData, seed: int) -> pd.DataFrame:
    """Permutation importance on the last traded block, of ``spec`` fitted on the days before it."""
    from spylib.evaluation.holdout import permutation_importance_table

    cols, last = list(data.feature_columns), data.splits.traded_blocks[-1]
    with phase("permutation importance", f"{len(cols)} features on block {last.name}"):
        oos_model = fit_on_labelled(spec, data.features.iloc[last.train_rows()], cols, seed)
        return permutation_importance_table(oos_model, data.features.iloc[last.rows()], cols, seed)


def count_trials(
    results: Sequence[ConfigResult], settings: TrainingSettings, provenance: Mapping[str, Any]
) -> dict[str, Any]:
    """Add this run's trials to the trials ledger beside the registry (keyed by the data's fingerprint)
    and return the ledger's figures. A negative control (``--shuffle-labels``) is not a search for an
    edge: it reads the ledger (its N includes its own trials) but adds nothing to it."""
    from spylib.registry.ledger import TrialsLedger, trial_keys

    plan = settings.plan
    if not settings.registry.location or not provenance.get("fingerprint"):
        return {}
    trials = pd.concat([r.trials for r in results], ignore_index=True)
    keys = trial_keys(
        trials, execution=plan.execution, cost_bps=settings.cost_bps, walk_forward=plan.sweep.walk_forward
    )
    ledger = TrialsLedger(settings.registry.location)
    fingerprint = str(provenance["fingerprint"])
    if plan.shuffle_labels:
        distinct = ledger.distinct_trials(fingerprint) | set(keys)
        return {"ledger_n_trials": len(distinct), "ledger_run_trials": len(set(keys)), "ledger_entries": 0}
    count = ledger.record_and_count(fingerprint, keys, run=f"{settings.data.source} seed {plan.seed}")
    print(
        f"evaluate: trials ledger {count.location}: {count.n_trials} distinct trials on this data "
        f"({count.n_run} in this run, {count.n_entries} grid(s) recorded)"
    )
    return count.to_dict()


def trade_context(settings: TrainingSettings, data: TrainingData) -> TradeContext:
    """How a trial's rule trades this run: the symbol, the feature columns, the execution, the cost and
    the volatility target."""
    from spylib.modelling.strategy import TradeContext

    plan = settings.plan
    return TradeContext(
        settings.data.symbol,
        tuple(data.feature_columns),
        plan.execution,
        settings.cost_bps,
        plan.sweep.target_volatility,
    )


def judge_sweep(
    results: Sequence[ConfigResult],
    data: TrainingData,
    settings: TrainingSettings,
    ledger: Mapping[str, Any],
    context: TradeContext,
) -> Assessment:
    """The selection remade at each refit, the track, the statistics and the gate's decision (with the
    trials ledger's N when there is one)."""
    from spylib.evaluation.assessment import AssessmentSettings, assess

    plan, splits = settings.plan, data.splits
    with phase(
        "selection and statistics",
        f"{sum(len(r.trials) for r in results)} trials, the selection remade at each of "
        f"{len(splits.traded_blocks)} refits; then PSR, DSR, PBO, the bootstrap interval, the test against "
        "buy-and-hold and the gate",
    ):
        return assess(
            results,
            data.features,
            splits,
            AssessmentSettings(plan.sweep, settings.gate, settings.cost_bps, plan.seed),
            ledger_trials=ledger.get("ledger_n_trials"),
            context=context,
        )


def fit_final_model(spec: ModelSpec, data: TrainingData, seed: int, labels: Mapping[str, str]) -> Any:
    """The chosen configuration refit on every labelled day of the final training rows."""
    final_rows = data.features.iloc[data.splits.final_train_rows()]
    with phase("final model", f"{labels.get(spec.config_id, spec.config_id)} on {len(final_rows)} days"):
        return fit_on_labelled(spec, final_rows, list(data.feature_columns), seed)


class OtherCore:
    """Work that does not wait for the selection, started on the task's other core when it has one
    (a local run's evaluate task is alone on the machine; on Batch it gets the cores it asked for): the
    fitted baselines and the permutation importance's refit run there while this process selects.
    With one core, each runs here when its result is asked for. Either way the same calls, so the
    same numbers."""

    def __init__(self) -> None:
        from spylib.core.runtime import available_cores

        self._executor: Any = None
        if available_cores() > 1:
            from joblib.externals.loky import get_reusable_executor

            self._executor = get_reusable_executor(max_workers=1)

    def submit(self, fn: Callable[..., T], *args: Any) -> Callable[[], T]:
        """``fn(*args)`` started now on the other core (or deferred); call the result to get its value."""
        if self._executor is None:
            return lambda: fn(*args)
        return self._executor.submit(fn, *args).result


def evaluation_baselines(
    data: TrainingData, settings: TrainingSettings, evidence: Evidence, fitted: Callable[[], FittedBaselines]
) -> pd.DataFrame:
    """The baselines on the track's blocks (``fitted``: the fitted ones, refit on each), with the chosen
    strategy's own figures beside them."""
    from spylib.evaluation.baselines import BASELINE_COLUMNS, baseline_table

    splits = data.splits
    chosen = evidence.baseline_figures(BASELINE_COLUMNS)
    with phase("baselines", f"the fitted ones refit on each of {len(splits.traded_blocks)} traded blocks"):
        return baseline_table(
            data.features,
            list(data.feature_columns),
            splits,
            settings.cost_bps,
            chosen=chosen,
            target_volatility=settings.plan.sweep.target_volatility,
            fitted=fitted(),
        )


def run_evaluate(
    task_results: Sequence[Sequence[ConfigResult]],
    data: TrainingData,
    settings: TrainingSettings,
    provenance: Mapping[str, Any],
    data_quality: Mapping[str, Any],
) -> EvaluateResult:
    """The join: every task's trials, the selection and its track, the evidence and the gate, the final
    model refit on every labelled day, the baselines, the holdout and the card; each phase prints its
    progress and time."""
    from spylib.evaluation.baselines import fit_baselines
    from spylib.evaluation.evidence import power_summary
    from spylib.evaluation.selection import chosen_strategy, chosen_trial
    from spylib.evaluation.simulation import load_simulated_power
    from spylib.monitoring.reference import chosen_record
    from spylib.reporting.evaluation_card import EvaluationInputs
    from spylib.reporting.labels import config_labels

    plan = settings.plan
    other_core = OtherCore()
    fitted = other_core.submit(fit_baselines, data.features, list(data.feature_columns), data.splits)
    results = [r for batch in task_results for r in batch]
    ledger = count_trials(results, settings, provenance)
    context = trade_context(settings, data)
    labels = config_labels([s.config_id for s in plan.sweep.models] + [r.spec.config_id for r in results])
    verdict = judge_sweep(results, data, settings, ledger, context)
    trialset, walk, gate = verdict.trialset, verdict.walk, verdict.decision
    print("\n".join(refit_lines(walk.refits, labels, plan.sweep.selection_metric)))
    best = chosen_trial(trialset, walk.final)
    strategy = chosen_strategy(trialset, walk.final, context)
    spec = next(r.spec for r in results if r.spec.config_id == best["config_id"])
    importance = other_core.submit(last_block_importance, spec, data, plan.seed)
    model = fit_final_model(spec, data, plan.seed, labels)
    evidence: Evidence = dataclasses.replace(
        verdict.evidence, execution=plan.execution, shuffle_labels=plan.shuffle_labels, **ledger
    )
    power = power_summary(evidence, settings.gate, load_simulated_power())
    baselines = evaluation_baselines(data, settings, evidence, fitted)
    inputs = EvaluationInputs(
        data_note=data_note(provenance),
        quality_note=str(data_quality.get("note", "")),
        trials=trialset.trials,
        best=best,
        evidence=evidence,
        baselines=baselines,
        track=walk.track,
        refits=walk.refits,
        splits=data.splits,
        importance=importance(),
        gate=gate,
        power=power,
        holdout=holdout_figures(model, data, strategy),
        labels=labels,
    )
    result = evaluate_result(inputs, model, strategy)
    # monitoring's reference: the chosen trial's own out-of-sample record (not the track's mix)
    return dataclasses.replace(result, reference_record=chosen_record(trialset, walk.final, data.features))


def evaluate_result(inputs: EvaluationInputs, model: Any, strategy: Strategy) -> EvaluateResult:
    """The evaluate step's artifacts: what the card shows, the final model, and the public dict forms
    of the evidence (``metrics``) and of the gate's decision (``gate``)."""
    from spylib.reporting.evaluation_card import evaluation_report

    with phase("card", "figures and tables"):
        card_items = evaluation_report(inputs)
    return EvaluateResult(
        trials=inputs.trials,
        best=inputs.best,
        strategy=strategy,
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
        card_items=card_items,
    )
