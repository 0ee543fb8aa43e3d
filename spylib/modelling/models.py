"""Model families of the sweep and the model bundle that gets registered.

Every estimator takes its randomness from an explicit seed, and uses one thread: parallelism comes
from the configurations (the train task's process pool locally, the foreach on remote compute), which
already fill the cores.

**Seed averaging.** The two forest families are the sweep's only stochastic models (histogram
gradient boosting without early stopping or subsampling, and logistic regression, do not depend on
the seed). A forest of ``n_estimators`` trees is one draw: the run's track moved by a net Sharpe of
0.4 between seeds. So every forest is fitted as ``SEED_MEMBERS`` forests of ``n_estimators`` trees
each, grown in one estimator of ``SEED_MEMBERS x n_estimators`` trees from the run's seed (each tree
draws its own seed from it, so the members are independent forests): a forest's probability is the
mean of its trees', hence the estimator's probability is the average of its members', its variance
over seeds about ``1 / SEED_MEMBERS`` of one forest's, and the registered model is still a plain
scikit-learn forest. :func:`member_probabilities` gives each member's probabilities: the run's
seed spread (:mod:`spylib.evaluation.evidence`) comes from them at no extra fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from spylib.core.config import ModelSpec
from spylib.core.errors import ConfigError
from spylib.modelling.strategy import ModelBundle, Strategy, as_bundle

# Forests averaged per configuration (see the module docstring). The default grid's forests have 40
# trees a member, 200 an estimator: 5 x 100 trees made the default grid's training cost about 72 CPU
# seconds on 2 cores (the run 84 s wall); 5 x 40 costs about 30 (measured by the train step's log lines).
# What remains of the seed's influence is measured, not assumed: the run's seed spread (the members'
# tracks) is in ``metrics`` and on the card, and tests/bench/bench_seeds.py reruns whole seeds.
SEED_MEMBERS = 5
STOCHASTIC_FAMILIES = ("random_forest", "extra_trees")
_SKLEARN_DEFAULT_TREES = 100


def seed_members(spec: ModelSpec) -> int:
    """How many independently seeded members a configuration's estimator averages (1: deterministic)."""
    return SEED_MEMBERS if spec.family in STOCHASTIC_FAMILIES else 1


def make_model(spec: ModelSpec, seed: int) -> ClassifierMixin | Pipeline:
    """A fresh, unfitted estimator for ``spec`` (scalers live inside the pipeline, so they are fitted
    on each training window only)."""
    params = dict(spec.params)
    if spec.family in STOCHASTIC_FAMILIES:
        trees = params.get("n_estimators", _SKLEARN_DEFAULT_TREES)
        if isinstance(trees, int) and not isinstance(trees, bool):  # else scikit-learn names the error
            params["n_estimators"] = trees * seed_members(spec)
    try:
        if spec.family == "random_forest":
            return RandomForestClassifier(random_state=seed, n_jobs=1, **params)
        if spec.family == "extra_trees":
            return ExtraTreesClassifier(random_state=seed, n_jobs=1, **params)
        if spec.family == "hist_gradient_boosting":
            return HistGradientBoostingClassifier(random_state=seed, early_stopping=False, **params)
        if spec.family == "logistic":
            return make_pipeline(
                StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed, **params)
            )
    except TypeError as exc:
        raise ConfigError(
            f"invalid hyperparameter: {exc}", source="sweep config", key=f"models.{spec.family}"
        ) from exc
    raise ConfigError("unknown model family", source="sweep config", key=f"models.{spec.family}")


def fit_model(
    spec: ModelSpec,
    X: pd.DataFrame,
    y: np.ndarray,
    seed: int,
    *,
    shuffle_labels: bool = False,
) -> ClassifierMixin | Pipeline:
    """Fit ``spec`` on one training window.

    ``shuffle_labels`` permutes the labels within this window (seeded): the negative control, which
    must leave no edge to find.
    """
    y = np.asarray(y, dtype="int8")
    if shuffle_labels:
        y = np.random.default_rng(seed).permutation(y)
    if np.unique(y).size < 2:
        raise ConfigError(
            f"the training window {X.index.min()}..{X.index.max()} has a single class",
            source="train",
            key=spec.config_id,
        )
    model = make_model(spec, seed)
    # One thread per fit: the configurations already fill the cores, and HistGradientBoosting's OpenMP
    # pool would otherwise oversubscribe them (measured: 30 s instead of 0.8 s for one fit).
    with threadpool_limits(limits=1):
        model.fit(X, y)
    return model


def predict_up_probability(model: Any, X: pd.DataFrame) -> np.ndarray:
    """P(target_up = 1) for each row."""
    classes = list(model.classes_)
    with threadpool_limits(limits=1):
        return np.asarray(model.predict_proba(X)[:, classes.index(1)], dtype="float64")


def member_probabilities(model: Any, X: pd.DataFrame, members: int) -> np.ndarray:
    """P(up) of each of the ``members`` seed members of a fitted estimator: ``len(X) x members``.

    A forest's trees are split into ``members`` consecutive groups (the members); a deterministic
    estimator (``members == 1``) is its own single member. The row mean equals the estimator's
    probability (up to rounding)."""
    if members == 1:
        return predict_up_probability(model, X)[:, None]
    trees = list(model.estimators_)
    if len(trees) % members:
        raise ValueError(f"{len(trees)} trees do not split into {members} seed members")
    column = list(model.classes_).index(1)
    values = np.asarray(X, dtype=np.float32)
    per_member = len(trees) // members
    out = np.empty((len(values), members))
    with threadpool_limits(limits=1):
        for k in range(members):
            group = trees[k * per_member : (k + 1) * per_member]
            out[:, k] = np.mean([tree.predict_proba(values)[:, column] for tree in group], axis=0)
    return out


def make_bundle(model: Any, strategy: Strategy) -> ModelBundle:
    """The registered artifact: the fitted estimator and the strategy that trades it (pickled as a
    plain dict that unpickles with scikit-learn alone, see :class:`ModelBundle`)."""
    strategy.check()
    return ModelBundle(model, strategy)


@dataclass(frozen=True)
class Scored:
    """A bundle applied to feature rows: P(up), the signal (1 long, 0 flat) and the position."""

    probability: np.ndarray
    signal: np.ndarray
    position: np.ndarray


def apply_bundle(bundle: ModelBundle | Mapping[str, Any], frame: pd.DataFrame) -> Scored:
    """Score ``frame`` with the bundle's estimator and apply its strategy (:meth:`Strategy.positions`,
    the one trade rule)."""
    typed = as_bundle(bundle)
    strategy = typed.strategy
    probability = predict_up_probability(typed.estimator, frame[list(strategy.feature_columns)])
    return Scored(probability, strategy.signal(frame, probability), strategy.positions(frame, probability))


def bundle_signal(
    bundle: ModelBundle | Mapping[str, Any], frame: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """(probability, signal) of a bundle on a feature frame (see :func:`apply_bundle`)."""
    scored = apply_bundle(bundle, frame)
    return scored.probability, scored.signal
