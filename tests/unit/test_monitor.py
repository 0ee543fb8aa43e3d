"""Tests of spylib.monitoring on small seeded synthetic data (no Metaflow)."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from spylib.core.errors import ConfigError, DataValidationError
from spylib.monitoring import (
    Check,
    MonitorConfig,
    MonitoringReport,
    auc_score,
    data_drift_checks,
    dumps_profile,
    ks_test,
    measure_resources,
    performance_checks,
    pipeline_health_checks,
    plot_monitoring,
    population_stability_index,
    prediction_drift_checks,
    psi_from_profile,
    psi_from_shares,
    reference_profile,
    rolling_performance,
    run_monitoring,
    save_figures,
    step_stats_row,
    strategy_net_returns,
)

FEATURES = ("ret", "vol", "rsi", "flag")


def make_features(n: int, seed: int, shift: dict[str, float] | None = None) -> pd.DataFrame:
    """Three continuous features of different scales and one 0/1 flag (20% ones)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range("2015-01-01", periods=n),
            "ret": rng.normal(0.0005, 0.01, n),
            "vol": rng.lognormal(-4.5, 0.3, n),
            "rsi": rng.normal(55, 10, n),
            "flag": (rng.random(n) < 0.2).astype(np.int8),
        }
    )
    for col, n_std in (shift or {}).items():
        frame[col] = frame[col] + n_std * frame[col].std()
    return frame


def make_predictions(n: int, seed: int, start: str = "2020-01-01", flip: bool = False) -> pd.DataFrame:
    """A model with a modest real edge: its score is the next return plus noise; long above 0.54."""
    rng = np.random.default_rng(seed)
    fwd = rng.normal(0.0005, 0.01, n)
    score = fwd / 0.01 + rng.normal(0, 2, n)
    prob = np.clip(0.53 + 0.02 * score / math.sqrt(5), 0.01, 0.99)
    if flip:  # the world flips: the model is now anti-correlated with outcomes
        fwd = -fwd
    return pd.DataFrame(
        {
            "date": pd.bdate_range(start, periods=n),
            "probability": prob,
            "signal": (prob > 0.54).astype(np.int8),
            "target_up": (fwd > 0).astype(np.int8),
            "fwd_return": fwd,
        }
    )


@pytest.fixture(scope="module")
def profile() -> dict:
    """The registered reference: the training window and the model's out-of-sample record."""
    return reference_profile(
        make_features(2000, seed=1), FEATURES, record=as_record(make_predictions(1500, 2, "2018-01-01"))
    )


def as_record(predictions: pd.DataFrame) -> pd.DataFrame:
    """Predictions as an out-of-sample record (the columns of ``chosen_record``), at 1 bp per side."""
    net = strategy_net_returns(predictions["signal"].to_numpy(), predictions["fwd_return"].to_numpy(), 1.0)
    return pd.DataFrame({
        "date": predictions["date"], "probability": predictions["probability"],
        "position": predictions["signal"].astype(float), "net_return": net,
        "fwd_return": predictions["fwd_return"], "target_up": predictions["target_up"],
    })  # fmt: skip


# --- PSI / KS ---------------------------------------------------------------------------------
def test_psi_identical_distribution_is_about_zero() -> None:
    x = np.random.default_rng(0).normal(size=5000)
    assert population_stability_index(x, x) == pytest.approx(0.0, abs=1e-12)
    y = np.random.default_rng(1).normal(size=5000)
    assert population_stability_index(x, y) < 0.01


def test_psi_hand_computed_case() -> None:
    # n_bins=2: one edge at the reference median 2.5 -> reference shares [0.5, 0.5], current [0.8, 0.2].
    psi = population_stability_index(np.array([1, 2, 3, 4.0]), np.array([1, 1, 1, 1, 4.0]), n_bins=2)
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi == pytest.approx(expected, rel=1e-12)
    assert psi == pytest.approx(0.4158883, rel=1e-6)


def test_psi_empty_bin_is_floored_not_infinite() -> None:
    psi = psi_from_shares(np.array([0.5, 0.5]), np.array([1.0, 0.0]), epsilon=1e-4)
    expected = 0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert math.isfinite(psi)
    assert psi == pytest.approx(expected)


