"""Pipeline-health measurements read back from Metaflow runs through the Client API.

Each step of a flow stores its ``measure_resources`` result in the artifact ``step_resources``; this
module collects them for the current run and the last runs of the flow, as ``step_stats`` frames
(the checks themselves are :mod:`spylib.monitoring.health`). Metaflow is imported lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from spylib.monitoring.health import step_stats_from_records

STEP_RESOURCES_ARTIFACT = "step_resources"


@dataclass(frozen=True)
class StepStats:
    """This run's step stats (``current``) and those of the previous runs (``history``)."""

    current: pd.DataFrame
    history: pd.DataFrame


def run_step_records(run: Any) -> list[dict[str, Any]]:
    """Every task of a Client ``Run`` that stored ``step_resources``: one record per task."""
    records = []
    for step in run:
        for task in step:
            if STEP_RESOURCES_ARTIFACT not in task:
                continue
            measured = task[STEP_RESOURCES_ARTIFACT].data
            records.append({"run_id": str(run.id), "step": step.id, "task": str(task.id),
                            "seconds": float(measured["seconds"]),
                            "peak_rss_mb": float(measured["peak_rss_mb"])})  # fmt: skip
    return records


def read_step_stats(flow_name: str, run_id: str, history_runs: int = 10) -> StepStats:
    """This run's step stats and the previous ``history_runs`` runs', read back with the Client.

    Only runs with at least one measured task count; the current run's unfinished step is absent.
    """
    from metaflow import Flow, namespace

    namespace(None)  # runs of every user and of the scheduler
    flow = Flow(flow_name)
    current = run_step_records(flow[str(run_id)])
    history: list[dict[str, Any]] = []
    seen = 0
    for run in flow.runs():  # newest first
        if seen >= history_runs:
            break
        if str(run.id) == str(run_id):
            continue
        records = run_step_records(run)
        if records:
            history.extend(records)
            seen += 1
    return StepStats(current=step_stats_from_records(current), history=step_stats_from_records(history))
