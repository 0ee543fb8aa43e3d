"""Monitoring figures: drift per feature, rolling realized performance, the probability over time and
step durations, as matplotlib ``Figure`` objects on an Agg canvas (no pyplot, no global backend).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from spylib.monitoring.checks import MonitorConfig, MonitoringReport
from spylib.monitoring.health import per_step
from spylib.monitoring.performance import rolling_performance

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_monitoring(
    report: MonitoringReport,
    predictions: pd.DataFrame | None = None,
    rolling: pd.DataFrame | None = None,
    step_stats: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    config: MonitorConfig | None = None,
) -> dict[str, Figure]:
    """Figures keyed ``drift``, ``performance``, ``probability``, ``step_durations`` (those with data).

    Built as ``matplotlib.figure.Figure`` objects on an Agg canvas: no pyplot, no global backend
    change, nothing kept alive after the caller drops them. ``rolling`` defaults to
    ``rolling_performance(predictions)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cfg = config or MonitorConfig()

    def new_figure(width: float = 9.0, height: float = 4.0) -> Figure:
        fig = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(fig)
        return fig

    figures: dict[str, Figure] = {}
    drift = [c for c in report.checks if c.name.startswith("drift:")]
    if drift:
        fig = new_figure(max(6.0, 0.3 * len(drift) + 2), 4.0)
        ax = fig.add_subplot()
        colors = {"ok": "tab:green", "warn": "tab:orange", "alert": "tab:red"}
        labels = [c.name.removeprefix("drift:") for c in drift]
        ax.bar(
            labels,
            [0.0 if math.isnan(c.value) else c.value for c in drift],
            color=[colors[c.status] for c in drift],
        )
        ax.axhline(cfg.psi_warn, color="tab:orange", linestyle="--", label=f"warn {cfg.psi_warn:g}")
        ax.axhline(cfg.psi_alert, color="tab:red", linestyle="--", label=f"alert {cfg.psi_alert:g}")
        ax.set_title("Feature drift (PSI)")
        ax.set_ylabel("PSI vs training window")
        ax.tick_params(axis="x", labelrotation=90)
        ax.legend()
        figures["drift"] = fig
    if rolling is None and predictions is not None:
        rolling = rolling_performance(predictions, cfg.performance_windows, cfg.cost_bps)
    if rolling is not None and len(rolling):
        fig = new_figure(9.0, 7.0)
        axes = fig.subplots(3, 1, sharex=True)
        for ax, metric, label in zip(
            axes, ("hit_rate", "auc", "sharpe"), ("hit rate (traded days)", "AUC", "net Sharpe"), strict=True
        ):
            for w in cfg.performance_windows:
                if f"{metric}_{w}" in rolling.columns:
                    ax.plot(pd.to_datetime(rolling["date"]), rolling[f"{metric}_{w}"], label=f"{w}-day")
            ax.set_ylabel(label)
            ax.legend(loc="upper left")
        axes[0].axhline(0.5, color="grey", linewidth=0.8)
        axes[1].axhline(0.5, color="grey", linewidth=0.8)
        axes[2].axhline(0.0, color="grey", linewidth=0.8)
        axes[0].set_title("Rolling realized performance")
        figures["performance"] = fig
    if predictions is not None and len(predictions):
        pred = predictions.sort_values("date")
        dates = pd.to_datetime(pred["date"])
        fig = new_figure()
        ax = fig.add_subplot()
        ax.plot(dates, pred["probability"], color="tab:blue", linewidth=1, label="probability")
        traded = pred["signal"].to_numpy(dtype=float) > 0
        ax.scatter(dates[traded], pred["probability"][traded], s=8, color="tab:green", label="long")
        ax.axhline(0.5, color="grey", linewidth=0.8)
        ax.set_title("Predicted probability")
        ax.set_ylabel("P(up next day)")
        ax.legend(loc="upper left")
        figures["probability"] = fig
    if step_stats is not None and len(step_stats):
        current = per_step(step_stats).groupby("step", sort=False)["seconds"].max()
        fig = new_figure()
        ax = fig.add_subplot()
        x = np.arange(len(current))
        ax.bar(x - 0.2, current.to_numpy(), width=0.4, label="this run")
        if history is not None and len(history):
            past = history[~history["run_id"].astype(str).isin(step_stats["run_id"].astype(str))]
            median = per_step(past).groupby("step")["seconds"].median().reindex(current.index)
            ax.bar(x + 0.2, median.to_numpy(), width=0.4, label="median of previous runs")
        ax.set_xticks(x, list(current.index), rotation=45, ha="right")
        ax.set_title("Step durations")
        ax.set_ylabel("seconds (slowest task)")
        ax.legend()
        figures["step_durations"] = fig
    return figures


def save_figures(figures: Mapping[str, Figure], directory: str | Path, dpi: int = 100) -> list[Path]:
    """Write each figure to ``<directory>/<key>.png``; returns the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, fig in figures.items():
        path = out / f"{key}.png"
        fig.savefig(path, dpi=dpi)
        paths.append(path)
    return paths