def test_psi_one_std_shift_is_significant_and_symmetric_ish() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=4000), rng.normal(1.0, 1.0, size=1000)
    assert population_stability_index(ref, cur) > 0.25
    assert population_stability_index(ref, rng.normal(0.2, 1.0, size=1000)) < 0.25


def test_psi_handles_flags_with_duplicate_quantiles() -> None:
    ref = np.r_[np.zeros(800), np.ones(200)]
    same = np.r_[np.zeros(80), np.ones(20)]
    more_ones = np.r_[np.zeros(50), np.ones(50)]
    assert population_stability_index(ref, same) == pytest.approx(0.0, abs=1e-12)
    expected = (0.5 - 0.8) * math.log(0.5 / 0.8) + (0.5 - 0.2) * math.log(0.5 / 0.2)
    assert population_stability_index(ref, more_ones) == pytest.approx(expected)


def test_psi_from_profile_matches_raw_psi(profile: dict) -> None:
    train = make_features(2000, seed=1)
    cur = make_features(300, seed=9, shift={"rsi": 0.5})["rsi"].to_numpy()
    assert psi_from_profile(profile["features"]["rsi"], cur) == pytest.approx(
        population_stability_index(train["rsi"].to_numpy(), cur)
    )


def test_ks_test_detects_shift_and_returns_nan_on_empty() -> None:
    rng = np.random.default_rng(4)
    ref = rng.normal(size=2000)
    stat, p = ks_test(ref, rng.normal(0.5, 1, 300))
    assert stat > 0.1
    assert p < 1e-6
    assert math.isnan(ks_test(ref, np.array([np.nan]))[1])


# --- profile ----------------------------------------------------------------------------------
def test_reference_profile_round_trips_through_json(profile: dict) -> None:
    text = json.dumps(profile, allow_nan=False)
    again = json.loads(text)
    assert again == profile
    assert dumps_profile(again) == dumps_profile(profile)
    feat = again["features"]["ret"]
    assert len(feat["edges"]) == 9
    assert len(feat["shares"]) == 10
    assert sum(feat["shares"]) == pytest.approx(1.0)
    assert len(feat["sample"]) == 2000
    assert feat["sample"] == sorted(feat["sample"])
    # A 0/1 flag's deciles collapse to edges [0, 1]: bins (-inf, 0], (0, 1], (1, inf), the last empty.
    assert again["features"]["flag"]["edges"] == [0.0, 1.0]
    assert again["features"]["flag"]["shares"][2] == 0.0
    assert 0.0 < again["prediction"]["share_traded"] < 1.0
    assert set(again["test_metrics"]) == {"hit_rate", "auc", "net_sharpe"}
    assert again["window"] == {"start": "2015-01-01", "end": str(make_features(2000, 1)["date"].max().date())}


def test_reference_profile_stores_nan_metric_as_null_and_rejects_missing_column() -> None:
    prof = reference_profile(make_features(50, 0), ["ret"], test_metrics={"auc": float("nan")})
    assert prof["test_metrics"]["auc"] is None
    json.dumps(prof, allow_nan=False)
    with pytest.raises(DataValidationError, match="column 'nope'"):
        reference_profile(make_features(50, 0), ["ret", "nope"])


# --- data drift -------------------------------------------------------------------------------
def test_stable_stream_is_ok_overall(profile: dict) -> None:
    report = run_monitoring(profile, make_features(250, seed=11), make_predictions(120, seed=12))
    assert report.status == "ok", report.summary()
    names = {c.name for c in report.checks}
    assert {f"drift:{f}" for f in FEATURES} <= names
    assert {"prediction:mean_probability", "prediction:share_traded"} <= names
    assert {"performance:hit_rate_60", "performance:auc_60", "performance:net_sharpe_60"} <= names
    # Nothing was skipped: every check had data.
    assert not [c for c in report.checks if c.reason.startswith("skipped")]


def test_shifted_feature_alerts_and_names_it(profile: dict) -> None:
    recent = make_features(250, seed=11, shift={"rsi": 1.0})
    checks = {c.name: c for c in data_drift_checks(profile, recent)}
    assert checks["drift:rsi"].status == "alert"
    assert "rsi" in checks["drift:rsi"].reason
    assert checks["drift:rsi"].value > 0.25
    for other in ("ret", "vol", "flag"):
        assert checks[f"drift:{other}"].status == "ok", checks[f"drift:{other}"].reason
    report = run_monitoring(profile, recent, make_predictions(120, seed=12))
    assert report.status == "alert"
    assert [c.name for c in report.alerts()] == ["drift:rsi"]


