"""Monitoring of a deployed model: data drift, prediction drift, realized performance, pipeline health.

Pure functions over frames and a JSON reference profile; no Metaflow, no I/O except ``save_figures``.

Conventions (see also shared/notes/evaluation.md, "Monitoring conventions"):

* **Reference profile.** ``reference_profile`` summarizes the model's training window once, at
  registration: per feature the interior decile edges, the reference share of each bin and an evenly
  spaced sample of the sorted values (for KS); the mean probability and the share of days traded on
  the test segment; and the registered test metrics (hit rate, AUC, net Sharpe). It is plain JSON.
* **PSI.** Bins are the reference deciles with open outer edges, right-closed:
  ``(-inf, q10], (q10, q20], ..., (q90, +inf)``. Duplicate edges (discrete or flag features) are
  merged, so a 0/1 flag gets two bins. Shares are floored at ``PSI_EPSILON = 1e-4`` (one in ten
  thousand, the usual credit-scoring choice) before ``PSI = sum (a - e) ln(a / e)``, so an empty
  bin costs a large but finite amount instead of ``inf``. Bands: < 0.1 stable (ok), 0.1-0.25
  moderate (warn), >= 0.25 significant (alert).
  PSI is biased upward on small samples: with B bins, n current and N reference rows its expected
  value under no drift is about ``(B - 1) * (1/n + 1/N)``, i.e. 0.15 for 60 rows. That is why drift is
  measured on the last ``drift_window = 250`` rows (null PSI about 0.04), not on a 20-day window.
* **KS.** ``scipy.stats.ks_2samp`` against the stored sample. On large samples it rejects for shifts
  too small to matter, and with ~30 features one of them rejects at 5% by chance most days, so a KS
  rejection alone is only a ``warn``, and its level is Bonferroni-corrected over the features
  (``ks_alpha / n_features``) by default. Alerts come from PSI.
* **Prediction drift.** Absolute shift of the mean probability and of the share of days traded over
  the last ``prediction_window`` predictions against the test segment.
* **Realized performance.** Rolling hit rate (of traded days), AUC (nan when a window holds one
  class) and net Sharpe (annualized with 252, ddof=1, flat days count as 0, ``cost_bps`` per side on
  every position change). The latest 60-day values are compared with the registered test metrics in
  standard errors of the estimate under "nothing changed" (binomial for the hit rate, Hanley-McNeil
  for AUC, Lo (2002) for Sharpe): more than ``perf_z_warn = 2.5`` SE below -> warn, more than
  ``perf_z_alert = 3`` SE below -> alert. Only drops are flagged. A fixed tolerance would either alert
  on noise (60 days of Sharpe have a standard error of about 2 annualized) or never fire.
* **Pipeline health.** Per step, the slowest task's seconds and the largest task peak RSS of the
  current run against the median over previous runs: >= 2x warn, >= 4x alert; values under a floor
  (5 s, 100 MB) are not flagged because their ratios are noise.
* A check that lacks data is ``ok`` with value nan and a reason starting with "skipped", so a young
  deployment does not alert every day, and the report still shows what was not checked.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from spylib.core.errors import ConfigError, DataValidationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Status = Literal["ok", "warn", "alert"]

STATUS_RANK: dict[str, int] = {"ok": 0, "warn": 1, "alert": 2}
PSI_EPSILON = 1e-4
PROFILE_VERSION = 1
TRADING_DAYS = 252
PROFILE_SOURCE = "reference profile"
PREDICTION_REQUIRED = ("date", "probability", "signal", "target_up", "fwd_return")
STEP_STATS_REQUIRED = ("run_id", "step", "task", "seconds", "peak_rss_mb")


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
                    "value": _json_float(c.value),
                    "threshold": c.threshold,
                    "reason": c.reason,
                }
                for c in self.checks
            ],
        }

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
            worst = s  # type: ignore[assignment]
    return worst


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
    Realized performance:
        performance_window: rolling window compared with the registered metrics (60 days).
        performance_windows: the windows ``rolling_performance`` computes (20 and 60 days).
        min_traded_days: fewer traded days in the window -> hit-rate check skipped (10).
        perf_z_warn, perf_z_alert: standard errors below the registered value (2.5 / 3). At 2 SE a
            stable synthetic stream warned on 8% of days from the three metrics; at 2.5 about 1%.
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


# --- PSI and KS -------------------------------------------------------------------------------
def quantile_edges(reference: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Interior bin edges: the reference quantiles at 1/n_bins .. (n_bins-1)/n_bins, duplicates merged.

    With the open outer edges this gives at most ``n_bins`` right-closed bins; a 0/1 flag gets two.
    """
    values = _finite(reference, "reference")
    probs = np.arange(1, n_bins) / n_bins
    return np.unique(np.quantile(values, probs))


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each bin ``(-inf, e0], (e0, e1], ..., (e_last, +inf)``; nan values dropped."""
    finite = _finite(values, "values", allow_empty=True)
    counts = np.bincount(np.searchsorted(edges, finite, side="left"), minlength=len(edges) + 1)
    total = counts.sum()
    return counts / total if total else np.full(len(edges) + 1, np.nan)


def psi_from_shares(expected: np.ndarray, actual: np.ndarray, epsilon: float = PSI_EPSILON) -> float:
    """PSI = sum (a - e) ln(a / e), both share vectors floored at ``epsilon`` (no renormalization)."""
    e = np.maximum(np.asarray(expected, dtype=float), epsilon)
    a = np.maximum(np.asarray(actual, dtype=float), epsilon)
    if e.shape != a.shape:
        raise DataValidationError(
            f"share vectors differ in length ({e.size} vs {a.size})", source="psi_from_shares"
        )
    return float(np.sum((a - e) * np.log(a / e)))


def population_stability_index(
    reference: np.ndarray, current: np.ndarray, n_bins: int = 10, epsilon: float = PSI_EPSILON
) -> float:
    """PSI of ``current`` against ``reference`` over the reference's quantile bins (see module doc).

    Nan values are dropped from both; nan when ``current`` has no finite value.
    """
    edges = quantile_edges(reference, n_bins)
    actual = bin_shares(current, edges)
    if np.isnan(actual).any():
        return math.nan
    return psi_from_shares(bin_shares(reference, edges), actual, epsilon)


def psi_from_profile(
    profile_feature: Mapping[str, Any], current: np.ndarray, epsilon: float = PSI_EPSILON
) -> float:
    """PSI of ``current`` against one feature entry of a reference profile (its ``edges`` and ``shares``)."""
    edges = np.asarray(_require(profile_feature, "edges"), dtype=float)
    expected = np.asarray(_require(profile_feature, "shares"), dtype=float)
    if expected.size != edges.size + 1:
        raise DataValidationError(
            f"{expected.size} shares for {edges.size} edges (need edges + 1)",
            source=PROFILE_SOURCE,
            column="shares",
        )
    actual = bin_shares(current, edges)
    if np.isnan(actual).any():
        return math.nan
    return psi_from_shares(expected, actual, epsilon)


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (``scipy.stats.ks_2samp``), nan values dropped.

    (nan, nan) when either side is empty.
    """
    ref = _finite(reference, "reference", allow_empty=True)
    cur = _finite(current, "current", allow_empty=True)
    if ref.size == 0 or cur.size == 0:
        return math.nan, math.nan
    result = stats.ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)


