"""The evaluation report: the figures and tables of the evaluation card, built without Metaflow.

:func:`evaluation_report` lists the card's items in reading order as ``(kind, payload)`` pairs with
kind ``markdown``, ``table`` (a DataFrame of display strings: formatted, complete, no index) or
``figure``. One colour per series everywhere: the model net of costs, the model gross, buy-and-hold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from spylib.research.gate import GateDecision
from spylib.research.split import Splits
from spylib.research.stats import drawdown_series

CardItem = tuple[str, Any]

COLOURS = {
    "net": "#1f77b4",
    "gross": "#9ecae1",
    "buy_and_hold": "#ff7f0e",
    "burn_in": "#bdbdbd",
    "selection": "#c6dbef",
    "traded": "#1f77b4",
    "holdout": "#fdae6b",
}
FONT = {"title": 13, "label": 11, "legend": 10}


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a person: integers as integers, others to ``digits`` significant figures (at least
    two decimals below 10), missing and infinite values as an en dash."""
    if value is None or isinstance(value, str):
        return "–" if value is None else value
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    x = float(value)
    if not math.isfinite(x):
        return "–"
    if x == int(x) and abs(x) < 1e7 and isinstance(value, int | np.integer):
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return (
        f"{x:.{digits}g}"
        if abs(x) < 0.01 and x != 0
        else f"{x:.{max(digits - 1, 2)}f}"
        if abs(x) < 10
        else f"{x:.1f}"
    )


def display_table(
    frame: pd.DataFrame, columns: dict[str, str], *, integers: tuple[str, ...] = ()
) -> pd.DataFrame:
    """``frame``'s ``columns`` (name -> header) as display strings."""
    out = pd.DataFrame()
    for column, header in columns.items():
        values = frame[column]
        if column in integers:
            out[header] = [("–" if pd.isna(v) else f"{int(v):,}") for v in values]
        else:
            out[header] = [fmt(v) for v in values]
    return out


def _figure(width: float = 11.0, height: float = 3.6, rows: int = 1) -> tuple[Figure, Any]:
    # Figure() directly (no pyplot): no global backend state, safe in worker processes.
    fig = Figure(figsize=(width, height * rows), constrained_layout=True, dpi=110)
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    return fig, axes


def _style(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=FONT["title"])
    ax.set_xlabel(xlabel, fontsize=FONT["label"])
    ax.set_ylabel(ylabel, fontsize=FONT["label"])
    ax.grid(alpha=0.3)


def scheme_figure(splits: Splits) -> Figure:
    """The walk-forward scheme: burn-in, selection-only blocks, traded blocks, holdout."""
    fig, (ax,) = _figure(height=2.4)
    burn = splits["burn_in"]
    ax.barh(
        0,
        (pd.Timestamp(burn.end) - pd.Timestamp(burn.start)).days,
        left=pd.Timestamp(burn.start),
        color=COLOURS["burn_in"],
        label="burn-in (training only)",
    )
    labelled = set()
    for block in splits.blocks:
        kind = "traded" if block.traded else "selection"
        label = {
            "traded": "traded by the trial chosen on the blocks before it",
            "selection": "predicted, feeds the selection only",
        }[kind]
        ax.barh(
            0,
            (pd.Timestamp(block.end) - pd.Timestamp(block.start)).days,
            left=pd.Timestamp(block.start),
            color=COLOURS[kind],
            edgecolor="white",
            label=None if kind in labelled else label,
        )
        labelled.add(kind)
    if "holdout" in splits:
        h = splits["holdout"]
        ax.barh(
            0,
            (pd.Timestamp(h.end) - pd.Timestamp(h.start)).days,
            left=pd.Timestamp(h.start),
            color=COLOURS["holdout"],
            label="untouched holdout",
        )
    ax.set_yticks([])
    _style(
        ax, "Walk-forward scheme: every block is predicted by models fitted on the days before it", "date", ""
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=4, fontsize=FONT["legend"], frameon=False)
    return fig