def test_ks_only_drift_is_a_warning_not_an_alert(profile: dict) -> None:
    # A large sample with a small shift: KS rejects, PSI stays under 0.1.
    recent = make_features(5000, seed=13, shift={"rsi": 0.15})
    cfg = MonitorConfig(drift_window=5000)
    check = {c.name: c for c in data_drift_checks(profile, recent, cfg)}["drift:rsi"]
    assert check.value < 0.1
    assert check.status == "warn"
    assert "KS rejects" in check.reason


def test_missing_feature_and_short_window(profile: dict) -> None:
    recent = make_features(250, seed=11).drop(columns=["vol"])
    checks = {c.name: c for c in data_drift_checks(profile, recent)}
    assert checks["drift:vol"].status == "alert"
    assert "missing" in checks["drift:vol"].reason
    short = {c.name: c for c in data_drift_checks(profile, make_features(30, seed=11))}
    assert short["drift:ret"].status == "ok"
    assert short["drift:ret"].reason.startswith("skipped")


# --- prediction drift -------------------------------------------------------------------------
def test_prediction_drift_thresholds(profile: dict) -> None:
    ref_mean = profile["prediction"]["mean_probability"]
    ref_share = profile["prediction"]["share_traded"]
    n = 60
    same = prediction_drift_checks(
        profile, np.full(n, ref_mean), np.r_[np.ones(round(ref_share * n)), np.zeros(n)]
    )
    assert same[0].status == "ok"
    checks = prediction_drift_checks(profile, np.full(n, ref_mean + 0.04), np.ones(n))
    by_name = {c.name: c for c in checks}
    assert by_name["prediction:mean_probability"].status == "warn"
    assert by_name["prediction:share_traded"].status == "alert"
    assert by_name["prediction:share_traded"].value == pytest.approx(1.0)
    big = prediction_drift_checks(profile, np.full(n, ref_mean - 0.07), np.zeros(n))
    assert big[0].status == "alert"


# --- performance ------------------------------------------------------------------------------
def test_rolling_performance_matches_direct_computation() -> None:
    pred = make_predictions(80, seed=5)
    pred.loc[79, ["target_up", "fwd_return"]] = np.nan  # the latest day is not realized yet
    roll = rolling_performance(pred, windows=(20, 60), cost_bps=1.0)
    assert len(roll) == 79
    assert roll["hit_rate_60"].iloc[:59].isna().all()
    assert roll["hit_rate_60"].iloc[59:].notna().all()
    last = pred.iloc[19:79]
    traded = last[last["signal"] == 1]
    assert roll["hit_rate_60"].iloc[-1] == pytest.approx(traded["target_up"].mean())
    assert roll["auc_60"].iloc[-1] == pytest.approx(
        auc_score(last["target_up"].to_numpy(), last["probability"])
    )
    net = strategy_net_returns(
        pred["signal"].iloc[:79].to_numpy(), pred["fwd_return"].iloc[:79].to_numpy(), 1.0
    )
    window = net[19:79]
    assert roll["sharpe_60"].iloc[-1] == pytest.approx(window.mean() / window.std(ddof=1) * math.sqrt(252))


def test_net_returns_charge_costs_per_side_and_flat_days_are_zero() -> None:
    net = strategy_net_returns(np.array([0, 1, 1, 0]), np.array([0.01, 0.02, -0.01, 0.03]), cost_bps=10)
    assert net == pytest.approx([0.0, 0.02 - 0.001, -0.01, -0.001])


def test_auc_nan_for_one_class_and_known_value() -> None:
    assert math.isnan(auc_score(np.ones(5), np.arange(5)))
    assert auc_score(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)


