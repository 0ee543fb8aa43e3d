"""Monitoring of a deployed model: data drift, prediction drift, realized performance, pipeline health.

Pure functions over frames and a JSON reference profile; no Metaflow. Modules: ``checks`` (results and
thresholds), ``drift``, ``performance``, ``health``, ``profile``, ``run`` (all checks at once),
``plots``, ``track_record`` (the daily predictions in the lake). Conventions in ``README.md`` here.
"""

from __future__ import annotations

from spylib.monitoring.checks import (
    PSI_EPSILON,
    STATUS_RANK,
    Check,
    MonitorConfig,
    MonitoringReport,
    Status,
    alert_message,
    worst_status,
)
from spylib.monitoring.drift import (
    bin_shares,
    data_drift_checks,
    ks_test,
    population_stability_index,
    prediction_drift_checks,
    psi_from_profile,
    psi_from_shares,
    quantile_edges,
)
from spylib.monitoring.health import (
    STEP_STATS_REQUIRED,
    health_trend,
    measure_resources,
    pipeline_health_checks,
    step_stats_from_records,
    step_stats_row,
)
from spylib.monitoring.inputs import PROFILE_SOURCE
from spylib.monitoring.performance import (
    PREDICTION_REQUIRED,
    hanley_mcneil_se,
    performance_checks,
    rolling_performance,
    strategy_net_returns,
)
from spylib.monitoring.plots import plot_monitoring, save_figures
from spylib.monitoring.profile import (
    PROFILE_FILE,
    PROFILE_VERSION,
    dumps_profile,
    loads_profile,
    profile_feature,
    reference_profile,
)
from spylib.monitoring.run import run_monitoring
from spylib.stats.performance import auc_score

__all__ = [
    "PREDICTION_REQUIRED",
    "PROFILE_FILE",
    "PROFILE_SOURCE",
    "PROFILE_VERSION",
    "PSI_EPSILON",
    "STATUS_RANK",
    "STEP_STATS_REQUIRED",
    "Check",
    "MonitorConfig",
    "MonitoringReport",
    "Status",
    "alert_message",
    "auc_score",
    "bin_shares",
    "data_drift_checks",
    "dumps_profile",
    "hanley_mcneil_se",
    "health_trend",
    "ks_test",
    "loads_profile",
    "measure_resources",
    "performance_checks",
    "pipeline_health_checks",
    "plot_monitoring",
    "population_stability_index",
    "prediction_drift_checks",
    "profile_feature",
    "psi_from_profile",
    "psi_from_shares",
    "quantile_edges",
    "reference_profile",
    "rolling_performance",
    "run_monitoring",
    "save_figures",
    "step_stats_from_records",
    "step_stats_row",
    "strategy_net_returns",
    "worst_status",
]
