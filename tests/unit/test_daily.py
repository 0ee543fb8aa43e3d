"""Tests of spylib.stages.daily and spylib.data.live on small synthetic data (no Metaflow run)."""

from __future__ import annotations

import json
import math
import sys
import types
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from spylib.core.errors import ConfigError, DataValidationError, IntegrityError, SpyFlowError
from spylib.core.schema import PREDICTION_COLUMNS
from spylib.data import live
from spylib.monitoring import alert_message, reference_profile, track_record
from spylib.registry import LocalRegistry, RegistrationRequest
from spylib.stages import daily
from spylib.stages.settings import DailySettings, parse_as_of
from spylib.storage.lake import read_table, write_table
from spylib.storage.sql import query

FEATURES = ("ret", "vol", "rsi")


# --- synthetic streams ------------------------------------------------------------------------
def make_features(
    n: int, seed: int, start: str = "2015-01-01", shift: dict[str, float] | None = None
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range(start, periods=n).date,
            "ret": rng.normal(0.0005, 0.01, n),
            "vol": rng.lognormal(-4.5, 0.3, n),
            "rsi": rng.normal(55, 10, n),
        }
    )
    for col, n_std in (shift or {}).items():
        frame[col] = frame[col] + n_std * frame[col].std()
    return frame


def make_predictions(n: int, seed: int, start: str, flip: bool = False) -> pd.DataFrame:
    """A model with a modest real edge (score = next return + noise); ``flip`` inverts the outcomes."""
    rng = np.random.default_rng(seed)
    fwd = rng.normal(0.0005, 0.01, n)
    prob = np.clip(0.53 + 0.02 * (fwd / 0.01 + rng.normal(0, 2, n)) / math.sqrt(5), 0.01, 0.99)
    if flip:
        fwd = -fwd
    return pd.DataFrame(
        {
            "date": pd.bdate_range(start, periods=n).date,
            "symbol": "SPY",
            "segment": track_record.DAILY_SEGMENT,
            "probability": prob,
            "signal": (prob > 0.54).astype(np.int8),
            "position": (prob > 0.54).astype("float64"),
            "target_up": (fwd > 0).astype("float64"),
            "fwd_return": fwd,
            "model_version": "spy-direction/v1",
        }
    )


@pytest.fixture(scope="module")
def profile() -> dict:
    """The registered reference: a training window of features, test-segment predictions and metrics."""
    from spylib.monitoring import strategy_net_returns

    test = make_predictions(1500, seed=2, start="2018-01-01")
    net = strategy_net_returns(test["signal"].to_numpy(), test["fwd_return"].to_numpy(), 1.0)
    record = test[["date", "probability", "fwd_return", "target_up"]].assign(
        position=test["signal"].astype(float), net_return=net
    )
    return reference_profile(make_features(2000, seed=1), list(FEATURES), record=record)


# --- the three monitoring scenarios -----------------------------------------------------------
def test_stable_stream_is_ok(profile: dict) -> None:
    recent = make_features(300, seed=11, start="2023-01-02")
    predictions = make_predictions(120, seed=12, start="2023-06-01")
    monitored = daily.run_daily_monitoring(profile, recent, predictions, cost_bps=1.0)
    report, rolling = monitored.report, monitored.rolling
    assert report.status == "ok", report.summary()
    names = {c.name for c in report.checks}
    expected = {"drift:ret", "drift:vol", "drift:rsi", "prediction:mean_probability",
                "prediction:share_traded", "performance:hit_rate_60", "performance:auc_60",
                "performance:net_sharpe_60"}  # fmt: skip
    assert expected <= names
    # every check ran (none skipped for lack of data) and the 20/60-day windows are filled
    assert not [c for c in report.checks if c.reason.startswith("skipped")]
    assert rolling[["hit_rate_20", "hit_rate_60", "auc_60", "sharpe_60"]].iloc[-1].notna().all()
    message = alert_message(report, "spy-direction/v1", "2023-11-16")
    assert message.startswith("MONITORING OK")
    daily.finish(report.to_dict(), message, fail_on_alert=True)  # ok: does not raise