def test_flipped_labels_raise_performance_alert(profile: dict) -> None:
    preds = make_predictions(120, seed=12, flip=True)
    checks = {c.name: c for c in performance_checks(rolling_performance(preds), profile)}
    assert checks["performance:hit_rate_60"].status == "warn"  # the 60-day figures only warn
    assert checks["performance:auc_60"].status == "warn"
    assert checks["performance:auc_60"].value < 0.5
    report = run_monitoring(profile, make_features(250, seed=11), preds)
    assert report.status == "alert"
    assert {c.name for c in report.alerts()} == {"performance:edge_cusum"}
    assert not [c for c in report.checks if c.name.startswith("drift:") and c.status != "ok"]


def test_performance_skipped_before_a_full_window(profile: dict) -> None:
    checks = performance_checks(rolling_performance(make_predictions(30, seed=12)), profile)
    assert all(c.status == "ok" and c.reason.startswith("skipped") for c in checks)


# --- pipeline health --------------------------------------------------------------------------
def make_step_stats(run_id: str, seconds: dict[str, float], rss: float = 300.0) -> pd.DataFrame:
    rows = [
        {"run_id": run_id, "step": step, "task": f"{i}", "seconds": s, "peak_rss_mb": rss}
        for i, (step, s) in enumerate(seconds.items())
    ]
    return pd.DataFrame(rows)


def test_pipeline_health_alerts_on_a_5x_slower_step() -> None:
    base = {"start": 8.0, "train": 30.0, "end": 6.0}
    history = pd.concat(
        [make_step_stats(f"r{i}", {k: v * (1 + 0.05 * i) for k, v in base.items()}) for i in range(5)]
    )
    current = make_step_stats("now", {**base, "train": 150.0})
    checks = {c.name: c for c in pipeline_health_checks(current, history)}
    assert checks["health:train:seconds"].status == "alert"
    assert "train" in checks["health:train:seconds"].reason
    assert checks["health:train:seconds"].value == pytest.approx(150 / 33.0)
    assert checks["health:start:seconds"].status == "ok"
    assert checks["health:train:peak_rss_mb"].status == "ok"
    report = MonitoringReport.from_checks(list(checks.values()))
    assert [c.name for c in report.alerts()] == ["health:train:seconds"]


def test_pipeline_health_warn_floor_and_no_history() -> None:
    history = pd.concat([make_step_stats(f"r{i}", {"load": 1.0, "fit": 10.0}) for i in range(4)])
    # 3x slower -> warn; a 1 s step 3x slower stays ok (under the 5 s floor);
    # the current run's own rows in history are ignored.
    current = make_step_stats("now", {"load": 3.0, "fit": 30.0})
    checks = {c.name: c for c in pipeline_health_checks(current, pd.concat([history, current]))}
    assert checks["health:fit:seconds"].status == "warn"
    assert checks["health:load:seconds"].status == "ok"
    assert "floor" in checks["health:load:seconds"].reason
    # Two previous runs plus the current one in history: still only 2 previous runs -> skipped.
    two = pipeline_health_checks(current, pd.concat([history[history["run_id"].isin(["r0", "r1"])], current]))
    assert all(c.reason.startswith("skipped: step") and "2 previous runs" in c.reason for c in two)
    none = pipeline_health_checks(current, None)
    assert all(c.status == "ok" and c.reason.startswith("skipped") for c in none)
    with pytest.raises(DataValidationError, match="step_stats, column 'peak_rss_mb'"):
        pipeline_health_checks(current.drop(columns=["peak_rss_mb"]), None)


def test_measure_resources_fills_on_exit() -> None:
    with measure_resources() as measured:
        time.sleep(0.05)
        _ = np.ones(1_000_000)
    assert measured["seconds"] >= 0.05
    assert measured["peak_rss_mb"] >= measured["peak_rss_mb_before"] > 10
    row = step_stats_row("1", "train", "2", measured)
    assert row["seconds"] == measured["seconds"]
    assert row["step"] == "train"


# --- report, config, plots --------------------------------------------------------------------
def test_report_status_is_worst_and_frame_has_columns() -> None:
    checks = [
        Check("a", "ok", 0.0, "", ""),
        Check("b", "warn", 1.0, "", ""),
        Check("c", "alert", 2.0, "", ""),
    ]
    report = MonitoringReport.from_checks(checks)
    assert report.status == "alert"
    assert report.alerts() == [checks[2]]
    frame = report.to_frame()
    assert list(frame.columns) == ["name", "status", "value", "threshold", "reason"]
    assert len(frame) == 3
    assert MonitoringReport.from_checks([]).status == "ok"
    json.dumps(MonitoringReport.from_checks([Check("x", "ok", math.nan, "", "")]).to_dict(), allow_nan=False)


