"""data: see spylib.stages.training.evaluate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from spylib.modelling.strategy import ModelBundle, Strategy
from spylib.modelling.walk_forward import Splits

if TYPE_CHECKING:
    from spylib.evaluation.gate import GateDecision
    from spylib.reporting.evaluation_card import CardItem


@dataclass(frozen=True)
class TrainingData:
    """The feature table, the columns the model sees and the named segments: what every stage after
    ``split`` works on (the artifact ``training_data``; the same stored objects as ``feature_table``,
    ``feature_columns`` and ``splits``)."""

    features: pd.DataFrame
    feature_columns: tuple[str, ...]
    splits: Splits

    def segment(self, name: str) -> pd.DataFrame:
        return self.features.iloc[self.splits[name].rows()]


@dataclass(frozen=True)
class Ingested:
    prices: pd.DataFrame
    provenance: dict[str, Any]


@dataclass(frozen=True)
class Featurized:
    table: pd.DataFrame
    feature_columns: list[str]
    audit: dict[str, Any]
    data_quality: dict[str, Any]


@dataclass
class Evaluation:
    """The join's artifacts: every trial, the walk-forward track and its refits, the final choice and
    model, the evidence and the gate's decision."""

    trials: pd.DataFrame
    best: dict[str, Any]
    strategy: Strategy
    model: Any
    metrics: dict[str, Any]
    baselines: pd.DataFrame
    track: pd.DataFrame
    refits: pd.DataFrame
    importance: pd.DataFrame
    holdout_metrics: dict[str, Any]
    power: dict[str, Any]
    gate: GateDecision
    card_items: list[CardItem]


@dataclass(frozen=True)
class Prediction:
    """The predict step's artifacts: the registered bundle, the predictions and where they went."""

    bundle: ModelBundle
    predictions: pd.DataFrame
    files: dict[str, str]


@dataclass(frozen=True)
class Registered:
    """The register step's artifacts: where the version went, and how it compared with the champion."""

    registration: dict[str, Any]
    champion_comparison: dict[str, Any]
