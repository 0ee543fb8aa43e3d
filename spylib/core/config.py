"""Typed run configuration, validated once when a run starts.

Two sources feed it: the flow's Parameters (scalars on the command line) and two JSON config files
(the model sweep and the step resources) that a user replaces without touching code. Unknown keys
are errors, not silently ignored: a typo in a config must not quietly fall back to a default.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from spylib.core.errors import ConfigError

ExecutionConvention = Literal["close_to_close", "open_to_open"]
EXECUTION_CONVENTIONS: tuple[str, ...] = ("close_to_close", "open_to_open")
# Rows a label spans per convention: close t -> close t+1 (1); open t+1 -> open t+2 (2).
LABEL_HORIZON: dict[str, int] = {"close_to_close": 1, "open_to_open": 2}
MODEL_FAMILIES: tuple[str, ...] = ("random_forest", "extra_trees", "hist_gradient_boosting", "logistic")
CV_SCHEMES: tuple[str, ...] = ("expanding", "rolling")
# Flag columns a trade filter may require to be 1 (see spylib.research.features).
FILTER_COLUMNS: tuple[str, ...] = (
    "trend_up", "in_play_120", "in_play_150", "in_play_200", "low_vol", "regime_bull", "not_bear",
)  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    """One model configuration of the sweep: a family and its hyperparameters."""

    family: str
    params: Mapping[str, Any]

    @property
    def config_id(self) -> str:
        """A stable, readable id, e.g. ``random_forest(max_depth=3,n_estimators=200)``."""
        inner = ",".join(f"{k}={self.params[k]}" for k in sorted(self.params))
        return f"{self.family}({inner})"


@dataclass(frozen=True)
class CVConfig:
    """Walk-forward cross-validation over train + validation.

    ``embargo_days`` trading days are dropped from the training block before each scored block, on
    top of the purge of rows whose label span reaches into it; it defaults to at least the longest
    feature window so no training row's features overlap the scored block's.
    """

    scheme: str = "expanding"
    n_folds: int = 5
    embargo_days: int = 60
    min_train_days: int = 500


@dataclass(frozen=True)
class SweepConfig:
    """The model grid, the trade-filter grid and the selection rule."""

    models: tuple[ModelSpec, ...]
    thresholds: tuple[float, ...]
    filters: tuple[tuple[str, ...], ...] = ((),)
    cv: CVConfig = field(default_factory=CVConfig)
    selection_metric: str = "sharpe_net"
    min_trades: int = 20

    @property
    def n_trials(self) -> int:
        """Every (configuration, threshold, filter) combination counts as a trial."""
        return len(self.models) * len(self.thresholds) * len(self.filters)


@dataclass(frozen=True)
class GateConfig:
    """The quality gate: Approved only if every check holds."""

    min_dsr: float = 0.95
    require_beat_buy_and_hold: bool = True
    max_pbo: float = 0.5
    min_trades: int = 20
    min_auc_lower: float = 0.5


@dataclass(frozen=True)
class StepResources:
    cpu: int = 1
    memory: int = 4096


def _reject_unknown(raw: Mapping[str, Any], allowed: Sequence[str], source: str, prefix: str = "") -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                f"unknown key (allowed: {', '.join(sorted(allowed))})", source=source, key=f"{prefix}{key}"
            )


def _is_int(value: Any) -> bool:
    """A JSON integer (``true``/``false`` are not numbers here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite JSON number (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _require_mapping(value: Any, source: str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected an object, got {type(value).__name__}", source=source, key=key)
    return value


def expand_grid(family: str, grid: Mapping[str, Any], source: str) -> list[ModelSpec]:
    """Cartesian product of a family's hyperparameter lists, in a stable (sorted-key) order."""
    if family not in MODEL_FAMILIES:
        raise ConfigError(
            f"unknown model family (known: {', '.join(MODEL_FAMILIES)})",
            source=source,
            key=f"models.{family}",
        )
    keys = sorted(grid)
    values = []
    for key in keys:
        options = grid[key]
        if not isinstance(options, list) or not options:
            raise ConfigError(
                "expected a non-empty list of values", source=source, key=f"models.{family}.{key}"
            )
        values.append(options)
    return [ModelSpec(family, dict(zip(keys, combo, strict=True))) for combo in itertools.product(*values)]


def parse_sweep(raw: Mapping[str, Any], source: str = "sweep config") -> SweepConfig:
    """Validate a sweep config dict (the JSON of ``flows/config/sweep.json``)."""
    raw = _require_mapping(raw, source, "<root>")
    _reject_unknown(raw, ["models", "thresholds", "filters", "cv", "selection"], source)
    models_raw = _require_mapping(raw.get("models", {}), source, "models")
    models: list[ModelSpec] = []
    for family, grid in models_raw.items():
        models.extend(expand_grid(family, _require_mapping(grid, source, f"models.{family}"), source))
    if not models:
        raise ConfigError(
            "the model grid is empty: give at least one configuration", source=source, key="models"
        )

    thresholds = raw.get("thresholds", [0.5])
    if not isinstance(thresholds, list) or not thresholds:
        raise ConfigError("expected a non-empty list of probabilities", source=source, key="thresholds")
    for i, t in enumerate(thresholds):
        if not isinstance(t, int | float) or not (0.0 < float(t) < 1.0) or math.isnan(float(t)):
            raise ConfigError(f"threshold {t!r} is outside (0, 1)", source=source, key=f"thresholds[{i}]")

    filters_raw = raw.get("filters", [[]])
    if not isinstance(filters_raw, list) or not filters_raw:
        raise ConfigError("expected a non-empty list of filter lists", source=source, key="filters")
    filters: list[tuple[str, ...]] = []
    for i, combo in enumerate(filters_raw):
        if not isinstance(combo, list):
            raise ConfigError("expected a list of flag column names", source=source, key=f"filters[{i}]")
        for name in combo:
            if name not in FILTER_COLUMNS:
                raise ConfigError(
                    f"unknown filter {name!r} (known: {', '.join(FILTER_COLUMNS)})",
                    source=source,
                    key=f"filters[{i}]",
                )
        filters.append(tuple(combo))

    cv_raw = _require_mapping(raw.get("cv", {}), source, "cv")
    _reject_unknown(cv_raw, ["scheme", "n_folds", "embargo_days", "min_train_days"], source, "cv.")
    cv = CVConfig(**cv_raw)
    if cv.scheme not in CV_SCHEMES:
        raise ConfigError(
            f"unknown scheme {cv.scheme!r} (known: {', '.join(CV_SCHEMES)})", source=source, key="cv.scheme"
        )
    if not isinstance(cv.n_folds, int) or cv.n_folds < 2:
        raise ConfigError("need at least 2 folds", source=source, key="cv.n_folds")
    if not isinstance(cv.embargo_days, int) or cv.embargo_days < 0:
        raise ConfigError("must be a non-negative integer", source=source, key="cv.embargo_days")
    if not _is_int(cv.min_train_days) or cv.min_train_days < 1:
        raise ConfigError(
            f"must be a positive integer, got {cv.min_train_days!r}", source=source, key="cv.min_train_days"
        )

    sel_raw = _require_mapping(raw.get("selection", {}), source, "selection")
    _reject_unknown(sel_raw, ["metric", "min_trades"], source, "selection.")
    metric = sel_raw.get("metric", "sharpe_net")
    if metric not in ("sharpe_net", "auc", "psr"):
        raise ConfigError("metric must be one of sharpe_net, auc, psr", source=source, key="selection.metric")
    min_trades = sel_raw.get("min_trades", 20)
    if not _is_int(min_trades) or min_trades < 0:
        raise ConfigError(
            f"must be a non-negative integer, got {min_trades!r}", source=source, key="selection.min_trades"
        )
    return SweepConfig(
        models=tuple(models),
        thresholds=tuple(float(t) for t in thresholds),
        filters=tuple(filters),
        cv=cv,
        selection_metric=metric,
        min_trades=int(min_trades),
    )


def parse_resources(raw: Mapping[str, Any], source: str = "resources config") -> dict[str, StepResources]:
    """Per-step cpu/memory for ``@resources`` (used on AWS Batch; ignored by local runs)."""
    raw = _require_mapping(raw, source, "<root>")
    out: dict[str, StepResources] = {}
    for step, spec in raw.items():
        spec = _require_mapping(spec, source, step)
        _reject_unknown(spec, ["cpu", "memory"], source, f"{step}.")
        for key, value in spec.items():
            if not _is_int(value) or value < 1:
                raise ConfigError(
                    f"must be a positive integer, got {value!r}", source=source, key=f"{step}.{key}"
                )
        out[step] = StepResources(**spec)
    return out


def parse_gate(raw: Mapping[str, Any], source: str = "gate config") -> GateConfig:
    raw = _require_mapping(raw, source, "<root>")
    _reject_unknown(raw, list(GateConfig.__dataclass_fields__), source)
    for key, value in raw.items():
        if key == "require_beat_buy_and_hold":
            if not isinstance(value, bool):
                raise ConfigError(f"must be true or false, got {value!r}", source=source, key=key)
        elif key == "min_trades":
            if not _is_int(value) or value < 0:
                raise ConfigError(f"must be a non-negative integer, got {value!r}", source=source, key=key)
        elif not _is_number(value):
            raise ConfigError(f"must be a number, got {value!r}", source=source, key=key)
    return GateConfig(**raw)


def load_json_config(path: str | Path) -> dict[str, Any]:
    """Read a JSON config file; a syntax error names the file, line and column."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(p)) from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", source=str(p)
        ) from exc
    if not isinstance(value, dict):
        raise ConfigError("expected a JSON object at the top level", source=str(p))
    return value


@dataclass(frozen=True)
class SplitBoundaries:
    """First dates of validation, test and production (train starts at the first usable row).

    ``None`` means: derive from the data span with the seed's 40/10/10/40 row fractions.
    """

    validation_start: date | None = None
    test_start: date | None = None
    production_start: date | None = None


def parse_split_dates(value: str, source: str = "--split-dates") -> SplitBoundaries:
    """Parse ``"YYYY-MM-DD,YYYY-MM-DD,YYYY-MM-DD"`` (validation, test, production starts) or ``""``."""
    if not value.strip():
        return SplitBoundaries()
    parts = [p.strip() for p in value.split(",")]
    names = ("validation_start", "test_start", "production_start")
    if len(parts) != 3:
        raise ConfigError("expected three dates: validation,test,production starts", source=source)
    parsed: list[date] = []
    for name, text in zip(names, parts, strict=True):
        try:
            parsed.append(date.fromisoformat(text))
        except ValueError as exc:
            raise ConfigError(f"{text!r} is not a YYYY-MM-DD date", source=source, key=name) from exc
    if not (parsed[0] < parsed[1] < parsed[2]):
        raise ConfigError("the three dates must be strictly increasing", source=source)
    return SplitBoundaries(*parsed)


def validate_cost_bps(cost_bps: float, source: str = "--cost-bps") -> float:
    if math.isnan(cost_bps) or cost_bps < 0:
        raise ConfigError(f"cost must be >= 0 basis points per side, got {cost_bps}", source=source)
    return float(cost_bps)


def validate_convention(convention: str, source: str = "--execution") -> str:
    if convention not in EXECUTION_CONVENTIONS:
        raise ConfigError(
            f"unknown convention {convention!r} (known: {', '.join(EXECUTION_CONVENTIONS)})", source=source
        )
    return convention
