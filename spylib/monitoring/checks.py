"""Monitoring results and thresholds: :class:`Check`, :class:`MonitoringReport`, :class:`MonitorConfig`.

A check that lacks data is ``ok`` with value nan and a reason starting with "skipped", so a young
deployment does not alert every day and the report still shows what was not checked. The rules
behind every threshold are in ``README.md`` in this folder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from spylib.core.errors import ConfigError
from spylib.core.jsonio import json_float

Status = Literal["ok", "warn", "alert"]

STATUSES: tuple[Status, ...] = ("ok", "warn", "alert")
STATUS_RANK: dict[str, int] = {s: rank for rank, s in enumerate(STATUSES)}
PSI_EPSILON = 1e-4


# --- results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One monitored quantity: its value, the rule applied (``threshold``) and why it got its status."""

    name: str
    status: Status
    value: float
    threshold: str
    reason: str


@dataclass(frozen=True)
class MonitoringReport:
    """All checks of one monitoring run; ``status`` is the worst of them (``ok`` when there are none)."""

    status: Status
    checks: list[Check]

    @classmethod
    def from_checks(cls, checks: Sequence[Check]) -> MonitoringReport:
        """Build a report whose status is the worst status among ``checks``."""
        return cls(status=worst_status([c.status for c in checks]), checks=list(checks))

    def alerts(self) -> list[Check]:
        """The checks with status ``alert``."""
        return [c for c in self.checks if c.status == "alert"]

    def warnings(self) -> list[Check]:
        """The checks with status ``warn``."""
        return [c for c in self.checks if c.status == "warn"]

    def to_frame(self) -> pd.DataFrame:
        """One row per check: name, status, value, threshold, reason."""
        columns = [f.name for f in fields(Check)]
        return pd.DataFrame([[getattr(c, k) for k in columns] for c in self.checks], columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form (nan values become None)."""
        return {
            "status": self.status,
            "checks": [
                {
                    "name": c.name,
                    "status": c.status,
                    "value": json_float(c.value),
                    "threshold": c.threshold,
                    "reason": c.reason,
                }
                for c in self.checks
            ],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON (the ``monitoring.json`` beside the predictions)."""
        return json.dumps(self.to_dict(), indent=2)

    def summary(self) -> str:
        """A few lines for logs: overall status and every non-ok check."""
        lines = [f"monitoring status: {self.status} ({len(self.checks)} checks)"]
        lines += [f"  [{c.status}] {c.name}: {c.reason}" for c in self.checks if c.status != "ok"]
        return "\n".join(lines)


def worst_status(statuses: Sequence[str]) -> Status:
    """The most severe of ``statuses`` (``ok`` < ``warn`` < ``alert``); ``ok`` for none."""
    worst: Status = "ok"
    for s in statuses:
        if s not in STATUS_RANK:
            raise ConfigError(f"unknown status {s!r}, expected ok/warn/alert", source="Check", key="status")
        if STATUS_RANK[s] > STATUS_RANK[worst]:
            worst = STATUSES[STATUS_RANK[s]]
    return worst


def band(value: float, warn: float, alert: float) -> Status:
    """``alert`` when ``value >= alert``, ``warn`` when ``value >= warn``, else ``ok``."""
    if value >= alert:
        return "alert"
    if value >= warn:
        return "warn"
    return "ok"


def level_above(configured: float, observed: float | None) -> float:
    """A level calibrated on the reference: the configured one, raised just above what the reference
    period itself reached (``observed``), so the reference would never cross it."""
    if observed is None or not math.isfinite(observed):
        return configured
    return max(configured, float(np.nextafter(observed, math.inf)))


def calibrated_levels(
    profile: Mapping[str, Any], key: str, warn: float, alert: float, feature: str | None = None
) -> tuple[float, float]:
    """(warn, alert) of a windowed check: the configured levels, raised to the reference's own
    ``quantile`` (warn) and above its maximum (alert) when the profile has a calibration for ``key``."""
    calibration = profile.get("calibration") or {}
    levels = calibration.get(key)
    if feature is not None:
        levels = (levels or {}).get(feature)
    if not levels:
        return warn, alert
    alert_level = level_above(alert, levels.get("max"))
    return min(max(warn, float(levels.get("quantile", warn))), alert_level), alert_level


def alert_message(report: MonitoringReport, model_version: str, as_of: date | str) -> str:
    """The message a run ends with: the overall status and every alert and warning with its reason."""
    head = f"MONITORING {report.status.upper()} for {model_version} as of {as_of}"
    lines = [head, *[f"  [{c.status}] {c.name}: {c.reason}" for c in report.checks if c.status != "ok"]]
    if report.status == "ok":
        lines.append(f"  all {len(report.checks)} checks ok (skipped ones say why in the report)")
    return "\n".join(lines)


# --- configuration ----------------------------------------------------------------------------
@dataclass(frozen=True)
class MonitorConfig:
    """Every threshold of the monitoring, with its default and why.

    Data drift:
        psi_warn, psi_alert: PSI bands (0.1 / 0.25, the credit-scoring convention).
        psi_epsilon: floor of bin shares before the log (1e-4).
        ks_alpha: KS level (0.05); ks_bonferroni divides it by the number of features checked.
        drift_window: last rows of the recent features compared with the reference (250, about a
            trading year: keeps the null PSI near 0.04, well under psi_warn).
        drift_min_rows: fewer rows -> the drift checks are skipped (100; null PSI about 0.09).
    Prediction drift (over the last ``prediction_window`` predictions, min ``prediction_min_rows``):
        mean_probability_warn/alert: absolute shift of the mean probability (0.03 / 0.06).
        share_traded_warn/alert: absolute shift of the share of days with signal 1 (0.15 / 0.30;
            the binomial standard error of a 30% share over 60 days is 0.06).
    Calibration on the reference (see ``reference.py`` and ``README.md``):
        reference_quantile: quantile of the reference's own windowed deviations that sets a warn
            level (0.95); the alert level is above the largest (the reference never alerts).
        cusum_arl_days: in-control mean run length the edge CUSUM is tuned to (504 trading days =
            one false alarm in two years for normal returns; measured: ``bench_monitoring.py``).
    Realized performance:
        performance_window: rolling window compared with the registered metrics (60 days).
        performance_windows: the windows ``rolling_performance`` computes (20 and 60 days).
        min_traded_days: fewer traded days in the window -> hit-rate check skipped (10).
        perf_z_warn: standard errors below the registered value that warn (2.5). At 2 SE a stable
            synthetic stream warned on 8% of days from the three metrics; at 2.5 about 1%. A 60-day
            window cannot tell an edge from none (its Sharpe has an SE of 2 annualized), so these
            checks only warn; the edge CUSUM alerts.
        perf_z_alert: kept for the ordering check (3).
        cost_bps: cost per side on every position change, in basis points (1.0).
    Pipeline health:
        health_warn_ratio, health_alert_ratio: current / median of previous runs (2 / 4).
        health_min_history_runs: fewer previous runs with that step -> skipped (3).
        health_min_seconds, health_min_rss_mb: below these the ratio is not flagged (5 s, 100 MB).
    """

    n_bins: int = 10
    sample_size: int = 2000
    psi_warn: float = 0.1
    psi_alert: float = 0.25
    psi_epsilon: float = PSI_EPSILON
    ks_alpha: float = 0.05
    ks_bonferroni: bool = True
    drift_window: int = 250
    drift_min_rows: int = 100
    prediction_window: int = 60
    prediction_min_rows: int = 20
    mean_probability_warn: float = 0.03
    mean_probability_alert: float = 0.06
    share_traded_warn: float = 0.15
    share_traded_alert: float = 0.30
    performance_window: int = 60
    performance_windows: tuple[int, ...] = (20, 60)
    min_traded_days: int = 10
    perf_z_warn: float = 2.5
    perf_z_alert: float = 3.0
    reference_quantile: float = 0.95
    cusum_arl_days: float = 504.0
    cost_bps: float = 1.0
    health_warn_ratio: float = 2.0
    health_alert_ratio: float = 4.0
    health_min_history_runs: int = 3
    health_min_seconds: float = 5.0
    health_min_rss_mb: float = 100.0

    def __post_init__(self) -> None:
        pairs = [
            ("psi_warn", "psi_alert"),
            ("mean_probability_warn", "mean_probability_alert"),
            ("share_traded_warn", "share_traded_alert"),
            ("perf_z_warn", "perf_z_alert"),
            ("health_warn_ratio", "health_alert_ratio"),
        ]
        for warn_key, alert_key in pairs:
            warn, alert = getattr(self, warn_key), getattr(self, alert_key)
            if not 0 < warn <= alert:
                raise ConfigError(
                    f"need 0 < {warn_key} ({warn}) <= {alert_key} ({alert})",
                    source="MonitorConfig",
                    key=warn_key,
                )
        for key in ("n_bins", "sample_size", "drift_window", "prediction_window", "performance_window"):
            if getattr(self, key) < 2:
                raise ConfigError(f"must be >= 2, got {getattr(self, key)}", source="MonitorConfig", key=key)
        if not 0 < self.ks_alpha < 1:
            raise ConfigError(
                f"must be in (0, 1), got {self.ks_alpha}", source="MonitorConfig", key="ks_alpha"
            )
        if not 0 < self.psi_epsilon < 0.01:
            raise ConfigError(
                f"must be in (0, 0.01), got {self.psi_epsilon}", source="MonitorConfig", key="psi_epsilon"
            )
        if self.performance_window not in self.performance_windows:
            raise ConfigError(
                f"performance_window {self.performance_window} is not in {self.performance_windows}",
                source="MonitorConfig",
                key="performance_window",
            )
        if self.cost_bps < 0:
            raise ConfigError(f"must be >= 0, got {self.cost_bps}", source="MonitorConfig", key="cost_bps")
