"""The figures of the cards: one colour per series everywhere (the model net of costs, the model gross,
buy-and-hold), titles, axis labels and legends sized to be read at 1400 px, no pyplot state."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from spylib.modelling.walk_forward import Splits
from spylib.stats.performance import drawdown_series

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLOURS = {
    "net": "#1f4e99",  # the model, net of costs (dark blue)
    "gross": "#8fb8e8",  # the model, gross (light blue)
    "buy_and_hold": "#e8710a",  # buy-and-hold, net (orange)
    "burn_in": "#bdbdbd",
    "selection": "#c6dbef",
    "traded": "#1f4e99",
    "holdout": "#fdae6b",
    "ok": "#2e7d32",
    "warn": "#ef8f00",
    "alert": "#c62828",
    "neutral": "#616161",
}
FONT = {"title": 14, "label": 12, "tick": 11, "legend": 11}
FIGURE_WIDTH = 10.0  # inches; the card shows figures about 1000 px wide at a 1400 px window
FIGURE_HEIGHT = 4.2  # inches; the card caps an image's height at 500 px


# --- figures --------------------------------------------------------------------------------------
def _figure(height: float = FIGURE_HEIGHT, width: float = FIGURE_WIDTH) -> tuple[Figure, Axes]:
    # Figure() directly (no pyplot): no global backend state, safe in worker processes.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained", dpi=100)
    return fig, fig.add_subplot()


def style_axes(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    """Title, axis labels, tick sizes and a light grid, the same on every figure of the cards."""
    ax.set_title(title, fontsize=FONT["title"])
    ax.set_xlabel(xlabel, fontsize=FONT["label"])
    ax.set_ylabel(ylabel, fontsize=FONT["label"])
    ax.tick_params(labelsize=FONT["tick"])
    ax.grid(alpha=0.3)


def date_axis(ax: Axes, max_ticks: int = 10) -> None:
    """Dates on the x axis without crowding: at most ``max_ticks`` ticks, concise labels."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=max_ticks)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def scheme_figure(splits: Splits) -> Figure:
    """The walk-forward scheme: burn-in, selection-only blocks, traded blocks, holdout."""
    fig, ax = _figure(height=2.4)

    def bar(start: date, end: date, colour: str, label: str | None) -> None:
        left = pd.Timestamp(start)
        ax.barh(0, pd.Timestamp(end) - left, left=left, color=colour, edgecolor="white", label=label)

    burn = splits["burn_in"]
    bar(burn.start, burn.end, COLOURS["burn_in"], "burn-in (training only)")
    selection = [b for b in splits.blocks if not b.traded]
    traded = [b for b in splits.blocks if b.traded]
    for blocks, colour, label in (
        (selection, COLOURS["selection"], f"{len(selection)} blocks for the selection only"),
        (traded, COLOURS["traded"], f"{len(traded)} traded blocks"),
    ):
        for i, block in enumerate(blocks):
            bar(block.start, block.end, colour, label if i == 0 else None)
    if "holdout" in splits:
        h = splits["holdout"]
        bar(h.start, h.end, COLOURS["holdout"], "untouched holdout")
    ax.set_yticks([])
    date_axis(ax, max_ticks=12)
    style_axes(ax, "Walk-forward scheme", "date", "")
    fig.legend(loc="outside lower center", ncol=4, fontsize=FONT["legend"], frameon=False)
    return fig


TRACK_SERIES = (
    ("strategy_gross", "model, gross of costs", "gross"),
    ("buy_and_hold_net", "buy-and-hold, net of costs", "buy_and_hold"),
    ("strategy_net", "model, net of costs", "net"),  # drawn last: on top
)


def growth_figure(track: pd.DataFrame) -> Figure:
    """Growth of 1 on the track, net and gross of costs, against buy-and-hold (log scale)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, ax = _figure()
    dates = pd.to_datetime(track["date"])
    for column, label, colour in TRACK_SERIES:
        r = track[column].to_numpy("float64")
        ax.plot(dates, np.cumprod(1 + r), label=label, color=COLOURS[colour], linewidth=1.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.axhline(1.0, color=COLOURS["neutral"], linewidth=0.8)
    date_axis(ax)
    style_axes(ax, "Walk-forward track: growth of 1 (log scale)", "date", "value of 1 invested")
    _track_legend(ax, "upper left")
    return fig


def drawdown_figure(track: pd.DataFrame) -> Figure:
    """Drawdown from the running peak on the track, same series and colours as :func:`growth_figure`."""
    fig, ax = _figure(height=3.6)
    dates = pd.to_datetime(track["date"])
    for column, label, colour in TRACK_SERIES:
        r = track[column].to_numpy("float64")
        ax.plot(dates, 100 * drawdown_series(r)[1:], label=label, color=COLOURS[colour], linewidth=1.4)
    low = ax.get_ylim()[0]
    ax.set_ylim(low * 1.35, 2)  # room for the legend under the curves
    date_axis(ax)
    style_axes(ax, "Walk-forward track: drawdown from the running peak", "date", "drawdown (%)")
    _track_legend(ax, "lower right", ncol=3)
    return fig


def _track_legend(ax: Axes, loc: Literal["upper left", "lower right"], ncol: int = 1) -> None:
    # The net line first in the legend (it is drawn last, on top).
    handles, labels = ax.get_legend_handles_labels()
    order = [labels.index(label) for _, label, _ in TRACK_SERIES[::-1]]
    ax.legend([handles[i] for i in order], [labels[i] for i in order], loc=loc, ncol=ncol,
              fontsize=FONT["legend"])  # fmt: skip


def track_figure(track: pd.DataFrame) -> list[Figure]:
    """The track's two figures: growth of 1 and drawdown."""
    return [growth_figure(track), drawdown_figure(track)]


def importance_figure(importance: pd.DataFrame, top: int = 15) -> Figure:
    """Permutation importance (drop in AUC) of the ``top`` features, largest at the top."""
    t = importance.head(top).iloc[::-1]
    fig, ax = _figure(height=min(4.8, 1.2 + 0.24 * len(t)))
    ax.barh(t["feature"], t["auc_drop_mean"], color=COLOURS["net"], label="mean drop in AUC over 5 shuffles")
    ax.errorbar(t["auc_drop_mean"], t["feature"], xerr=t["auc_drop_std"], fmt="none",
                ecolor=COLOURS["neutral"], capsize=3, label="± one standard deviation")  # fmt: skip
    ax.axvline(0.0, color=COLOURS["neutral"], linewidth=0.8)
    style_axes(
        ax, "Permutation importance on the last traded block (out of sample)", "drop in AUC", "feature"
    )
    ax.legend(loc="lower right", fontsize=FONT["legend"])
    return fig


# --- the card -------------------------------------------------------------------------------------
