"""PredictFlow in tests: a real model registered for review and approved with `spy-flow approve`, and a
run of the flow through the Runner wrapper."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

from metaflow import Run

from tests.helpers.flowrun import run_flow
from tests.helpers.paths import PREDICT_FLOW

DAY, NEXT_DAY = "2018-12-27", "2018-12-28"


def spy_flow_command() -> str:
    """The installed `spy-flow` console script (beside this interpreter in a virtual environment)."""
    beside = Path(sys.executable).with_name("spy-flow")
    found = str(beside) if beside.exists() else shutil.which("spy-flow")
    assert found, "the spy-flow console script is not installed (pip install -e .)"
    return found


def register_approved_model(root: Path) -> None:
    """A real model on the embedded data, registered for review and then approved, as a human would."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from spylib.data.sources import ingest
    from spylib.features.table import build_features, feature_columns
    from spylib.modelling.models import bundle_signal, make_bundle
    from spylib.monitoring import reference_profile
    from spylib.registry import LocalRegistry, RegistrationRequest
    from tests.helpers.strategies import strategy_for

    market = ingest("embedded", "SPY", "QQQ")
    features = build_features(market.prices, "SPY", "QQQ")
    columns = feature_columns()
    dev = features[(features["date"] >= date(2004, 1, 1)) & (features["date"] < date(2013, 1, 1))]
    test = features[(features["date"] >= date(2013, 6, 1)) & (features["date"] < date(2015, 1, 1))]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    model.fit(dev[columns], dev["target_up"].astype(int))
    bundle = make_bundle(model, strategy_for(columns))
    probability, signal = bundle_signal(bundle, test)
    profile = reference_profile(
        dev,
        columns,
        test_probability=probability,
        test_signal=signal,
        test_metrics={"hit_rate": 0.55, "auc": 0.52, "net_sharpe": 0.5},
    )
    registry = LocalRegistry(root)
    registry.register(
        RegistrationRequest(
            group="spy-direction",
            bundle=bundle,
            approval_status="PendingManualApproval",
            metrics={"cost_bps": 1.0},
            gate_reasons=[],
            run_pathspec="SpyFlow/test",
            data_fingerprint="test",
            code_version="test",
            extra_files={"reference_profile.json": json.dumps(profile).encode()},
        )
    )
    # Approved by a person, with the command line a person uses.
    approved = subprocess.run(
        [spy_flow_command(), "approve", "1", "--location", str(root), "--reason", "reviewed in the test"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert approved.returncode == 0, approved.stderr


def run_predict_flow(tmp: Path, as_of: str, **params: Any) -> Run:
    result = run_flow(tmp, flow_file=PREDICT_FLOW, sweep=None, max_workers=1, as_of=as_of, **params)
    assert result.status == "successful", result.stderr
    return result.run
