"""Pipeline health: each step measures its wall time and peak memory, and a run is compared with the
median of the previous runs, step by step.

Pure functions over ``step_stats`` frames (``run_id, step, task, seconds, peak_rss_mb``); reading the
measurements back from Metaflow runs is :mod:`spylib.stages.step_history`.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd

from spylib.monitoring.checks import Check, MonitorConfig, band
from spylib.monitoring.inputs import require_columns

STEP_STATS_REQUIRED = ("run_id", "step", "task", "seconds", "peak_rss_mb")


@contextmanager
def measure_resources() -> Iterator[dict[str, float]]:
    """Measure a block: yields a dict filled on exit with ``seconds`` (wall) and ``peak_rss_mb``.

    ``peak_rss_mb`` is ``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the high-water mark of the whole
    process since it started, not of the block alone (a Metaflow task is its own process, so inside
    a step it is the task's peak). ``peak_rss_mb_before`` records the mark on entry. Filled even when
    the block raises.
    """
    result: dict[str, float] = {"peak_rss_mb_before": peak_rss_mb()}
    start = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - start
        result["peak_rss_mb"] = peak_rss_mb()


def step_stats_row(run_id: str, step: str, task: str, measured: Mapping[str, float]) -> dict[str, Any]:
    """One ``step_stats`` row from a ``measure_resources`` result."""
    return {
        "run_id": str(run_id),
        "step": step,
        "task": str(task),
        "seconds": float(measured["seconds"]),
        "peak_rss_mb": float(measured["peak_rss_mb"]),
    }


def pipeline_health_checks(
    step_stats: pd.DataFrame, history: pd.DataFrame | None, config: MonitorConfig | None = None
) -> list[Check]:
    """Per step: duration and peak memory of this run against the median of previous runs.

    A step's run value is the max over its tasks (a foreach step is as slow as its slowest task,
    as big as its biggest). History rows of the current run ids are ignored. Checks
    ``health:<step>:seconds`` and ``health:<step>:peak_rss_mb``, value = ratio to the median;
    ratio >= health_alert_ratio -> alert, >= health_warn_ratio -> warn, unless the current value is
    under the floor (health_min_seconds / health_min_rss_mb).
    """
    cfg = config or MonitorConfig()
    require_columns(step_stats, STEP_STATS_REQUIRED, "step_stats")
    current = per_step(step_stats)
    past = pd.DataFrame(columns=["run_id", "step", "seconds", "peak_rss_mb"])
    if history is not None and len(history):
        require_columns(history, STEP_STATS_REQUIRED, "history")
        past = per_step(history[~history["run_id"].astype(str).isin(step_stats["run_id"].astype(str))])
    threshold = f"ratio to median warn>={cfg.health_warn_ratio:g}x, alert>={cfg.health_alert_ratio:g}x"
    checks = []
    for step, row in current.groupby("step", sort=False):
        prev = past[past["step"] == step]
        for metric, floor, unit in (
            ("seconds", cfg.health_min_seconds, "s"),
            ("peak_rss_mb", cfg.health_min_rss_mb, " MB"),
        ):
            name = f"health:{step}:{metric}"
            now = float(row[metric].max())
            n_runs = int(prev["run_id"].nunique())
            if n_runs < cfg.health_min_history_runs:
                reason = (
                    f"skipped: step '{step}' has {n_runs} previous runs (< {cfg.health_min_history_runs})"
                )
                checks.append(Check(name, "ok", math.nan, threshold, reason))
                continue
            median = float(prev[metric].median())
            ratio = now / median if median > 0 else math.inf
            status = band(ratio, cfg.health_warn_ratio, cfg.health_alert_ratio)
            note = ""
            if status != "ok" and now < floor:
                status, note = "ok", f"; under the {floor:g}{unit} floor"
            reason = (
                f"step '{step}' {metric} {now:.1f}{unit} = {ratio:.2f}x the median {median:.1f}{unit} "
                f"of {n_runs} previous runs{note}"
            )
            checks.append(Check(name, status, ratio, threshold, reason))
    return checks


def step_stats_from_records(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``step_stats`` rows (``run_id, step, task, seconds, peak_rss_mb``) from measured records."""
    columns = list(STEP_STATS_REQUIRED)
    return pd.DataFrame([{k: r[k] for k in columns} for r in records], columns=columns)


def health_trend(step_stats: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Seconds of the slowest task per step (columns) for each run (rows, newest first)."""
    frame = pd.concat([step_stats, history], ignore_index=True)
    if frame.empty:
        return pd.DataFrame()
    table = frame.pivot_table(index="run_id", columns="step", values="seconds", aggfunc="max", sort=False)
    order = sorted(table.index, key=lambda r: (0, int(r)) if str(r).isdigit() else (1, 0), reverse=True)
    return table.loc[order].round(2).reset_index()


def per_step(stats_frame: pd.DataFrame) -> pd.DataFrame:
    """Max seconds and peak RSS over the tasks of each (run, step)."""
    frame = stats_frame.assign(run_id=stats_frame["run_id"].astype(str))
    return frame.groupby(["run_id", "step"], sort=False, as_index=False)[["seconds", "peak_rss_mb"]].max()


def peak_rss_mb() -> float:
    """The high-water mark of this process's resident memory, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
