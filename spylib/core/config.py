"""Typed run configuration, validated once when a run starts.

Two sources feed it: the flow's Parameters (scalars on the command line) and JSON config files (the
model sweep, the gate, the step resources, the schedule and the data checks) that a user replaces
without touching code. Unknown keys are errors, not silently ignored: a typo in a config must not
quietly fall back to a default.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from spylib.core.errors import ConfigError
from spylib.core.parsing import (
    is_int,
    is_number,
    reject_repeats,
    reject_unknown,
    require_mapping,
    require_nonempty_list,
)

EXECUTION_CONVENTIONS: tuple[str, ...] = ("close_to_close", "open_to_open")
# Rows a label spans per convention: close t -> close t+1 (1); open t+1 -> open t+2 (2).
LABEL_HORIZON: dict[str, int] = {"close_to_close": 1, "open_to_open": 2}
MODEL_FAMILIES: tuple[str, ...] = ("random_forest", "extra_trees", "hist_gradient_boosting", "logistic")
WALK_FORWARD_SCHEMES: tuple[str, ...] = ("expanding", "rolling")
# Position sizing rules: ``long_flat`` holds 1 when the signal is on; ``vol_target`` holds
# min(1, target_volatility / realized 20-day volatility), never levered.
SIZINGS: tuple[str, ...] = ("long_flat", "vol_target")
SELECTION_METRICS: tuple[str, ...] = ("sharpe_net", "psr")
# Flag columns a trade filter may require to be 1 (see spylib.features.table).
FILTER_COLUMNS: tuple[str, ...] = (
    "trend_up",
    "in_play_120",
    "in_play_150",
    "in_play_200",
    "low_vol",
    "regime_bull",
    "not_bear",
)


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
class WalkForwardConfig:
    """Walk-forward retraining over the whole history.

    After at least ``min_train_days`` labelled rows, the history is cut into contiguous blocks of
    ``block_months`` calendar months. Every block is predicted by each configuration fitted only on the
    rows before it (all of them: ``expanding``; the last ``rolling_days``: ``rolling``), minus a purge of
    the label span and an embargo of ``embargo_days`` rows (at least the longest feature window, so no
    training row's features overlap the predicted block). The first ``min_selection_blocks`` predicted
    blocks only feed the selection; every later block is traded by the trial selected on the blocks
    before it. ``holdout_start`` (ISO date, optional) keeps the days from that date on untouched until
    one final evaluation.

    Cost: under ``expanding`` every fit sees every row before its block, so the training work grows with
    blocks x rows (about the square of the history's length); under ``rolling`` every fit sees at most
    ``rolling_days`` rows, so it grows with the blocks (linearly). The scheme is a modelling choice, not
    a speed switch: the two give different fits once the history exceeds ``rolling_days`` (the first
    blocks, before the window is full, are the same). The trials ledger keys a ``rolling`` run's trials
    by their window, so a second run with the other scheme on the same data adds its trials to the
    deflated Sharpe ratio's N instead of passing as the same trials.
    """

    block_months: int = 12
    scheme: str = "expanding"
    min_train_days: int = 750
    rolling_days: int = 1500
    embargo_days: int = 60
    min_selection_blocks: int = 2


@dataclass(frozen=True)
class SweepConfig:
    """The model grid, the trade-rule grid (threshold x filter x sizing) and the selection rule."""

    models: tuple[ModelSpec, ...]
    thresholds: tuple[float, ...]
    filters: tuple[tuple[str, ...], ...] = ((),)
    sizings: tuple[str, ...] = ("long_flat",)
    target_volatility: float = 0.15
    walk_forward: WalkForwardConfig = field(default_factory=WalkForwardConfig)
    selection_metric: str = "sharpe_net"

    @property
    def rules_per_model(self) -> int:
        return len(self.thresholds) * len(self.filters) * len(self.sizings)

    @property
    def n_trials(self) -> int:
        """Every (configuration, threshold, filter, sizing) combination counts as a trial."""
        return len(self.models) * self.rules_per_model


@dataclass(frozen=True)
class GateConfig:
    """The quality gate: Approved only if every check holds (see spylib.evaluation.gate).

    ``min_trades_per_year`` and ``min_exposure`` are also the selection's eligibility rule, so the
    selection never picks a trial the gate would reject for inactivity.
    """

    min_dsr: float = 0.95
    dsr_trials: str = "effective"
    # PSR(0) and CSCV's P(OOS loss) ask whether returns are positive, which a long-biased rule with no
    # model achieves in a rising market: reported always, gated only when set (see evaluation.gate).
    min_psr: float | None = None
    # Beat buy-and-hold and the vol-targeted always-long rule by the bootstrap test (evaluation.evidence).
    require_beat_buy_and_hold: bool = True
    require_beat_vol_target: bool = True
    max_difference_p_value: float = 0.05
    bootstrap_replicates: int = 999
    bootstrap_block_lengths: tuple[int, ...] = (5, 10, 20, 40, 60, 120)
    # The PBO (a rank statistic) is ~0.5 whenever the trials are equally good: gated only when set.
    max_pbo: float | None = None
    max_prob_oos_loss: float | None = None
    min_trades_per_year: float = 10.0
    min_exposure: float = 0.1
    min_auc_lower: float = 0.5
    # Champion/challenger on registration (spylib.evaluation.champion): the common recent days compared,
    # the annualized Sharpe the challenger may lose and still count as not worse, the test's level.
    champion_days: int = 756
    champion_margin: float = 0.2
    champion_alpha: float = 0.05


@dataclass(frozen=True)
class StepResources:
    cpu: int = 1
    memory: int = 4096


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
        reject_repeats(options, source, f"models.{family}.{key}")
        values.append(options)
    return [ModelSpec(family, dict(zip(keys, combo, strict=True))) for combo in itertools.product(*values)]


def _parse_thresholds(value: Any, source: str) -> tuple[float, ...]:
    """The sweep's trade thresholds: a non-empty list of distinct probabilities in (0, 1)."""
    thresholds = require_nonempty_list(value, source, "thresholds", "probabilities")
    for i, t in enumerate(thresholds):
        if not isinstance(t, int | float) or not (0.0 < float(t) < 1.0) or math.isnan(float(t)):
            raise ConfigError(f"threshold {t!r} is outside (0, 1)", source=source, key=f"thresholds[{i}]")
    reject_repeats(thresholds, source, "thresholds")
    return tuple(float(t) for t in thresholds)


def _parse_filters(value: Any, source: str) -> tuple[tuple[str, ...], ...]:
    """The sweep's trade filters: a non-empty list of distinct lists of flag columns."""
    filters_raw = require_nonempty_list(value, source, "filters", "filter lists")
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
    reject_repeats(filters_raw, source, "filters", as_sets=True)
    return tuple(filters)


def _parse_walk_forward(raw: Any, source: str) -> WalkForwardConfig:
    """The sweep's ``walk_forward`` object: known keys, valid values, a rolling window that can train."""
    wf_raw = require_mapping(raw, source, "walk_forward")
    reject_unknown(wf_raw, list(WalkForwardConfig.__dataclass_fields__), source, "walk_forward.")
    for key, value in wf_raw.items():
        if key == "scheme":
            if value not in WALK_FORWARD_SCHEMES:
                raise ConfigError(
                    f"unknown scheme {value!r} (known: {', '.join(WALK_FORWARD_SCHEMES)})",
                    source=source,
                    key="walk_forward.scheme",
                )
        elif key == "block_months":
            if value not in (1, 2, 3, 4, 6, 12):
                raise ConfigError(
                    f"must divide a year (1, 2, 3, 4, 6 or 12), got {value!r}",
                    source=source,
                    key="walk_forward.block_months",
                )
        elif not is_int(value) or value < (0 if key == "embargo_days" else 1):
            kind = "non-negative" if key == "embargo_days" else "positive"
            raise ConfigError(
                f"must be a {kind} integer, got {value!r}", source=source, key=f"walk_forward.{key}"
            )
    walk_forward = WalkForwardConfig(**wf_raw)
    if walk_forward.scheme == "rolling" and walk_forward.rolling_days < walk_forward.min_train_days:
        raise ConfigError(
            f"a rolling window of {walk_forward.rolling_days} days never holds min_train_days="
            f"{walk_forward.min_train_days}: no block could be trained",
            source=source,
            key="walk_forward.rolling_days",
        )
    return walk_forward


def parse_sweep(raw: Mapping[str, Any], source: str = "sweep config") -> SweepConfig:
    """Validate a sweep config dict (the JSON of ``flows/config/sweep.json``)."""
    raw = require_mapping(raw, source, "<root>")
    keys = ["models", "thresholds", "filters", "sizings", "target_volatility", "walk_forward", "selection"]
    reject_unknown(raw, keys, source)
    models_raw = require_mapping(raw.get("models", {}), source, "models")
    models: list[ModelSpec] = []
    for family, grid in models_raw.items():
        models.extend(expand_grid(family, require_mapping(grid, source, f"models.{family}"), source))
    if not models:
        raise ConfigError(
            "the model grid is empty: give at least one configuration", source=source, key="models"
        )
    thresholds = _parse_thresholds(raw.get("thresholds", [0.5]), source)
    filters = _parse_filters(raw.get("filters", [[]]), source)
    sizings = require_nonempty_list(raw.get("sizings", ["long_flat"]), source, "sizings", "sizing rules")
    for i, name in enumerate(sizings):
        if name not in SIZINGS:
            raise ConfigError(
                f"unknown sizing {name!r} (known: {', '.join(SIZINGS)})", source=source, key=f"sizings[{i}]"
            )
    reject_repeats(sizings, source, "sizings")
    target_vol = raw.get("target_volatility", 0.15)
    if not is_number(target_vol) or not 0 < target_vol <= 1:
        raise ConfigError(
            f"must be an annualized volatility in (0, 1], got {target_vol!r}",
            source=source,
            key="target_volatility",
        )
    walk_forward = _parse_walk_forward(raw.get("walk_forward", {}), source)
    sel_raw = require_mapping(raw.get("selection", {}), source, "selection")
    reject_unknown(sel_raw, ["metric"], source, "selection.")
    metric = sel_raw.get("metric", "sharpe_net")
    if metric not in SELECTION_METRICS:
        raise ConfigError(
            f"metric must be one of {', '.join(SELECTION_METRICS)}", source=source, key="selection.metric"
        )
    return SweepConfig(
        models=tuple(models),
        thresholds=thresholds,
        filters=filters,
        sizings=tuple(sizings),
        target_volatility=float(target_vol),
        walk_forward=walk_forward,
        selection_metric=metric,
    )


def parse_resources(raw: Mapping[str, Any], source: str = "resources config") -> dict[str, StepResources]:
    """Per-step cpu/memory for ``@resources`` (used on AWS Batch; ignored by local runs)."""
    raw = require_mapping(raw, source, "<root>")
    out: dict[str, StepResources] = {}
    for step, spec in raw.items():
        spec = require_mapping(spec, source, step)
        reject_unknown(spec, ["cpu", "memory"], source, f"{step}.")
        for key, value in spec.items():
            if not is_int(value) or value < 1:
                raise ConfigError(
                    f"must be a positive integer, got {value!r}", source=source, key=f"{step}.{key}"
                )
        out[step] = StepResources(**spec)
    return out


_UNIT_INTERVAL_KEYS = (
    "min_dsr",
    "min_psr",
    "max_difference_p_value",
    "max_pbo",
    "max_prob_oos_loss",
    "min_exposure",
    "champion_alpha",
    "min_auc_lower",
)


def parse_gate(raw: Mapping[str, Any], source: str = "gate config") -> GateConfig:
    raw = require_mapping(raw, source, "<root>")
    reject_unknown(raw, list(GateConfig.__dataclass_fields__), source)
    values = dict(raw)
    for key, value in raw.items():
        if key in ("require_beat_buy_and_hold", "require_beat_vol_target"):
            if not isinstance(value, bool):
                raise ConfigError(f"must be true or false, got {value!r}", source=source, key=key)
        elif key in ("max_pbo", "min_psr", "max_prob_oos_loss") and value is None:
            continue
        elif key == "champion_days":
            if not is_int(value) or value < 1:
                raise ConfigError(f"must be a positive integer, got {value!r}", source=source, key=key)
        elif key == "bootstrap_replicates":
            if not is_int(value) or value < 99:
                raise ConfigError(f"must be an integer >= 99, got {value!r}", source=source, key=key)
        elif key == "bootstrap_block_lengths":
            if not isinstance(value, list) or not value or not all(is_int(v) and v >= 1 for v in value):
                raise ConfigError(f"must list positive integers, got {value!r}", source=source, key=key)
            values[key] = tuple(value)
        elif key == "dsr_trials":
            if value not in ("effective", "all"):
                raise ConfigError(f"must be 'effective' or 'all', got {value!r}", source=source, key=key)
        elif not is_number(value) or value < 0:
            raise ConfigError(f"must be a non-negative number, got {value!r}", source=source, key=key)
        elif key in _UNIT_INTERVAL_KEYS and value > 1:
            raise ConfigError(f"must be within [0, 1], got {value!r}", source=source, key=key)
    return GateConfig(**values)


SEVERITIES: tuple[str, ...] = ("error", "warning")


@dataclass(frozen=True)
class AcceptedMove:
    """A real extreme day the plausibility checks accept: ``day`` for ``symbol`` (None: every symbol)."""

    day: date
    symbol: str | None = None
    note: str = ""


@dataclass(frozen=True)
class DataChecks:
    """The plausibility and calendar rules of ingest (:mod:`spylib.data.validation`; the JSON of
    ``flows/config/data_checks.json``, every key optional).

    * ``max_price`` / ``max_volume``: a larger value is absurd, not data (an error naming the cell);
    * ``max_daily_move``: a close-to-close move of the adjusted close beyond this fraction (0.25 = 25%)
      is an error naming the date and what it looks like (a spike that reverts, an unadjusted split,
      a jump of the adjustment factor ``adj_close / close``) unless the day is in ``accepted_moves``;
    * ``max_day_range``: ``high / low - 1`` beyond this fraction is an error (a spike in high or low),
      unless the day is in ``accepted_moves``;
    * ``max_gap_days``: a hole of more calendar days between two rows is missing data (per file and on
      the aligned calendar);
    * ``max_dropped_share``: aligning the two symbols may drop at most this share of either one's rows;
    * ``weekend_dates``: a Saturday or Sunday row is an ``"error"``, or a ``"warning"`` (the row is
      dropped, with a log line);
    * ``max_zero_volume_days`` / ``zero_volume_runs``: a run of at least that many consecutive rows with
      zero volume is an ``"error"`` or a ``"warning"`` (logged, rows kept);
    * ``stale_open_tolerance``: an open within this fraction of the previous close (1e-4 = 1 bp; 0 =
      exact equality) is stale; a year with at least half its opens stale is never scored or traded.

    Bars must be daily (the median step between rows is one trading day): not configurable.
    """

    max_price: float = 1e7
    max_volume: float = 1e12
    max_daily_move: float = 0.25
    max_day_range: float = 0.5
    accepted_moves: tuple[AcceptedMove, ...] = ()
    max_gap_days: int = 14
    max_dropped_share: float = 0.05
    weekend_dates: str = "error"
    max_zero_volume_days: int = 5
    zero_volume_runs: str = "error"
    stale_open_tolerance: float = 1e-4

    def accepts(self, symbol: str, day: date) -> bool:
        """Whether ``day`` of ``symbol`` is listed in ``accepted_moves``."""
        return any(m.day == day and m.symbol in (None, symbol) for m in self.accepted_moves)


DEFAULT_DATA_CHECKS = DataChecks()
MAX_STALE_OPEN_TOLERANCE = 0.01  # 1% would call ordinary overnight gaps stale: a typo


def _parse_accepted_moves(raw: Any, source: str) -> tuple[AcceptedMove, ...]:
    if not isinstance(raw, list):
        raise ConfigError(
            f'expected a list of {{"date": "YYYY-MM-DD", "symbol": ...}} objects, got {type(raw).__name__}',
            source=source,
            key="accepted_moves",
        )
    out = []
    for i, item in enumerate(raw):
        key = f"accepted_moves[{i}]"
        item = require_mapping(item, source, key)
        reject_unknown(item, ["date", "symbol", "note"], source, f"{key}.")
        text = item.get("date")
        try:
            day = date.fromisoformat(text) if isinstance(text, str) else None
        except ValueError:
            day = None
        if day is None:
            raise ConfigError(f"expected a YYYY-MM-DD date, got {text!r}", source=source, key=f"{key}.date")
        symbol = item.get("symbol")
        if symbol is not None and (not isinstance(symbol, str) or not symbol.strip()):
            raise ConfigError(f"expected a symbol, got {symbol!r}", source=source, key=f"{key}.symbol")
        note = item.get("note", "")
        if not isinstance(note, str):
            raise ConfigError(f"expected text, got {note!r}", source=source, key=f"{key}.note")
        out.append(AcceptedMove(day, symbol.strip().upper() if symbol else None, note))
    return tuple(out)


def parse_data_checks(raw: Mapping[str, Any], source: str = "data checks config") -> DataChecks:
    """Validate a data-checks dict (the JSON of ``flows/config/data_checks.json``)."""
    raw = require_mapping(raw, source, "<root>")
    reject_unknown(raw, list(DataChecks.__dataclass_fields__), source)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "accepted_moves":
            values[key] = _parse_accepted_moves(value, source)
        elif key in ("weekend_dates", "zero_volume_runs"):
            if value not in SEVERITIES:
                raise ConfigError(f"must be 'error' or 'warning', got {value!r}", source=source, key=key)
            values[key] = value
        elif key in ("max_gap_days", "max_zero_volume_days"):
            if not is_int(value) or value < 1:
                raise ConfigError(f"must be a positive integer, got {value!r}", source=source, key=key)
            values[key] = value
        elif key == "stale_open_tolerance":
            if not is_number(value) or not 0 <= value < MAX_STALE_OPEN_TOLERANCE:
                raise ConfigError(f"must be within [0, 0.01), got {value!r}", source=source, key=key)
            values[key] = float(value)
        elif key == "max_dropped_share":
            if not is_number(value) or not 0 <= value <= 1:
                raise ConfigError(f"must be a share within [0, 1], got {value!r}", source=source, key=key)
            values[key] = float(value)
        elif not is_number(value) or value <= 0:
            raise ConfigError(f"must be a positive number, got {value!r}", source=source, key=key)
        else:
            values[key] = float(value)
    return DataChecks(**values)


def parse_holdout_start(value: str, source: str = "--holdout-start") -> date | None:
    """``""`` (no holdout) or a ``YYYY-MM-DD`` date: the first day of the untouched final holdout."""
    text = value.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{text!r} is not a YYYY-MM-DD date", source=source) from exc


def validate_cost_bps(cost_bps: float, source: str = "--cost-bps") -> float:
    if not math.isfinite(cost_bps):
        raise ConfigError(
            f"cost must be a finite number of basis points per side, got {cost_bps}", source=source
        )
    if cost_bps < 0:
        raise ConfigError(f"cost must be >= 0 basis points per side, got {cost_bps}", source=source)
    return float(cost_bps)


# scikit-learn (numpy's legacy RandomState) takes seeds in [0, 2**32 - 1].
MAX_SEED = 2**32 - 1


def validate_seed(seed: Any, source: str = "--seed") -> int:
    """An integer seed in ``0 .. 2**32 - 1`` (what every scikit-learn ``random_state`` accepts)."""
    if not is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"must be an integer in 0 .. {MAX_SEED} (2**32 - 1), got {seed!r}", source=source)
    return int(seed)


def validate_convention(convention: str, source: str = "--execution") -> str:
    if convention not in EXECUTION_CONVENTIONS:
        raise ConfigError(
            f"unknown convention {convention!r} (known: {', '.join(EXECUTION_CONVENTIONS)})", source=source
        )
    return convention