# --- reference profile ------------------------------------------------------------------------
def profile_feature(values: np.ndarray, n_bins: int = 10, sample_size: int = 2000) -> dict[str, Any]:
    """One feature's reference: interior decile edges, bin shares, an evenly spaced sorted sample, moments."""
    finite = np.sort(_finite(values, "reference"))
    edges = quantile_edges(finite, n_bins)
    # Evenly spaced order statistics keep the whole empirical distribution in a bounded size.
    idx = np.unique(np.linspace(0, finite.size - 1, min(sample_size, finite.size)).round().astype(int))
    return {
        "edges": [float(x) for x in edges],
        "shares": [float(x) for x in bin_shares(finite, edges)],
        "sample": [float(x) for x in finite[idx]],
        "n": int(finite.size),
        "mean": float(finite.mean()),
        "std": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
    }


def reference_profile(
    features: pd.DataFrame,
    columns: Sequence[str],
    *,
    test_probability: np.ndarray | None = None,
    test_signal: np.ndarray | None = None,
    test_metrics: Mapping[str, float | None] | None = None,
    n_bins: int = 10,
    sample_size: int = 2000,
) -> dict[str, Any]:
    """The JSON-serializable reference stored with a registered model.

    ``features`` is the training window; ``test_probability`` / ``test_signal`` are the model's
    outputs on the test segment; ``test_metrics`` holds ``hit_rate``, ``auc`` and ``net_sharpe``
    (annualized) of the test segment. Nan metrics are stored as None (JSON has no nan).

    Keys: ``version``, ``n_bins``, ``n_rows``, ``window`` ({start, end} when ``features`` has a
    ``date`` column, else None), ``features`` ({column: profile_feature(...)}), ``prediction``
    ({mean_probability, std_probability, share_traded, n} or None), ``test_metrics``.
    """
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise DataValidationError(
            f"reference features lack columns {missing}", source="features", column=missing[0]
        )
    profile_features: dict[str, Any] = {}
    for col in columns:
        values = pd.to_numeric(features[col], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values).any():
            raise DataValidationError(
                "no finite value in the reference window", source="features", column=col
            )
        profile_features[col] = profile_feature(values, n_bins, sample_size)
    window = None
    if "date" in features.columns and len(features):
        dates = pd.to_datetime(features["date"])
        window = {"start": str(dates.min().date()), "end": str(dates.max().date())}
    prediction = None
    if test_probability is not None:
        prob = _finite(np.asarray(test_probability, dtype=float), "test_probability")
        prediction = {
            "mean_probability": float(prob.mean()),
            "std_probability": float(prob.std(ddof=1)) if prob.size > 1 else 0.0,
            "share_traded": float(np.mean(np.asarray(test_signal, dtype=float) > 0))
            if test_signal is not None
            else None,
            "n": int(prob.size),
        }
    metrics = {k: _json_float(v) for k, v in (test_metrics or {}).items()}
    return {
        "version": PROFILE_VERSION,
        "n_bins": n_bins,
        "n_rows": len(features),
        "window": window,
        "features": profile_features,
        "prediction": prediction,
        "test_metrics": metrics,
    }


