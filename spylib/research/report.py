"""The evaluation report: figures and tables for the Metaflow card, built without Metaflow.

Each function returns a matplotlib ``Figure`` or a DataFrame; :func:`evaluation_report` lists the
card's items in order as ``(kind, payload)`` pairs with kind ``markdown``, ``table`` or ``figure``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from spylib.research.stats import drawdown_series

CardItem = tuple[str, Any]


def _figure(width: float = 8.0, height: float = 3.2, rows: int = 1) -> tuple[Figure, Any]:
    # Figure() directly (no pyplot): no global backend state, safe in worker processes.
    fig = Figure(figsize=(width, height * rows), constrained_layout=True)
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    return fig, axes


def equity_and_drawdown(curve: pd.DataFrame) -> Figure:
    fig, (ax1, ax2) = _figure(rows=2)
    dates = pd.to_datetime(curve["date"])
    for column, label in (
        ("strategy_net", "strategy, net of costs"),
        ("strategy_gross", "strategy, gross"),
        ("buy_and_hold_net", "buy-and-hold, net"),
    ):
        r = curve[column].to_numpy("float64")
        ax1.plot(dates, np.cumprod(1 + r), label=label)
        if column != "strategy_gross":
            ax2.plot(dates, drawdown_series(r)[1:], label=label)  # [0] is the starting point
    ax1.set_title("Test segment: growth of 1 (compounded)")
    ax1.legend(loc="best", fontsize=8)
    ax2.set_title("Drawdown")
    return fig


def calibration_curve_figure(curve: pd.DataFrame, n_bins: int = 10) -> Figure:
    fig, (ax,) = _figure(width=5, height=4)
    y = (curve["fwd_return"] > 0).astype(float)
    bins = pd.qcut(curve["probability"], q=n_bins, duplicates="drop")
    grouped = (
        pd.DataFrame({"p": curve["probability"], "y": y, "bin": bins}).groupby("bin", observed=True).mean()
    )
    ax.plot([0.3, 0.7], [0.3, 0.7], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(grouped["p"], grouped["y"], marker="o", label="model (test, quantile bins)")
    ax.set_xlabel("mean predicted P(up)")
    ax.set_ylabel("observed share of up days")
    ax.set_title("Calibration on test")
    ax.legend(fontsize=8)
    return fig


def probability_histogram(curve: pd.DataFrame, threshold: float) -> Figure:
    fig, (ax,) = _figure(width=6, height=3.2)
    ax.hist(curve["probability"], bins=40)
    ax.axvline(threshold, color="red", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set_title("Predicted P(up) on test")
    ax.legend(fontsize=8)
    return fig


def threshold_profile(trials: pd.DataFrame, config_id: str, filter_name: str) -> Figure:
    fig, (ax,) = _figure(width=6, height=3.2)
    t = trials[(trials["config_id"] == config_id) & (trials["filter"] == filter_name)].sort_values(
        "threshold"
    )
    ax.plot(t["threshold"], t["oof_sharpe_net"], marker="o", label="OOF net Sharpe")
    ax.set_xlabel("threshold")
    ax.set_ylabel("annualized net Sharpe (OOF)")
    ax2 = ax.twinx()
    ax2.plot(t["threshold"], t["oof_exposure"], marker="s", color="tab:orange", label="exposure")
    ax2.set_ylabel("exposure")
    ax.set_title("Chosen configuration: threshold vs Sharpe and exposure (out-of-fold)")
    return fig


def oof_vs_test(trials: pd.DataFrame, chosen_id: int) -> Figure:
    fig, (ax,) = _figure(width=5.5, height=4.5)
    ax.scatter(trials["oof_sharpe_net"], trials["test_sharpe_net"], s=8, alpha=0.5, label="trials")
    chosen = trials[trials["trial_id"] == chosen_id]
    ax.scatter(chosen["oof_sharpe_net"], chosen["test_sharpe_net"], color="red", s=40, label="chosen")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.axvline(0, color="grey", linewidth=0.5)
    ax.set_xlabel("out-of-fold net Sharpe (used for selection)")
    ax.set_ylabel("test net Sharpe (diagnosis only)")
    ax.set_title("Out-of-fold vs test Sharpe per trial")
    ax.legend(fontsize=8)
    return fig


def importance_figure(importance: pd.DataFrame, top: int = 15) -> Figure:
    fig, (ax,) = _figure(width=6, height=4.5)
    t = importance.head(top).iloc[::-1]
    ax.barh(t["feature"], t["auc_drop_mean"], xerr=t["auc_drop_std"])
    ax.set_title("Permutation importance on test (drop in AUC)")
    return fig


def gate_table(gate: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(gate["checks"])


def evaluation_report(
    *,
    data_note: str,
    trials: pd.DataFrame,
    best: dict[str, Any],
    metrics: dict[str, Any],
    baselines: pd.DataFrame,
    curve: pd.DataFrame,
    importance: pd.DataFrame,
    gate: dict[str, Any],
    top_trials: int = 25,
) -> list[CardItem]:
    """The evaluate step's card, in reading order."""
    verdict = gate["status"]
    items: list[CardItem] = [
        ("markdown", f"# SpyFlow evaluation: **{verdict}**\n\n{data_note}"),
        (
            "markdown",
            "Conventions: annualized with 252 days, std ddof=1, flat days count as 0 return, "
            f"costs {metrics['cost_bps']} bp per side on every position change, execution "
            f"`{metrics['execution']}`. Selection used out-of-fold results only; test was scored once.",
        ),
        ("markdown", "## Gate"),
        ("table", gate_table(gate)),
        (
            "markdown",
            f"## Chosen trial\n`{best['config_id']}`, threshold {best['threshold']}, filter `{best['filter']}`",
        ),
        ("markdown", "## Test: chosen model against baselines (same days)"),
        ("table", baselines.round(4)),
        ("figure", equity_and_drawdown(curve)),
        ("figure", oof_vs_test(trials, int(best["trial_id"]))),
        ("figure", threshold_profile(trials, best["config_id"], best["filter"])),
        ("figure", calibration_curve_figure(curve)),
        ("figure", probability_histogram(curve, float(best["threshold"]))),
        ("figure", importance_figure(importance)),
        ("markdown", f"## Trials ({len(trials)} in all; top {top_trials} by out-of-fold net Sharpe)"),
        (
            "table",
            trials.sort_values("oof_sharpe_net", ascending=False)
            .head(top_trials)[
                [
                    "trial_id",
                    "config_id",
                    "threshold",
                    "filter",
                    "oof_auc",
                    "oof_sharpe_net",
                    "oof_n_trades",
                    "oof_exposure",
                    "test_sharpe_net",
                ]
            ]
            .round(4),
        ),
    ]
    return items
