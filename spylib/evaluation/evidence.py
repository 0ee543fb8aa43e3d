"""The evidence the gate judges, each figure computed where it belongs.

* The **selection** (the best of N trials, made on the out-of-fold blocks): the deflated Sharpe ratio
  of the final choice, with N = every trial and with the effective number of independent trials
  (clusters of the trials' return correlations, López de Prado 2019); by CSCV over the sweep, the
  probability that the in-sample best trial loses out of sample and the probability of backtest
  overfitting (PBO: the in-sample best ranks below the median out of sample; a rank statistic, ~0.5
  when the trials are equally good whether or not they have an edge, so reported, not gated by default).
* The **walk-forward track** (one pre-registered process, selection included, never seen by its own
  choices): PSR(0) (its null Sharpe is 0, so no second deflation), the Sharpe difference against
  buy-and-hold on the same days (Ledoit and Wolf 2008, HAC, prewhitened Parzen kernel), the AUC with
  its DeLong interval, trades per year and exposure, and the minimum detectable Sharpe of its length.

Conventions: per-period (daily) Sharpe ratios inside the tests, annualized with 252 for display;
std ddof=1; flat days count as 0 return; costs in basis points per side on every position change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.config import GateConfig, SweepConfig
from spylib.evaluation.gate import GateDecision, apply_gate
from spylib.evaluation.selection import Choice, TrialSet, WalkForward, combine_trials, walk_forward_selection
from spylib.modelling.scoring import ConfigResult, classification_metrics
from spylib.modelling.strategy import TradeContext
from spylib.modelling.trading import trading_metrics
from spylib.modelling.walk_forward import Splits
from spylib.stats import performance as stats
from spylib.stats.hypothesis import sharpe_difference_test
from spylib.stats.overfitting import probability_of_backtest_overfitting
from spylib.stats.power import minimum_detectable_sharpe
from spylib.stats.trials import effective_number_of_trials

PBO_BLOCKS = 16


def track_metrics(track: pd.DataFrame, cost_bps: float) -> dict[str, Any]:
    """Classification and trading figures of the track, and buy-and-hold's on the same days."""
    y = track["target_up"].to_numpy("int8")
    p = track["probability"].to_numpy("float64")
    fwd = track["fwd_return"].to_numpy("float64")
    position = track["position"].to_numpy("float64")
    out: dict[str, Any] = {**classification_metrics(y, p)}
    auc = stats.auc_with_ci(y, p)
    out.update({"auc_ci_low": auc.low, "auc_ci_high": auc.high})
    out.update(trading_metrics(position, fwd, cost_bps))
    years = len(track) / stats.PERIODS_PER_YEAR
    out["years"] = years
    out["trades_per_year"] = out["n_trades"] / years if years > 0 else math.nan
    buy_and_hold = trading_metrics(np.ones(len(track)), fwd, cost_bps)
    out.update(
        {
            f"buy_and_hold_{k}": buy_and_hold[k]
            for k in ("sharpe_gross", "sharpe_net", "cagr_net", "max_drawdown_net", "total_return_net")
        }
    )
    out["track_start"] = str(track["date"].iloc[0])
    out["track_end"] = str(track["date"].iloc[-1])
    out["n_blocks"] = int(track["block"].nunique())
    return out


def track_inference(track: pd.DataFrame, *, seed: int) -> dict[str, Any]:
    """PSR(0), MinTRL and the bootstrap interval of the track's net Sharpe; its test against buy-and-hold."""
    net = track["strategy_net"].to_numpy("float64")
    s = stats.sharpe_stats(net)
    ci = stats.block_bootstrap_sharpe_ci(net, seed=seed)
    vs = sharpe_difference_test(net, track["buy_and_hold_net"].to_numpy("float64"), method="hac")
    memmel = sharpe_difference_test(net, track["buy_and_hold_net"].to_numpy("float64"), method="memmel")
    return {
        "track_sr_per_period": s.sr,
        "track_skew": s.skew,
        "track_kurtosis": s.kurtosis,
        "psr": stats.probabilistic_sharpe_ratio(s.sr, s.n, s.skew, s.kurtosis),
        "min_track_record_days": stats.min_track_record_length(s.sr, s.skew, s.kurtosis),
        "sharpe_ci_low": ci.low,
        "sharpe_ci_high": ci.high,
        "vs_buy_and_hold_difference": vs.difference * math.sqrt(stats.PERIODS_PER_YEAR),
        "vs_buy_and_hold_se": vs.se * math.sqrt(stats.PERIODS_PER_YEAR),
        "vs_buy_and_hold_p_value": vs.p_value,
        "vs_buy_and_hold_method": "Ledoit-Wolf 2008 HAC (prewhitened Parzen kernel, Andrews bandwidth)",
        "vs_buy_and_hold_p_value_memmel": memmel.p_value,
        "vs_buy_and_hold_correlation": float(
            np.corrcoef(net, track["buy_and_hold_net"].to_numpy("float64"))[0, 1]
        )
        if np.std(net) > 0
        else 0.0,
    }