def track_figure(track: pd.DataFrame) -> Figure:
    """Growth of 1 and drawdown of the track, net and gross of costs, against buy-and-hold."""
    fig, (ax1, ax2) = _figure(rows=2)
    dates = pd.to_datetime(track["date"])
    series = (
        ("strategy_gross", "model, gross", COLOURS["gross"]),
        ("buy_and_hold_net", "buy-and-hold, net", COLOURS["buy_and_hold"]),
        ("strategy_net", "model, net of costs", COLOURS["net"]),  # drawn last: on top
    )
    for column, label, colour in series:
        r = track[column].to_numpy("float64")
        ax1.plot(dates, np.cumprod(1 + r), label=label, color=colour, linewidth=1.6)
        ax2.plot(dates, 100 * drawdown_series(r)[1:], label=label, color=colour, linewidth=1.2)
    ax1.set_yscale("log")
    _style(
        ax1, "Walk-forward track (selection included): growth of 1, log scale", "date", "value of 1 invested"
    )
    _style(ax2, "Drawdown from the running peak", "date", "drawdown (%)")
    for ax in (ax1, ax2):
        ax.legend(loc="best", fontsize=FONT["legend"])
    return fig


def importance_figure(importance: pd.DataFrame, top: int = 15) -> Figure:
    fig, (ax,) = _figure(width=9, height=4.8)
    t = importance.head(top).iloc[::-1]
    ax.barh(
        t["feature"],
        t["auc_drop_mean"],
        xerr=t["auc_drop_std"],
        color=COLOURS["net"],
        label="mean drop over 5 shuffles (bar: one std)",
    )
    _style(ax, "Permutation importance on the last traded block (out of sample)", "drop in AUC", "feature")
    ax.legend(fontsize=FONT["legend"])
    return fig


def gate_rows(gate: GateDecision) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "check": c.label or c.name,
                "value": fmt(c.value),
                "needs": c.requirement,
                "result": "pass" if c.passed else "FAIL",
            }
            for c in gate.checks
        ]
    )


def verdict_line(gate: GateDecision) -> str:
    failed = sum(not c.passed for c in gate.checks)
    if gate.status == "Approved":
        return f"# ✅ Approved: all {len(gate.checks)} checks pass"
    return f"# ❌ Rejected: {failed} of {len(gate.checks)} checks fail"


BASELINE_KEY = {
    "strategy": "strategy",
    "sharpe_net": "net Sharpe",
    "sharpe_gross": "gross Sharpe",
    "auc": "AUC",
    "max_drawdown_net": "max drawdown",
    "exposure": "exposure",
    "n_trades": "trades",
    "break_even_cost_bps": "break-even bp",
}


