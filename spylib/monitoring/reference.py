"""What a deployed model is monitored against, and alert levels calibrated on it (not guessed).

* **The reference record** (:func:`chosen_record`): the registered choice's own out-of-sample record,
  the days on which that configuration and trade rule were scored by the walk-forward (every predicted
  row, one model per block, fitted on the rows before it): its probability, position and net return.
  Not the walk-forward track, which mixes the trials chosen at each refit date.
* **The drift reference** is the window the model was trained on, without the years whose opens are
  stale (:func:`spylib.features.audit.stale_open_years`) for the open-based features: there a gap is
  ~0 by construction, so a reference holding those years makes every real gap look like drift.
* **Edge decay** (:func:`edge_cusum`): a one-sided CUSUM of the daily net returns standardized by the
  reference's mean and standard deviation, tuned to a drop of the mean from the reference's to zero
  (``k`` = half the reference's daily Sharpe). Its alarm level ``h`` (:func:`cusum_threshold`) gives a
  mean of ``arl_days`` days between false alarms for independent normal returns (Siegmund's
  approximation); ``tests/bench/bench_monitoring.py`` measures the real rate on block-bootstrapped
  replays of the reference record (fat tails, serial dependence) and the delay until a planted decay is
  caught.
* **Windowed statistics** (share of days traded, mean probability, PSI per feature): the alert level is
  at least the largest value the reference period itself reaches over windows of the same length
  (:func:`window_levels`, :func:`psi_levels`), so the reference never alerts against itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from spylib.features.audit import stale_open_years

if TYPE_CHECKING:
    from spylib.evaluation.selection import Choice, TrialSet

# Features computed from the day's open: their reference skips the years whose opens are stale.
OPEN_BASED_FEATURES = frozenset({"gap_open"})
# Siegmund's correction of the CUSUM boundary for the overshoot of normal increments.
_SIEGMUND_OVERSHOOT = 1.166
RECORD_COLUMNS = ("date", "probability", "position", "net_return", "fwd_return", "target_up")


def chosen_record(trialset: TrialSet, choice: Choice, features: pd.DataFrame) -> pd.DataFrame:
    """The chosen trial's out-of-sample record on every predicted row (``RECORD_COLUMNS``, by date)."""
    tid = choice.trial_id
    frame = features.iloc[trialset.rows]
    return pd.DataFrame(
        {
            "date": frame["date"].to_numpy(),
            "probability": trialset.probability[:, trialset.config_of_trial[tid]],
            "position": trialset.positions[:, tid],
            "net_return": trialset.net_returns[:, tid],
            "fwd_return": frame["fwd_return"].to_numpy("float64"),
            "target_up": frame["target_up"].to_numpy("float64"),
        }
    )


def stale_open_rows(features: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Rows of ``features`` in a year whose opens are stale (empty mask without open/close columns)."""
    if not {"date", "symbol", "open", "close"} <= set(features.columns) or features.empty:
        return np.zeros(len(features), dtype=bool)
    years: set[int] = set()
    for symbol in features["symbol"].unique():
        years |= set(stale_open_years(features, str(symbol)))
    return pd.to_datetime(features["date"]).dt.year.isin(years).to_numpy()


# --- edge decay: CUSUM -----------------------------------------------------------------------------
def cusum_arl(k: float, h: float) -> float:
    """Siegmund's approximation of the mean run length of a one-sided CUSUM with reference value ``k``
    and boundary ``h`` (in standard deviations), for increments of mean ``-k`` (in control)."""
    b = h + _SIEGMUND_OVERSHOOT
    if k == 0:
        return b * b
    return (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)


def cusum_threshold(k: float, arl_days: float) -> float:
    """The boundary ``h`` whose in-control mean run length is ``arl_days`` (bisection on
    :func:`cusum_arl`, which increases with ``h``)."""
    lo, hi = 0.0, 1.0
    while cusum_arl(k, hi) < arl_days:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cusum_arl(k, mid) < arl_days else (lo, mid)
    return hi


def edge_cusum(
    net_returns: npt.ArrayLike, mean: float, std: float, h: float = math.inf
) -> npt.NDArray[np.float64]:
    """``S_t = max(0, S_{t-1} + (mean - r_t) / std - k)`` with ``k = mean / (2 std)``: grows when the
    daily net returns fall short of the reference mean, drifts to 0 while they do not. A day with
    ``S_t >= h`` is an alarm, after which the CUSUM restarts from 0 (so each alarm is one event and
    ``h``'s run length is the mean time between alarms)."""
    r = np.asarray(net_returns, dtype=float)
    k = mean / (2 * std)
    out = np.zeros(r.size)
    s = 0.0
    for i, value in enumerate(r):
        s = max(0.0, s + (mean - value) / std - k)
        out[i] = s
        if s >= h:
            s = 0.0
    return out


def edge_reference(net_returns: npt.ArrayLike, arl_days: float) -> dict[str, Any] | None:
    """The CUSUM's reference from the record's daily net returns: mean, std, k, h (None: no edge to
    lose, or too few days)."""
    r = np.asarray(net_returns, dtype=float)
    r = r[np.isfinite(r)]
    if r.size < 60 or r.std(ddof=1) == 0:
        return None
    mean, std = float(r.mean()), float(r.std(ddof=1))
    if mean <= 0:
        return None
    k = mean / (2 * std)
    return {"mean": mean, "std": std, "k": k, "h": cusum_threshold(k, arl_days), "arl_days": arl_days}


# --- windowed statistics ---------------------------------------------------------------------------
def window_levels(values: npt.ArrayLike, window: int, quantile: float) -> dict[str, float] | None:
    """|rolling mean over ``window`` - overall mean| over the reference: its ``quantile`` and maximum."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2 * window:
        return None
    deviation = np.abs(pd.Series(v).rolling(window).mean().dropna().to_numpy() - v.mean())
    return {"quantile": float(np.quantile(deviation, quantile)), "max": float(deviation.max())}


def psi_levels(
    values: npt.ArrayLike, reference: Mapping[str, Any], window: int, quantile: float, epsilon: float
) -> dict[str, float] | None:
    """PSI of every ``window``-row stretch of the reference against the reference's own bins: its
    ``quantile`` and maximum (None: a reference shorter than two windows)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2 * window:
        return None
    edges = np.asarray(reference["edges"], dtype=float)
    expected = np.maximum(np.asarray(reference["shares"], dtype=float), epsilon)
    # Every window's bin counts at once, from cumulative counts per bin: the same counts, shares and
    # PSI formula as ``psi_from_shares(expected, bin_shares(window_values, edges), epsilon)`` window by
    # window, in O(rows x bins) instead of a Python loop over ~5,000 windows per feature.
    bins = np.searchsorted(edges, v, side="left")
    onehot = np.zeros((v.size + 1, len(edges) + 1), dtype=np.int64)
    onehot[np.arange(1, v.size + 1), bins] = 1
    cumulative = np.cumsum(onehot, axis=0)
    actual = np.maximum((cumulative[window:] - cumulative[:-window]) / window, epsilon)
    psis = np.sum((actual - expected) * np.log(actual / expected), axis=1)
    return {"quantile": float(np.quantile(psis, quantile)), "max": float(psis.max())}
