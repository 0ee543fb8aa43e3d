"""Model selection, the one-time test evaluation, baselines and the quality gate.

The order of events is what keeps the numbers honest:

1. each configuration is scored on purged walk-forward folds of the development range (train +
   validation) only: its out-of-fold (OOF) probabilities give one trial per (threshold, filter);
2. the selection looks at OOF figures only; every trial counts in the deflated Sharpe ratio and the
   probability of backtest overfitting;
3. the chosen configuration, refit on the whole development range, is scored once on test;
4. production is scored last (in :mod:`spylib.research.predict`) and never informs a choice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss, roc_auc_score

from spylib.core.config import ModelSpec, SweepConfig
from spylib.research import stats
from spylib.research.models import fit_model, predict_up_probability
from spylib.research.split import Fold
from spylib.research.trading import (
    filter_mask,
    positions,
    trading_metrics,
    trial_returns_matrix,
)


# ---------------------------------------------------------------------------------------------
# classification metrics
# ---------------------------------------------------------------------------------------------
def classification_metrics(
    y_true: npt.ArrayLike, probability: npt.ArrayLike, threshold: float = 0.5
) -> dict[str, float]:
    """AUC, log loss, Brier score, and accuracy/F1 of the 0/1 decision at ``threshold``.
    AUC is NaN when only one class is present."""
    y = np.asarray(y_true, dtype="int8")
    p = np.asarray(probability, dtype="float64")
    decision = (p >= threshold).astype("int8")
    two_classes = np.unique(y).size == 2
    return {
        "auc": float(roc_auc_score(y, p)) if two_classes else float("nan"),
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "accuracy": float(accuracy_score(y, decision)),
        "f1": float(f1_score(y, decision, zero_division=0.0)),
        "base_rate": float(y.mean()) if y.size else float("nan"),
    }


def filter_name(columns: Sequence[str]) -> str:
    """A trade filter's name in the trials table: ``trend_up+in_play_120``, or ``none``."""
    return "+".join(columns) if columns else "none"


def filter_columns(name: str) -> list[str]:
    """The inverse of :func:`filter_name`."""
    return [] if name == "none" else name.split("+")


# ---------------------------------------------------------------------------------------------
# one configuration (one foreach task)
# ---------------------------------------------------------------------------------------------
@dataclass
class ConfigResult:
    """Everything one ``train`` task learns about one configuration."""

    spec: ModelSpec
    trials: pd.DataFrame  # one row per (threshold, filter): OOF metrics (+ test figures, for diagnosis only)
    oof_rows: np.ndarray  # positions in the feature table, in time order
    oof_probability: np.ndarray
    oof_returns: np.ndarray  # (len(oof_rows), n trials of this config): net returns
    model: Any  # refit on the whole development range
    test_probability: np.ndarray
    fold_metrics: pd.DataFrame
    seconds: float
    trial_keys: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)


