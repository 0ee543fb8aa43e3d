"""The reference profile: the model's training window and its own out-of-sample record, summarized once
at registration as plain JSON (stored with the model as ``reference_profile.json``) and read back by the
daily monitoring.

Per feature: the interior decile edges, the reference share of each bin, an evenly spaced sample of
the sorted values (for KS) and moments, over the training window (open-based features without the
stale-open years); the mean probability and share of days traded, and the hit rate, AUC and net Sharpe,
of the registered choice's out-of-sample record (:func:`spylib.monitoring.reference.chosen_record`);
and the alert levels calibrated on them (``calibration``, see :mod:`spylib.monitoring.reference`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.conventions import PERIODS_PER_YEAR
from spylib.core.errors import DataValidationError, IntegrityError
from spylib.core.jsonio import json_float
from spylib.monitoring.checks import MonitorConfig
from spylib.monitoring.drift import bin_shares, quantile_edges
from spylib.monitoring.inputs import finite_values
from spylib.monitoring.reference import (
    OPEN_BASED_FEATURES,
    edge_reference,
    psi_levels,
    stale_open_rows,
    window_levels,
)
from spylib.stats.performance import auc_score

PROFILE_VERSION = 2
PROFILE_FILE = "reference_profile.json"


def profile_feature(values: np.ndarray, n_bins: int = 10, sample_size: int = 2000) -> dict[str, Any]:
    """One feature's reference: interior decile edges, bin shares, an evenly spaced sorted sample, moments."""
    finite = np.sort(finite_values(values, "reference"))
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
    record: pd.DataFrame | None = None,
    test_probability: np.ndarray | None = None,
    test_signal: np.ndarray | None = None,
    test_metrics: Mapping[str, float | None] | None = None,
    config: MonitorConfig | None = None,
) -> dict[str, Any]:
    """The JSON-serializable reference stored with a registered model.

    ``features`` is the training window; ``record`` the registered choice's out-of-sample record
    (``RECORD_COLUMNS`` of :mod:`spylib.monitoring.reference`): the prediction reference, the test
    metrics and the calibration come from it. Without a record, ``test_probability`` /
    ``test_signal`` / ``test_metrics`` give them as before (no calibration: the configured levels).
    Nan metrics are stored as None (JSON has no nan).

    Keys: ``version``, ``n_bins``, ``n_rows``, ``window`` ({start, end}), ``features`` ({column:
    profile_feature(...)}), ``excluded_years`` ({feature: [stale-open years left out]}), ``prediction``
    ({mean_probability, std_probability, share_traded, n, span} or None), ``test_metrics``,
    ``calibration`` ({edge, mean_probability, share_traded, psi: {feature: levels}}).
    """
    cfg = config or MonitorConfig()
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise DataValidationError(
            f"reference features lack columns {missing}", source="features", column=missing[0]
        )
    profile_features, excluded, psi = feature_references(features, columns, cfg)
    window = None
    if "date" in features.columns and len(features):
        dates = pd.to_datetime(features["date"])
        window = {"start": str(dates.min().date()), "end": str(dates.max().date())}
    if record is not None and len(record):
        test_probability = record["probability"].to_numpy(dtype=float)
        test_signal = (record["position"].to_numpy(dtype=float) > 0).astype("int8")
        test_metrics = record_metrics(record)
    prediction = prediction_reference(test_probability, test_signal, record)
    calibration: dict[str, Any] = {"psi": psi}
    if record is not None and len(record):
        calibration.update(record_levels(record, cfg))
    metrics = {k: json_float(v) for k, v in (test_metrics or {}).items()}
    return {
        "version": PROFILE_VERSION,
        "n_bins": cfg.n_bins,
        "n_rows": len(features),
        "window": window,
        "features": profile_features,
        "excluded_years": excluded,
        "prediction": prediction,
        "test_metrics": metrics,
        "calibration": calibration,
    }


