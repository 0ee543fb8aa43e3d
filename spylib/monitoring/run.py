"""One monitoring run: every check (data drift, prediction drift, realized performance, pipeline
health) over the reference profile, the recent features and the predictions, in one report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from spylib.monitoring.checks import MonitorConfig, MonitoringReport
from spylib.monitoring.drift import data_drift_checks, prediction_drift_checks
from spylib.monitoring.health import pipeline_health_checks
from spylib.monitoring.inputs import require_columns, tail_by_date
from spylib.monitoring.performance import (
    PREDICTION_REQUIRED,
    edge_check,
    performance_checks,
    rolling_performance,
)


def run_monitoring(
    profile: Mapping[str, Any],
    recent_features: pd.DataFrame,
    predictions: pd.DataFrame,
    step_stats: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    config: MonitorConfig | None = None,
) -> MonitoringReport:
    """All checks: data drift, prediction drift (last ``prediction_window`` predictions, realized or
    not), realized performance (``performance_window``), and pipeline health when ``step_stats`` is given.
    """
    cfg = config or MonitorConfig()
    require_columns(predictions, PREDICTION_REQUIRED, "predictions")
    checks = data_drift_checks(profile, recent_features, cfg)
    latest = tail_by_date(predictions, cfg.prediction_window)
    checks += prediction_drift_checks(
        profile, latest["probability"].to_numpy(dtype=float), latest["signal"].to_numpy(dtype=float), cfg
    )
    rolling = rolling_performance(predictions, cfg.performance_windows, cfg.cost_bps)
    checks += performance_checks(rolling, profile, cfg)
    checks.append(edge_check(rolling, profile))
    if step_stats is not None:
        checks += pipeline_health_checks(step_stats, history, cfg)
    return MonitoringReport.from_checks(checks)