# --- data drift -------------------------------------------------------------------------------
def data_drift_checks(
    profile: Mapping[str, Any], recent: pd.DataFrame, config: MonitorConfig | None = None
) -> list[Check]:
    """One check per profiled feature, named ``drift:<feature>``, value = PSI.

    Uses the last ``config.drift_window`` rows of ``recent`` (sorted by ``date`` when present).
    Status: PSI >= psi_alert -> alert; PSI >= psi_warn -> warn; otherwise a KS rejection at the
    (Bonferroni-corrected) level -> warn; else ok. A profiled feature missing from ``recent`` is an
    alert (the feature pipeline changed under the model).
    """
    cfg = config or MonitorConfig()
    feats: Mapping[str, Any] = _require(profile, "features")
    window = _tail_by_date(recent, cfg.drift_window)
    alpha = cfg.ks_alpha / max(len(feats), 1) if cfg.ks_bonferroni else cfg.ks_alpha
    threshold = f"psi warn>={cfg.psi_warn:g}, alert>={cfg.psi_alert:g}; ks p<{alpha:.2g} warn"
    checks = []
    for col, ref in feats.items():
        name = f"drift:{col}"
        if col not in window.columns:
            checks.append(
                Check(name, "alert", math.nan, threshold, f"feature '{col}' is missing from recent data")
            )
            continue
        current = pd.to_numeric(window[col], errors="coerce").to_numpy(dtype=float)
        n = int(np.isfinite(current).sum())
        if n < cfg.drift_min_rows:
            reason = f"skipped: feature '{col}' has {n} finite recent rows (< {cfg.drift_min_rows})"
            checks.append(Check(name, "ok", math.nan, threshold, reason))
            continue
        psi = psi_from_profile(ref, current, cfg.psi_epsilon)
        ks_stat, ks_p = ks_test(np.asarray(ref.get("sample", []), dtype=float), current)
        status: Status
        if psi >= cfg.psi_alert:
            status, verdict = "alert", "significant shift"
        elif psi >= cfg.psi_warn:
            status, verdict = "warn", "moderate shift"
        elif ks_p < alpha:
            status, verdict = "warn", "KS rejects but PSI is small (KS flags small shifts on large samples)"
        else:
            status, verdict = "ok", "stable"
        reason = (
            f"feature '{col}': {verdict}; PSI {psi:.3f}, KS D {ks_stat:.3f} p {ks_p:.3g}, "
            f"recent mean {np.nanmean(current):.4g} vs reference {ref.get('mean', math.nan):.4g} "
            f"over {n} rows"
        )
        checks.append(Check(name, status, psi, threshold, reason))
    return checks