def selection_inference(trialset: TrialSet, final: Choice) -> dict[str, Any]:
    """DSR of the final choice on the out-of-fold blocks (N and N_eff), and the sweep's PBO."""
    net = trialset.net_returns
    chosen = net[:, final.trial_id]
    s = stats.sharpe_stats(chosen)
    n = trialset.n_trials
    srs = trialset.trials["oof_sr_per_period"].to_numpy("float64")
    v_all = float(np.nanvar(srs, ddof=1)) if n > 1 else 0.0
    effective = effective_number_of_trials(net)
    n_eff, v_eff = effective.n_clusters, effective.cluster_sr_variance

    def dsr(n_trials: int, variance: float) -> float:
        if n_trials < 2 or variance <= 0:
            return stats.probabilistic_sharpe_ratio(s.sr, s.n, s.skew, s.kurtosis)
        return stats.deflated_sharpe_ratio(s.sr, s.n, s.skew, s.kurtosis, n_trials, variance)

    out: dict[str, Any] = {
        "oof_sr_per_period": s.sr,
        "oof_sharpe_net": s.sr * math.sqrt(stats.PERIODS_PER_YEAR),
        "n_trials": n,
        "trials_sr_variance": v_all,
        "expected_max_sr": stats.expected_max_sharpe(n, v_all) if n > 1 and v_all > 0 else 0.0,
        "dsr": dsr(n, v_all),
        "n_trials_effective": n_eff,
        "n_trials_effective_eigen": effective.eigen_n_eff,
        "trials_sr_variance_effective": v_eff,
        "dsr_effective": dsr(n_eff, v_eff),
    }
    if net.shape[1] >= 2 and net.shape[0] >= PBO_BLOCKS:
        cscv = probability_of_backtest_overfitting(net, n_blocks=PBO_BLOCKS)
        out["pbo"], out["prob_oos_loss"] = cscv.pbo, cscv.prob_oos_loss
    else:
        out["pbo"] = out["prob_oos_loss"] = math.nan
    return out


def power_summary(
    metrics: dict[str, Any], gate: GateConfig, simulated: dict[str, Any] | None
) -> dict[str, Any]:
    """What this run's track could detect: the minimum annualized Sharpe (and excess Sharpe over
    buy-and-hold) that the gate's tests find with 80% probability at their level, from the Sharpe
    ratio's standard error (Lo 2002) with the track's own skew and kurtosis; and, when the
    simulation of the whole gate has been run (``tests/bench/bench_gate_power.py``), its measured
    false-approval rate and power curve."""
    n_days = int(metrics["n_days"])
    alpha_psr = 1 - gate.min_psr
    skew = float(np.nan_to_num(metrics.get("track_skew", 0.0)))
    kurt = float(np.nan_to_num(metrics.get("track_kurtosis", 3.0), nan=3.0))
    mde = minimum_detectable_sharpe(n_days, alpha=alpha_psr, power=0.8, skew=skew, kurtosis=kurt)
    mde_normal = minimum_detectable_sharpe(n_days, alpha=alpha_psr, power=0.8)
    rho = float(np.nan_to_num(metrics.get("vs_buy_and_hold_correlation", 0.0)))
    out: dict[str, Any] = {
        "track_days": n_days,
        "track_years": n_days / stats.PERIODS_PER_YEAR,
        "power": 0.8,
        "alpha_psr": alpha_psr,
        "min_detectable_sharpe": mde.annualized,
        "min_detectable_sharpe_normal": mde_normal.annualized,
        # The difference test's standard error is about sqrt((2 - 2 rho) / T) for small Sharpe ratios
        # (Memmel 2003): correlated with buy-and-hold, an edge over it is easier to see.
        "min_detectable_excess_sharpe": mde_normal.annualized * math.sqrt(max(2 - 2 * rho, 0.0)),
        "false_approval_bound": min(alpha_psr, gate.max_difference_p_value)
        if gate.require_beat_buy_and_hold
        else alpha_psr,
    }
    if simulated:
        out["simulation"] = simulated
    return out


@dataclass(frozen=True)
class Assessment:
    """The whole verdict on a sweep: the trials, the walk-forward track, every figure and the gate."""

    trialset: TrialSet
    walk: WalkForward
    metrics: dict[str, Any]
    decision: GateDecision


def assess(
    results: Sequence[ConfigResult],
    features: pd.DataFrame,
    splits: Splits,
    sweep: SweepConfig,
    gate: GateConfig,
    *,
    cost_bps: float,
    seed: int,
    context: TradeContext | None = None,
) -> Assessment:
    """Walk-forward selection, the track's and the selection's figures, and the gate's decision: the
    same function for a flow run and for every replication of the gate's simulation."""
    trialset = combine_trials(results, splits)
    walk = walk_forward_selection(trialset, features, splits, sweep.selection_metric, gate, cost_bps, context)
    metrics: dict[str, Any] = {
        **track_metrics(walk.track, cost_bps),
        **track_inference(walk.track, seed=seed),
        **selection_inference(trialset, walk.final),
        "cost_bps": cost_bps,
        "annualization": stats.PERIODS_PER_YEAR,
        "selection_metric": sweep.selection_metric,
    }
    return Assessment(trialset, walk, metrics, apply_gate(metrics, gate))
