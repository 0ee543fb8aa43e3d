"""Monitoring figures: drift per feature, rolling realized performance, the probability over time and
step durations, as matplotlib ``Figure`` objects on an Agg canvas (no pyplot, no global backend).

Sized and styled like the evaluation card's figures (:mod:`spylib.reporting.evaluation_card`: 10 inches wide,
at most 4.8 high, the same fonts and status colours), each with a title, axis labels and a legend.
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
from spylib.monitoring.track_record import REPLAY_SEGMENT
from spylib.reporting.figures import COLOURS, FIGURE_WIDTH, FONT, date_axis, style_axes

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure

PSI_FLOOR = 1e-3  # the drift figure's log axis starts here (a PSI of 0 is drawn at the floor)
WINDOW_COLOURS = ("#00897b", "#6a1b9a", "#5d4037")  # rolling windows, shortest first
PERFORMANCE_PANELS = (
    ("hit_rate", "hit rate", 0.5, "0.5 (chance)"),
    ("auc", "AUC", 0.5, "0.5 (chance)"),
    ("sharpe", "net Sharpe", 0.0, "0 (no edge)"),
)


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
    cfg = config or MonitorConfig()
    figures: dict[str, Figure] = {}
    drift = drift_figure(report, cfg)
    if drift is not None:
        figures["drift"] = drift
    if rolling is None and predictions is not None:
        rolling = rolling_performance(predictions, cfg.performance_windows, cfg.cost_bps)
    if rolling is not None and len(rolling):
        figures["performance"] = performance_figure(rolling, cfg.performance_windows)
    if predictions is not None and len(predictions):
        figures["probability"] = probability_figure(predictions)
    if step_stats is not None and len(step_stats):
        figures["step_durations"] = durations_figure(step_stats, history)
    return figures


def new_figure(height: float = 4.2, width: float = FIGURE_WIDTH) -> Figure:
    """A constrained-layout figure on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained", dpi=100)
    FigureCanvasAgg(fig)
    return fig


