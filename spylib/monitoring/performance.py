"""Realized performance of the deployed model: rolling hit rate, AUC and net Sharpe, and their checks
against the metrics registered with the model.

Returns after costs come from :func:`spylib.modelling.trading.strategy_returns`, the AUC from
:func:`spylib.stats.performance.auc_score` and the annualization from ``PERIODS_PER_YEAR``, so the
monitoring and the training evaluation use the same maths (conventions in ``README.md`` here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from spylib.core.conventions import PERIODS_PER_YEAR
from spylib.modelling.trading import strategy_returns
from spylib.monitoring.checks import Check, MonitorConfig, Status
from spylib.monitoring.inputs import require_columns
from spylib.monitoring.reference import edge_cusum
from spylib.stats.performance import auc_score

PREDICTION_REQUIRED = ("date", "probability", "signal", "target_up", "fwd_return")


def strategy_net_returns(
    position: npt.ArrayLike, fwd_return: npt.ArrayLike, cost_bps: float = 1.0
) -> npt.NDArray[np.float64]:
    """Daily net return of the positions held (the net half of :func:`strategy_returns`): flat days
    return 0; the position before the first day is flat, so entering costs one side."""
    return strategy_returns(position, fwd_return, cost_bps)[1]


def rolling_performance(
    predictions: pd.DataFrame, windows: Sequence[int] = (20, 60), cost_bps: float = 1.0
) -> pd.DataFrame:
    """Rolling realized performance over the last ``w`` realized days, one row per date.

    ``predictions`` holds ``date, probability, signal, target_up, fwd_return`` and the strategy's
    ``position`` (the realized returns are those of the positions held, sized as the registered
    strategy sizes them; without the column, the signal is the position); rows whose outcome is
    not known yet (nan ``target_up`` or ``fwd_return``) are dropped. Columns per window ``w``:
    ``hit_rate_w`` (share of traded days with ``target_up == 1``; nan with no traded day),
    ``auc_w`` (probability vs target_up; nan if one class), ``sharpe_w`` (net, annualized with 252,
    ddof=1, flat days = 0, ``cost_bps`` per side), ``n_traded_w``, ``n_up_w``, ``n_down_w``.
    A window is nan until it holds ``w`` realized days. Also ``net_return`` per day.
    """
    require_columns(predictions, PREDICTION_REQUIRED, "predictions")
    realized = (
        predictions.dropna(subset=["target_up", "fwd_return"]).sort_values("date").reset_index(drop=True)
    )
    out = pd.DataFrame({"date": realized["date"]})
    y = realized["target_up"].to_numpy(dtype=float)
    prob = realized["probability"].to_numpy(dtype=float)
    sig = (realized["signal"].to_numpy(dtype=float) > 0).astype(float)
    held = realized["position"].to_numpy(dtype=float) if "position" in realized.columns else sig
    _, net = strategy_returns(held, realized["fwd_return"].to_numpy(dtype=float), cost_bps)
    out["net_return"] = net
    for w in windows:
        n_traded = pd.Series(sig).rolling(w).sum()
        hits = pd.Series(sig * y).rolling(w).sum()
        out[f"hit_rate_{w}"] = (hits / n_traded.where(n_traded > 0)).to_numpy()
        net_s = pd.Series(net).rolling(w)
        std = net_s.std(ddof=1)
        out[f"sharpe_{w}"] = (net_s.mean() / std.where(std > 0) * np.sqrt(PERIODS_PER_YEAR)).to_numpy()
        auc = np.full(len(realized), np.nan)
        for end in range(w, len(realized) + 1):
            auc[end - 1] = auc_score(y[end - w : end], prob[end - w : end])
        out[f"auc_{w}"] = auc
        out[f"n_traded_{w}"] = n_traded.to_numpy()
        out[f"n_up_{w}"] = pd.Series(y).rolling(w).sum().to_numpy()
        out[f"n_down_{w}"] = w - out[f"n_up_{w}"]
    return out


def performance_checks(
    rolling: pd.DataFrame, profile: Mapping[str, Any], config: MonitorConfig | None = None
) -> list[Check]:
    """Latest ``performance_window``-day hit rate, AUC and net Sharpe against the registered test metrics.

    Each is compared in standard errors of the window estimate under "performance unchanged":
    hit rate ``sqrt(p0 (1 - p0) / n_traded)``; AUC Hanley-McNeil (1982) at the registered AUC with
    the window's up/down counts; Sharpe Lo (2002) ``sqrt((1 + SR0^2 / 2) / T)`` per period, times
    sqrt(252). ``z = (value - registered) / SE``; z <= -perf_z_warn -> warn. These checks never
    alert: over 60 days a working edge and none are within one SE of each other, so an alert level
    there either fires on noise or never (at 3 SE: below AUC 0.27 or a net Sharpe of -5.7). Alerts
    on the edge come from :func:`edge_check`. Improvements are not flagged. Checks:
    ``performance:hit_rate_60``, ``performance:auc_60``, ``performance:net_sharpe_60`` (default window).
    """
    cfg = config or MonitorConfig()
    w = cfg.performance_window
    registered: Mapping[str, Any] = profile.get("test_metrics") or {}
    latest = rolling.iloc[-1] if len(rolling) else None
    specs = [("hit_rate", f"hit_rate_{w}"), ("auc", f"auc_{w}"), ("net_sharpe", f"sharpe_{w}")]
    checks = []
    for metric, column in specs:
        name = f"performance:{metric}_{w}"
        ref = registered.get(metric)
        value = math.nan if latest is None or column not in rolling.columns else float(latest[column])
        if ref is None or not math.isfinite(float(ref)):
            checks.append(Check(name, "ok", value, "n/a", f"skipped: profile has no test_metrics.{metric}"))
            continue
        ref = float(ref)
        if not math.isfinite(value):
            reason = f"skipped: no {w}-day {metric} yet ({len(rolling)} realized days, or one class only)"
            checks.append(Check(name, "ok", value, "n/a", reason))
            continue
        assert latest is not None  # value is finite only when latest exists
        if metric == "hit_rate":
            n = float(latest[f"n_traded_{w}"])
            if n < cfg.min_traded_days:
                reason = f"skipped: {n:.0f} traded days in the last {w} (< {cfg.min_traded_days})"
                checks.append(Check(name, "ok", value, "n/a", reason))
                continue
            se = math.sqrt(max(ref * (1 - ref), 1e-6) / n)
            basis = f"{n:.0f} traded days"
        elif metric == "auc":
            se = hanley_mcneil_se(ref, int(latest[f"n_up_{w}"]), int(latest[f"n_down_{w}"]))
            basis = f"{int(latest[f'n_up_{w}'])} up / {int(latest[f'n_down_{w}'])} down days"
        else:
            sr0 = ref / math.sqrt(PERIODS_PER_YEAR)
            se = math.sqrt((1 + sr0**2 / 2) / w) * math.sqrt(PERIODS_PER_YEAR)
            basis = f"{w} days"
        z = (value - ref) / se
        status: Status = "warn" if z <= -cfg.perf_z_warn else "ok"
        threshold = (
            f"warn<{ref - cfg.perf_z_warn * se:.3f} (registered {ref:.3f} - {cfg.perf_z_warn:g} SE, "
            f"SE {se:.3f}); never alerts (see performance:edge_cusum)"
        )
        reason = f"{w}-day {metric} {value:.3f} vs registered {ref:.3f} (z {z:+.2f}, {basis})"
        checks.append(Check(name, status, value, threshold, reason))
    return checks


EDGE_ALERT_DAYS = (
    60  # an alarm of the edge CUSUM stays an alert for 60 realized days (the window of the other checks)
)


def edge_check(rolling: pd.DataFrame, profile: Mapping[str, Any]) -> Check:
    """``performance:edge_cusum``: the CUSUM of the realized daily net returns against the registered
    choice's out-of-sample mean (:func:`spylib.monitoring.reference.edge_cusum`, restarted after each
    alarm), over every realized day monitored. Alert when it crossed the calibrated boundary ``h``
    within the last ``EDGE_ALERT_DAYS`` realized days; warn while it is at ``h / 2`` or more; skipped
    when the profile has no edge reference (no positive out-of-sample mean: no edge to lose)."""
    name = "performance:edge_cusum"
    edge = (profile.get("calibration") or {}).get("edge")
    if not edge:
        return Check(name, "ok", math.nan, "n/a", "skipped: the profile has no edge reference")
    net = rolling["net_return"].to_numpy(dtype=float) if "net_return" in rolling.columns else np.array([])
    h, mean, std = float(edge["h"]), float(edge["mean"]), float(edge["std"])
    threshold = (
        f"warn>={h / 2:.2f}, alert>={h:.2f} (one false alarm per {edge['arl_days']:.0f} days for normal "
        "returns; restarted after an alarm)"
    )
    if net.size == 0:
        return Check(name, "ok", math.nan, threshold, "skipped: no realized day yet")
    path = edge_cusum(net, mean, std, h)
    alarms = np.flatnonzero(path >= h)
    recent = alarms[alarms >= net.size - EDGE_ALERT_DAYS]
    value = float(path[recent[-1]]) if recent.size else float(path[-1])
    status: Status = "alert" if recent.size else "warn" if value >= h / 2 else "ok"
    when = ""
    if recent.size and "date" in rolling.columns:
        when = f"alarm on {rolling['date'].iloc[int(recent[-1])]}; "
    reason = (
        f"{when}CUSUM {value:.2f} of the net returns of {net.size} realized days against the "
        f"out-of-sample mean {mean * 1e4:.1f} bp/day (sd {std * 1e4:.0f} bp); mean of the last "
        f"{min(net.size, 60)} days {float(net[-60:].mean()) * 1e4:+.1f} bp"
    )
    return Check(name, status, value, threshold, reason)


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC estimate (Hanley and McNeil, Radiology 1982); inf with an empty class."""
    if n_pos == 0 or n_neg == 0:
        return math.inf
    q1 = auc / (2 - auc)
    q2 = 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (n_pos * n_neg)
    return math.sqrt(max(var, 1e-12))
