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
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from spylib.core.config import GateConfig, ModelSpec, SweepConfig
from spylib.core.schema import SEED_MODEL_COLUMNS
from spylib.research import stats
from spylib.research.models import fit_model, predict_up_probability
from spylib.research.split import Fold
from spylib.research.trading import (
    filter_mask,
    positions,
    strategy_returns,
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
    return "+".join(columns) if columns else "none"


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


# ---------------------------------------------------------------------------------------------
# baselines on the same days
# ---------------------------------------------------------------------------------------------
def baseline_table(
    features: pd.DataFrame,
    feature_cols: Sequence[str],
    development_rows: np.ndarray,
    test_rows: np.ndarray,
    cost_bps: float,
    seed: int,
    chosen: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Buy-and-hold, always-up, majority class, 20-day momentum, a logistic regression and the seed
    project's recipe, scored on the labelled test days with the same metrics (and costs)."""
    dev = features.iloc[development_rows]
    dev = dev[dev["target_up"].notna()]
    test = features.iloc[test_rows]
    test = test[test["target_up"].notna()]
    y_dev = dev["target_up"].to_numpy("int8")
    y = test["target_up"].to_numpy("int8")
    fwd = test["fwd_return"].to_numpy("float64")
    n = len(test)

    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    logistic.fit(dev[list(feature_cols)], y_dev)
    seed_rows = (dev["trend_up"] == 1) & (dev["in_play_120"] == 1)
    seed_model = RandomForestClassifier(n_estimators=100, max_depth=5, random_state=42, n_jobs=1)
    cols = list(SEED_MODEL_COLUMNS)
    seed_test_mask = ((test["trend_up"] == 1) & (test["in_play_120"] == 1)).to_numpy()
    if seed_rows.sum() >= 10 and np.unique(y_dev[seed_rows.to_numpy()]).size == 2:
        seed_model.fit(dev.loc[seed_rows, cols], y_dev[seed_rows.to_numpy()])
        seed_prob = np.where(seed_test_mask, predict_up_probability(seed_model, test[cols]), 0.0)
    else:
        seed_prob = np.zeros(n)
    majority = int(y_dev.mean() >= 0.5)
    candidates: dict[str, tuple[np.ndarray, np.ndarray]] = {
        # (score used for classification metrics, position)
        "buy_and_hold": (np.ones(n), np.ones(n, dtype="int8")),
        "always_up": (np.ones(n), np.ones(n, dtype="int8")),
        "majority_class": (np.full(n, float(majority)), np.full(n, majority, dtype="int8")),
        "momentum_20": (
            (test["ret_20"].to_numpy() > 0).astype(float),
            (test["ret_20"].to_numpy() > 0).astype("int8"),
        ),
        "logistic_regression": (
            p := predict_up_probability(logistic, test[list(feature_cols)]),
            positions(p, 0.5),
        ),
        "seed_recipe": (seed_prob, positions(seed_prob, 0.5, seed_test_mask)),
    }
    rows = []
    for name, (score, pos) in candidates.items():
        cls = classification_metrics(y, score)
        if name == "buy_and_hold":  # a position, not a classifier
            cls = {k: float("nan") for k in cls} | {"base_rate": cls["base_rate"]}
        rows.append({"strategy": name, **cls, **trading_metrics(pos, fwd, cost_bps)})
    table = pd.DataFrame(rows)
    if chosen is not None:
        table = pd.concat([pd.DataFrame([{"strategy": "chosen_model", **chosen}]), table], ignore_index=True)
    return table[[c for c in table.columns if c in ("strategy", *BASELINE_COLUMNS)]]


BASELINE_COLUMNS: tuple[str, ...] = (
    "auc", "accuracy", "f1", "base_rate", "sharpe_gross", "sharpe_net", "sortino_net", "max_drawdown_net",
    "cagr_net", "calmar_net", "hit_rate", "exposure", "turnover", "n_trades", "break_even_cost_bps",
    "total_return_gross", "total_return_net",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the gate
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateCheck:
    name: str
    value: float
    requirement: str
    passed: bool

    @property
    def reason(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return f"{self.name} {verdict}: {self.value:.4g} (required {self.requirement})"


@dataclass(frozen=True)
class GateDecision:
    status: str  # "Approved" | "Rejected"
    checks: tuple[GateCheck, ...]

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.checks]

    @property
    def failed(self) -> list[str]:
        return [c.reason for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reasons": self.reasons,
            "failed": self.failed,
            "checks": [
                {
                    "name": c.name,
                    "value": _json_float(c.value),
                    "requirement": c.requirement,
                    "passed": c.passed,
                }
                for c in self.checks
            ],
        }


def _json_float(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def apply_gate(test: dict[str, float], buy_and_hold_sharpe_net: float, gate: GateConfig) -> GateDecision:
    """Approved only if every check holds; NaN never passes."""

    def ok(cond: bool, value: float) -> bool:
        return bool(cond) and not math.isnan(value)

    checks = [
        GateCheck(
            "dsr_test", test["dsr"], f">= {gate.min_dsr}", ok(test["dsr"] >= gate.min_dsr, test["dsr"])
        ),
        GateCheck(
            "sharpe_net_vs_buy_and_hold",
            test["sharpe_net"] - buy_and_hold_sharpe_net,
            "> 0 (net Sharpe above buy-and-hold's on the same days)"
            if gate.require_beat_buy_and_hold
            else "not required",
            ok(test["sharpe_net"] > buy_and_hold_sharpe_net, test["sharpe_net"])
            or not gate.require_beat_buy_and_hold,
        ),
        GateCheck("pbo", test["pbo"], f"< {gate.max_pbo}", ok(test["pbo"] < gate.max_pbo, test["pbo"])),
        GateCheck(
            "n_trades_test",
            test["n_trades"],
            f">= {gate.min_trades}",
            ok(test["n_trades"] >= gate.min_trades, test["n_trades"]),
        ),
        GateCheck(
            "auc_test_ci_low",
            test["auc_ci_low"],
            f"> {gate.min_auc_lower} (AUC {test['auc']:.3f}, interval lower bound)",
            ok(test["auc_ci_low"] > gate.min_auc_lower, test["auc_ci_low"]),
        ),
    ]
    status = "Approved" if all(c.passed for c in checks) else "Rejected"
    return GateDecision(status, tuple(checks))


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