def evaluation_report(
    *,
    data_note: str,
    quality_note: str,
    trials: pd.DataFrame,
    best: dict[str, Any],
    metrics: dict[str, Any],
    baselines: pd.DataFrame,
    track: pd.DataFrame,
    refits: pd.DataFrame,
    splits: Splits,
    importance: pd.DataFrame,
    gate: GateDecision,
    power: dict[str, Any],
    holdout: dict[str, Any],
    top_trials: int = 25,
) -> list[CardItem]:
    """The evaluate step's card, in reading order."""
    m = metrics
    beats = m["sharpe_net"] > m["buy_and_hold_sharpe_net"]
    items: list[CardItem] = [
        ("markdown", verdict_line(gate)),
        (
            "markdown",
            f"On the walk-forward track, {m['track_start']} to {m['track_end']} ({m['years']:.1f} years, the "
            f"selection remade at every refit), the model's net Sharpe ratio is **{m['sharpe_net']:.2f}**; "
            f"buy-and-hold's is **{m['buy_and_hold_sharpe_net']:.2f}** on the same days: the model "
            f"{'beats' if beats else 'does not beat'} buy-and-hold after costs (one-sided p = "
            f"{m['vs_buy_and_hold_p_value']:.2f}).",
        ),
        ("markdown", data_note + (f"\n\n**Data quality:** {quality_note}" if quality_note else "")),
        ("markdown", "## The gate"),
        ("table", gate_rows(gate)),
        (
            "markdown",
            f"**What this track can detect.** With {power['track_days']:,} days ({power['track_years']:.1f} years), "
            f"the PSR test finds a true annualized Sharpe ratio of **{power['min_detectable_sharpe']:.2f}** with 80% "
            f"probability (normal returns: {power['min_detectable_sharpe_normal']:.2f}); an edge over buy-and-hold "
            f"of about {power['min_detectable_excess_sharpe']:.2f}. Smaller edges are mostly rejected."
            + _simulation_sentence(power),
        ),
        ("markdown", "## How the track was made"),
        ("figure", scheme_figure(splits)),
        (
            "markdown",
            f"Conventions: daily returns, annualized with 252 days, std ddof=1, flat days count as 0, costs "
            f"{m['cost_bps']:g} bp per side on every position change, execution `{m['execution']}`. "
            f"{len(refits)} refit dates; at each, the selection over all {m['n_trials']:,} trials used only the "
            "blocks before it.",
        ),
        ("figure", track_figure(track)),
        (
            "markdown",
            "The net line (dark blue) against buy-and-hold (orange): above it and rising means an edge after costs.",
        ),
        ("markdown", "## The track against baselines (same days, same costs)"),
        ("table", display_table(baselines, BASELINE_KEY, integers=("n_trades",))),
        ("markdown", "## Refits: the trial chosen for each block"),
        (
            "table",
            display_table(
                refits,
                {
                    "block": "block",
                    "config_id": "configuration",
                    "threshold": "threshold",
                    "filter": "filter",
                    "sizing": "sizing",
                    "eligible_trials": "eligible",
                    "selection_score": "score before",
                    "block_sharpe_net": "block net Sharpe",
                },
                integers=("eligible_trials",),
            ),
        ),
        (
            "markdown",
            f"## The registered model\n`{best['config_id']}`, threshold {best['threshold']}, filter "
            f"`{best['filter']}`, sizing `{best['sizing']}`: chosen on every block "
            f"(deflated Sharpe {m['dsr']:.2f} over {m['n_trials']:,} trials, {m['dsr_effective']:.2f} over "
            f"{m['n_trials_effective']:,} effective ones), refit on all labelled days.",
        ),
        ("figure", importance_figure(importance)),
    ]
    if holdout:
        items.append(
            (
                "markdown",
                f"## Holdout ({holdout['start']} .. {holdout['end']}), scored once\n"
                f"net Sharpe {holdout['sharpe_net']:.2f} against buy-and-hold's "
                f"{holdout['buy_and_hold_sharpe_net']:.2f}, AUC {holdout['auc']:.3f}.",
            )
        )
    top = trials.sort_values(["oof_sharpe_net", "trial_id"], ascending=[False, True]).head(top_trials)
    items += [
        (
            "markdown",
            f"## Trials ({len(trials):,} in all; top {top_trials} by out-of-fold net Sharpe on every block)",
        ),
        (
            "table",
            display_table(
                top,
                {
                    "trial_id": "trial",
                    "config_id": "configuration",
                    "threshold": "threshold",
                    "filter": "filter",
                    "sizing": "sizing",
                    "oof_auc": "AUC",
                    "oof_sharpe_net": "net Sharpe",
                    "oof_n_trades": "trades",
                    "oof_exposure": "exposure",
                },
                integers=("trial_id", "oof_n_trades"),
            ),
        ),
    ]
    return items


def _simulation_sentence(power: dict[str, Any]) -> str:
    sim = power.get("simulation")
    if not sim:
        return ""
    null = sim["false_approval"]
    return (
        f" Measured on {null['replications']} synthetic markets with no edge ({sim['years']:g} years each), the "
        f"gate approved {null['approved']} ({null['rate']:.1%}, 95% interval {null['ci_low']:.1%} to "
        f"{null['ci_high']:.1%})."
    )