def test_config_rejects_inconsistent_thresholds() -> None:
    with pytest.raises(ConfigError, match="psi_warn"):
        MonitorConfig(psi_warn=0.3, psi_alert=0.2)
    with pytest.raises(ConfigError, match="performance_window"):
        MonitorConfig(performance_window=90)


def test_plots_have_expected_titles_and_save(profile: dict, tmp_path) -> None:
    import matplotlib

    backend_before = matplotlib.get_backend()
    preds = make_predictions(120, seed=12)
    report = run_monitoring(profile, make_features(250, seed=11, shift={"rsi": 1.0}), preds)
    history = pd.concat([make_step_stats(f"r{i}", {"start": 8.0, "train": 30.0}) for i in range(3)])
    current = make_step_stats("now", {"start": 8.0, "train": 150.0})
    figs = plot_monitoring(report, predictions=preds, step_stats=current, history=history)
    assert set(figs) == {"drift", "performance", "probability", "step_durations"}
    assert figs["drift"].axes[0].get_title() == "Feature drift (PSI)"
    assert [t.get_text() for t in figs["drift"].axes[0].get_xticklabels()] == list(FEATURES)
    assert figs["performance"].axes[0].get_title() == "Rolling realized performance"
    assert len(figs["performance"].axes) == 3
    assert figs["probability"].axes[0].get_title() == "Predicted probability"
    assert figs["step_durations"].axes[0].get_title() == "Step durations"
    paths = save_figures(figs, tmp_path / "png")
    assert sorted(p.name for p in paths) == sorted(f"{k}.png" for k in figs)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    assert matplotlib.get_backend() == backend_before


def test_the_edge_cusum_boundary_gives_its_run_length() -> None:
    from spylib.monitoring.reference import cusum_arl, cusum_threshold, edge_cusum

    # the textbook case: k = 0.5, h = 4 has an in-control run length of about 336 (Siegmund)
    assert cusum_arl(0.5, 4.0) == pytest.approx(336, rel=0.02)
    h = cusum_threshold(0.03, 504)
    assert cusum_arl(0.03, h) == pytest.approx(504, rel=1e-6)
    # simulated: independent normal returns with the reference's mean; alarms restart the CUSUM
    rng = np.random.default_rng(3)
    mean, sd = 0.0005, 0.01
    k = mean / (2 * sd)
    h = cusum_threshold(k, 504)
    alarms = sum(int(np.sum(edge_cusum(rng.normal(mean, sd, 2520), mean, sd, h) >= h)) for _ in range(40))
    assert 0.2 < alarms / (40 * 10) < 1.0  # about 0.5 a year (504 days between false alarms)
    decayed = edge_cusum(rng.normal(-mean, sd, 2520), mean, sd, h)  # the edge reversed
    assert (decayed >= h).any()


def test_psi_levels_equal_the_window_by_window_psi() -> None:
    """The reference's PSI levels come from cumulative bin counts; each window's PSI must equal the one
    ``psi_from_shares`` gives on that window's own ``bin_shares`` (ties on the bin edges included)."""
    from spylib.monitoring.drift import bin_shares, psi_from_shares, quantile_edges
    from spylib.monitoring.reference import psi_levels

    rng = np.random.default_rng(3)
    values = rng.standard_t(3, 1500)
    values[::5] = np.round(values[::5])  # values on the edges: searchsorted's side matters
    edges = quantile_edges(values)
    reference = {"edges": edges, "shares": bin_shares(values, edges)}
    window, epsilon = 63, 1e-4
    loop = np.array(
        [
            psi_from_shares(reference["shares"], bin_shares(values[s : s + window], edges), epsilon)
            for s in range(values.size - window + 1)
        ]
    )
    levels = psi_levels(values, reference, window, 0.95, epsilon)
    assert levels is not None
    assert levels["max"] == pytest.approx(loop.max(), rel=1e-12)
    assert levels["quantile"] == pytest.approx(float(np.quantile(loop, 0.95)), rel=1e-12)
    assert psi_levels(values[: 2 * window - 1], reference, window, 0.95, epsilon) is None
