"""The one-time evaluation of the chosen trial on a held-out segment: its metrics, daily curve and
Sharpe-ratio inference (PSR, DSR, MinTRL, bootstrap interval, PBO), production scored after every
choice was made, and permutation importance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from spylib.research import stats
from spylib.research.evaluate import classification_metrics
from spylib.research.trading import (
    filter_mask,
    positions,
    strategy_returns,
    trading_metrics,
)


# ---------------------------------------------------------------------------------------------
# the test evaluation and its statistics
# ---------------------------------------------------------------------------------------------
def sharpe_inference(
    test_net: np.ndarray,
    trials: pd.DataFrame,
    oof_matrix: np.ndarray,
    *,
    n_blocks: int = 16,
    seed: int = 0,
) -> dict[str, float]:
    """PSR, DSR (N = all trials, V = variance of their OOF per-period Sharpe), MinTRL, the bootstrap
    interval of the test Sharpe and the PBO of the whole sweep."""
    s = stats.sharpe_stats(test_net)
    n_trials = len(trials)
    sr_var = (
        float(np.nanvar(trials["oof_sr_per_period"].to_numpy("float64"), ddof=1)) if n_trials > 1 else 0.0
    )
    ci = stats.block_bootstrap_sharpe_ci(test_net, seed=seed)
    out = {
        "test_sr_per_period": s.sr,
        "test_skew": s.skew,
        "test_kurtosis": s.kurtosis,
        "psr": stats.probabilistic_sharpe_ratio(s.sr, s.n, s.skew, s.kurtosis),
        "n_trials": float(n_trials),
        "trials_sr_variance": sr_var,
        "expected_max_sr": stats.expected_max_sharpe(n_trials, sr_var) if n_trials > 1 else 0.0,
        "dsr": stats.deflated_sharpe_ratio(s.sr, s.n, s.skew, s.kurtosis, n_trials, sr_var)
        if n_trials > 1
        else stats.probabilistic_sharpe_ratio(s.sr, s.n, s.skew, s.kurtosis),
        "min_track_record_days": stats.min_track_record_length(s.sr, s.skew, s.kurtosis),
        "sharpe_ci_low": ci.low,
        "sharpe_ci_high": ci.high,
    }
    if oof_matrix.shape[1] >= 2 and oof_matrix.shape[0] >= n_blocks:
        out["pbo"] = stats.probability_of_backtest_overfitting(oof_matrix, n_blocks=n_blocks).pbo
    else:
        out["pbo"] = float("nan")
    return out


def evaluate_on_test(
    probability: np.ndarray,
    test: pd.DataFrame,
    threshold: float,
    filter_columns: Sequence[str],
    cost_bps: float,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Classification and trading metrics of the chosen trial on test, and its daily curve."""
    labelled = test["target_up"].notna().to_numpy()
    t = test[labelled]
    p = probability[labelled]
    pos = positions(p, threshold, filter_mask(t, filter_columns))
    fwd = t["fwd_return"].to_numpy("float64")
    metrics: dict[str, float] = {**classification_metrics(t["target_up"].to_numpy("int8"), p, threshold)}
    auc = stats.auc_with_ci(t["target_up"].to_numpy("int8"), p)
    metrics.update({"auc_ci_low": auc.low, "auc_ci_high": auc.high})
    metrics.update(trading_metrics(pos, fwd, cost_bps))
    gross, net = strategy_returns(pos, fwd, cost_bps)
    _, bh_net = strategy_returns(np.ones_like(pos), fwd, cost_bps)
    curve = pd.DataFrame(
        {
            "date": t["date"].to_numpy(),
            "probability": p,
            "position": pos,
            "fwd_return": fwd,
            "strategy_gross": gross,
            "strategy_net": net,
            "buy_and_hold_net": bh_net,
        }
    )
    return metrics, curve


def permutation_importance_table(
    model: Any, frame: pd.DataFrame, feature_cols: Sequence[str], seed: int, n_repeats: int = 5
) -> pd.DataFrame:
    """Drop in test AUC when one feature is shuffled (sklearn's permutation importance, seeded)."""
    from sklearn.inspection import permutation_importance

    labelled = frame[frame["target_up"].notna()]
    result = permutation_importance(
        model,
        labelled[list(feature_cols)],
        labelled["target_up"].to_numpy("int8"),
        scoring="roc_auc",
        n_repeats=n_repeats,
        random_state=seed,
        n_jobs=1,
    )
    table = pd.DataFrame(
        {
            "feature": list(feature_cols),
            "auc_drop_mean": result.importances_mean,
            "auc_drop_std": result.importances_std,
        }
    )
    return table.sort_values("auc_drop_mean", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class HoldoutEvaluation:
    """The chosen trial on test: every figure with its conventions, and the daily curve."""

    metrics: dict[str, Any]  # classification, trading, inference, buy-and-hold, conventions
    curve: pd.DataFrame
    test_metrics: dict[str, float]  # classification and trading figures only (the baselines' columns)


def evaluate_chosen_on_test(
    test_probability: np.ndarray,
    test: pd.DataFrame,
    selection: Mapping[str, Any],
    trials: pd.DataFrame,
    oof_matrix: np.ndarray,
    *,
    cost_bps: float,
    execution: str,
    shuffle_labels: bool,
    seed: int,
) -> HoldoutEvaluation:
    """Score the chosen trial once on test, with the Sharpe inference over the whole sweep, and record
    the conventions every figure uses beside the figures."""
    filter_columns = list(selection["filter_columns"])
    test_metrics, curve = evaluate_on_test(
        test_probability, test, float(selection["threshold"]), filter_columns, cost_bps
    )
    inference = sharpe_inference(curve["strategy_net"].to_numpy(), trials, oof_matrix, seed=seed)
    buy_and_hold = trading_metrics(np.ones(len(curve)), curve["fwd_return"].to_numpy("float64"), cost_bps)
    metrics: dict[str, Any] = {
        **test_metrics,
        **inference,
        "buy_and_hold_sharpe_net": buy_and_hold["sharpe_net"],
        "cost_bps": cost_bps,
        "execution": execution,
        "annualization": stats.PERIODS_PER_YEAR,
        "shuffle_labels": shuffle_labels,
        "oof_sharpe_net": float(selection["oof_sharpe_net"]),
        "oof_auc": float(selection["oof_auc"]),
        "test_start": str(test["date"].iloc[0]),
        "test_end": str(test["date"].iloc[-1]),
    }
    return HoldoutEvaluation(metrics, curve, test_metrics)


def score_production(
    probability: np.ndarray,
    production: pd.DataFrame,
    threshold: float,
    filter_columns: Sequence[str],
    cost_bps: float,
) -> dict[str, Any]:
    """The chosen model on the production segment's labelled days (``probability`` aligned with
    ``production``'s rows), beside buy-and-hold: reported after every choice was made, it informs none."""
    scores, _ = evaluate_on_test(probability, production, threshold, filter_columns, cost_bps)
    fwd = production.loc[production["target_up"].notna(), "fwd_return"].to_numpy("float64")
    bh = trading_metrics(np.ones(len(fwd)), fwd, cost_bps)
    return {
        **scores,
        "buy_and_hold_sharpe_net": bh["sharpe_net"],
        "note": "production is scored after every choice was made; it informs none",
    }