def feature_references(
    features: pd.DataFrame, columns: Sequence[str], cfg: MonitorConfig
) -> tuple[dict[str, Any], dict[str, list[int]], dict[str, Any]]:
    """Per feature of ``columns``: its reference (:func:`profile_feature`), the stale-open years left
    out of an open-based feature, and its PSI alert levels."""
    stale = stale_open_rows(features)
    years = pd.to_datetime(features["date"]).dt.year if "date" in features.columns else None
    profile_features: dict[str, Any] = {}
    excluded: dict[str, list[int]] = {}
    psi: dict[str, Any] = {}
    for col in columns:
        values = pd.to_numeric(features[col], errors="coerce").to_numpy(dtype=float)
        if col in OPEN_BASED_FEATURES and stale.any() and years is not None:
            excluded[col] = sorted({int(y) for y in years[stale]})
            values = values[~stale]
        if not np.isfinite(values).any():
            raise DataValidationError(
                "no finite value in the reference window", source="features", column=col
            )
        profile_features[col] = profile_feature(values, cfg.n_bins, cfg.sample_size)
        psi[col] = psi_levels(
            values, profile_features[col], cfg.drift_window, cfg.reference_quantile, cfg.psi_epsilon
        )
    return profile_features, excluded, psi


def prediction_reference(
    test_probability: np.ndarray | None, test_signal: np.ndarray | None, record: pd.DataFrame | None
) -> dict[str, Any] | None:
    """The out-of-sample predictions' reference: mean and spread of the probability, the share of
    days traded, the count and the record's span (None without probabilities)."""
    if test_probability is None:
        return None
    prob = finite_values(np.asarray(test_probability, dtype=float), "test_probability")
    return {
        "mean_probability": float(prob.mean()),
        "std_probability": float(prob.std(ddof=1)) if prob.size > 1 else 0.0,
        "share_traded": float(np.mean(np.asarray(test_signal, dtype=float) > 0))
        if test_signal is not None
        else None,
        "n": int(prob.size),
        "span": _span(record),
    }


def record_levels(record: pd.DataFrame, cfg: MonitorConfig) -> dict[str, Any]:
    """The alert levels calibrated on the out-of-sample record: the edge's CUSUM reference and the
    rolling mean probability's and share traded's levels."""
    w, q = cfg.prediction_window, cfg.reference_quantile
    return {
        "edge": edge_reference(record["net_return"], cfg.cusum_arl_days),
        "mean_probability": window_levels(record["probability"], w, q),
        "share_traded": window_levels(record["position"].to_numpy(dtype=float) > 0, w, q),
    }


def _span(record: pd.DataFrame | None) -> dict[str, str] | None:
    if record is None or not len(record):
        return None
    dates = pd.to_datetime(record["date"])
    return {"start": str(dates.min().date()), "end": str(dates.max().date())}


def record_metrics(record: pd.DataFrame) -> dict[str, float]:
    """Hit rate (share of traded days that closed up), AUC and net Sharpe (annualized with 252,
    ddof=1) of an out-of-sample record: the conventions of :mod:`spylib.monitoring.performance`."""
    traded = record["position"].to_numpy(dtype=float) > 0
    y = record["target_up"].to_numpy(dtype=float)
    net = record["net_return"].to_numpy(dtype=float)
    std = float(net.std(ddof=1)) if net.size > 1 else 0.0
    return {
        "hit_rate": float(np.mean(y[traded] == 1)) if traded.any() else math.nan,
        "auc": float(auc_score(y, record["probability"].to_numpy(dtype=float))),
        "net_sharpe": float(net.mean() / std * math.sqrt(PERIODS_PER_YEAR)) if std > 0 else math.nan,
    }


def dumps_profile(profile: Mapping[str, Any]) -> str:
    """Strict JSON of a profile (raises ValueError on nan/inf rather than writing non-standard JSON)."""
    return json.dumps(profile, allow_nan=False, sort_keys=True)


def loads_profile(data: bytes, *, source: str) -> dict[str, Any]:
    """A stored profile (the bytes of ``reference_profile.json``); IntegrityError naming ``source`` when
    the document is not a profile."""
    profile = json.loads(data)
    if not isinstance(profile, dict) or "features" not in profile:
        raise IntegrityError(f"{source}: not a reference profile (no 'features' key)")
    return profile
