"""The evaluation report: the figures and tables of the evaluation card, built without Metaflow.

:func:`evaluation_report` lists the card's items in reading order as ``(kind, payload)`` pairs:

* ``banner``: a :class:`Banner`, the verdict in colour and in words;
* ``markdown``: Markdown text;
* ``table``: a DataFrame of display strings (formatted, complete, no index);
* ``figure``: a matplotlib ``Figure``, always followed by
* ``caption``: one sentence saying what to look at in the figure above.

Numbers are shown by :func:`fmt` (3 significant figures, counts as integers, "–" for missing or
infinite). One colour per series everywhere (:data:`COLOURS`): the model net of costs, the model
gross, buy-and-hold. Figures are sized for the card's column (about 1000 px at a 1400 px window):
10 inches wide at 100 px per inch, at most 4.8 inches high (the card shows images at most 500 px high).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from spylib.evaluation.gate import GateCheck, GateDecision
from spylib.evaluation.record import Evidence
from spylib.modelling.walk_forward import Splits
from spylib.reporting.diagnostics import (
    calibration_figure,
    confusion_sentence,
    confusion_table,
    signal_by_block,
    signal_figure,
    signal_sentence,
)
from spylib.reporting.error_rates import error_rates_sentence
from spylib.reporting.figures import importance_figure, scheme_figure, track_figure
from spylib.reporting.format import MISSING, count, display_table, fmt, pct, plain
from spylib.reporting.labels import config_family, config_labels, config_parameters
from spylib.reporting.robustness import robustness_markdown
from spylib.reporting.verdict import buy_and_hold_clause

CardItem = tuple[str, Any]


Tone = Literal["good", "warn", "bad"]


@dataclass(frozen=True)
class Banner:
    """A coloured headline: ``value`` in large type on green (good), amber (warn) or red (bad)."""

    title: str
    value: str
    tone: Tone
    subtitle: str = ""


# --- the gate -------------------------------------------------------------------------------------
def verdict_line(gate: GateDecision) -> str:
    """``Approved: all 7 checks pass`` or ``Rejected: 4 of 7 checks fail``."""
    n = len(gate.checks)
    failed = sum(not c.passed for c in gate.checks)
    if gate.status == "Approved":
        return f"Approved: all {n} checks pass" if n != 1 else "Approved: the only check passes"
    return f"Rejected: {failed} of {n} {'check' if n == 1 else 'checks'} {'fails' if failed == 1 else 'fail'}"


def failed_first(gate: GateDecision) -> list[GateCheck]:
    """The failed checks, then the passed ones, each group in the gate's order."""
    return [c for c in gate.checks if not c.passed] + [c for c in gate.checks if c.passed]


def _check_words(check: GateCheck) -> str:
    measured = fmt(check.value) if math.isfinite(check.value) else f"{MISSING} (not measured)"
    return f"{check.label or check.name}: {measured}, needs {check.requirement}"


def gate_line(check: GateCheck) -> str:
    """One check in words: ``FAIL: deflated Sharpe ratio of the selection ...: 0.645, needs >= 0.95``."""
    return f"{'pass' if check.passed else 'FAIL'}: {_check_words(check)}"


def gate_markdown(gate: GateDecision) -> str:
    """The checks as a Markdown list, failed first, each with its name in the ``gate`` artifact."""
    return "\n".join(
        f"- **{'pass' if c.passed else 'FAIL'}** {_check_words(c)} (`{c.name}`)" for c in failed_first(gate)
    )


def verdict_banner(gate: GateDecision, evidence: Evidence) -> Banner:
    """The verdict in colour: green when Approved, red when Rejected."""
    m = evidence
    subtitle = (
        f"Walk-forward track {m.track_start} to {m.track_end}: annualized net Sharpe ratio "
        f"{fmt(m.sharpe_net)} against buy-and-hold's {fmt(m.buy_and_hold_sharpe_net)}."
    )
    tone: Tone = "good" if gate.status == "Approved" else "bad"
    return Banner("SpyFlow quality gate", verdict_line(gate), tone, subtitle)


