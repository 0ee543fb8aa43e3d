"""features: indicators and labels, the look-ahead audit on every run, the stale-open check; the table
staged in the lake."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.runtime import available_cores
from spylib.features.audit import AuditSample, audit_lookahead, stale_open_years
from spylib.features.table import build_features, feature_columns, load_extra_features
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import FeaturesResult
from spylib.stages.training.publish import stage_step_table


def block_boundaries(dates: Sequence[Any], block_months: int) -> list[Any]:
    """The first trading day of every walk-forward period (where a leak would cross blocks)."""
    d = pd.to_datetime(pd.Series(list(dates)))
    key = d.dt.year * 12 + (d.dt.month - 1) // block_months
    return [dates[int(i)] for i in np.flatnonzero(key.diff().fillna(0).to_numpy() != 0)]


def run_features(
    prices: pd.DataFrame, settings: TrainingSettings, run_id: str, staged: dict[str, list[str]]
) -> FeaturesResult:
    """The feature table and labels, audited for look-ahead (fails the run naming the feature); the
    years whose opens are stale; the table staged in the lake beside ``staged``."""
    data, plan = settings.data, settings.plan
    extra = load_extra_features(data.extra_features)
    table = build_features(prices, data.symbol, data.benchmark, plan.execution, extra)
    audited = audit_lookahead(
        prices,
        data.symbol,
        data.benchmark,
        extra=extra,
        sample=AuditSample(
            boundary_dates=block_boundaries(list(table["date"]), plan.sweep.walk_forward.block_months),
            seed=plan.seed,
        ),
        workers=available_cores(),  # the features task is alone on its machine
    )
    audit = {
        "method": "truncation invariance (largest moves, block boundaries, random days)",
        "dates": audited,
        "n_dates": len(audited),
        "features": len(table.columns),
        "passed": True,
    }
    quality = data_quality(prices, data.symbol, plan.execution, data.checks.stale_open_tolerance)
    lake_files = stage_step_table("features", table, settings.outputs, run_id, staged)
    return FeaturesResult(table, table, feature_columns(extra), audit, quality, lake_files)


def _year_ranges(years: Sequence[int]) -> str:
    """``[1999, 2000, 2001, 2006, 2012]`` -> ``"1999-2001, 2006, 2012"``."""
    runs: list[list[int]] = []
    for year in years:
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def data_quality(prices: pd.DataFrame, symbol: str, execution: str, tolerance: float) -> dict[str, Any]:
    """The years where at least half the opens lie within ``tolerance`` of the previous close (their
    shares), and what that means for this run, in a note."""
    stale = stale_open_years(prices, symbol, tolerance)
    quality: dict[str, Any] = {"stale_open_years": stale, "stale_open_tolerance": tolerance, "note": ""}
    if stale:
        consequence = (
            "those years are training data only: an open-to-open return there would be a close-to-close "
            "one, traded at the close that feeds the features, so no block there is scored or traded"
            if execution == "open_to_open"
            else "gap_open is about 0 there (the model learns nothing from it in those years)"
        )
        quality["note"] = (
            f"{symbol}'s opens are within {tolerance * 1e4:g} bp of the previous close on at least half the "
            f"days of {_year_ranges(sorted(stale))} "
            f"({', '.join(f'{y}: {v:.0%}' for y, v in sorted(stale.items()))}): {consequence}."
        )
        print(quality["note"])
    return quality