def score_configuration(
    spec: ModelSpec,
    features: pd.DataFrame,
    feature_cols: Sequence[str],
    folds: Sequence[Fold],
    development_rows: np.ndarray,
    test_rows: np.ndarray,
    sweep: SweepConfig,
    cost_bps: float,
    seed: int,
    *,
    shuffle_labels: bool = False,
) -> ConfigResult:
    """Walk-forward OOF scoring of one configuration, then its refit on the development range."""
    started = time.perf_counter()
    cols = list(feature_cols)
    oof_parts: list[np.ndarray] = []
    rows_parts: list[np.ndarray] = []
    fold_rows: list[dict[str, Any]] = []
    for fold in folds:
        train = features.iloc[fold.train_rows()]
        train = train[train["target_up"].notna()]
        score = features.iloc[fold.score_rows()]
        model = fit_model(
            spec, train[cols], train["target_up"].to_numpy("int8"), seed, shuffle_labels=shuffle_labels
        )
        prob = predict_up_probability(model, score[cols])
        oof_parts.append(prob)
        rows_parts.append(fold.score_rows())
        fold_rows.append(
            {
                "fold": fold.index,
                "train_start": train["date"].iloc[0],
                "train_end": train["date"].iloc[-1],
                "score_start": score["date"].iloc[0],
                "score_end": score["date"].iloc[-1],
                **classification_metrics(score["target_up"].to_numpy("int8"), prob),
            }
        )
    oof_rows = np.concatenate(rows_parts)
    oof_prob = np.concatenate(oof_parts)
    oof_frame = features.iloc[oof_rows]
    cls = classification_metrics(oof_frame["target_up"].to_numpy("int8"), oof_prob)
    keys, oof_returns = trial_returns_matrix(oof_prob, oof_frame, sweep.thresholds, sweep.filters, cost_bps)

    dev = features.iloc[development_rows]
    dev = dev[dev["target_up"].notna()]
    model = fit_model(spec, dev[cols], dev["target_up"].to_numpy("int8"), seed, shuffle_labels=shuffle_labels)
    test = features.iloc[test_rows]
    test_prob = predict_up_probability(model, test[cols])

    fwd = oof_frame["fwd_return"].to_numpy("float64")
    test_fwd = test["fwd_return"].to_numpy("float64")
    rows: list[dict[str, Any]] = []
    for threshold, combo in keys:
        oof_pos = positions(oof_prob, threshold, filter_mask(oof_frame, combo))
        test_pos = positions(test_prob, threshold, filter_mask(test, combo))
        oof_m = trading_metrics(oof_pos, fwd, cost_bps)
        test_m = trading_metrics(test_pos, test_fwd, cost_bps)
        rows.append(
            {
                "config_id": spec.config_id,
                "family": spec.family,
                "params": json.dumps(dict(spec.params), sort_keys=True),
                "threshold": threshold,
                "filter": filter_name(combo),
                **{f"oof_{k}": v for k, v in cls.items()},
                **{f"oof_{k}": v for k, v in oof_m.items()},
                "oof_sr_per_period": stats.sharpe_ratio(oof_returns[:, len(rows)], annualize=False),
                # Diagnostics only: never used for selection (see select_trial).
                "test_sharpe_net": test_m["sharpe_net"],
                "test_n_trades": test_m["n_trades"],
            }
        )
    return ConfigResult(
        spec=spec,
        trials=pd.DataFrame(rows),
        oof_rows=oof_rows,
        oof_probability=oof_prob,
        oof_returns=oof_returns,
        model=model,
        test_probability=test_prob,
        fold_metrics=pd.DataFrame(fold_rows).assign(config_id=spec.config_id),
        seconds=time.perf_counter() - started,
        trial_keys=keys,
    )


# ---------------------------------------------------------------------------------------------
# the join: all trials, selection
# ---------------------------------------------------------------------------------------------
def combine_trials(results: Sequence[ConfigResult]) -> tuple[pd.DataFrame, np.ndarray]:
    """One trials table (``trial_id`` = column of the returns matrix) and the T x N OOF net returns.
    Results are ordered by config id, so the table does not depend on the join's input order."""
    ordered = sorted(results, key=lambda r: r.spec.config_id)
    first_rows = ordered[0].oof_rows
    for r in ordered[1:]:
        if not np.array_equal(r.oof_rows, first_rows):
            raise ValueError(f"configuration {r.spec.config_id} was scored on different rows than the others")
    trials = pd.concat([r.trials for r in ordered], ignore_index=True)
    trials.insert(0, "trial_id", np.arange(len(trials)))
    matrix = np.column_stack([r.oof_returns for r in ordered])
    return trials, matrix


def select_trial(trials: pd.DataFrame, metric: str, min_trades: int) -> pd.Series:
    """The trial with the best OOF ``metric`` among those with at least ``min_trades`` OOF trades
    (all trials when none qualifies: the gate then rejects on trades). Ties go to the lowest id.
    ``metric="psr"`` ranks by PSR(0) of the out-of-fold per-period Sharpe under normal returns
    (skew 0, kurtosis 3): the trials table keeps no per-trial moments."""
    column = {"sharpe_net": "oof_sharpe_net", "auc": "oof_auc", "psr": "oof_psr"}[metric]
    if column == "oof_psr" and column not in trials:
        trials = trials.assign(
            oof_psr=[
                stats.probabilistic_sharpe_ratio(sr, int(n), 0.0, 3.0)
                for sr, n in zip(trials["oof_sr_per_period"], trials["oof_n_days"], strict=True)
            ]
        )
    eligible = trials[trials["oof_n_trades"] >= min_trades]
    pool = eligible if len(eligible) else trials
    ranked = pool.assign(_score=pool[column].fillna(-np.inf)).sort_values(
        ["_score", "trial_id"], ascending=[False, True]
    )
    return ranked.drop(columns="_score").iloc[0]
