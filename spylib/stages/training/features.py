"""features: see spylib.stages.training.evaluate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from spylib.features.audit import audit_lookahead, stale_open_years
from spylib.features.table import (
    WARMUP_ROWS,
    build_features,
    feature_columns,
    load_extra_features,
)
from spylib.modelling.walk_forward import walk_forward_splits
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import Featurized


def check_walk_forward(prices: pd.DataFrame, settings: TrainingSettings) -> None:
    """Cut the walk-forward on the dates the feature table will have (the warm-up dropped, the last
    ``label_horizon`` rows unlabelled, stale-open years unscored under ``open_to_open``), so a
    ``min_train_days`` longer than the data or a holdout outside it fails in ``ingest``, before any
    lake write, with the message ``split`` would give."""
    dates = sorted(set(prices.loc[prices["symbol"] == settings.symbol, "date"]))[WARMUP_ROWS:]
    if not dates:
        return  # require_history has refused it already
    labelled = np.arange(len(dates)) < len(dates) - settings.label_horizon
    unscored = None
    if settings.execution == "open_to_open":
        stale = set(stale_open_years(prices, settings.symbol, settings.data_checks.stale_open_tolerance))
        if stale:
            unscored = np.array([d.year in stale for d in dates])
    walk_forward_splits(
        dates,
        labelled,
        settings.sweep.walk_forward,
        settings.label_horizon,
        holdout_start=settings.holdout_start,
        unscored=unscored,
    )


def block_boundaries(dates: Sequence[Any], block_months: int) -> list[Any]:
    """The first trading day of every walk-forward period (where a leak would cross blocks)."""
    d = pd.to_datetime(pd.Series(list(dates)))
    key = d.dt.year * 12 + (d.dt.month - 1) // block_months
    return [dates[int(i)] for i in np.flatnonzero(key.diff().fillna(0).to_numpy() != 0)]


def _year_ranges(years: Sequence[int]) -> str:
    """``[1999, 2000, 2001, 2006, 2012]`` -> ``"1999-2001, 2006, 2012"``."""
    runs: list[list[int]] = []
    for year in years:
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def run_features(prices: pd.DataFrame, settings: TrainingSettings) -> Featurized:
    extra = load_extra_features(settings.extra_features)
    table = build_features(prices, settings.symbol, settings.benchmark, settings.execution, extra)
    audited = audit_lookahead(
        prices,
        settings.symbol,
        settings.benchmark,
        extra=extra,
        seed=settings.seed,
        boundary_dates=block_boundaries(list(table["date"]), settings.sweep.walk_forward.block_months),
    )
    audit = {
        "method": "truncation invariance (largest moves, block boundaries, random days)",
        "dates": audited,
        "n_dates": len(audited),
        "features": len(table.columns),
        "passed": True,
    }
    tolerance = settings.data_checks.stale_open_tolerance
    stale = stale_open_years(prices, settings.symbol, tolerance)
    quality: dict[str, Any] = {"stale_open_years": stale, "stale_open_tolerance": tolerance, "note": ""}
    if stale:
        consequence = (
            "those years are training data only: an open-to-open return there would be a close-to-close "
            "one, traded at the close that feeds the features, so no block there is scored or traded"
            if settings.execution == "open_to_open"
            else "gap_open is about 0 there (the model learns nothing from it in those years)"
        )
        quality["note"] = (
            f"{settings.symbol}'s opens are within {tolerance * 1e4:g} bp of the previous close on at least half "
            f"the days of {_year_ranges(sorted(stale))} "
            f"({', '.join(f'{y}: {v:.0%}' for y, v in sorted(stale.items()))}): {consequence}."
        )
        print(quality["note"])
    return Featurized(table, feature_columns(extra), audit, quality)
