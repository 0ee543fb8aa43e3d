"""Walk-forward scoring of one configuration (one ``train`` task's work) and its trials.

For every block of the walk-forward plan (:mod:`spylib.modelling.walk_forward`), the configuration is fitted
on the rows before the block only (purged and embargoed) and predicts the block. The concatenated
predictions are the configuration's out-of-fold (OOF) probabilities; every trade rule (threshold x
filter x sizing) turns them into one trial's positions and net returns. Nothing here looks at a
block's outcome before predicting it, and no trial is chosen here: the selection, made again at every
refit date from the blocks before it, lives in :mod:`spylib.evaluation.selection`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss, roc_auc_score

from spylib.core.config import ModelSpec, SweepConfig
from spylib.modelling.models import fit_model, member_probabilities, predict_up_probability, seed_members
from spylib.modelling.trading import TrialRule, net_returns_matrix, trading_metrics, trial_positions
from spylib.modelling.walk_forward import Splits
from spylib.stats import performance as stats

log = logging.getLogger(__name__)


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


def trade_rules(sweep: SweepConfig) -> list[TrialRule]:
    """Every (threshold, filter, sizing) of the sweep, in a fixed order (the trials' order)."""
    return [
        (float(threshold), tuple(combo), sizing)
        for sizing in sweep.sizings
        for combo in sweep.filters
        for threshold in sweep.thresholds
    ]


# ---------------------------------------------------------------------------------------------
# one configuration (one foreach task)
# ---------------------------------------------------------------------------------------------
@dataclass
class ConfigResult:
    """Everything one ``train`` task learns about one configuration."""

    spec: ModelSpec
    rules: list[TrialRule]
    rows: np.ndarray  # predicted rows (positions in the feature table), every block, in time order
    probability: np.ndarray  # OOF P(up) on ``rows``
    positions: np.ndarray  # len(rows) x len(rules)
    net_returns: np.ndarray  # len(rows) x len(rules), after costs
    trials: pd.DataFrame  # one row per rule: OOF metrics over every block
    block_metrics: pd.DataFrame  # one row per block: training span and classification metrics
    seconds: float
    # OOF P(up) of each seed member (len(rows) x members; :func:`spylib.modelling.models.member_probabilities`)
    # of a seed-averaged configuration; None for a deterministic one (its probability is every seed's).
    member_probability: np.ndarray | None = None


@dataclass(frozen=True)
class ScoringData:
    """What a configuration is scored on: the feature table, the columns a model reads, and the
    walk-forward plan over the table's rows."""

    features: pd.DataFrame
    feature_columns: Sequence[str]
    splits: Splits


def _predict_blocks(
    spec: ModelSpec, data: ScoringData, seed: int, shuffle_labels: bool
) -> tuple[list[np.ndarray], list[np.ndarray], list[dict[str, Any]]]:
    """One fit per walk-forward block (on the rows before it): per block, the OOF P(up), each seed
    member's P(up) (a seed-averaged configuration only) and a row of training span and metrics."""
    features, cols = data.features, list(data.feature_columns)
    parts: list[np.ndarray] = []
    member_parts: list[np.ndarray] = []
    members = seed_members(spec)
    block_rows: list[dict[str, Any]] = []
    for block in data.splits.blocks:
        train = features.iloc[block.train_rows()]
        train = train[train["target_up"].notna()]
        scored = features.iloc[block.rows()]
        model = fit_model(
            spec, train[cols], train["target_up"].to_numpy("int8"), seed, shuffle_labels=shuffle_labels
        )
        if members > 1:
            # Each member alone, for the seed spread. The traded probability is the forest's own
            # predict_proba, not the members' mean: the two differ in the last bits, and the track must
            # be bit-identical to what the registered model serves (PredictFlow, /invocations).
            member_parts.append(member_probabilities(model, scored[cols], members))
        prob = predict_up_probability(model, scored[cols])
        parts.append(prob)
        block_rows.append(
            {
                "block": block.name,
                "traded": block.traded,
                "train_start": train["date"].iloc[0],
                "train_end": train["date"].iloc[-1],
                "n_train": len(train),
                "start": block.start,
                "end": block.end,
                **classification_metrics(scored["target_up"].to_numpy("int8"), prob),
            }
        )
    return parts, member_parts, block_rows


def score_configuration(
    spec: ModelSpec,
    data: ScoringData,
    sweep: SweepConfig,
    cost_bps: float,
    seed: int,
    *,
    shuffle_labels: bool = False,
) -> ConfigResult:
    """One fit per walk-forward block (on the rows before it), the block's OOF probabilities, and the
    positions and net returns of every trade rule on them."""
    started = time.perf_counter()
    parts, member_parts, block_rows = _predict_blocks(spec, data, seed, shuffle_labels)
    features, splits = data.features, data.splits
    rows = splits.predicted_rows()
    probability = np.concatenate(parts)
    frame = features.iloc[rows]
    rules = trade_rules(sweep)
    pos = trial_positions(probability, frame, rules, sweep.target_volatility)
    fwd = frame["fwd_return"].to_numpy("float64")
    net = net_returns_matrix(pos, fwd, cost_bps)
    cls = classification_metrics(frame["target_up"].to_numpy("int8"), probability)
    trials = pd.DataFrame(
        [
            {
                "config_id": spec.config_id,
                "family": spec.family,
                "params": json.dumps(dict(spec.params), sort_keys=True),
                "threshold": threshold,
                "filter": filter_name(combo),
                "sizing": sizing,
                **{f"oof_{k}": v for k, v in cls.items()},
                **{f"oof_{k}": v for k, v in trading_metrics(pos[:, j], fwd, cost_bps).items()},
                "oof_sr_per_period": stats.sharpe_ratio(net[:, j], annualize=False),
            }
            for j, (threshold, combo, sizing) in enumerate(rules)
        ]
    )
    seconds = time.perf_counter() - started
    return ConfigResult(
        spec=spec,
        rules=rules,
        rows=rows,
        probability=probability,
        positions=pos,
        net_returns=net,
        trials=trials,
        block_metrics=pd.DataFrame(block_rows).assign(config_id=spec.config_id),
        seconds=seconds,
        member_probability=np.concatenate(member_parts) if member_parts else None,
    )


def member_result(
    result: ConfigResult, member: int, features: pd.DataFrame, target_volatility: float, cost_bps: float
) -> ConfigResult:
    """``result`` as if its configuration had been fitted with seed member ``member`` alone: that
    member's probabilities and every trade rule's positions and net returns on them (the seed spread;
    a deterministic configuration is returned as it is). The trials table keeps the averaged figures."""
    if result.member_probability is None:
        return result
    probability = result.member_probability[:, member]
    frame = features.iloc[result.rows]
    positions = trial_positions(probability, frame, result.rules, target_volatility)
    net = net_returns_matrix(positions, frame["fwd_return"].to_numpy("float64"), cost_bps)
    return replace(
        result, probability=probability, positions=positions, net_returns=net, member_probability=None
    )
