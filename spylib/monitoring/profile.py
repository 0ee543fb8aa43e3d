"""The reference profile: the model's training window and test-segment outputs, summarized once at
registration as plain JSON (stored with the model as ``reference_profile.json``) and read back by the
daily monitoring.

Per feature: the interior decile edges, the reference share of each bin, an evenly spaced sample of
the sorted values (for KS) and moments; the mean probability and share of days traded on the test
segment; and the registered test metrics (hit rate, AUC, net Sharpe).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.errors import DataValidationError, IntegrityError
from spylib.core.jsonio import json_float
from spylib.monitoring.drift import bin_shares, quantile_edges
from spylib.monitoring.inputs import finite_values

PROFILE_VERSION = 1
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
        prob = finite_values(np.asarray(test_probability, dtype=float), "test_probability")
        prediction = {
            "mean_probability": float(prob.mean()),
            "std_probability": float(prob.std(ddof=1)) if prob.size > 1 else 0.0,
            "share_traded": float(np.mean(np.asarray(test_signal, dtype=float) > 0))
            if test_signal is not None
            else None,
            "n": int(prob.size),
        }
    metrics = {k: json_float(v) for k, v in (test_metrics or {}).items()}
    return {
        "version": PROFILE_VERSION,
        "n_bins": n_bins,
        "n_rows": len(features),
        "window": window,
        "features": profile_features,
        "prediction": prediction,
        "test_metrics": metrics,
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
