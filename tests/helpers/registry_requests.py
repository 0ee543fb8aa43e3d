"""Tiny fitted model bundles and registration requests (used by the local and SageMaker registry tests)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from spylib.registry import RegistrationRequest
from spylib.registry.provenance import Provenance

FEATURES = ["ret_1d", "rsi_14"]


def make_bundle(seed: int = 0, threshold: float = 0.5) -> dict[str, Any]:
    """A tiny fitted LogisticRegression bundle on synthetic data."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(60, 2)), columns=FEATURES)
    y = (x["ret_1d"] + 0.3 * rng.normal(size=60) > 0).astype(int)
    return {
        "format_version": 1,
        "estimator": LogisticRegression().fit(x, y),
        "feature_columns": FEATURES,
        "threshold": threshold,
        "filter_columns": ["trend_ok"],
        "label_convention": "close_to_close",
        "symbol": "SPY",
    }


def make_request(
    run: str = "SpyFlow/1",
    status: str = "Approved",
    group: str = "spy-direction",
    bundle: dict[str, Any] | None = None,
    **extra: Any,
) -> RegistrationRequest:
    return RegistrationRequest(
        group=group,
        bundle=bundle if bundle is not None else make_bundle(),
        approval_status=status,  # type: ignore[arg-type]
        metrics={"sharpe": 0.8, "dsr": float("nan"), "hit_rate": np.float64(0.54)},
        gate_reasons=["dsr < 0.95 (0.41)"] if status == "Rejected" else [],
        run_pathspec=run,
        data_fingerprint="abc123",
        code_version="git:deadbeef",
        **extra,
    )


def make_provenance(**overrides: Any) -> Provenance:
    """The provenance of a run on files (override ``source_kind``/``shuffle_labels`` for a control)."""
    fields: dict[str, Any] = {
        "source_kind": "file",
        "source": "data/{symbol}.csv",
        "data_fingerprint": "abc123",
        "first_date": "2001-01-02",
        "last_date": "2018-12-31",
        "symbols": ("SPY", "QQQ"),
        "sweep_config_sha256": "5" * 64,
        "gate_config_sha256": "6" * 64,
        "code_version": "git:deadbeef",
        "seed": 42,
        "shuffle_labels": False,
    }
    return Provenance(**{**fields, **overrides})
