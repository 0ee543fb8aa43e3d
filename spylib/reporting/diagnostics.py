"""How good the probabilities on the walk-forward track are, beyond the trading figures: calibration
(a reliability diagram), the errors at the chosen thresholds (a confusion matrix) and the signal's
quality block by block (AUC with its DeLong interval, Spearman rank correlation of the probability
with the next return, with its Fisher interval).

Every figure here uses the track's days only: each day predicted by the trial chosen on the blocks
before it (out of sample).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from spylib.reporting.figures import COLOURS, FONT, _figure, style_axes
from spylib.reporting.format import count, fmt, pct
from spylib.stats.performance import auc_with_ci

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CALIBRATION_BINS = 10
Z_95 = 1.959963984540054


def labelled(track: pd.DataFrame) -> pd.DataFrame:
    """The track's days with a known label (the last day may have none yet)."""
    return track[track["target_up"].notna()]


def calibration_table(track: pd.DataFrame, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Days grouped by predicted probability into equal-count bins: the mean prediction, the share
    of up days and its 95% Wilson interval, per bin."""
    frame = labelled(track)
    p = frame["probability"].to_numpy("float64")
    y = frame["target_up"].to_numpy("float64")
    n_bins = max(1, min(bins, len(np.unique(p))))
    codes = pd.qcut(p, n_bins, labels=False, duplicates="drop") if n_bins > 1 else np.zeros(len(p), int)
    rows = []
    for code in np.unique(codes):
        here = codes == code
        n, k = int(here.sum()), float(y[here].sum())
        low, high = wilson_interval(k, n)
        rows.append(
            {"predicted": float(p[here].mean()), "observed": k / n, "low": low, "high": high, "days": n}
        )
    return pd.DataFrame(rows, columns=["predicted", "observed", "low", "high", "days"])


def wilson_interval(successes: float, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if n == 0:
        return math.nan, math.nan
    phat, z2 = successes / n, Z_95**2
    centre = (phat + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_95 * math.sqrt(phat * (1 - phat) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


def calibration_figure(track: pd.DataFrame) -> Figure:
    """The reliability diagram: the share of up days against the mean predicted probability."""
    table = calibration_table(track)
    fig, ax = _figure(height=4.6)
    lo = min(table["low"].min(), table["predicted"].min()) - 0.02
    hi = max(table["high"].max(), table["predicted"].max()) + 0.02
    ax.plot(
        [lo, hi], [lo, hi], color=COLOURS["neutral"], linestyle="--", linewidth=1, label="perfect calibration"
    )
    ax.errorbar(
        table["predicted"], table["observed"],
        yerr=[table["observed"] - table["low"], table["high"] - table["observed"]],
        color=COLOURS["net"], marker="o", capsize=3, label="track days (95% interval)",
    )  # fmt: skip
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    style_axes(ax, f"Calibration on the track ({len(table)} equal-count bins)",
               "mean predicted probability of an up day", "share of up days")  # fmt: skip
    ax.legend(fontsize=FONT["legend"], loc="upper left")
    return fig


def predicted_up(track: pd.DataFrame, refits: pd.DataFrame) -> np.ndarray:
    """Whether each track day's probability reaches the threshold of the trial chosen for its block."""
    threshold = track["block"].map(dict(zip(refits["block"], refits["threshold"], strict=True)))
    return (track["probability"].to_numpy("float64") >= threshold.to_numpy("float64")).astype(bool)


def confusion_table(track: pd.DataFrame, refits: pd.DataFrame) -> pd.DataFrame:
    """Actual direction against the prediction at the chosen thresholds (before the trade filters):
    counts, with the share of all labelled track days."""
    frame = labelled(track)
    predicted = predicted_up(frame, refits)
    actual = frame["target_up"].to_numpy("int8") == 1
    n = len(frame)

    def cell(a: bool, p: bool) -> str:
        k = int(((actual == a) & (predicted == p)).sum())
        return f"{count(k)} ({pct(k / n if n else math.nan)})"

    return pd.DataFrame(
        {
            "actual next day": ["up", "down"],
            "predicted up": [cell(True, True), cell(False, True)],
            "predicted down": [cell(True, False), cell(False, False)],
        }
    )


def confusion_sentence(track: pd.DataFrame, refits: pd.DataFrame) -> str:
    """Precision and recall of "up" at the chosen thresholds, beside the base rate."""
    frame = labelled(track)
    predicted = predicted_up(frame, refits)
    actual = frame["target_up"].to_numpy("int8") == 1
    hits = int((predicted & actual).sum())
    precision = hits / predicted.sum() if predicted.any() else math.nan
    recall = hits / actual.sum() if actual.any() else math.nan
    thresholds = sorted(set(refits["threshold"].astype(float)))
    which = f"threshold {fmt(thresholds[0])}" if len(thresholds) == 1 else (
        f"thresholds {', '.join(fmt(t) for t in thresholds)} (each block's chosen trial)")  # fmt: skip
    return (
        f"At the {which}, before the trade filters: when the model says up, the next day is up "
        f"{pct(precision)} of the time (precision), against {pct(actual.mean() if len(actual) else math.nan)} "
        f"of all days (the base rate); it says up on {pct(recall)} of the up days (recall)."
    )


def rank_correlation_interval(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Spearman's rank correlation and its 95% Fisher-z interval (``se = 1.03 / sqrt(n - 3)``,
    Fieller, Hartley and Pearson 1957)."""
    n = len(x)
    if n < 4 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan, math.nan, math.nan
    rho = float(scipy_stats.spearmanr(x, y).statistic)
    z, se = math.atanh(max(min(rho, 0.999999), -0.999999)), 1.03 / math.sqrt(n - 3)
    return rho, math.tanh(z - Z_95 * se), math.tanh(z + Z_95 * se)


def signal_by_block(track: pd.DataFrame) -> pd.DataFrame:
    """Per traded block: the AUC (DeLong 95% interval) and the rank correlation of the probability with
    the next return (the information coefficient, Fisher 95% interval)."""
    rows = []
    for block, frame in labelled(track).groupby("block", sort=False):
        p = frame["probability"].to_numpy("float64")
        auc = auc_with_ci(frame["target_up"].to_numpy("int8"), p)
        rho, low, high = rank_correlation_interval(p, frame["fwd_return"].to_numpy("float64"))
        rows.append({"block": str(block), "days": len(frame), "auc": auc.estimate, "auc_low": auc.low,
                     "auc_high": auc.high, "ic": rho, "ic_low": low, "ic_high": high})  # fmt: skip
    return pd.DataFrame(rows)


def signal_figure(by_block: pd.DataFrame) -> Figure:
    """AUC and rank correlation per block, each with its interval, against their no-signal lines."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 4.4), layout="constrained", dpi=100)
    x = np.arange(len(by_block))
    for ax, (key, name, null) in zip(
        fig.subplots(1, 2),
        [("auc", "AUC", 0.5), ("ic", "rank correlation with the next return", 0.0)],
        strict=True,
    ):
        value = by_block[key].to_numpy("float64")
        err = [
            value - by_block[f"{key}_low"].to_numpy("float64"),
            by_block[f"{key}_high"].to_numpy("float64") - value,
        ]
        ax.axhline(null, color=COLOURS["neutral"], linestyle="--", linewidth=1, label=f"no signal ({null:g})")
        ax.errorbar(x, value, yerr=err, color=COLOURS["net"], marker="o", linestyle="none", capsize=3,
                    label="per block (95% interval)")  # fmt: skip
        ax.set_xticks(x, by_block["block"], rotation=45, ha="right")
        style_axes(ax, "AUC by block" if key == "auc" else "Rank correlation by block", "traded block", name)
        ax.legend(fontsize=FONT["legend"] - 1, loc="lower left")
    return fig


def signal_sentence(by_block: pd.DataFrame) -> str:
    """How many blocks' intervals lie above the no-signal line."""
    n = len(by_block)
    auc_above = int((by_block["auc_low"] > 0.5).sum())
    ic_above = int((by_block["ic_low"] > 0).sum())
    return (
        f"A steady signal keeps its points above the dashed line block after block: the AUC's 95% interval "
        f"lies above 0.5 in {count(auc_above)} of {count(n)} blocks, the rank correlation's above 0 in "
        f"{count(ic_above)}."
    )
