"""The strategy that was judged, as one versioned value: what the gate judged is what runs.

A :class:`Strategy` is everything that turns a day's features into a position, except the fitted
estimator: the feature columns, a reference to the model (its configuration), the probability
threshold, the regime filter, the sizing and its parameters, the execution convention and the cost.
The walk-forward selection produces it (:func:`spylib.evaluation.selection.chosen_strategy`), the
bundle stores it next to the estimator (:class:`ModelBundle`), and every consumer applies it with
:meth:`Strategy.positions` (the one trade rule, :mod:`spylib.modelling.rule`): the track, the
predictions, PredictFlow, the serving container and monitoring.

Its JSON form (:meth:`Strategy.to_dict`) carries ``strategy_format_version``; :meth:`Strategy.from_dict`
refuses another version or a malformed field with one line naming the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from spylib.core.errors import ConfigError
from spylib.modelling import rule

STRATEGY_FORMAT_VERSION = 1
BUNDLE_FORMAT_VERSION = 1
LABEL_CONVENTIONS = ("close_to_close", "open_to_open")
VOLATILITY_WINDOW = 20  # the window of rule.VOLATILITY_COLUMN (vol_20)
UNRECORDED = "unrecorded"
SOURCE = "strategy"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ModelReference:
    """Which model the strategy trades: the configuration of the sweep (the fitted estimator itself
    lives in the bundle, beside the strategy)."""

    config_id: str
    family: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RegimeFilter:
    """Long only on rows where every flag column is 1 (no columns: no filter)."""

    columns: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "+".join(self.columns) if self.columns else "none"


@dataclass(frozen=True)
class Sizing:
    """How large a long position is: ``long_flat`` (1) or ``vol_target`` (``min(1, target /
    (sqrt(252) x vol))`` on the ``window``-day volatility ``column``)."""

    kind: str = "long_flat"
    target_volatility: float = 0.15
    window: int = VOLATILITY_WINDOW
    column: str = rule.VOLATILITY_COLUMN

    def describe(self) -> str:
        if self.kind == "long_flat":
            return "long/flat (a long position is 1)"
        return (
            f"volatility-targeted: {self.target_volatility:.0%} a year on the {self.window}-day "
            f"volatility ({self.column}), at most 1"
        )


@dataclass(frozen=True)
class Strategy:
    """One versioned strategy (see the module doc)."""

    symbol: str
    feature_columns: tuple[str, ...]
    model: ModelReference
    threshold: float
    regime_filter: RegimeFilter
    sizing: Sizing
    execution: str
    cost_bps: float

    # --- applying it ---------------------------------------------------------------------------
    def signal(self, frame: pd.DataFrame, probability: npt.ArrayLike) -> npt.NDArray[np.int8]:
        """1 (long) or 0 (flat) on each row: the threshold and the regime filter."""
        return rule.signal(probability, self.threshold, rule.filter_mask(frame, self.regime_filter.columns))

    def positions(self, frame: pd.DataFrame, probability: npt.ArrayLike) -> FloatArray:
        """The position on each row of ``frame`` given the model's P(up) on those rows."""
        return rule.rule_positions(
            probability,
            frame,
            self.threshold,
            self.regime_filter.columns,
            self.sizing.kind,
            self.sizing.target_volatility,
            self.sizing.column,
        )

    def net_returns(self, positions: npt.ArrayLike, fwd_return: npt.ArrayLike) -> FloatArray:
        """Net returns of holding ``positions`` (costs on every change, the first from flat)."""
        # Imported here: trading needs scipy (~1 s), which readers of a registry never do.
        from spylib.modelling.trading import strategy_returns

        return strategy_returns(positions, fwd_return, self.cost_bps)[1]

    @property
    def input_columns(self) -> list[str]:
        """The columns a frame needs: the features, then the filter and sizing columns not among them."""
        needed = list(self.feature_columns)
        extra = list(self.regime_filter.columns)
        if self.sizing.kind == "vol_target":
            extra.append(self.sizing.column)
        return needed + [c for c in dict.fromkeys(extra) if c not in needed]

    # --- its JSON form -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy_format_version": STRATEGY_FORMAT_VERSION,
            "symbol": self.symbol,
            "feature_columns": list(self.feature_columns),
            "model": {
                "config_id": self.model.config_id,
                "family": self.model.family,
                "params": dict(self.model.params),
            },
            "threshold": float(self.threshold),
            "regime_filter": {"columns": list(self.regime_filter.columns)},
            "sizing": {
                "kind": self.sizing.kind,
                "target_volatility": float(self.sizing.target_volatility),
                "window": int(self.sizing.window),
                "column": self.sizing.column,
            },
            "execution": self.execution,
            "cost_bps": float(self.cost_bps),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = SOURCE) -> Strategy:
        """Parse and validate the JSON form; ConfigError naming the key on any problem."""
        if not isinstance(raw, Mapping):
            raise ConfigError(f"expected an object, got {type(raw).__name__}", source=source)
        version = raw.get("strategy_format_version")
        if version != STRATEGY_FORMAT_VERSION:
            raise ConfigError(
                f"expected {STRATEGY_FORMAT_VERSION}, got {version!r}",
                source=source,
                key="strategy_format_version",
            )
        model = _mapping(raw, "model", source)
        sizing = _mapping(raw, "sizing", source)
        regime = _mapping(raw, "regime_filter", source)
        strategy = cls(
            symbol=_text(raw, "symbol", source),
            feature_columns=_names(raw, "feature_columns", source),
            model=ModelReference(
                config_id=_text(model, "config_id", source, "model."),
                family=_text(model, "family", source, "model."),
                params=dict(_mapping(model, "params", source, "model.")),
            ),
            threshold=_number(raw, "threshold", source),
            regime_filter=RegimeFilter(_names(regime, "columns", source, "regime_filter.", allow_empty=True)),
            sizing=Sizing(
                kind=_text(sizing, "kind", source, "sizing."),
                target_volatility=_number(sizing, "target_volatility", source, "sizing."),
                window=int(_number(sizing, "window", source, "sizing.")),
                column=_text(sizing, "column", source, "sizing."),
            ),
            execution=_text(raw, "execution", source),
            cost_bps=_number(raw, "cost_bps", source),
        )
        strategy.check(source)
        return strategy

    def check(self, source: str = SOURCE) -> None:
        """ConfigError naming the key when a value is out of its range."""
        if not self.feature_columns:
            raise ConfigError("must name at least one column", source=source, key="feature_columns")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"must be in [0, 1], got {self.threshold}", source=source, key="threshold")
        if self.sizing.kind not in rule.SIZINGS:
            raise ConfigError(
                f"must be one of {rule.SIZINGS}, got {self.sizing.kind!r}", source=source, key="sizing.kind"
            )
        if not self.sizing.target_volatility > 0:
            raise ConfigError("must be > 0", source=source, key="sizing.target_volatility")
        if self.execution not in LABEL_CONVENTIONS:
            raise ConfigError(
                f"must be one of {LABEL_CONVENTIONS}, got {self.execution!r}", source=source, key="execution"
            )
        if not self.cost_bps >= 0:
            raise ConfigError(f"must be >= 0, got {self.cost_bps}", source=source, key="cost_bps")

    def content_hash(self) -> str:
        """sha256 of the canonical JSON form (sorted keys): equal strategies, equal hashes."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def describe(self) -> list[str]:
        """The strategy in plain lines (``spy-flow show``)."""
        return [
            f"symbol: {self.symbol}; execution: {self.execution.replace('_', '-')}",
            f"model: {self.model.config_id}",
            f"features ({len(self.feature_columns)}): {', '.join(self.feature_columns)}",
            f"signal: long when P(up) >= {self.threshold:g} and regime filter {self.regime_filter.name}",
            f"sizing: {self.sizing.describe()}",
            f"cost: {self.cost_bps:g} bps per side, charged on every position change",
        ]


def trial_strategy(
    trial: Mapping[str, Any],
    *,
    symbol: str,
    feature_columns: Sequence[str],
    execution: str,
    cost_bps: float,
    target_volatility: float,
) -> Strategy:
    """The strategy of one row of the trials table (``config_id, family, params, threshold, filter,
    sizing``): what the selection chooses."""
    params = trial.get("params", "{}")
    name = str(trial["filter"])
    return Strategy(
        symbol=symbol,
        feature_columns=tuple(feature_columns),
        model=ModelReference(
            str(trial["config_id"]),
            str(trial["family"]),
            json.loads(params) if isinstance(params, str) else dict(params),
        ),
        threshold=float(trial["threshold"]),
        regime_filter=RegimeFilter(() if name == "none" else tuple(name.split("+"))),
        sizing=Sizing(str(trial["sizing"]), float(target_volatility)),
        execution=execution,
        cost_bps=float(cost_bps),
    )


@dataclass(frozen=True)
class ModelBundle:
    """The registered artifact, typed: the fitted estimator and the strategy that trades it.

    It is pickled as a plain dict (:meth:`to_payload`) that unpickles with scikit-learn alone (no
    spylib), so the SageMaker scikit-learn container can serve it: ``format_version``, ``estimator``,
    ``strategy`` (the JSON form) and, for readers that predate the strategy, its flat keys
    (``feature_columns``, ``threshold``, ``filter_columns``, ``label_convention``, ``symbol``,
    ``sizing``, ``target_volatility``).
    """

    estimator: Any
    strategy: Strategy
    pickled_with: Mapping[str, str] | None = None

    def to_payload(self) -> dict[str, Any]:
        s = self.strategy
        payload: dict[str, Any] = {
            "format_version": BUNDLE_FORMAT_VERSION,
            "estimator": self.estimator,
            "strategy": s.to_dict(),
            "feature_columns": list(s.feature_columns),
            "threshold": float(s.threshold),
            "filter_columns": list(s.regime_filter.columns),
            "label_convention": s.execution,
            "symbol": s.symbol,
            "sizing": s.sizing.kind,
            "target_volatility": float(s.sizing.target_volatility),
        }
        if self.pickled_with is not None:
            payload["pickled_with"] = dict(self.pickled_with)
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], source: str = "model bundle") -> ModelBundle:
        """The typed bundle of a payload; a payload registered before the strategy existed gets one
        from its flat keys (model ``unrecorded``, cost 0: the bundle did not record them)."""
        raw = payload.get("strategy")
        if raw is not None:
            strategy = Strategy.from_dict(raw, source=f"{source}, key 'strategy'")
        else:
            strategy = Strategy(
                symbol=str(payload["symbol"]),
                feature_columns=tuple(payload["feature_columns"]),
                model=ModelReference(UNRECORDED, type(payload["estimator"]).__name__),
                threshold=float(payload["threshold"]),
                regime_filter=RegimeFilter(tuple(payload.get("filter_columns") or ())),
                sizing=Sizing(
                    str(payload.get("sizing", "long_flat")), float(payload.get("target_volatility", 0.15))
                ),
                execution=str(payload["label_convention"]),
                cost_bps=0.0,
            )
        pickled = payload.get("pickled_with")
        return cls(payload["estimator"], strategy, dict(pickled) if isinstance(pickled, Mapping) else None)


def as_bundle(bundle: ModelBundle | Mapping[str, Any]) -> ModelBundle:
    """A typed bundle from either form (the registry loads payload dicts)."""
    return bundle if isinstance(bundle, ModelBundle) else ModelBundle.from_payload(bundle)


# --- parsing helpers ------------------------------------------------------------------------------
def _mapping(raw: Mapping[str, Any], key: str, source: str, prefix: str = "") -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise ConfigError("must be an object", source=source, key=f"{prefix}{key}")
    return value


def _text(raw: Mapping[str, Any], key: str, source: str, prefix: str = "") -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError("must be a non-empty string", source=source, key=f"{prefix}{key}")
    return value


def _number(raw: Mapping[str, Any], key: str, source: str, prefix: str = "") -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ConfigError(f"must be a finite number, got {value!r}", source=source, key=f"{prefix}{key}")
    return float(value)


def _names(
    raw: Mapping[str, Any], key: str, source: str, prefix: str = "", *, allow_empty: bool = False
) -> tuple[str, ...]:
    value = raw.get(key)
    if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
        raise ConfigError("must be a list of column names", source=source, key=f"{prefix}{key}")
    if not value and not allow_empty:
        raise ConfigError("must name at least one column", source=source, key=f"{prefix}{key}")
    return tuple(value)


@dataclass(frozen=True)
class TradeContext:
    """What a run fixes for every trial: the symbol, the feature columns, the execution convention,
    the cost and the sizing's target volatility. ``strategy(trial)`` makes a trial's strategy."""

    symbol: str
    feature_columns: tuple[str, ...]
    execution: str
    cost_bps: float
    target_volatility: float

    def strategy(self, trial: Mapping[str, Any]) -> Strategy:
        return trial_strategy(
            trial,
            symbol=self.symbol,
            feature_columns=self.feature_columns,
            execution=self.execution,
            cost_bps=self.cost_bps,
            target_volatility=self.target_volatility,
        )