def test_shifted_feature_gives_a_drift_alert_naming_the_feature(profile: dict) -> None:
    recent = make_features(300, seed=11, start="2023-01-02", shift={"vol": 1.0})
    predictions = make_predictions(120, seed=12, start="2023-06-01")
    report = daily.run_daily_monitoring(profile, recent, predictions).report
    assert report.status == "alert"
    alerts = report.alerts()
    assert [c.name for c in alerts] == ["drift:vol"]
    assert "feature 'vol'" in alerts[0].reason
    assert "significant shift" in alerts[0].reason
    message = alert_message(report, "spy-direction/v1", "2023-11-16")
    assert "MONITORING ALERT" in message
    assert "drift:vol" in message
    with pytest.raises(SpyFlowError, match="drift:vol"):
        daily.finish(report.to_dict(), message, fail_on_alert=True)
    daily.finish(report.to_dict(), message, fail_on_alert=False)  # interactive: report, no raise


def test_flipped_labels_give_a_performance_alert(profile: dict) -> None:
    recent = make_features(300, seed=11, start="2023-01-02")
    predictions = make_predictions(120, seed=12, start="2023-06-01", flip=True)
    monitored = daily.run_daily_monitoring(profile, recent, predictions)
    report, rolling = monitored.report, monitored.rolling
    assert report.status == "alert"
    alerted = {c.name for c in report.alerts()}
    assert alerted == {"performance:edge_cusum"}  # the 60-day figures warn; the CUSUM alerts
    assert {c.name for c in report.warnings()} & {"performance:hit_rate_60", "performance:auc_60"}
    assert not [c for c in report.checks if c.name.startswith("drift:") and c.status != "ok"]
    assert rolling["auc_60"].iloc[-1] < 0.5


# --- the track record: first prediction kept, outcomes filled, no duplicates -----------------
def daily_row(day: date, probability: float, version: str = "spy-direction/v1") -> pd.DataFrame:
    return pd.DataFrame({
        "date": [day], "symbol": ["SPY"], "segment": [track_record.DAILY_SEGMENT], "probability": [probability],
        "signal": pd.array([int(probability >= 0.5)], dtype="int8"),
        "position": [float(probability >= 0.5)],
        "target_up": pd.array([pd.NA], dtype="Int8"),
        "fwd_return": [math.nan], "model_version": [version],
    })  # fmt: skip


def outcomes(*rows: tuple[date, int, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "target_up", "fwd_return"])


