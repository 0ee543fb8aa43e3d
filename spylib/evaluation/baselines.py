"""Baselines scored on the walk-forward track's days with the same metrics and costs as the model:
buy-and-hold, the sweep's volatility-targeted sizing on always-long (what the sizing earns with no
model), a 200-day moving-average rule, always-up, the majority class, 20-day momentum, a logistic
regression and the seed project's own recipe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from threadpoolctl import threadpool_limits

from spylib.core.config import ModelSpec
from spylib.core.schema import SEED_MODEL_COLUMNS
from spylib.modelling.models import fit_model, predict_up_probability
from spylib.modelling.scoring import classification_metrics
from spylib.modelling.trading import position_size, positions, trading_metrics
from spylib.modelling.walk_forward import Splits

# The moving-average rule's window (trading days): long while the close is above its 200-day mean.
MOVING_AVERAGE_DAYS = 200


def vol_target_long_positions(frame: pd.DataFrame, target_volatility: float) -> np.ndarray:
    """Always long, sized like the sweep's ``vol_target`` trials: ``min(1, target / (sqrt(252) vol_20))``
    with the 20-day volatility known at each row's close (:func:`spylib.modelling.trading.position_size`)."""
    return position_size(frame, "vol_target", target_volatility)


def moving_average_positions(features: pd.DataFrame, window: int = MOVING_AVERAGE_DAYS) -> np.ndarray:
    """1 on the rows of ``features`` (one symbol, in date order) whose close is above the mean of the last
    ``window`` closes, that close included (known at the signal's close), else 0; 0 before ``window``
    closes exist."""
    close = features["close"].astype("float64")
    average = close.rolling(window, min_periods=window).mean()
    return (close > average).to_numpy().astype("int8")


# The logistic-regression baseline: scikit-learn's defaults (C=1) on standardized model features.
LOGISTIC_BASELINE = ModelSpec("logistic", {"C": 1.0})


def _seed_recipe_probability(train: pd.DataFrame, block: pd.DataFrame) -> np.ndarray:
    """The seed project's recipe: a RandomForest(100, depth 5, seed 42) on its 21 raw columns, trained
    and scored only on trend_up & in_play_120 rows (0 elsewhere)."""
    cols = list(SEED_MODEL_COLUMNS)
    rows = ((train["trend_up"] == 1) & (train["in_play_120"] == 1)).to_numpy()
    mask = ((block["trend_up"] == 1) & (block["in_play_120"] == 1)).to_numpy()
    y = train["target_up"].to_numpy("int8")
    if rows.sum() < 10 or np.unique(y[rows]).size < 2:
        return np.zeros(len(block))
    model = RandomForestClassifier(n_estimators=100, max_depth=5, random_state=42, n_jobs=1)
    with threadpool_limits(limits=1):
        model.fit(train.loc[rows, cols], y[rows])
    return np.where(mask, predict_up_probability(model, block[cols]), 0.0)


@dataclass(frozen=True)
class FittedBaselines:
    """The fitted baselines' walk-forward outputs on the track's days: the majority class, the logistic
    regression's and the seed recipe's P(up), and the seed recipe's trading mask."""

    majority: np.ndarray
    logistic: np.ndarray
    seed: np.ndarray
    seed_mask: np.ndarray


def fit_baselines(features: pd.DataFrame, feature_cols: Sequence[str], splits: Splits) -> FittedBaselines:
    """Refit the fitted baselines on every traded block's own training rows and score the block: the
    only part of :func:`baseline_table` that fits models (the evaluate step runs it beside the
    selection, on another core)."""
    cols = list(feature_cols)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("majority", "logistic", "seed", "seed_mask")}
    for block in splits.traded_blocks:
        train = features.iloc[block.train_rows()]
        train = train[train["target_up"].notna()]
        here = features.iloc[block.rows()]
        y_train = train["target_up"].to_numpy("int8")
        parts["majority"].append(np.full(len(here), float(y_train.mean() >= 0.5)))
        logistic = fit_model(LOGISTIC_BASELINE, train[cols], y_train, seed=0)
        parts["logistic"].append(predict_up_probability(logistic, here[cols]))
        parts["seed"].append(_seed_recipe_probability(train, here))
        parts["seed_mask"].append(((here["trend_up"] == 1) & (here["in_play_120"] == 1)).to_numpy())
    return FittedBaselines(**{k: np.concatenate(v) for k, v in parts.items()})


def baseline_table(
    features: pd.DataFrame,
    feature_cols: Sequence[str],
    splits: Splits,
    cost_bps: float,
    chosen: dict[str, float] | None = None,
    *,
    target_volatility: float = 0.15,
    fitted: FittedBaselines | None = None,
) -> pd.DataFrame:
    """Buy-and-hold, volatility-targeted always-long (``target_volatility``: the sweep's), the 200-day
    moving-average rule, always-up, the majority class, 20-day momentum, a logistic regression and the
    seed project's recipe on the walk-forward track's days, with the same metrics and costs. The fitted
    baselines are refit on every traded block's own training rows, exactly like the sweep's models,
    so they are walk-forward out-of-sample too; the rules without a fit use only what is known at each
    row's close. ``fitted``: :func:`fit_baselines`'s result when it was computed already."""
    fitted = fit_baselines(features, feature_cols, splits) if fitted is None else fitted
    track = features.iloc[splits.traded_rows()]
    y = track["target_up"].to_numpy("int8")
    fwd = track["fwd_return"].to_numpy("float64")
    n = len(track)
    majority, logistic_p, seed_p = fitted.majority, fitted.logistic, fitted.seed
    momentum = (track["ret_20"].to_numpy() > 0).astype(float)
    vol_target = vol_target_long_positions(track, target_volatility)
    moving_average = moving_average_positions(features)[splits.traded_rows()].astype(float)
    candidates: dict[str, tuple[np.ndarray, np.ndarray]] = {
        # (score used for classification metrics, position)
        "buy_and_hold": (np.ones(n), np.ones(n, dtype="int8")),
        "vol_target_always_long": (np.ones(n), vol_target),
        "moving_average_200": (moving_average, moving_average.astype("int8")),
        "always_up": (np.ones(n), np.ones(n, dtype="int8")),
        "majority_class": (majority, majority.astype("int8")),
        "momentum_20": (momentum, momentum.astype("int8")),
        "logistic_regression": (logistic_p, positions(logistic_p, 0.5)),
        "seed_recipe": (seed_p, positions(seed_p, 0.5, fitted.seed_mask)),
    }
    rows = []
    for name, (score, pos) in candidates.items():
        cls = classification_metrics(y, score)
        if name in ("buy_and_hold", "vol_target_always_long"):  # a position, not a classifier
            cls = {k: float("nan") for k in cls} | {"base_rate": cls["base_rate"]}
        rows.append({"strategy": name, **cls, **trading_metrics(pos, fwd, cost_bps)})
    table = pd.DataFrame(rows)
    if chosen is not None:
        table = pd.concat(
            [pd.DataFrame([{"strategy": "walk_forward_model", **chosen}]), table], ignore_index=True
        )
    return table[[c for c in table.columns if c in ("strategy", *BASELINE_COLUMNS)]]


BASELINE_COLUMNS: tuple[str, ...] = (
    "auc",
    "accuracy",
    "f1",
    "base_rate",
    "sharpe_gross",
    "sharpe_net",
    "sortino_net",
    "max_drawdown_net",
    "mean_position",
    "cagr_net",
    "calmar_net",
    "hit_rate",
    "exposure",
    "turnover",
    "n_trades",
    "break_even_cost_bps",
    "total_return_gross",
    "total_return_net",
)
