"""From probabilities to a long/flat signal, and the signal's returns and trading metrics.

Conventions (the same for every strategy and baseline, so figures compare):

* A position held on row t earns that row's ``fwd_return`` (the label span of the execution
  convention, see :mod:`spylib.research.features`). Flat days earn exactly 0 and *count* in every Sharpe.
* Costs: ``cost_bps`` basis points per side, charged on every position change
  ``|pos[t] - pos[t-1]|`` (the first row starts from flat), deducted from row t's return.
* Annualization: 252 periods; standard deviations with ddof=1 (see :mod:`spylib.research.stats`).
* ``hit_rate``: share of days in the market whose forward return was positive.
* ``exposure``: share of days in the market. ``turnover``: mean ``|pos[t] - pos[t-1]|`` per day.
* ``n_trades``: number of entries (flat -> long).
* ``break_even_cost_bps``: the cost per side at which the mean net return is zero
  (``mean gross return / mean turnover``); infinite when the strategy never trades.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from spylib.research import stats

FloatArray = npt.NDArray[np.float64]


def positions(
    probability: npt.ArrayLike,
    threshold: float,
    filter_mask: npt.ArrayLike | None = None,
) -> npt.NDArray[np.int8]:
    """1 (long) when ``probability >= threshold`` and the filter allows it, else 0 (flat)."""
    pos = np.asarray(probability, dtype="float64") >= threshold
    if filter_mask is not None:
        pos &= np.asarray(filter_mask, dtype=bool)
    return pos.astype("int8")


def filter_mask(frame: pd.DataFrame, columns: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Rows where every flag column is 1 (all rows when ``columns`` is empty)."""
    mask = np.ones(len(frame), dtype=bool)
    for column in columns:
        mask &= frame[column].to_numpy() == 1
    return mask


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
        "n_trades": float(np.sum(np.diff(pos, prepend=0.0) > 0)),
        "exposure": float(in_market.mean()) if pos.size else 0.0,
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


def trial_returns_matrix(
    probability: npt.ArrayLike,
    frame: pd.DataFrame,
    thresholds: Sequence[float],
    filters: Sequence[Sequence[str]],
    cost_bps: float,
) -> tuple[list[tuple[float, tuple[str, ...]]], FloatArray]:
    """Net returns of every (threshold, filter) trial on the same rows: (trial keys, T x N matrix)."""
    fwd = frame["fwd_return"].to_numpy(dtype="float64")
    keys: list[tuple[float, tuple[str, ...]]] = []
    columns: list[FloatArray] = []
    for combo in filters:
        mask = filter_mask(frame, combo)
        for threshold in thresholds:
            _, net = strategy_returns(positions(probability, threshold, mask), fwd, cost_bps)
            keys.append((float(threshold), tuple(combo)))
            columns.append(net)
    return keys, np.column_stack(columns) if columns else np.empty((len(frame), 0))