def merge(
    existing: pd.DataFrame, new: pd.DataFrame, known: pd.DataFrame, run_id: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    merged = track_record.merge_daily_rows(existing, new, known, run_id)
    return merged.track, merged.changed


def test_merge_keeps_the_first_prediction_and_fills_the_outcome() -> None:
    d1, d2 = date(2024, 3, 4), date(2024, 3, 5)
    track, changed = merge(pd.DataFrame(), daily_row(d1, 0.61), outcomes(), "100")
    assert len(track) == 1
    assert changed["run_id"].tolist() == ["100"]
    # same day again, another model and probability: nothing changes, nothing to write
    track2, changed2 = merge(track, daily_row(d1, 0.40, "spy-direction/v2"), outcomes(), "101")
    assert changed2.empty
    assert track2["probability"].tolist() == [0.61]
    assert track2["model_version"].tolist() == ["spy-direction/v1"]
    # next day: d2 is new, d1's outcome is now known and filled; d1 stays owned by run 100
    track3, changed3 = merge(track2, daily_row(d2, 0.45), outcomes((d1, 1, 0.012)), "102")
    assert track3["date"].tolist() == [d1, d2]
    assert track3["target_up"].tolist()[0] == 1
    assert track3["fwd_return"].iloc[0] == 0.012
    assert pd.isna(track3["target_up"].iloc[1])
    assert track3["run_id"].tolist() == ["100", "102"]
    assert changed3["date"].tolist() == [d1, d2]
    # a recorded outcome is never overwritten
    track4, changed4 = merge(track3, daily_row(d2, 0.45), outcomes((d1, 0, -0.5)), "103")
    assert track4["fwd_return"].iloc[0] == 0.012
    assert changed4.empty


def test_daily_rows_coexist_with_training_rows_in_the_lake(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    d1, d2, d3 = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)
    training = pd.concat([daily_row(d, 0.3) for d in (d1, d2, d3)], ignore_index=True)
    training["segment"] = ["production", "production", "latest"]
    training["model_version"] = "run-7"
    training.loc[:1, "target_up"] = [1, 0]
    training.loc[:1, "fwd_return"] = [0.01, -0.02]
    training_files = write_table(training[list(PREDICTION_COLUMNS)], "predictions", lake, "7")

    def run(day: date, probability: float, run_id: str, known: pd.DataFrame) -> list[str]:
        existing = track_record.read_daily_rows(lake, "SPY")
        track, changed = merge(existing, daily_row(day, probability), known, run_id)
        staged = track_record.write_daily_rows(track, changed, lake, run_id)
        assert len(read_table("predictions", lake)) == before  # staged: nobody sees it yet
        track_record.publish_daily_rows(lake, run_id, f"data-of-{run_id}")
        return staged

    before = 3
    first = run(d1, 0.55, "100", outcomes())
    before = 4
    assert run(d1, 0.99, "101", outcomes()) == []  # re-run of the same day: nothing written
    run(d2, 0.52, "102", outcomes((d1, 1, 0.01)))
    table = read_table("predictions", lake)
    daily_rows = table[table["segment"] == "daily"]
    assert daily_rows["date"].dt.date.tolist() == [d1, d2]  # no duplicate date
    assert daily_rows["probability"].tolist() == [0.55, 0.52]  # the first prediction of d1 kept
    assert daily_rows["target_up"].tolist()[0] == 1
    assert pd.isna(daily_rows["target_up"].tolist()[1])
    assert daily_rows["run_id"].tolist() == ["100", "102"]  # each row owned by the run that predicted it
    # the training run's rows and file are untouched; same days, separate rows
    assert Path(training_files[0]).exists()
    assert first[0].endswith("run_id=100.parquet")
    assert (table["segment"] != "daily").sum() == 3
    counts = query("SELECT segment, count(*) AS n FROM predictions GROUP BY segment ORDER BY segment", lake)
    assert dict(zip(counts["segment"], counts["n"], strict=True)) == {
        "daily": 2,
        "latest": 1,
        "production": 2,
    }


# --- as-of, settings, registry ---------------------------------------------------------------
def prices_frame(days: list[date]) -> pd.DataFrame:
    return pd.DataFrame({"date": days * 2, "symbol": ["SPY"] * len(days) + ["QQQ"] * len(days)})


def test_cut_at_keeps_days_up_to_as_of_and_names_a_non_trading_day() -> None:
    days = [date(2024, 3, 1), date(2024, 3, 4), date(2024, 3, 5)]
    cut = daily.cut_at(prices_frame(days), date(2024, 3, 4), "src.csv")
    assert cut.as_of == date(2024, 3, 4)
    assert sorted(set(cut.prices["date"])) == days[:2]
    assert daily.cut_at(prices_frame(days), None, "src.csv").as_of == days[-1]
    with pytest.raises(DataValidationError, match=r"2024-03-02 is not a trading day.*2024-03-01"):
        daily.cut_at(prices_frame(days), date(2024, 3, 2), "src.csv")
    assert parse_as_of("") is None
    assert parse_as_of("2024-03-04") == date(2024, 3, 4)
    with pytest.raises(ConfigError, match="--as-of"):
        parse_as_of("03/04/2024")


def test_env_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(daily.FAIL_ON_ALERT_ENV, raising=False)
    assert daily.env_flag() is False
    monkeypatch.setenv(daily.FAIL_ON_ALERT_ENV, "true")
    assert daily.env_flag() is True


def settings_for(registry_root: Path) -> DailySettings:
    return DailySettings(
        source="embedded", symbol="SPY", benchmark="QQQ", as_of=None, extra_features=(), output_dir="out",
        lake_root="lake", registry="local", registry_location=str(registry_root), model_group="spy-direction",
        history_runs=3, replay_days=0, fail_on_alert=False,
    )  # fmt: skip


def register_synthetic(root: Path, profile: dict, status: str = "Approved") -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=list(FEATURES))
    model = LogisticRegression().fit(X, (X["ret"] + rng.normal(size=200) > 0).astype(int))
    bundle = {"format_version": 1, "estimator": model, "feature_columns": list(FEATURES), "threshold": 0.5,
              "filter_columns": [], "label_convention": "close_to_close", "symbol": "SPY"}  # fmt: skip
    LocalRegistry(root).register(RegistrationRequest(
        group="spy-direction", bundle=bundle, approval_status=status, metrics={"cost_bps": 2.0},  # type: ignore[arg-type]
        gate_reasons=[], run_pathspec="SpyFlow/1", data_fingerprint="x", code_version="test",
        extra_files={"reference_profile.json": json.dumps(profile).encode()},
    ))  # fmt: skip