# --- prediction drift -------------------------------------------------------------------------
def prediction_drift_checks(
    profile: Mapping[str, Any],
    recent_probability: np.ndarray,
    recent_signal: np.ndarray,
    config: MonitorConfig | None = None,
) -> list[Check]:
    """Shift of the mean probability and of the share of days traded against the test segment.

    The caller passes the recent window (``run_monitoring`` uses the last ``prediction_window``
    predictions). Checks: ``prediction:mean_probability`` and ``prediction:share_traded``; value =
    the recent statistic; status from the absolute shift (see ``MonitorConfig``).
    """
    cfg = config or MonitorConfig()
    ref = profile.get("prediction") or {}
    prob = np.asarray(recent_probability, dtype=float)
    prob = prob[np.isfinite(prob)]
    sig = np.asarray(recent_signal, dtype=float)
    sig = sig[np.isfinite(sig)]
    specs = [
        ("mean_probability", prob, cfg.mean_probability_warn, cfg.mean_probability_alert),
        ("share_traded", (sig > 0).astype(float), cfg.share_traded_warn, cfg.share_traded_alert),
    ]
    checks = []
    for key, values, warn, alert in specs:
        name = f"prediction:{key}"
        threshold = f"|shift| warn>={warn:g}, alert>={alert:g}"
        ref_value = ref.get(key)
        if ref_value is None:
            checks.append(Check(name, "ok", math.nan, threshold, f"skipped: profile has no prediction.{key}"))
            continue
        if values.size < cfg.prediction_min_rows:
            reason = f"skipped: {values.size} recent predictions (< {cfg.prediction_min_rows})"
            checks.append(Check(name, "ok", math.nan, threshold, reason))
            continue
        current = float(values.mean())
        shift = current - float(ref_value)
        status = _band(abs(shift), warn, alert)
        reason = (
            f"{key} {current:.3f} over {values.size} days vs {float(ref_value):.3f} on test "
            f"(shift {shift:+.3f})"
        )
        checks.append(Check(name, status, current, threshold, reason))
    return checks


