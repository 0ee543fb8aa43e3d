"""The evidence the gate judges, each figure computed where it belongs.

* The **selection** (the best of N trials, made on the out-of-fold blocks): the deflated Sharpe ratio
  of the final choice, with N = every trial ever evaluated on this data (the trials ledger) and with
  the effective number of independent trials (clusters of the trials' return correlations, López de
  Prado 2019, and the eigenvalue estimate: the gate takes the lower DSR); by CSCV over the sweep, the
  probability that the in-sample best trial loses out of sample and the probability of backtest
  overfitting (PBO: the in-sample best ranks below the median out of sample; a rank statistic, ~0.5
  when the trials are equally good whether or not they have an edge, so reported, not gated by default).
* The **walk-forward track** (one pre-registered process, selection included, never seen by its own
  choices): PSR(0) (its null Sharpe is 0, so no second deflation), the Sharpe difference against
  buy-and-hold and against the volatility-targeted always-long rule (the sweep's sizing with no model)
  on the same days, by Ledoit and Wolf's (2008) studentized circular block bootstrap (the largest p
  over blocks of 5-120 days; the gate's test) and by their HAC test (prewhitened Parzen kernel;
  recorded as ``*_p_value_hac``), the AUC with its DeLong interval, trades per year and exposure, and
  the minimum detectable Sharpe of its length.
* What the verdict must not hinge on: the **seed spread** (the track redone with each seed member of
  the averaged forests alone, :mod:`spylib.evaluation.assessment`) and the **choices' stability**
  under a +-1e-6 price error (:func:`spylib.evaluation.selection.choice_stability`).

Conventions: per-period (daily) Sharpe ratios inside the tests, annualized with 252 for display;
std ddof=1; flat days count as 0 return; costs in basis points per side on every position change.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.config import GateConfig
from spylib.evaluation.baselines import vol_target_long_positions
from spylib.evaluation.record import Evidence  # the value; computed here, defined apart (see record)
from spylib.evaluation.selection import Choice, TrialSet
from spylib.modelling.scoring import classification_metrics
from spylib.modelling.trading import strategy_returns, trading_metrics
from spylib.stats import performance as stats
from spylib.stats.hypothesis import sharpe_difference_test
from spylib.stats.overfitting import probability_of_backtest_overfitting
from spylib.stats.power import minimum_detectable_sharpe, run_error_rates
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
    vol_target = trading_metrics(track["vol_target_long"].to_numpy("float64"), fwd, cost_bps)
    for name, figures in (("buy_and_hold", buy_and_hold), ("vol_target_long", vol_target)):
        out.update(
            {
                f"{name}_{k}": figures[k]
                for k in ("sharpe_gross", "sharpe_net", "cagr_net", "max_drawdown_net", "total_return_net")
            }
        )
    out["track_start"] = str(track["date"].iloc[0])
    out["track_end"] = str(track["date"].iloc[-1])
    out["n_blocks"] = int(track["block"].nunique())
    return out


def _difference_figures(
    name: str, net: np.ndarray, other: np.ndarray, gate: GateConfig, seed: int
) -> dict[str, Any]:
    """The track's net Sharpe against ``other``'s: the bootstrap p (the gate's), the HAC p, the difference
    and its HAC standard error (annualized), the block length that gave the reported p."""
    boot = sharpe_difference_test(
        net,
        other,
        method="bootstrap",
        block_length=[b for b in gate.bootstrap_block_lengths if b <= net.size // 2] or None,
        n_boot=gate.bootstrap_replicates,
        seed=seed,
    )
    hac = sharpe_difference_test(net, other, method="hac")
    root = math.sqrt(stats.PERIODS_PER_YEAR)
    return {
        f"vs_{name}_difference": boot.difference * root,
        f"vs_{name}_se": boot.se * root,
        f"vs_{name}_p_value": boot.p_value,
        f"vs_{name}_p_value_hac": hac.p_value,
        f"vs_{name}_block_length": boot.block_length,
        f"vs_{name}_method": (
            f"Ledoit-Wolf 2008 studentized circular block bootstrap, one-sided, {boot.n_boot} replicates, "
            f"the largest p over blocks of {', '.join(str(b) for b, _ in boot.block_p_values)} days"
        ),
        f"vs_{name}_correlation": float(np.corrcoef(net, other)[0, 1])
        if np.std(net) > 0 and np.std(other) > 0
        else 0.0,
    }


def track_inference(track: pd.DataFrame, *, seed: int, gate: GateConfig | None = None) -> dict[str, Any]:
    """PSR(0), MinTRL and the bootstrap interval of the track's net Sharpe; its tests against buy-and-hold
    and the volatility-targeted always-long rule (``gate`` gives the bootstrap's settings)."""
    gate = gate or GateConfig()
    net = track["strategy_net"].to_numpy("float64")
    buy_and_hold = track["buy_and_hold_net"].to_numpy("float64")
    s = stats.sharpe_stats(net)
    ci = stats.block_bootstrap_sharpe_ci(net, seed=seed)
    memmel = sharpe_difference_test(net, buy_and_hold, method="memmel")
    vol_target = track["vol_target_long_net"].to_numpy("float64")
    return {
        "track_sr_per_period": s.sr,
        "track_skew": s.skew,
        "track_kurtosis": s.kurtosis,
        "psr": stats.probabilistic_sharpe_ratio(s.sr, s.n, s.skew, s.kurtosis),
        "min_track_record_days": stats.min_track_record_length(s.sr, s.skew, s.kurtosis),
        "sharpe_ci_low": ci.low,
        "sharpe_ci_high": ci.high,
        **_difference_figures("buy_and_hold", net, buy_and_hold, gate, seed),
        "vs_buy_and_hold_p_value_memmel": memmel.p_value,
        **_difference_figures("vol_target_long", net, vol_target, gate, seed),
    }


def with_vol_target_long(
    track: pd.DataFrame, features: pd.DataFrame, target_volatility: float, cost_bps: float
) -> pd.DataFrame:
    """The track with the volatility-targeted always-long rule's position and net return on its days
    (``vol_target_long``, ``vol_target_long_net``): the sweep's sizing with no model, same costs."""
    rows = pd.Index(features["date"]).get_indexer(track["date"])
    position = vol_target_long_positions(features.iloc[rows], target_volatility)
    _, net = strategy_returns(position, track["fwd_return"].to_numpy("float64"), cost_bps)
    return track.assign(vol_target_long=position, vol_target_long_net=net)


def selection_inference(
    trialset: TrialSet, final: Choice, ledger_trials: int | None = None
) -> dict[str, Any]:
    """DSR of the final choice on the out-of-fold blocks (N and N_eff), and the sweep's PBO.

    N is every trial ever evaluated on this data when the trials ledger counted them
    (``ledger_trials``, :mod:`spylib.registry.ledger`), else this run's; V is this run's trials'
    (the ledger keeps keys, not returns). The effective N is estimated two ways, by clustering the
    trials' return correlations (with the clusters' V) and by the eigenvalue ratio
    ``(sum lambda)^2 / sum lambda^2`` (with the trials' V), each scaled by N / this run's trials
    (earlier grids assumed as redundant as this one); ``dsr_effective`` is the lower (more
    conservative) of the two DSRs, and ``n_trials_effective`` its N."""
    net = trialset.net_returns
    chosen = net[:, final.trial_id]
    s = stats.sharpe_stats(chosen)
    n_run = trialset.n_trials
    n = max(n_run, int(ledger_trials or 0))
    scale = n / n_run
    srs = trialset.trials["oof_sr_per_period"].to_numpy("float64")
    v_all = float(np.nanvar(srs, ddof=1)) if n_run > 1 else 0.0
    effective = effective_number_of_trials(net)
    n_cluster = math.ceil(effective.n_clusters * scale)
    eigen = effective.eigen_n_eff * scale
    v_eff = effective.cluster_sr_variance

    def dsr(n_trials: int, variance: float) -> float:
        if n_trials < 2 or variance <= 0:
            return stats.probabilistic_sharpe_ratio(s.sr, s.n, s.skew, s.kurtosis)
        return stats.deflated_sharpe_ratio(s.sr, s.n, s.skew, s.kurtosis, n_trials, variance)

    dsr_cluster, dsr_eigen = dsr(n_cluster, v_eff), dsr(max(math.ceil(eigen), 1), v_all)
    eigen_rules = dsr_eigen < dsr_cluster
    out: dict[str, Any] = {
        "oof_sr_per_period": s.sr,
        "oof_sharpe_net": s.sr * math.sqrt(stats.PERIODS_PER_YEAR),
        "n_trials": n,
        "trials_sr_variance": v_all,
        "expected_max_sr": stats.expected_max_sharpe(n, v_all) if n > 1 and v_all > 0 else 0.0,
        "dsr": dsr(n, v_all),
        "n_trials_effective": max(math.ceil(eigen), 1) if eigen_rules else n_cluster,
        "n_trials_effective_eigen": eigen,
        "trials_sr_variance_effective": v_eff,
        "dsr_effective": min(dsr_cluster, dsr_eigen),
        "n_trials_run": n_run,
        "n_trials_effective_cluster": n_cluster,
        "dsr_effective_cluster": dsr_cluster,
        "dsr_effective_eigen": dsr_eigen,
        "dsr_effective_rule": "eigenvalue" if eigen_rules else "clustering",
    }
    if net.shape[1] >= 2 and net.shape[0] >= PBO_BLOCKS:
        cscv = probability_of_backtest_overfitting(net, n_blocks=PBO_BLOCKS)
        out["pbo"], out["prob_oos_loss"] = cscv.pbo, cscv.prob_oos_loss
    else:
        out["pbo"] = out["prob_oos_loss"] = math.nan
    return out


def power_summary(evidence: Evidence, gate: GateConfig, simulated: dict[str, Any] | None) -> dict[str, Any]:
    """What this run's track could detect: the minimum annualized Sharpe (and excess Sharpe over
    buy-and-hold) that the gate's tests find with 80% probability at their level, from the Sharpe
    ratio's standard error (Lo 2002) with the track's own skew and kurtosis; and, when the
    simulation of the whole gate has been run (``tests/bench/bench_gate_power.py``), its measured
    false-approval rate and power curve, and (``error_rates``, ``tests/bench/bench_gate_nulls.py``)
    per market family the measured false-approval rate and minimum detectable edge of the setting
    nearest to this run's number of trials and track length (:func:`spylib.stats.power.run_error_rates`)."""
    n_days = int(evidence.n_days)
    # The level of the PSR(0) test when it is gated, else the difference tests' level.
    alpha_psr = 1 - gate.min_psr if gate.min_psr is not None else gate.max_difference_p_value
    skew = float(np.nan_to_num(evidence.track_skew))
    kurt = float(np.nan_to_num(evidence.track_kurtosis, nan=3.0))
    mde = minimum_detectable_sharpe(n_days, alpha=alpha_psr, power=0.8, skew=skew, kurtosis=kurt)
    mde_normal = minimum_detectable_sharpe(n_days, alpha=alpha_psr, power=0.8)
    rho = float(np.nan_to_num(evidence.vs_buy_and_hold_correlation))
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
        table = simulated.get("error_rates")
        out["simulation"] = {k: v for k, v in simulated.items() if k != "error_rates"}
        if table:  # the measured rates nearest to this run's N and track length, per market family
            n_trials = int(evidence.n_trials)
            out["error_rates"] = [r.to_dict() for r in run_error_rates(table, n_trials, n_days)]
    return out