def test_load_approved_model_checks_the_profile_hash(tmp_path: Path, profile: dict) -> None:
    with pytest.raises(SpyFlowError, match="no Approved version of model group 'spy-direction'"):
        daily.load_approved_model(settings_for(tmp_path))
    register_synthetic(tmp_path, profile, status="PendingManualApproval")
    with pytest.raises(SpyFlowError, match="approve one with `spy-flow approve N --registry local"):
        daily.load_approved_model(settings_for(tmp_path))
    LocalRegistry(tmp_path).set_status("spy-direction", 1, "Approved")  # the human reviewer
    model = daily.load_approved_model(settings_for(tmp_path))
    assert model.model_version == "spy-direction/v1"
    assert model.cost_bps == 2.0
    assert model.profile["features"].keys() == set(FEATURES)
    profile_path = tmp_path / "spy-direction" / "versions" / "1" / "reference_profile.json"
    profile_path.write_text(json.dumps({**profile, "n_rows": 1}))
    with pytest.raises(IntegrityError, match=r"reference_profile.json: sha256 .* does not match"):
        daily.load_approved_model(settings_for(tmp_path))


def test_monitoring_predictions_replay_precedes_the_track_record(profile: dict, tmp_path: Path) -> None:
    register_synthetic(tmp_path, profile)
    model = daily.load_approved_model(settings_for(tmp_path))
    features = make_features(50, seed=3, start="2024-01-01").assign(symbol="SPY")
    rng = np.random.default_rng(4)
    features["fwd_return"] = rng.normal(0, 0.01, 50)
    features["target_up"] = pd.array((features["fwd_return"] > 0).astype(int), dtype="Int8")
    features.loc[49, ["fwd_return", "target_up"]] = [np.nan, pd.NA]
    track = daily_row(features["date"].iloc[48], 0.6).assign(run_id="9")
    frame = track_record.monitoring_predictions(track, model, features, replay_days=10)
    assert frame["segment"].tolist() == ["replay"] * 10 + ["daily"]
    assert frame["date"].iloc[9] == features["date"].iloc[47]  # replay ends before the first daily day
    assert frame["target_up"].iloc[:10].notna().all()
    assert frame["target_up"].dtype == "float64"
    assert len(track_record.monitoring_predictions(track, model, features, replay_days=0)) == 1


# --- the optional live source -----------------------------------------------------------------
def test_live_source_without_yfinance_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yfinance", None)  # makes `import yfinance` raise ImportError
    with pytest.raises(ConfigError, match=r"pip install 'spy-flow\[live\]'"):
        live.load_live("yfinance", "SPY")
    assert daily.price_loader("yfinance") is live.load_live
    assert daily.price_loader("embedded") is None


def fake_yfinance(history: pd.DataFrame | Exception) -> types.ModuleType:
    module = types.ModuleType("yfinance")

    class Ticker:
        def __init__(self, symbol: str) -> None:
            self.symbol = symbol

        def history(self, **kwargs: object) -> pd.DataFrame:
            if isinstance(history, Exception):
                raise history
            return history

    module.Ticker = Ticker  # type: ignore[attr-defined]
    return module


def test_live_source_without_network_names_the_symbol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yfinance", fake_yfinance(ConnectionError("Failed to resolve host")))
    with pytest.raises(SpyFlowError, match=r"cannot download QQQ \(ConnectionError.*network access"):
        live.load_live("yfinance", "QQQ")
    # yfinance often swallows the error and returns an empty frame
    monkeypatch.setitem(sys.modules, "yfinance", fake_yfinance(pd.DataFrame()))
    with pytest.raises(SpyFlowError, match=r"no data for SPY \(no network access"):
        live.load_live("yfinance", "SPY")


def test_live_source_normalizes_a_yfinance_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    index = pd.DatetimeIndex(pd.bdate_range("2024-03-01", periods=3), tz="America/New_York", name="Date")
    history = pd.DataFrame({"Open": [10.0, 11.0, 12.0], "High": [11.0, 12.0, 13.0], "Low": [9.0, 10.0, 11.0],
                            "Close": [10.5, 11.5, 12.5], "Volume": [100, 200, 300], "Dividends": 0.0},
                           index=index)  # fmt: skip
    monkeypatch.setitem(sys.modules, "yfinance", fake_yfinance(history))
    prices = live.load_live("yfinance", "SPY", today=date(2024, 3, 10))
    assert prices.source == "yfinance:SPY"
    assert prices.layout == "yfinance"
    assert prices.frame["date"].tolist() == [date(2024, 3, 1), date(2024, 3, 4), date(2024, 3, 5)]
    assert prices.frame["adj_close"].tolist() == [10.5, 11.5, 12.5]