# --- realized performance ---------------------------------------------------------------------
def strategy_net_returns(signal: np.ndarray, fwd_return: np.ndarray, cost_bps: float = 1.0) -> np.ndarray:
    """Daily net return of a long/flat signal: ``signal * fwd_return - cost * |signal - previous signal|``.

    Flat days return 0; the position before the first day is flat, so entering costs one side.
    """
    pos = np.asarray(signal, dtype=float)
    turnover = np.abs(np.diff(pos, prepend=0.0))
    return pos * np.asarray(fwd_return, dtype=float) - turnover * cost_bps / 1e4


def auc_score(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC via the Mann-Whitney rank sum (ties get average ranks); nan when one class is absent."""
    y = np.asarray(y_true, dtype=float)
    n_pos = int((y == 1).sum())
    n_neg = int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = stats.rankdata(np.asarray(score, dtype=float))
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def rolling_performance(
    predictions: pd.DataFrame, windows: Sequence[int] = (20, 60), cost_bps: float = 1.0
) -> pd.DataFrame:
    """Rolling realized performance over the last ``w`` realized days, one row per date.

    ``predictions`` holds ``date, probability, signal, target_up, fwd_return``; rows whose outcome is
    not known yet (nan ``target_up`` or ``fwd_return``) are dropped. Columns per window ``w``:
    ``hit_rate_w`` (share of traded days with ``target_up == 1``; nan with no traded day),
    ``auc_w`` (probability vs target_up; nan if one class), ``sharpe_w`` (net, annualized with 252,
    ddof=1, flat days = 0, ``cost_bps`` per side), ``n_traded_w``, ``n_up_w``, ``n_down_w``.
    A window is nan until it holds ``w`` realized days. Also ``net_return`` per day.
    """
    _require_columns(predictions, PREDICTION_REQUIRED, "predictions")
    realized = (
        predictions.dropna(subset=["target_up", "fwd_return"]).sort_values("date").reset_index(drop=True)
    )
    out = pd.DataFrame({"date": realized["date"]})
    y = realized["target_up"].to_numpy(dtype=float)
    prob = realized["probability"].to_numpy(dtype=float)
    sig = (realized["signal"].to_numpy(dtype=float) > 0).astype(float)
    net = strategy_net_returns(sig, realized["fwd_return"].to_numpy(dtype=float), cost_bps)
    out["net_return"] = net
    for w in windows:
        n_traded = pd.Series(sig).rolling(w).sum()
        hits = pd.Series(sig * y).rolling(w).sum()
        out[f"hit_rate_{w}"] = (hits / n_traded.where(n_traded > 0)).to_numpy()
        net_s = pd.Series(net).rolling(w)
        std = net_s.std(ddof=1)
        out[f"sharpe_{w}"] = (net_s.mean() / std.where(std > 0) * np.sqrt(TRADING_DAYS)).to_numpy()
        auc = np.full(len(realized), np.nan)
        for end in range(w, len(realized) + 1):
            auc[end - 1] = auc_score(y[end - w : end], prob[end - w : end])
        out[f"auc_{w}"] = auc
        out[f"n_traded_{w}"] = n_traded.to_numpy()
        out[f"n_up_{w}"] = pd.Series(y).rolling(w).sum().to_numpy()
        out[f"n_down_{w}"] = w - out[f"n_up_{w}"]
    return out


def performance_checks(
    rolling: pd.DataFrame, profile: Mapping[str, Any], config: MonitorConfig | None = None
) -> list[Check]:
    """Latest ``performance_window``-day hit rate, AUC and net Sharpe against the registered test metrics.

    Each is compared in standard errors of the window estimate under "performance unchanged":
    hit rate ``sqrt(p0 (1 - p0) / n_traded)``; AUC Hanley-McNeil (1982) at the registered AUC with
    the window's up/down counts; Sharpe Lo (2002) ``sqrt((1 + SR0^2 / 2) / T)`` per period, times
    sqrt(252). ``z = (value - registered) / SE``; z <= -perf_z_alert -> alert, z <= -perf_z_warn ->
    warn. Improvements are not flagged. Checks: ``performance:hit_rate_60``, ``performance:auc_60``,
    ``performance:net_sharpe_60`` (for the default window).
    """
    cfg = config or MonitorConfig()
    w = cfg.performance_window
    registered: Mapping[str, Any] = profile.get("test_metrics") or {}
    latest = rolling.iloc[-1] if len(rolling) else None
    specs = [("hit_rate", f"hit_rate_{w}"), ("auc", f"auc_{w}"), ("net_sharpe", f"sharpe_{w}")]
    checks = []
    for metric, column in specs:
        name = f"performance:{metric}_{w}"
        ref = registered.get(metric)
        value = math.nan if latest is None or column not in rolling.columns else float(latest[column])
        if ref is None or not math.isfinite(float(ref)):
            checks.append(Check(name, "ok", value, "n/a", f"skipped: profile has no test_metrics.{metric}"))
            continue
        ref = float(ref)
        if not math.isfinite(value):
            reason = f"skipped: no {w}-day {metric} yet ({len(rolling)} realized days, or one class only)"
            checks.append(Check(name, "ok", value, "n/a", reason))
            continue
        assert latest is not None  # value is finite only when latest exists
        if metric == "hit_rate":
            n = float(latest[f"n_traded_{w}"])
            if n < cfg.min_traded_days:
                reason = f"skipped: {n:.0f} traded days in the last {w} (< {cfg.min_traded_days})"
                checks.append(Check(name, "ok", value, "n/a", reason))
                continue
            se = math.sqrt(max(ref * (1 - ref), 1e-6) / n)
            basis = f"{n:.0f} traded days"
        elif metric == "auc":
            se = hanley_mcneil_se(ref, int(latest[f"n_up_{w}"]), int(latest[f"n_down_{w}"]))
            basis = f"{int(latest[f'n_up_{w}'])} up / {int(latest[f'n_down_{w}'])} down days"
        else:
            sr0 = ref / math.sqrt(TRADING_DAYS)
            se = math.sqrt((1 + sr0**2 / 2) / w) * math.sqrt(TRADING_DAYS)
            basis = f"{w} days"
        z = (value - ref) / se
        status: Status = "alert" if z <= -cfg.perf_z_alert else "warn" if z <= -cfg.perf_z_warn else "ok"
        threshold = (
            f"warn<{ref - cfg.perf_z_warn * se:.3f}, alert<{ref - cfg.perf_z_alert * se:.3f} "
            f"(registered {ref:.3f} - {cfg.perf_z_warn:g}/{cfg.perf_z_alert:g} SE, SE {se:.3f})"
        )
        reason = f"{w}-day {metric} {value:.3f} vs registered {ref:.3f} (z {z:+.2f}, {basis})"
        checks.append(Check(name, status, value, threshold, reason))
    return checks


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC estimate (Hanley and McNeil, Radiology 1982); inf with an empty class."""
    if n_pos == 0 or n_neg == 0:
        return math.inf
    q1 = auc / (2 - auc)
    q2 = 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (n_pos * n_neg)
    return math.sqrt(max(var, 1e-12))


# --- pipeline health --------------------------------------------------------------------------
@contextmanager
def measure_resources() -> Iterator[dict[str, float]]:
    """Measure a block: yields a dict filled on exit with ``seconds`` (wall) and ``peak_rss_mb``.

    ``peak_rss_mb`` is ``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the high-water mark of the whole
    process since it started, not of the block alone (a Metaflow task is its own process, so inside
    a step it is the task's peak). ``peak_rss_mb_before`` records the mark on entry. Filled even when
    the block raises.
    """
    result: dict[str, float] = {"peak_rss_mb_before": _peak_rss_mb()}
    start = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - start
        result["peak_rss_mb"] = _peak_rss_mb()


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
    _require_columns(step_stats, STEP_STATS_REQUIRED, "step_stats")
    current = _per_step(step_stats)
    past = pd.DataFrame(columns=["run_id", "step", "seconds", "peak_rss_mb"])
    if history is not None and len(history):
        _require_columns(history, STEP_STATS_REQUIRED, "history")
        past = _per_step(history[~history["run_id"].astype(str).isin(step_stats["run_id"].astype(str))])
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
            status = _band(ratio, cfg.health_warn_ratio, cfg.health_alert_ratio)
            note = ""
            if status != "ok" and now < floor:
                status, note = "ok", f"; under the {floor:g}{unit} floor"
            reason = (
                f"step '{step}' {metric} {now:.1f}{unit} = {ratio:.2f}x the median {median:.1f}{unit} "
                f"of {n_runs} previous runs{note}"
            )
            checks.append(Check(name, status, ratio, threshold, reason))
    return checks


# --- orchestration ----------------------------------------------------------------------------
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
    _require_columns(predictions, PREDICTION_REQUIRED, "predictions")
    checks = data_drift_checks(profile, recent_features, cfg)
    latest = _tail_by_date(predictions, cfg.prediction_window)
    checks += prediction_drift_checks(
        profile, latest["probability"].to_numpy(dtype=float), latest["signal"].to_numpy(dtype=float), cfg
    )
    rolling = rolling_performance(predictions, cfg.performance_windows, cfg.cost_bps)
    checks += performance_checks(rolling, profile, cfg)
    if step_stats is not None:
        checks += pipeline_health_checks(step_stats, history, cfg)
    return MonitoringReport.from_checks(checks)


# --- figures ----------------------------------------------------------------------------------
def plot_monitoring(
    report: MonitoringReport,
    predictions: pd.DataFrame | None = None,
    rolling: pd.DataFrame | None = None,
    step_stats: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    config: MonitorConfig | None = None,
) -> dict[str, Figure]:
    """Figures keyed ``drift``, ``performance``, ``probability``, ``step_durations`` (those with data).

    Built as ``matplotlib.figure.Figure`` objects on an Agg canvas: no pyplot, no global backend
    change, nothing kept alive after the caller drops them. ``rolling`` defaults to
    ``rolling_performance(predictions)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cfg = config or MonitorConfig()

    def new_figure(width: float = 9.0, height: float = 4.0) -> Figure:
        fig = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(fig)
        return fig

    figures: dict[str, Figure] = {}
    drift = [c for c in report.checks if c.name.startswith("drift:")]
    if drift:
        fig = new_figure(max(6.0, 0.3 * len(drift) + 2), 4.0)
        ax = fig.add_subplot()
        colors = {"ok": "tab:green", "warn": "tab:orange", "alert": "tab:red"}
        labels = [c.name.removeprefix("drift:") for c in drift]
        ax.bar(
            labels,
            [0.0 if math.isnan(c.value) else c.value for c in drift],
            color=[colors[c.status] for c in drift],
        )
        ax.axhline(cfg.psi_warn, color="tab:orange", linestyle="--", label=f"warn {cfg.psi_warn:g}")
        ax.axhline(cfg.psi_alert, color="tab:red", linestyle="--", label=f"alert {cfg.psi_alert:g}")
        ax.set_title("Feature drift (PSI)")
        ax.set_ylabel("PSI vs training window")
        ax.tick_params(axis="x", labelrotation=90)
        ax.legend()
        figures["drift"] = fig
    if rolling is None and predictions is not None:
        rolling = rolling_performance(predictions, cfg.performance_windows, cfg.cost_bps)
    if rolling is not None and len(rolling):
        fig = new_figure(9.0, 7.0)
        axes = fig.subplots(3, 1, sharex=True)
        for ax, metric, label in zip(
            axes, ("hit_rate", "auc", "sharpe"), ("hit rate (traded days)", "AUC", "net Sharpe"), strict=True
        ):
            for w in cfg.performance_windows:
                if f"{metric}_{w}" in rolling.columns:
                    ax.plot(pd.to_datetime(rolling["date"]), rolling[f"{metric}_{w}"], label=f"{w}-day")
            ax.set_ylabel(label)
            ax.legend(loc="upper left")
        axes[0].axhline(0.5, color="grey", linewidth=0.8)
        axes[1].axhline(0.5, color="grey", linewidth=0.8)
        axes[2].axhline(0.0, color="grey", linewidth=0.8)
        axes[0].set_title("Rolling realized performance")
        figures["performance"] = fig
    if predictions is not None and len(predictions):
        pred = predictions.sort_values("date")
        dates = pd.to_datetime(pred["date"])
        fig = new_figure()
        ax = fig.add_subplot()
        ax.plot(dates, pred["probability"], color="tab:blue", linewidth=1, label="probability")
        traded = pred["signal"].to_numpy(dtype=float) > 0
        ax.scatter(dates[traded], pred["probability"][traded], s=8, color="tab:green", label="long")
        ax.axhline(0.5, color="grey", linewidth=0.8)
        ax.set_title("Predicted probability")
        ax.set_ylabel("P(up next day)")
        ax.legend(loc="upper left")
        figures["probability"] = fig
    if step_stats is not None and len(step_stats):
        current = _per_step(step_stats).groupby("step", sort=False)["seconds"].max()
        fig = new_figure()
        ax = fig.add_subplot()
        x = np.arange(len(current))
        ax.bar(x - 0.2, current.to_numpy(), width=0.4, label="this run")
        if history is not None and len(history):
            past = history[~history["run_id"].astype(str).isin(step_stats["run_id"].astype(str))]
            median = _per_step(past).groupby("step")["seconds"].median().reindex(current.index)
            ax.bar(x + 0.2, median.to_numpy(), width=0.4, label="median of previous runs")
        ax.set_xticks(x, list(current.index), rotation=45, ha="right")
        ax.set_title("Step durations")
        ax.set_ylabel("seconds (slowest task)")
        ax.legend()
        figures["step_durations"] = fig
    return figures


def save_figures(figures: Mapping[str, Figure], directory: str | Path, dpi: int = 100) -> list[Path]:
    """Write each figure to ``<directory>/<key>.png``; returns the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, fig in figures.items():
        path = out / f"{key}.png"
        fig.savefig(path, dpi=dpi)
        paths.append(path)
    return paths


def dumps_profile(profile: Mapping[str, Any]) -> str:
    """Strict JSON of a profile (raises ValueError on nan/inf rather than writing non-standard JSON)."""
    return json.dumps(profile, allow_nan=False, sort_keys=True)


# --- helpers ----------------------------------------------------------------------------------
def _band(value: float, warn: float, alert: float) -> Status:
    if value >= alert:
        return "alert"
    if value >= warn:
        return "warn"
    return "ok"


def _finite(values: Any, what: str, allow_empty: bool = False) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0 and not allow_empty:
        raise DataValidationError(f"no finite value in {what}", source="monitor")
    return arr


def _require(mapping: Mapping[str, Any], key: str) -> Any:
    if key not in mapping:
        raise DataValidationError(f"missing key '{key}'", source=PROFILE_SOURCE, column=key)
    return mapping[key]


def _require_columns(frame: pd.DataFrame, required: Sequence[str], source: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"missing columns {missing} (have {list(frame.columns)})", source=source, column=missing[0]
        )


def _tail_by_date(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    ordered = frame.sort_values("date") if "date" in frame.columns else frame
    return ordered.tail(n)


def _per_step(stats_frame: pd.DataFrame) -> pd.DataFrame:
    """Max seconds and peak RSS over the tasks of each (run, step)."""
    frame = stats_frame.assign(run_id=stats_frame["run_id"].astype(str))
    return frame.groupby(["run_id", "step"], sort=False, as_index=False)[["seconds", "peak_rss_mb"]].max()


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _json_float(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None
