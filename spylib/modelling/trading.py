"""From probabilities to a long/flat signal, and the signal's returns and trading metrics.

Conventions (the same for every strategy and baseline, so figures compare):

* A position held on row t earns that row's ``fwd_return`` (the label span of the execution
  convention, see :mod:`spylib.features.table`). Flat days earn exactly 0 and *count* in every Sharpe.
* Costs: ``cost_bps`` basis points per side, charged on every position change
  ``|pos[t] - pos[t-1]|`` (the first row starts from flat), deducted from row t's return.
* Annualization: 252 periods; standard deviations with ddof=1 (see :mod:`spylib.stats.performance`).
* ``hit_rate``: share of days in the market whose forward return was positive.
* ``exposure``: share of days in the market. ``turnover``: mean ``|pos[t] - pos[t-1]|`` per day.
* ``n_trades``: number of entries (flat -> long); ``exposure`` counts a day with any position.
* Sizing: ``long_flat`` holds 1 when the signal is on; ``vol_target`` holds
  ``min(1, target_volatility / (sqrt(252) * vol_20))`` (the 20-day std of daily returns known at the
  signal's close), never levered, so a calm market is held in full and a stormy one partly. The rule
  itself (signal, filter, size) is :mod:`spylib.modelling.rule`, the one implementation every
  consumer applies.
* ``break_even_cost_bps``: the cost per side at which the mean net return is zero
  (``mean gross return / mean turnover``); infinite when the strategy never trades.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from spylib.modelling import rule
from spylib.stats import performance as stats

FloatArray = npt.NDArray[np.float64]


def positions(
    probability: npt.ArrayLike,
    threshold: float,
    filter_mask: npt.ArrayLike | None = None,
) -> npt.NDArray[np.int8]:
    """1 (long) when ``probability >= threshold`` and the filter allows it, else 0 (flat)."""
    return rule.signal(probability, threshold, filter_mask)


def position_size(frame: pd.DataFrame, sizing: str, target_volatility: float) -> FloatArray:
    """The size of a long position on each row of ``frame`` under ``sizing`` (see the module doc)."""
    return rule.position_size(frame, sizing, target_volatility)


def filter_mask(frame: pd.DataFrame, columns: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Rows where every flag column is 1 (all rows when ``columns`` is empty)."""
    return rule.filter_mask(frame, columns)


def strategy_returns(
    position: npt.ArrayLike, fwd_return: npt.ArrayLike, cost_bps: float
) -> tuple[FloatArray, FloatArray]:
    """(gross, net) per-row returns of holding ``position`` over each row's label span."""
    pos = np.asarray(position, dtype="float64")
    fwd = np.asarray(fwd_return, dtype="float64")
    gross = pos * fwd
    changes = np.abs(np.diff(pos, prepend=0.0))
    net = gross - changes * cost_bps / 1e4
    return gross, net


def trading_metrics(position: npt.ArrayLike, fwd_return: npt.ArrayLike, cost_bps: float) -> dict[str, float]:
    """Every trading figure, gross and net (see the module docstring for conventions)."""
    pos = np.asarray(position, dtype="float64")
    fwd = np.asarray(fwd_return, dtype="float64")
    gross, net = strategy_returns(pos, fwd, cost_bps)
    changes = np.abs(np.diff(pos, prepend=0.0))
    in_market = pos > 0
    turnover = float(changes.mean()) if pos.size else 0.0
    out: dict[str, float] = {
        "n_days": float(pos.size),
        "n_trades": float(np.sum(in_market & ~np.concatenate([[False], in_market[:-1]]))),
        "exposure": float(in_market.mean()) if pos.size else 0.0,
        "mean_position": float(pos.mean()) if pos.size else 0.0,
        "turnover": turnover,
        "hit_rate": float(np.mean(fwd[in_market] > 0)) if in_market.any() else float("nan"),
        "break_even_cost_bps": float(gross.mean() / turnover * 1e4) if turnover > 0 else float("inf"),
    }
    for label, series in (("gross", gross), ("net", net)):
        out[f"sharpe_{label}"] = stats.sharpe_ratio(series)
        out[f"sortino_{label}"] = stats.sortino_ratio(series)
        out[f"max_drawdown_{label}"] = stats.max_drawdown(series)
        out[f"cagr_{label}"] = stats.cagr(series)
        out[f"calmar_{label}"] = stats.calmar_ratio(series)
        out[f"total_return_{label}"] = float(np.prod(1.0 + series) - 1.0) if series.size else 0.0
        out[f"mean_return_{label}"] = float(series.mean()) if series.size else float("nan")
    return out


TrialRule = tuple[float, tuple[str, ...], str]  # (threshold, filter columns, sizing)


def trial_positions(
    probability: npt.ArrayLike,
    frame: pd.DataFrame,
    rules: Sequence[TrialRule],
    target_volatility: float,
) -> FloatArray:
    """The T x len(rules) matrix of positions: each rule's signal times its sizing."""
    prob = np.asarray(probability, dtype="float64")
    masks: dict[tuple[str, ...], npt.NDArray[np.bool_]] = {}
    sizes: dict[str, FloatArray] = {}
    out = np.empty((len(frame), len(rules)))
    for j, (threshold, combo, sizing) in enumerate(rules):
        if combo not in masks:
            masks[combo] = filter_mask(frame, combo)
        if sizing not in sizes:
            sizes[sizing] = position_size(frame, sizing, target_volatility)
        out[:, j] = positions(prob, threshold, masks[combo]) * sizes[sizing]
    return out


def net_returns_matrix(position_matrix: FloatArray, fwd_return: npt.ArrayLike, cost_bps: float) -> FloatArray:
    """Net returns of every column of positions (the same costs as :func:`strategy_returns`)."""
    pos = np.asarray(position_matrix, dtype="float64")
    fwd = np.asarray(fwd_return, dtype="float64")[:, None]
    changes = np.abs(np.diff(pos, axis=0, prepend=0.0))
    return pos * fwd - changes * cost_bps / 1e4