# --- configurations -------------------------------------------------------------------------------
def configuration_table(trials: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """One row per configuration: its short name, model, hyperparameters, trials, best trial's score."""
    best = trials.groupby("config_id")["oof_sharpe_net"].max()
    n = trials.groupby("config_id").size()
    rows = [
        {
            "configuration": labels.get(cid, cid),
            "model": config_family(cid),
            "hyperparameters": config_parameters(cid) or MISSING,
            "trials": count(n[cid]),
            "best net Sharpe (annualized)": fmt(best[cid]),
        }
        for cid in sorted(set(trials["config_id"]), key=lambda c: labels.get(c, c))
    ]
    return pd.DataFrame(
        rows, columns=["configuration", "model", "hyperparameters", "trials", "best net Sharpe (annualized)"]
    )


BASELINE_DESCRIPTIONS = {
    "walk_forward_model": "this run: the trial chosen at each refit, traded on the next block",
    "buy_and_hold": "long every day",
    "always_up": "predicts up every day (a classifier with AUC 0.5)",
    "majority_class": "the training rows' majority label, per block",
    "momentum_20": "long when the 20-day return is positive",
    "logistic_regression": "logistic regression (C=1) on the model's features, refit per block",
    "seed_recipe": "the seed project's random forest, on trend-up and in-play days only",
}


BASELINE_KEY = {
    "strategy": "strategy",
    "sharpe_net": "net Sharpe (annualized)",
    "sharpe_gross": "gross Sharpe (annualized)",
    "cagr_net": "net CAGR",
    "max_drawdown_net": "max drawdown",
    "exposure": "exposure",
    "n_trades": "trades",
    "break_even_cost_bps": "break-even cost (bp)",
}


BASELINE_DETAIL = {
    "strategy": "strategy",
    "description": "what it is",
    "auc": "AUC",
    "accuracy": "accuracy",
    "hit_rate": "hit rate",
    "sortino_net": "net Sortino (annualized)",
    "calmar_net": "net Calmar",
    "total_return_net": "net total return",
    "turnover": "turnover",
}


BASELINE_PERCENT = ("cagr_net", "max_drawdown_net", "exposure", "accuracy", "hit_rate", "total_return_net")


# What a strategy earns: strategies equal in all of these trade the same days the same way.
TRADING_FIGURES = ("sharpe_net", "sharpe_gross", "cagr_net", "max_drawdown_net", "exposure", "n_trades",
                   "total_return_net", "turnover", "hit_rate", "sortino_net", "calmar_net")  # fmt: skip


def collapse_identical(baselines: pd.DataFrame) -> pd.DataFrame:
    """One row for strategies that trade identically (buy-and-hold, always-up and the majority class
    often do), named ``buy_and_hold = always_up = ...`` with their descriptions joined; a classification
    figure missing for one of them (buy-and-hold predicts nothing) is taken from the others."""
    figures = [c for c in TRADING_FIGURES if c in baselines.columns]
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, row in enumerate(baselines[figures].itertuples(index=False)):
        groups.setdefault(tuple(fmt(v, 6) for v in row), []).append(i)
    rows = []
    for members in groups.values():
        frame = baselines.iloc[members]
        row = {c: next((v for v in frame[c] if not pd.isna(v)), frame[c].iloc[0]) for c in baselines.columns}
        names = [str(n) for n in frame["strategy"]]
        row["strategy"] = " = ".join(names)
        row["description"] = "; ".join(BASELINE_DESCRIPTIONS.get(n, MISSING) for n in names)
        if len(names) > 1:
            row["description"] += " (the same trades on these days)"
        rows.append(row)
    return pd.DataFrame(rows, columns=[*baselines.columns, "description"])


def baseline_tables(baselines: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The key table (returns, risk, activity) and the detail table (classification and ratios), with
    identical strategies in one row."""
    frame = collapse_identical(baselines)
    key = display_table(frame, {c: h for c, h in BASELINE_KEY.items() if c in frame},
                        integers=("n_trades",), percent=BASELINE_PERCENT)  # fmt: skip
    detail = display_table(frame, {c: h for c, h in BASELINE_DETAIL.items() if c in frame},
                           percent=BASELINE_PERCENT)  # fmt: skip
    return key, detail


SELECTION_UNITS = {"sharpe_net": "per-period", "psr": "PSR"}


def refits_table(refits: pd.DataFrame, labels: Mapping[str, str], metric: str = "sharpe_net") -> pd.DataFrame:
    """The trial chosen at each refit and how its block went."""
    frame = refits.assign(configuration=[labels.get(c, c) for c in refits["config_id"]])
    columns = {
        "block": "block",
        "trial_id": "trial",
        "configuration": "configuration",
        "threshold": "threshold",
        "filter": "filter",
        "sizing": "sizing",
        "eligible_trials": "eligible",
        "selection_score": f"score ({SELECTION_UNITS.get(metric, metric)})",
        "block_sharpe_net": "block net Sharpe (ann.)",
        "block_return_net": "block net return",
    }
    return display_table(frame, {c: h for c, h in columns.items() if c in frame},
                         integers=("trial_id", "eligible_trials"), percent=("block_return_net",),
                         parameters=("threshold", "block"))  # fmt: skip


def trials_table(trials: pd.DataFrame, labels: Mapping[str, str], top: int) -> pd.DataFrame:
    """The ``top`` trials by out-of-fold net Sharpe (ties by trial id)."""
    best = trials.sort_values(["oof_sharpe_net", "trial_id"], ascending=[False, True]).head(top)
    frame = best.assign(configuration=[labels.get(c, c) for c in best["config_id"]])
    columns = {
        "trial_id": "trial",
        "configuration": "configuration",
        "threshold": "threshold",
        "filter": "filter",
        "sizing": "sizing",
        "oof_auc": "AUC",
        "oof_sharpe_net": "net Sharpe (ann.)",
        "oof_max_drawdown_net": "max drawdown",
        "oof_n_trades": "trades",
        "oof_exposure": "exposure",
    }
    return display_table(frame, {c: h for c, h in columns.items() if c in frame},
                         integers=("trial_id", "oof_n_trades"), percent=("oof_max_drawdown_net", "oof_exposure"),
                         parameters=("threshold",))  # fmt: skip


@dataclass(frozen=True)
class EvaluationInputs:
    """What the evaluate step's card shows: the data notes, the trials, the choice and its evidence,
    the baselines, the track and its refits, the plan, the importance, the gate, the power and the
    holdout (empty when there is none)."""

    data_note: str
    quality_note: str
    trials: pd.DataFrame
    best: dict[str, Any]
    evidence: Evidence
    baselines: pd.DataFrame
    track: pd.DataFrame
    refits: pd.DataFrame
    splits: Splits
    importance: pd.DataFrame
    gate: GateDecision
    power: dict[str, Any]
    holdout: dict[str, Any]
    top_trials: int = 25
    # The configurations' short names; by default config_labels of the ids shown (the flow passes
    # those of its whole sweep, the names its train log printed).
    labels: Mapping[str, str] | None = None


def evaluation_report(inputs: EvaluationInputs) -> list[CardItem]:
    """The evaluate step's card, in reading order."""
    labels = dict(inputs.labels or {})
    shown_ids = [*inputs.trials["config_id"], *inputs.refits["config_id"], inputs.best["config_id"]]
    if any(cid not in labels for cid in shown_ids):
        labels = {**config_labels(shown_ids), **labels}
    return [
        *verdict_items(inputs),
        *method_items(inputs),
        *result_items(inputs, labels),
        *trial_items(inputs, labels),
    ]


def verdict_items(inputs: EvaluationInputs) -> list[CardItem]:
    """The verdict: the banner, every check, the track against buy-and-hold and what it can detect."""
    m, gate, power = inputs.evidence, inputs.gate, inputs.power
    return [
        ("markdown", f"# SpyFlow evaluation: {gate.status}"),
        ("banner", verdict_banner(gate, m)),
        ("markdown", gate_markdown(gate)),
        (
            "markdown",
            f"On the walk-forward track, {m.track_start} to {m.track_end} ({fmt(m.years)} years, the "
            f"selection remade at every refit), the model's annualized net Sharpe ratio is "
            f"**{fmt(m.sharpe_net)}**; buy-and-hold's is **{fmt(m.buy_and_hold_sharpe_net)}** on the same "
            f"days: the model {buy_and_hold_clause(gate, m.to_dict())}.",
        ),
        (
            "markdown",
            f"**What this track can detect.** With {count(power['track_days'])} days "
            f"({fmt(power['track_years'])} years), the PSR test finds a true annualized Sharpe ratio of "
            f"**{fmt(power['min_detectable_sharpe'])}** with 80% probability (normal returns: "
            f"{fmt(power['min_detectable_sharpe_normal'])}); an edge over buy-and-hold of about "
            f"{fmt(power['min_detectable_excess_sharpe'])}. Smaller edges are mostly rejected."
            + _simulation_sentence(power),
        ),
        *[("markdown", text) for text in [robustness_markdown(m)] if text],
    ]


def method_items(inputs: EvaluationInputs) -> list[CardItem]:
    """The data and how the track was made."""
    m, quality_note = inputs.evidence, inputs.quality_note
    return [
        ("markdown", "## The data\n\n" + inputs.data_note + (f"\n\n**Data quality:** {quality_note}" if quality_note else "")),
        ("markdown", "## How the track was made"),
        ("figure", scheme_figure(inputs.splits)),
        ("caption", "Each block is predicted by models fitted on the days before it; only the dark blue blocks "
                    "are traded, each by the trial chosen on the blocks to its left, so every traded day is out "
                    "of sample."),
        (
            "markdown",
            f"Conventions: daily returns, annualized with 252 days, std ddof=1, flat days count as 0, costs "
            f"{plain(m.cost_bps)} bp per side on every position change, execution `{m.execution}`. "
            f"{count(len(inputs.refits))} refit dates; at each, the selection over all {count(m.n_trials_run or m.n_trials)} trials "
            "used only the blocks before it.",
        ),
    ]  # fmt: skip


def result_items(inputs: EvaluationInputs, labels: Mapping[str, str]) -> list[CardItem]:
    """The track, the baselines, the refits, the configurations, the registered model and the holdout."""
    growth, drawdown = track_figure(inputs.track)
    baseline_key, baseline_detail = baseline_tables(inputs.baselines)
    holdout, metric = inputs.holdout, str(inputs.evidence.selection_metric)
    items: list[CardItem] = [
        ("markdown", "## The track"),
        ("figure", growth),
        ("caption", "Look at the dark blue line (the model net of costs) against the orange one (buy-and-hold): "
                    "ending above it means an edge after costs; the gap to the light blue line is the cost."),
        ("figure", drawdown),
        ("caption", "The deepest dips are the worst losses from a peak: a model with an edge should lose less "
                    "than buy-and-hold in the market's crashes."),
        ("markdown", "## The track against baselines (same days, same costs)"),
        ("table", baseline_key),
        ("markdown", "Details of the same strategies:"),
        ("table", baseline_detail),
        *probability_items(inputs.track, inputs.refits),
        ("markdown", "## Refits: the trial chosen for each block"),
        ("markdown", "At each refit, the trial with the best score among the eligible ones (enough trades and "
                     "exposure) is chosen. The score is the selection rule's figure on the blocks before the refit "
                     + ("(a per-period net Sharpe ratio: daily, not annualized)" if metric == "sharpe_net" else "(the PSR)")
                     + "; the block's net Sharpe ratio is annualized (ann.), like every other Sharpe ratio on this card."),
        ("table", refits_table(inputs.refits, labels, metric)),
        ("markdown", "## Configurations of the sweep"),
        ("table", configuration_table(inputs.trials, labels)),
        ("markdown", registered_model_markdown(inputs.best, inputs.evidence, labels)),
        ("figure", importance_figure(inputs.importance)),
        ("caption", "Features whose shuffling lowers the AUC most carry the signal; bars within their error "
                    "line of zero carry none."),
    ]  # fmt: skip
    if holdout:
        items.append(
            (
                "markdown",
                f"## Holdout ({holdout['start']} to {holdout['end']}), scored once\n\n"
                f"Annualized net Sharpe ratio {fmt(holdout['sharpe_net'])} against buy-and-hold's "
                f"{fmt(holdout['buy_and_hold_sharpe_net'])}, AUC {fmt(holdout['auc'])}.",
            )
        )
    return items


def trial_items(inputs: EvaluationInputs, labels: Mapping[str, str]) -> list[CardItem]:
    """Every trial, the best first."""
    trials, top = inputs.trials, inputs.top_trials
    shown = min(top, len(trials))
    return [
        (
            "markdown",
            f"## Trials ({count(len(trials))} in all"
            + ("" if shown == len(trials) else f"; the top {shown}")
            + ", ranked by out-of-fold net Sharpe over every block)",
        ),
        ("table", trials_table(trials, labels, top)),
    ]


def probability_items(track: pd.DataFrame, refits: pd.DataFrame) -> list[CardItem]:
    """The probabilities on the track: calibration, the confusion matrix, the signal block by block."""
    by_block = signal_by_block(track)
    return [
        ("markdown", "## The probabilities on the track"),
        ("figure", calibration_figure(track)),
        ("caption", "Points on the dashed line mean the probabilities can be taken at face value; points "
                    "flatter than it mean the model is overconfident, and a flat row near the base rate "
                    "means it barely tells days apart."),
        ("markdown", "**Errors at the chosen thresholds** (every labelled track day):"),
        ("table", confusion_table(track, refits)),
        ("markdown", confusion_sentence(track, refits)),
        ("figure", signal_figure(by_block)),
        ("caption", signal_sentence(by_block)),
    ]  # fmt: skip


def registered_model_markdown(best: Mapping[str, Any], evidence: Evidence, labels: Mapping[str, str]) -> str:
    """The registered model in a sentence: its configuration, trade rule and deflated Sharpe ratios."""
    cid, m = best["config_id"], evidence
    label = labels.get(cid, cid)
    named = f" ({label} in the tables)" if label != config_family(cid) else ""
    return (
        f"## The registered model\n\n`{cid}`{named}, threshold {plain(best['threshold'])}, filter "
        f"`{best['filter']}`, sizing `{best['sizing']}`: chosen on every block (deflated Sharpe ratio "
        f"{fmt(m.dsr)} over {count(m.n_trials)} trials, {fmt(m.dsr_effective)} over "
        f"{count(m.n_trials_effective)} effective ones), refit on all labelled days."
    )


def _simulation_sentence(power: Mapping[str, Any]) -> str:
    rates = power.get("error_rates")
    if rates:
        return error_rates_sentence(rates)
    sim = power.get("simulation")
    if not sim:
        return ""
    null = sim["false_approval"]
    return (
        f" Measured on {count(null['replications'])} synthetic markets with no edge ({plain(sim['years'])} years "
        f"each), the gate approved {count(null['approved'])} ({pct(null['rate'])}, 95% interval "
        f"{pct(null['ci_low'])} to {pct(null['ci_high'])})."
    )
