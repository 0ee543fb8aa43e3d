"""split: the burn-in, the walk-forward blocks and the optional holdout; the configurations to sweep.

The same cut is made in ``ingest`` (:func:`check_walk_forward`) on the dates the feature table will
have, so a plan the data cannot hold fails before any lake write, with the message ``split`` would give.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from spylib.core.config import ModelSpec
from spylib.features.audit import stale_open_years
from spylib.features.table import WARMUP_ROWS
from spylib.modelling.walk_forward import Splits, walk_forward_splits
from spylib.stages.settings import PlanSettings
from spylib.stages.training.artifacts import SplitResult, TrainingData


def unscored_mask(
    dates: Sequence[Any], stale_years: Collection[int], execution: str
) -> npt.NDArray[np.bool_] | None:
    """The days no block may score: under ``open_to_open``, the years whose opens are stale (an
    open-to-open return there would be a close-to-close one); None when every day can be scored."""
    if execution != "open_to_open" or not stale_years:
        return None
    return pd.to_datetime(pd.Series(list(dates))).dt.year.isin(set(stale_years)).to_numpy()


def cut_walk_forward(
    dates: Sequence[Any], labelled: npt.NDArray[np.bool_], stale_years: Collection[int], plan: PlanSettings
) -> Splits:
    """The walk-forward of ``plan`` over ``dates`` (the feature table's), the unscored years left out."""
    return walk_forward_splits(
        list(dates),
        labelled,
        plan.sweep.walk_forward,
        plan.label_horizon,
        holdout_start=plan.holdout_start,
        unscored=unscored_mask(dates, stale_years, plan.execution),
    )


def check_walk_forward(
    prices: pd.DataFrame, symbol: str, plan: PlanSettings, stale_open_tolerance: float
) -> None:
    """Cut the walk-forward on the dates the feature table will have (the warm-up dropped, the last
    ``label_horizon`` rows unlabelled, stale-open years unscored under ``open_to_open``)."""
    dates = sorted(set(prices.loc[prices["symbol"] == symbol, "date"]))[WARMUP_ROWS:]
    if not dates:
        return  # require_history has refused it already
    labelled = np.arange(len(dates)) < len(dates) - plan.label_horizon
    stale = stale_open_years(prices, symbol, stale_open_tolerance) if plan.execution == "open_to_open" else {}
    cut_walk_forward(dates, labelled, set(stale), plan)


def run_split(
    features: pd.DataFrame,
    columns: Sequence[str],
    data_quality: Mapping[str, Any],
    plan: PlanSettings,
    *,
    one_machine: bool = True,
) -> SplitResult:
    """The burn-in, the walk-forward blocks and the optional holdout; the foreach's batches (one pooled
    task on ``one_machine``, see :func:`batch_configs`)."""
    wf = plan.sweep.walk_forward
    stale_years = {int(y) for y in data_quality.get("stale_open_years", {})}
    splits = cut_walk_forward(features["date"], features["target_up"].notna().to_numpy(), stale_years, plan)
    traded = splits.traded_blocks
    window = "every row before it" if wf.scheme == "expanding" else f"its last {wf.rolling_days} rows"
    print(
        f"Walk-forward: {len(splits.blocks)} blocks of {wf.block_months} months from {splits.blocks[0].start}, "
        f"each fitted on {window}; {len(traded)} traded ({traded[0].start} .. {traded[-1].end}, "
        f"{sum(b.n_rows for b in traded) / 252:.1f} years)"
    )
    configs = list(plan.sweep.models)
    data = TrainingData(features, tuple(columns), splits)
    batches = batch_configs(configs, plan.configs_per_task, one_machine=one_machine)
    return SplitResult(data, splits, configs, batches)


def batch_configs(
    configs: Sequence[ModelSpec], per_task: int, *, one_machine: bool = True
) -> list[list[ModelSpec]]:
    """The foreach's work items, each one ``train`` task that spreads its configurations over a process
    pool of the task's cores. ``per_task`` > 0: consecutive configurations, ``per_task`` at a time.
    ``0`` (automatic): on ``one_machine`` (a local run) one task with every configuration, since a
    task per configuration would pay a task start-up each for cores the pool already fills; on remote
    compute (every task its own machine) one task per configuration."""
    if per_task > 0:
        return [list(configs[i : i + per_task]) for i in range(0, len(configs), per_task)]
    if one_machine:
        return [list(configs)]
    return [[spec] for spec in configs]
