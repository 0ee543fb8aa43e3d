"""Monitoring on the shipped data: the reference SpyFlow's stages register on the embedded 1999-2018
history (ingest, features, the walk-forward of the small sweep, the chosen trial), then PredictFlow's
monitoring on the day after the training data. No Metaflow run, but a whole walk-forward on the
embedded data (about 13 s on one core): an integration test, so it sits in this tier, not in the
unit tier's minute."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from spylib.monitoring import data_drift_checks, run_monitoring


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The reference SpyFlow registers on the shipped data (the small sweep, the flow's defaults)."""
    from tests.helpers.monitoring_reference import monitored_model
    from tests.helpers.paths import SMALL_SWEEP

    return monitored_model(tmp_path_factory.mktemp("shipped"), SMALL_SWEEP)


def test_the_day_after_the_training_data_raises_no_alert_the_reference_would_not(shipped: Any) -> None:
    profile, features, record = shipped.profile, shipped.features, shipped.record
    # the references are the chosen trial's own out-of-sample record, not the walk-forward track
    assert profile["prediction"]["share_traded"] == pytest.approx(float((record["position"] > 0).mean()))
    assert profile["prediction"]["share_traded"] == pytest.approx(shipped.trial["oof_exposure"])
    assert profile["test_metrics"]["net_sharpe"] == pytest.approx(shipped.trial["oof_sharpe_net"], rel=1e-9)
    # gap_open's reference leaves out the stand-in index's stale-open years (opens within 1 bp of the
    # previous close on most days: 1999-2007 and 2012)
    assert profile["excluded_years"]["gap_open"] == [*range(1999, 2008), 2012]
    # PredictFlow on the day after the training data, monitoring its out-of-sample days replayed
    day_after = features.iloc[: shipped.train_last + 2]
    replay = record.tail(60).assign(symbol="SPY", signal=(record["position"].tail(60) > 0).astype("int8"))
    report = run_monitoring(profile, day_after, replay)
    # The reference period itself, monitored on its last day with the same replayed days: an alert it
    # raises (e.g. the chosen rule's own losses in late 2018) is the record's, not the new day's.
    on_reference = run_monitoring(profile, features.iloc[: shipped.train_last + 1], replay)
    own = {c.name for c in on_reference.alerts()}
    assert not [c for c in report.alerts() if c.name not in own], report.summary()
    assert not [c for c in report.alerts() if c.name.startswith("drift:")], report.summary()
    assert {c.name: c.status for c in report.checks}["drift:gap_open"] != "alert"
    # and no full window of the reference period itself alerts (year ends of the training window;
    # gap_open only once its window is past the stale-open years its reference leaves out)
    years = pd.to_datetime(features["date"]).dt.year
    ends = pd.Series(range(len(features))).groupby(years).max()
    for end in ends[(ends >= 249) & (ends <= shipped.train_last)]:
        stale = years.iloc[end - 249] <= max(profile["excluded_years"]["gap_open"])
        checks = data_drift_checks(profile, features.iloc[: end + 1])
        alerts = [
            c.name for c in checks if c.status == "alert" and not (stale and c.name == "drift:gap_open")
        ]
        assert not alerts, (features["date"].iloc[end], alerts)