def drift_figure(report: MonitoringReport, cfg: MonitorConfig) -> Figure | None:
    """PSI per feature (in the model's feature order), coloured by the check's status, on a log axis."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    drift = [c for c in report.checks if c.name.startswith("drift:")]
    if not drift:
        return None
    fig = new_figure(4.8)
    ax = fig.add_subplot()
    values = [PSI_FLOOR if math.isnan(c.value) else max(c.value, PSI_FLOOR) for c in drift]
    ax.bar([c.name.removeprefix("drift:") for c in drift], values, color=[COLOURS[c.status] for c in drift])
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylim(PSI_FLOOR, max(max(values) * 1.6, cfg.psi_alert * 2))
    ax.axhline(cfg.psi_warn, color=COLOURS["warn"], linestyle="--", linewidth=1.2)
    ax.axhline(cfg.psi_alert, color=COLOURS["alert"], linestyle="--", linewidth=1.2)
    style_axes(ax, "Feature drift (PSI)", f"feature ({len(drift)}, in the model's order)",
               "PSI, recent rows vs training (log)")  # fmt: skip
    # Long feature names at 45 degrees, anchored at their end so each ends under its bar; the
    # constrained layout then makes room below (at 90 degrees they ran off the image's bottom).
    ax.tick_params(axis="x", labelsize=9)
    for label in ax.get_xticklabels():
        label.set_rotation(45)
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
    ax.grid(axis="x", visible=False)
    handles: list[Artist] = [Patch(color=COLOURS[s], label=f"status {s}") for s in ("alert", "warn", "ok")]
    handles += [
        Line2D([], [], color=COLOURS["warn"], linestyle="--", label=f"warn at PSI {cfg.psi_warn:g}"),
        Line2D([], [], color=COLOURS["alert"], linestyle="--", label=f"alert at PSI {cfg.psi_alert:g}"),
    ]
    ax.legend(handles=handles, loc="upper right", ncol=2, fontsize=FONT["legend"])
    return fig


def performance_figure(rolling: pd.DataFrame, windows: tuple[int, ...]) -> Figure:
    """Hit rate, AUC and net Sharpe ratio over rolling windows, one panel each, against their reference."""
    fig = new_figure(4.8)
    axes = fig.subplots(len(PERFORMANCE_PANELS), 1, sharex=True)
    dates = pd.to_datetime(rolling["date"])
    for ax, (metric, label, reference, reference_label) in zip(axes, PERFORMANCE_PANELS, strict=True):
        drawn = 0
        for w, colour in zip(windows, WINDOW_COLOURS, strict=False):
            column = f"{metric}_{w}"
            values = rolling[column].to_numpy(dtype=float) if column in rolling.columns else np.array([])
            if np.isfinite(values).any():
                ax.plot(dates, values, color=colour, linewidth=1.6, label=f"last {w} days")
                drawn += 1
            else:
                ax.plot([], [], color=colour, linewidth=1.6, label=f"last {w} days (not enough days yet)")
        ax.axhline(reference, color=COLOURS["neutral"], linewidth=1.2, linestyle=":", label=reference_label)
        style_axes(ax, "", "", label)
        if not drawn:
            ax.text(0.5, 0.5, "not enough realized days yet", transform=ax.transAxes, ha="center")
    date_axis(axes[-1])
    axes[-1].set_xlabel("date", fontsize=FONT["label"])
    axes[0].set_title("Rolling realized performance", fontsize=FONT["title"])
    handles, labels = axes[0].get_legend_handles_labels()
    labels[-1] = "reference: chance (0.5), no edge (0)"
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=FONT["legend"],
               frameon=False)  # fmt: skip
    return fig


def probability_figure(predictions: pd.DataFrame) -> Figure:
    """The predicted probability per day; long days marked, replayed days shaded."""
    pred = predictions.sort_values("date")
    dates = pd.to_datetime(pred["date"]).reset_index(drop=True)
    probability = pred["probability"].to_numpy(dtype=float)
    fig = new_figure(3.8)
    ax = fig.add_subplot()
    replay = (
        (pred["segment"] == REPLAY_SEGMENT).to_numpy() if "segment" in pred else np.zeros(len(pred), bool)
    )
    if replay.any():
        ax.axvspan(dates[replay].min(), dates[replay].max(), color="#eeeeee", label="replayed days")
    few = len(pred) < 30  # a line needs two points: mark each day so one prediction is visible
    ax.plot(dates, probability, color=COLOURS["net"], linewidth=1.4, marker="o" if few else None,
            markersize=6, label="P(up next day)")  # fmt: skip
    if len(pred) == 1:
        day = dates.iloc[0]
        ax.set_xlim(day - pd.Timedelta(days=5), day + pd.Timedelta(days=5))
        ax.annotate(f"{probability[0]:.4f}", (day, probability[0]), textcoords="offset points", xytext=(8, 8),
                    fontsize=FONT["legend"])  # fmt: skip
    low, high = float(np.nanmin(probability)), float(np.nanmax(probability))
    ax.set_ylim(min(low, 0.5) - 0.02, max(high, 0.5) + 0.02)
    long = pred["signal"].to_numpy(dtype=float) > 0
    ax.scatter(dates[long], probability[long], s=18, color=COLOURS["ok"], zorder=3, label="signal LONG")
    ax.axhline(0.5, color=COLOURS["neutral"], linewidth=0.8, linestyle=":", label="0.5")
    date_axis(ax)
    style_axes(ax, "Predicted probability", "date", "P(up next day)")
    ax.legend(loc="best", fontsize=FONT["legend"])
    return fig


def durations_figure(step_stats: pd.DataFrame, history: pd.DataFrame | None) -> Figure:
    """Seconds of the slowest task per step, this run against the median of the previous runs."""
    current = per_step(step_stats).groupby("step", sort=False)["seconds"].max()
    fig = new_figure(3.6)
    ax = fig.add_subplot()
    x = np.arange(len(current))
    ax.bar(x - 0.2, current.to_numpy(), width=0.4, color=COLOURS["net"], label="this run")
    if history is not None and len(history):
        past = history[~history["run_id"].astype(str).isin(step_stats["run_id"].astype(str))]
        if len(past):
            median = per_step(past).groupby("step")["seconds"].median().reindex(current.index)
            ax.bar(
                x + 0.2,
                median.to_numpy(),
                width=0.4,
                color=COLOURS["burn_in"],
                label="median of previous runs",
            )
    ax.set_xticks(x, list(current.index))
    style_axes(ax, "Step durations", "step", "seconds (slowest task)")
    ax.legend(loc="best", fontsize=FONT["legend"])
    return fig


def save_figures(figures: Mapping[str, Figure], directory: str | Path, dpi: int = 150) -> list[Path]:
    """Write each figure to ``<directory>/<key>.png``; returns the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, fig in figures.items():
        path = out / f"{key}.png"
        fig.savefig(path, dpi=dpi, facecolor="white")
        paths.append(path)
    return paths
