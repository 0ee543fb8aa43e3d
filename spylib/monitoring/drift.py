"""Drift of the inputs and of the outputs: PSI and KS per feature against the reference profile, and
the shift of the mean probability and of the share of days traded against the test segment.

PSI bins are the reference deciles with open outer edges, right-closed, shares floored at
``PSI_EPSILON``; a KS rejection alone is only a warning (see ``README.md`` in this folder).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from spylib.core.errors import DataValidationError
from spylib.monitoring.checks import PSI_EPSILON, Check, MonitorConfig, Status, band, calibrated_levels
from spylib.monitoring.inputs import PROFILE_SOURCE, finite_values, require_key, tail_by_date


# --- PSI and KS -------------------------------------------------------------------------------
def quantile_edges(reference: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Interior bin edges: the reference quantiles at 1/n_bins .. (n_bins-1)/n_bins, duplicates merged.

    With the open outer edges this gives at most ``n_bins`` right-closed bins; a 0/1 flag gets two.
    """
    values = finite_values(reference, "reference")
    probs = np.arange(1, n_bins) / n_bins
    return np.unique(np.quantile(values, probs))


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each bin ``(-inf, e0], (e0, e1], ..., (e_last, +inf)``; nan values dropped."""
    finite = finite_values(values, "values", allow_empty=True)
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
    """PSI of ``current`` against ``reference`` over the reference's quantile bins (see ``README.md``).

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
    edges = np.asarray(require_key(profile_feature, "edges"), dtype=float)
    expected = np.asarray(require_key(profile_feature, "shares"), dtype=float)
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
    ref = finite_values(reference, "reference", allow_empty=True)
    cur = finite_values(current, "current", allow_empty=True)
    if ref.size == 0 or cur.size == 0:
        return math.nan, math.nan
    result = stats.ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)


# --- data drift -------------------------------------------------------------------------------
def data_drift_checks(
    profile: Mapping[str, Any], recent: pd.DataFrame, config: MonitorConfig | None = None
) -> list[Check]:
    """One check per profiled feature, named ``drift:<feature>``, value = PSI.

    Uses the last ``config.drift_window`` rows of ``recent`` (sorted by ``date`` when present).
    Status: PSI >= the alert level -> alert; PSI >= the warn level -> warn; otherwise a KS rejection
    at the (Bonferroni-corrected) level -> warn; else ok. The levels are ``psi_warn`` / ``psi_alert``,
    raised for a feature whose reference window itself drifts more over ``drift_window`` rows (the
    profile's ``calibration.psi``: its 95% quantile warns, only a PSI above its maximum alerts). A
    profiled feature missing from ``recent`` is an alert (the feature pipeline changed under the model).
    """
    cfg = config or MonitorConfig()
    feats: Mapping[str, Any] = require_key(profile, "features")
    window = tail_by_date(recent, cfg.drift_window)
    alpha = cfg.ks_alpha / max(len(feats), 1) if cfg.ks_bonferroni else cfg.ks_alpha
    checks = []
    for col, ref in feats.items():
        name = f"drift:{col}"
        warn, alert = calibrated_levels(profile, "psi", cfg.psi_warn, cfg.psi_alert, feature=col)
        threshold = f"psi warn>={warn:.3g}, alert>={alert:.3g}; ks p<{alpha:.2g} warn"
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
        if psi >= alert:
            status, verdict = "alert", "significant shift"
        elif psi >= warn:
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
    """Shift of the mean probability and of the share of days traded against the registered choice's
    out-of-sample record.

    The caller passes the recent window (``run_monitoring`` uses the last ``prediction_window``
    predictions). Checks: ``prediction:mean_probability`` and ``prediction:share_traded``; value =
    the recent statistic; status from the absolute shift: the configured levels (``MonitorConfig``),
    raised to what the record's own ``prediction_window``-day windows reach (``calibration``).
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
    for key, values, warn_cfg, alert_cfg in specs:
        name = f"prediction:{key}"
        warn, alert = calibrated_levels(profile, key, warn_cfg, alert_cfg)
        threshold = f"|shift| warn>={warn:.3g}, alert>={alert:.3g}"
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
        status = band(abs(shift), warn, alert)
        reason = (
            f"{key} {current:.3f} over {values.size} days vs {float(ref_value):.3f} in the model's "
            f"out-of-sample record (shift {shift:+.3f})"
        )
        checks.append(Check(name, status, current, threshold, reason))
    return checks
