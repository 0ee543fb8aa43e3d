"""Baselines scored on the same held-out days with the same metrics and costs as the chosen model:
buy-and-hold, always-up, the majority class, 20-day momentum, a logistic regression and the seed
project's own recipe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from spylib.core.schema import SEED_MODEL_COLUMNS
from spylib.research.evaluate import classification_metrics
from spylib.research.models import predict_up_probability
from spylib.research.trading import (
    positions,
    trading_metrics,
)


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
