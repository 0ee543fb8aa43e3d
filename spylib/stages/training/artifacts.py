"""The values SpyFlow's steps pass: one result per step, whose fields are the artifacts the step sets.

The flow stores a result with :func:`set_artifacts` (every field under its own name, except those
marked ``internal``), so the artifact names are declared here, once, with their types.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from spylib.core.config import ModelSpec

if TYPE_CHECKING:  # pandas and the splits only annotate: the flow file imports this module in every task
    import pandas as pd

    from spylib.evaluation.gate import GateDecision
    from spylib.evaluation.record import Evidence
    from spylib.modelling.scoring import ConfigResult
    from spylib.modelling.strategy import ModelBundle, Strategy
    from spylib.modelling.walk_forward import Splits
    from spylib.reporting.evaluation_card import CardItem

INTERNAL = {"internal": True}  # a result's field that is not stored as an artifact


def _empty_frame() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame()


def set_artifacts(target: Any, result: Any) -> None:
    """Set every artifact field of the step result ``result`` on ``target`` (the flow), by its name."""
    for f in fields(result):
        if not f.metadata.get("internal"):
            setattr(target, f.name, getattr(result, f.name))


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
class IngestResult:
    """ingest: the aligned prices, where they came from, and the lake files staged so far."""

    prices: pd.DataFrame
    data_provenance: dict[str, Any]
    lake_files: dict[str, list[str]]


@dataclass(frozen=True)
class FeaturesResult:
    """features: the table (``features``, the public name; ``feature_table``, the same stored object
    that later steps read, since ``self.features`` is the step's method inside the flow), the model's
    columns, the look-ahead audit, the data-quality note, and the lake files staged so far."""

    features: pd.DataFrame
    feature_table: pd.DataFrame
    feature_columns: list[str]
    leakage_audit: dict[str, Any]
    data_quality: dict[str, Any]
    lake_files: dict[str, list[str]]


@dataclass(frozen=True)
class SplitResult:
    """split: the training data and its segments; the sweep's configurations and the foreach's batches."""

    training_data: TrainingData
    splits: Splits
    configs: list[ModelSpec]
    config_batches: list[list[ModelSpec]]


@dataclass(frozen=True)
class TrainResult:
    """train (one task: locally the whole sweep over a process pool): the scored configurations."""

    results: list[ConfigResult]


@dataclass(frozen=True)
class EvaluateResult:
    """evaluate: every trial, the walk-forward track and its refits, the final choice (as the trials
    row ``best`` and as the :class:`Strategy` every consumer applies) and model, the
    evidence (typed, and as the public ``metrics`` dict) and the gate's decision (typed, and as the
    public ``gate`` dict)."""

    trials: pd.DataFrame
    best: dict[str, Any]
    strategy: Strategy
    model: Any
    evidence: Evidence
    metrics: dict[str, Any]
    baselines: pd.DataFrame
    track: pd.DataFrame
    refits: pd.DataFrame
    importance: pd.DataFrame
    holdout_metrics: dict[str, Any]
    power: dict[str, Any]
    gate_decision: GateDecision
    gate: dict[str, Any]
    card_items: list[CardItem] = field(metadata=INTERNAL)
    # The chosen trial's out-of-sample record on every predicted day: monitoring's reference.
    reference_record: pd.DataFrame = field(default_factory=_empty_frame)


@dataclass(frozen=True)
class PredictResult:
    """predict: the registered bundle, the predictions, the prediction files, the lake files staged so
    far and the Glue report."""

    bundle: ModelBundle
    predictions: pd.DataFrame
    prediction_files: dict[str, str]
    lake_files: dict[str, list[str]]
    glue_catalog: dict[str, Any]


@dataclass(frozen=True)
class RegisterResult:
    """register: where the version went, and how it compared with the champion."""

    registration: dict[str, Any]
    champion_comparison: dict[str, Any]


@dataclass(frozen=True)
class EndResult:
    """end: the lake's publication and the final Glue report."""

    lake_publication: dict[str, Any]
    glue_catalog: dict[str, Any]
