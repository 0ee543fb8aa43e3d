"""The registered model after the selection: its optional untouched holdout, and which features it uses.

Every choice is made on the walk-forward blocks; the holdout (``--holdout-start``) is scored once, at
the end, by the final model, and informs nothing. Permutation importance is measured out of sample:
on the last traded block, by the chosen configuration fitted on that block's own training rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from spylib.modelling.scoring import classification_metrics
from spylib.modelling.trading import filter_mask, position_size, positions, trading_metrics
from spylib.stats import performance as stats


def rule_positions(
    probability: np.ndarray, frame: pd.DataFrame, rule: dict[str, Any], target_volatility: float
) -> np.ndarray:
    """The chosen trade rule (threshold, filter columns, sizing) applied to ``frame``'s rows."""
    signal = positions(probability, float(rule["threshold"]), filter_mask(frame, rule["filter_columns"]))
    return signal * position_size(frame, str(rule["sizing"]), target_volatility)


def evaluate_holdout(
    probability: np.ndarray,
    holdout: pd.DataFrame,
    rule: dict[str, Any],
    *,
    cost_bps: float,
    target_volatility: float,
) -> dict[str, Any]:
    """The final model on the holdout's labelled days, beside buy-and-hold: scored once, after every
    choice was made."""
    labelled = holdout["target_up"].notna().to_numpy()
    frame = holdout[labelled]
    p = probability[labelled]
    fwd = frame["fwd_return"].to_numpy("float64")
    pos = rule_positions(p, frame, rule, target_volatility)
    y = frame["target_up"].to_numpy("int8")
    auc = stats.auc_with_ci(y, p)
    return {
        **classification_metrics(y, p),
        "auc_ci_low": auc.low,
        "auc_ci_high": auc.high,
        **trading_metrics(pos, fwd, cost_bps),
        "buy_and_hold_sharpe_net": trading_metrics(np.ones(len(fwd)), fwd, cost_bps)["sharpe_net"],
        "start": str(frame["date"].iloc[0]),
        "end": str(frame["date"].iloc[-1]),
        "note": "the holdout is scored once, after every choice was made; it informs none",
    }


def permutation_importance_table(
    model: Any, frame: pd.DataFrame, feature_cols: Sequence[str], seed: int, n_repeats: int = 5
) -> pd.DataFrame:
    """Drop in AUC when one feature is shuffled (scikit-learn's permutation importance, seeded)."""
    from sklearn.inspection import permutation_importance

    labelled = frame[frame["target_up"].notna()]
    # One thread, like every fit and prediction (spylib.modelling.models): the scorer calls the model's
    # own predict_proba n_features x n_repeats times, and HistGradientBoosting's predict runs an OpenMP
    # pool per call; on a busy machine those pools spin-wait (measured: 126 s instead of 2 s).
    with threadpool_limits(limits=1):
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
