"""The cards' formatting and content without Metaflow runs: ``fmt`` and friends, complete tables, the gate
in words, the evaluation report's items and figures, the monitoring card's order, the card components."""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from spylib.core.config import GateConfig, WalkForwardConfig
from spylib.evaluation.gate import GateCheck, GateDecision, apply_gate
from spylib.modelling.walk_forward import walk_forward_splits
from spylib.monitoring.card import card_items, checks_table, status_banner, worst_first
from spylib.monitoring.checks import Check, MonitoringReport
from spylib.monitoring.plots import plot_monitoring
from spylib.reporting.evaluation_card import (
    Banner,
    EvaluationInputs,
    evaluation_report,
    failed_first,
    gate_line,
    verdict_line,
)
from spylib.reporting.format import MISSING, count, display_table, fmt, pct, plain
from spylib.reporting.labels import config_labels
from spylib.stages.cards import to_card_components
from tests.helpers.browser import long_numbers, significant_digits
from tests.helpers.evidence import make_evidence


# --- numbers --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.6446220539120305, "0.645"),
        (0.05897541366687123, "0.0590"),
        (-0.0002518, "-0.000252"),
        (3.2616142436010778, "3.26"),
        (25.773762197325624, "25.8"),
        (283.4, "283"),
        (7455.251456, "7,455"),
        (999_999.4, "999,999"),
        (1.0, "1.00"),
        (0.0, "0"),
        (-0.0, "0"),
        (5.2734233766825654e-05, "5.27e-05"),
        (1e-300, "1.00e-300"),
        (2.5e6, "2.50e+06"),
        (1.7976931348623157e308, "1.80e+308"),
        (np.float32(0.5), "0.500"),
        (np.float64(-12.027615), "-12.0"),
    ],
)
def test_fmt_floats_to_three_significant_figures(value: float, shown: str) -> None:
    assert fmt(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0"), (7, "7"), (283, "283"), (12_345, "12,345"), (np.int64(999_999), "999,999"),
     (10**7, "1.00e+07"), (-4, "-4")],
)  # fmt: skip
def test_fmt_integers_are_counts(value: int, shown: str) -> None:
    assert fmt(value) == shown


@pytest.mark.parametrize(
    "value", [None, math.nan, np.nan, math.inf, -math.inf, np.float64("nan"), pd.NA, pd.NaT, np.inf]
)
def test_fmt_missing_and_infinite_are_a_dash(value: Any) -> None:
    assert fmt(value) == MISSING


def test_fmt_other_values() -> None:
    assert fmt("long_flat") == "long_flat"
    assert fmt(True) == "yes"
    assert fmt(np.bool_(False)) == "no"
    assert fmt(date(2018, 12, 27)) == "2018-12-27"
    assert fmt(pd.Timestamp("2018-12-27")) == "2018-12-27"
    assert fmt(datetime(2018, 12, 27, 16, 30)) == "2018-12-27 16:30"
    assert fmt(0.123456, digits=4) == "0.1235"


def test_fmt_never_shows_more_than_six_significant_digits() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([10.0 ** rng.uniform(-320, 308, 2000) * rng.choice([-1, 1], 2000), [999_999.9]])
    shown = [fmt(v) for v in values] + [fmt(int(v)) for v in rng.integers(-(10**12), 10**12, 500)]
    assert max(significant_digits(s.replace("%", "")) for s in shown) <= 6


def test_pct_count_and_plain() -> None:
    assert pct(-0.34321063389254014) == "-34.3%"
    assert pct(1.0) == "100%"
    assert pct(0.0) == "0%"
    assert pct(None) == MISSING
    assert pct(math.nan) == MISSING
    assert count(283.0) == "283"
    assert count(np.float64(1234.6)) == "1,235"
    assert count(math.nan) == MISSING
    assert count(math.inf) == MISSING
    assert plain(0.55) == "0.55"
    assert plain(0.5) == "0.5"
    assert plain(1.0) == "1"
    assert plain("none") == "none"


def test_display_table_keeps_every_row_and_no_index() -> None:
    n = 1000
    frame = pd.DataFrame(
        {"name": [f"s{i}" for i in range(n)], "sharpe": np.linspace(-1, 1, n), "trades": np.arange(n) * 1.0,
         "exposure": np.full(n, 0.5), "threshold": np.full(n, 0.55)},
        index=np.arange(n) + 10_000,
    )  # fmt: skip
    table = display_table(frame, {"name": "strategy", "sharpe": "net Sharpe", "trades": "trades",
                                  "exposure": "exposure", "threshold": "threshold"},
                          integers=("trades",), percent=("exposure",), parameters=("threshold",))  # fmt: skip
    assert len(table) == n
    assert list(table.columns) == ["strategy", "net Sharpe", "trades", "exposure", "threshold"]
    assert list(table.index) == list(range(n))
    assert table["strategy"].tolist() == frame["name"].tolist()
    assert table.iloc[-1].tolist() == ["s999", "1.00", "999", "50.0%", "0.55"]
    assert table.map(lambda v: isinstance(v, str)).all().all()


def test_display_table_shows_missing_as_a_dash() -> None:
    frame = pd.DataFrame({"auc": [0.5, math.nan], "trades": [1.0, math.nan]})
    table = display_table(frame, {"auc": "AUC", "trades": "trades"}, integers=("trades",))
    assert table["AUC"].tolist() == ["0.500", MISSING]
    assert table["trades"].tolist() == ["1", MISSING]


# --- the gate in words ----------------------------------------------------------------------------
EVIDENCE = {
    "dsr": 0.5, "dsr_effective": 0.08, "n_trials": 16, "n_trials_effective": 8, "psr": 0.637,
    "vs_buy_and_hold_p_value": 0.836, "pbo": 0.128, "prob_oos_loss": 0.1, "trades_per_year": 25.77,
    "exposure": 0.514, "auc_ci_low": 0.469,
}  # fmt: skip


def test_gate_lines_read_in_words() -> None:
    gate = apply_gate(make_evidence(**EVIDENCE), GateConfig(min_psr=0.95))  # PSR(0) is gated only when set
    lines = [gate_line(c) for c in failed_first(gate)]
    assert len(lines) == len(gate.checks)
    assert lines[0] == (
        "FAIL: deflated Sharpe ratio of the selection over 8 effective trials (out-of-fold): 0.0800, needs >= 0.95"
    )
    assert (
        "FAIL: probability that the walk-forward track's Sharpe ratio is above 0: 0.637, needs >= 0.95"
        in lines
    )
    assert "pass: trades per year on the track: 25.8, needs >= 10" in lines
    failed = [line for line in lines if line.startswith("FAIL")]
    assert lines[: len(failed)] == failed  # failed checks first


def test_gate_line_of_an_unmeasured_check() -> None:
    check = GateCheck(
        "psr_track", math.nan, ">= 0.95", False, "probability that the track's Sharpe is above 0"
    )
    assert (
        gate_line(check)
        == "FAIL: probability that the track's Sharpe is above 0: – (not measured), needs >= 0.95"
    )


@pytest.mark.parametrize(
    ("status", "passed", "line"),
    [
        ("Approved", [True] * 7, "Approved: all 7 checks pass"),
        ("Rejected", [False] * 4 + [True] * 3, "Rejected: 4 of 7 checks fail"),
        ("Rejected", [False] + [True] * 6, "Rejected: 1 of 7 checks fails"),
        ("Approved", [True], "Approved: the only check passes"),
    ],
)
def test_verdict_line(status: str, passed: list[bool], line: str) -> None:
    checks = tuple(GateCheck(f"c{i}", 1.0, ">= 0", p) for i, p in enumerate(passed))
    assert verdict_line(GateDecision(status, checks)) == line  # type: ignore[arg-type]


def test_config_labels_are_short_and_unique() -> None:
    ids = [
        "random_forest(max_depth=3,n_estimators=30)",
        "logistic(C=0.1)",
        "random_forest(max_depth=5,n_estimators=30)",
    ]
    labels = config_labels(ids * 2)
    assert labels == {
        "logistic(C=0.1)": "logistic",
        "random_forest(max_depth=3,n_estimators=30)": "random_forest 1",
        "random_forest(max_depth=5,n_estimators=30)": "random_forest 2",
    }


# --- the evaluation report ------------------------------------------------------------------------
def report_inputs(n_trials: int = 30) -> EvaluationInputs:
    """Every input of :func:`evaluation_report`, synthetic but shaped like a run's artifacts."""
    rng = np.random.default_rng(3)
    dates = list(pd.bdate_range("2010-01-01", periods=1500).date)
    splits = walk_forward_splits(dates, np.ones(len(dates), bool),
                                 WalkForwardConfig(min_train_days=250, embargo_days=20, min_selection_blocks=1), 1)  # fmt: skip
    traded = splits.traded_rows()
    track = pd.DataFrame({"date": [dates[i] for i in traded]})
    for column in ("strategy_gross", "strategy_net", "buy_and_hold_net", "fwd_return"):
        track[column] = rng.normal(0.0003, 0.01, len(track))
    track["block"] = np.concatenate([np.full(b.n_rows, b.start.year) for b in splits.traded_blocks])
    track["probability"] = np.clip(0.52 + 2 * track["fwd_return"] + rng.normal(0, 0.03, len(track)), 0, 1)
    track["target_up"] = (track["fwd_return"] > 0).astype("int8")
    configs = [
        "logistic(C=0.1)",
        "random_forest(max_depth=3,n_estimators=30)",
        "random_forest(max_depth=5,n_estimators=30)",
    ]
    trials = pd.DataFrame({
        "trial_id": np.arange(n_trials), "config_id": [configs[i % 3] for i in range(n_trials)],
        "threshold": [0.5, 0.55] * (n_trials // 2), "filter": "none", "sizing": "long_flat",
        "oof_auc": rng.uniform(0.49, 0.53, n_trials), "oof_sharpe_net": rng.normal(0.2, 0.3, n_trials),
        "oof_sharpe_gross": rng.normal(0.3, 0.3, n_trials), "oof_max_drawdown_net": -rng.uniform(0.1, 0.5, n_trials),
        "oof_n_trades": rng.integers(50, 500, n_trials).astype(float), "oof_exposure": rng.uniform(0.1, 0.9, n_trials),
    })  # fmt: skip
    blocks = splits.traded_blocks
    refits = pd.DataFrame({
        "block": [b.start.year for b in blocks], "trial_id": [1] * len(blocks), "config_id": configs[1],
        "threshold": 0.55, "filter": "none", "sizing": "long_flat", "eligible_trials": float(n_trials),
        "selection_score": rng.uniform(0, 0.1, len(blocks)), "block_sharpe_net": rng.normal(0, 1, len(blocks)),
        "block_return_net": rng.normal(0, 0.05, len(blocks)),
    })  # fmt: skip
    strategies = ["walk_forward_model", "buy_and_hold", "always_up", "majority_class", "momentum_20",
                  "logistic_regression", "seed_recipe"]  # fmt: skip
    k = len(strategies)
    baselines = pd.DataFrame({"strategy": strategies, **{c: rng.uniform(-0.5, 1, k) for c in (
        "auc", "accuracy", "hit_rate", "sortino_net", "calmar_net", "total_return_net", "turnover", "sharpe_gross",
        "sharpe_net", "cagr_net", "max_drawdown_net", "exposure", "break_even_cost_bps")},
        "n_trades": rng.integers(1, 300, k).astype(float)})  # fmt: skip
    baselines.loc[1, "auc"] = math.nan
    evidence = make_evidence(**EVIDENCE, **{"sharpe_net": 0.106, "buy_and_hold_sharpe_net": 0.356, "track_start": str(track["date"].iloc[0]),
               "track_end": str(track["date"].iloc[-1]), "years": 4.2, "cost_bps": 1.0, "execution": "open_to_open"})  # fmt: skip
    importance = pd.DataFrame({"feature": [f"f{i}" for i in range(20)], "auc_drop_mean": np.linspace(0.004, 0, 20),
                               "auc_drop_std": np.full(20, 0.001)})  # fmt: skip
    power = {"track_days": len(track), "track_years": 4.2, "min_detectable_sharpe": 1.2,
             "min_detectable_sharpe_normal": 1.1, "min_detectable_excess_sharpe": 1.0}  # fmt: skip
    return EvaluationInputs(
        data_note="synthetic prices", quality_note="", trials=trials, best=trials.iloc[1].to_dict(),
        evidence=evidence, baselines=baselines, track=track, refits=refits, splits=splits,
        importance=importance, gate=apply_gate(evidence, GateConfig()), power=power, holdout={},
    )  # fmt: skip


@pytest.fixture(scope="module")
def report_items() -> list[tuple[str, Any]]:
    return evaluation_report(report_inputs())


def test_report_opens_with_the_verdict_in_colour(report_items: list[tuple[str, Any]]) -> None:
    kinds = [kind for kind, _ in report_items]
    assert kinds[:3] == ["markdown", "banner", "markdown"]
    banner = report_items[1][1]
    assert isinstance(banner, Banner)
    gate = apply_gate(report_inputs().evidence, GateConfig())
    assert banner.value == verdict_line(gate)
    assert banner.value.startswith("Rejected: ")
    assert banner.tone == "bad"
    assert report_items[2][1].startswith("- **FAIL** deflated Sharpe ratio")


def test_every_figure_has_title_axis_labels_legend_and_a_caption(report_items: list[tuple[str, Any]]) -> None:
    figures = [(i, payload) for i, (kind, payload) in enumerate(report_items) if kind == "figure"]
    assert len(figures) == 6
    for i, figure in figures:
        assert isinstance(figure, Figure)
        assert report_items[i + 1][0] == "caption"
        ax = figure.axes[0]
        assert ax.get_title(), f"figure {i} has no title"
        assert ax.get_xlabel(), f"figure {i} has no x label"
        assert ax.get_legend() is not None or figure.legends, f"figure {i} has no legend"
        assert figure.get_figwidth() == pytest.approx(10.0)
        assert figure.get_figheight() <= 4.8


def test_report_tables_are_complete_strings_with_short_numbers(report_items: list[tuple[str, Any]]) -> None:
    tables = [payload for kind, payload in report_items if kind == "table"]
    key, detail, confusion, refits, configurations, trials = tables
    strategies = ["walk_forward_model", "buy_and_hold", "always_up", "majority_class", "momentum_20",
                  "logistic_regression", "seed_recipe"]  # fmt: skip
    assert confusion.columns.tolist() == ["actual next day", "predicted up", "predicted down"]
    assert key["strategy"].tolist() == strategies
    assert detail["strategy"].tolist() == strategies
    assert detail["AUC"].iloc[1] == MISSING
    assert len(refits) == len(report_inputs().refits)
    assert configurations["configuration"].tolist() == ["logistic", "random_forest 1", "random_forest 2"]
    assert len(trials) == 25
    for table in tables:
        cells = " ".join(table.to_numpy().ravel().tolist())
        assert long_numbers(cells) == []


def test_report_says_when_every_trial_is_shown() -> None:
    items = evaluation_report(report_inputs(n_trials=10))
    headings = [p for k, p in items if k == "markdown" and p.startswith("## Trials")]
    assert headings == ["## Trials (10 in all, ranked by out-of-fold net Sharpe over every block)"]


# --- the monitoring card --------------------------------------------------------------------------
CHECKS = [
    Check("drift:a", "ok", 0.0123456789, "psi", "stable"),
    Check("drift:b", "alert", 0.7082912673690134, "psi", "significant shift"),
    Check("performance:auc_60", "ok", math.nan, "n/a", "skipped: too few days"),
    Check("drift:c", "warn", 0.1252, "psi", "moderate shift"),
    Check("health:x:seconds", "alert", 5.5, "ratio", "slow"),
]


class Model:
    bundle = {"threshold": 0.5}  # noqa: RUF012 (a stand-in of the deployed model)
    model_version = "spy-direction/v1"
    model_sha256 = "0" * 64
    profile = {"window": {"start": "2004-01-02", "end": "2012-12-31"}}  # noqa: RUF012


def test_monitoring_checks_worst_first_with_formatted_values() -> None:
    assert [c.name for c in worst_first(CHECKS)] == [
        "drift:b", "health:x:seconds", "drift:c", "drift:a", "performance:auc_60"
    ]  # fmt: skip
    table = checks_table(CHECKS)
    assert len(table) == len(CHECKS)
    assert table["status"].tolist() == ["alert", "alert", "warn", "ok", "ok"]
    assert table["value"].tolist() == ["0.708", "5.50", "0.125", "0.0123", MISSING]


@pytest.mark.parametrize(
    ("checks", "value", "tone"),
    [
        (CHECKS, "ALERT: 2 alerts and 1 warning in 5 checks", "bad"),
        (CHECKS[2:4], "WARN: 1 warning in 2 checks", "warn"),
        (CHECKS[:1], "OK: all 1 checks ok", "good"),
    ],
)
def test_monitoring_banner(checks: list[Check], value: str, tone: str) -> None:
    banner = status_banner(MonitoringReport.from_checks(checks), "spy-direction/v1")
    assert banner.value == value
    assert banner.tone == tone


def test_monitoring_card_lists_alerts_then_warnings_then_every_check() -> None:
    report = MonitoringReport.from_checks(CHECKS)
    today = pd.DataFrame(
        {"symbol": ["SPY"], "date": [date(2018, 12, 28)], "probability": [0.6037], "signal": [1]}
    )
    items = card_items(report, today, Model(), pd.DataFrame(), {}, pd.DataFrame())
    text = [payload for kind, payload in items if kind == "markdown"]
    alerts = next(t for t in text if t.startswith("## Alerts (2)"))
    assert "- **drift:b**: significant shift" in alerts
    assert "- **health:x:seconds**: slow" in alerts
    assert any(t.startswith("## Warnings (1)") for t in text)
    (table,) = [payload for kind, payload in items if kind == "table"]
    assert len(table) == len(CHECKS)


def test_monitoring_figures_have_titles_labels_and_legends() -> None:
    n = 80
    rng = np.random.default_rng(1)
    predictions = pd.DataFrame({
        "date": pd.bdate_range("2020-01-01", periods=n).date, "probability": rng.uniform(0.4, 0.6, n),
        "signal": rng.integers(0, 2, n), "target_up": rng.integers(0, 2, n).astype(float),
        "fwd_return": rng.normal(0, 0.01, n), "segment": ["replay"] * 60 + ["daily"] * 20,
    })  # fmt: skip
    stats = pd.DataFrame({"run_id": "2", "step": ["start", "predict"], "task": "1", "seconds": [1.0, 2.0],
                          "peak_rss_mb": 100.0})  # fmt: skip
    history = stats.assign(run_id="1")
    figures = plot_monitoring(MonitoringReport.from_checks(CHECKS), predictions, None, stats, history)
    assert set(figures) == {"drift", "performance", "probability", "step_durations"}
    for key, figure in figures.items():
        ax = figure.axes[0]
        assert ax.get_title(), key
        assert figure.axes[-1].get_xlabel(), key
        assert ax.get_legend() is not None or figure.legends, key


# --- card components ------------------------------------------------------------------------------
def test_card_components_for_every_kind() -> None:
    from metaflow.cards import Image, Markdown, Table, ValueBox

    fig = Figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1])
    table = pd.DataFrame({"a": ["1", None]})
    components = to_card_components([
        ("banner", Banner("gate", "Rejected: 4 of 7 checks fail", "bad")), ("markdown", "# title"),
        ("caption", "look here"), ("table", table), ("figure", fig),
    ])  # fmt: skip
    assert [type(c) for c in components] == [ValueBox, Markdown, Markdown, Table, Image]


def test_card_components_reject_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown card item kind 'chart'"):
        to_card_components([("chart", None)])


# --- words that agree with the gate -------------------------------------------------------------------
def beat_gate(passed: bool | None) -> GateDecision:
    checks = [GateCheck("psr_track", 0.99, ">= 0.95", True)]
    if passed is not None:
        checks.append(GateCheck("track_beats_buy_and_hold", 0.06 if not passed else 0.01, "<= 0.05", passed))
    return GateDecision("Approved" if all(c.passed for c in checks) else "Rejected", tuple(checks))


@pytest.mark.parametrize(
    ("sharpe", "passed", "words"),
    [
        (0.9, True, "beats buy-and-hold after costs"),
        (0.9, False, "has a higher net Sharpe ratio than buy-and-hold but does not beat it significantly"),
        (0.9, None, "has a higher net Sharpe ratio than buy-and-hold, not tested by this gate"),
        (0.2, False, "does NOT beat buy-and-hold after costs"),
    ],
)
def test_the_sentence_about_buy_and_hold_follows_the_gate(
    sharpe: float, passed: bool | None, words: str
) -> None:
    from spylib.reporting.verdict import buy_and_hold_clause
    from spylib.stages.training.summary import summary_line

    metrics = {
        "sharpe_net": sharpe,
        "buy_and_hold_sharpe_net": 0.5,
        "vs_buy_and_hold_p_value": 0.06,
        "track_start": "2008-01-02",
        "track_end": "2018-12-27",
        "years": 11.0,
        "cost_bps": 1.0,
        "auc": 0.51,
    }
    gate = beat_gate(passed)
    clause = buy_and_hold_clause(gate, metrics)
    assert clause.startswith(words)
    assert "annualized" in clause
    if passed is not True:
        assert not clause.startswith("beats")
    from tests.helpers.evidence import make_evidence

    registration = {"group": "g", "version": 1, "status": "Rejected", "location": "x"}
    line = summary_line(gate, make_evidence(**metrics), registration)
    assert f"the model {words}" in line


def test_identical_baselines_are_one_row_naming_them_all() -> None:
    from spylib.reporting.evaluation_card import baseline_tables

    same = {"sharpe_net": 0.61, "auc": 0.5, "exposure": 1.0}
    baselines = pd.DataFrame([
        {"strategy": "walk_forward_model", "sharpe_net": 0.4, "auc": 0.52, "exposure": 0.6},
        {"strategy": "buy_and_hold", **same, "auc": math.nan}, {"strategy": "always_up", **same},
        {"strategy": "majority_class", **same},
        {"strategy": "momentum_20", "sharpe_net": 0.3, "auc": 0.51, "exposure": 0.7},
    ])  # fmt: skip
    key, detail = baseline_tables(baselines)
    assert key["strategy"].tolist() == [
        "walk_forward_model",
        "buy_and_hold = always_up = majority_class",
        "momentum_20",
    ]
    assert "the same trades" in detail["what it is"].iloc[1]
    assert "net Sharpe (annualized)" in key.columns
    assert detail["AUC"].iloc[1] == "0.500"  # buy-and-hold predicts nothing; the classifiers' AUC is shown


def test_every_sharpe_column_says_its_convention(report_items: list[tuple[str, Any]]) -> None:
    tables = [payload for kind, payload in report_items if kind == "table"]
    headers = [str(h) for t in tables for h in t.columns if "Sharpe" in str(h) or "score" in str(h)]
    assert headers
    for header in headers:
        assert "annualized" in header or "ann." in header or "per-period" in header, header


def test_one_label_per_configuration_in_log_and_card(capsys: pytest.CaptureFixture[str]) -> None:
    """The card's name of a configuration is the one the train log prints."""
    inputs = report_inputs()
    labels = config_labels(inputs.trials["config_id"])
    items = evaluation_report(dataclasses.replace(inputs, labels=labels))
    refits = next(p for k, p in items if k == "table" and "eligible" in p.columns)
    assert (
        set(refits["configuration"])
        == {labels["random_forest(max_depth=3,n_estimators=30)"]}
        == {"random_forest 1"}
    )


def test_the_probability_diagnostics() -> None:
    from spylib.reporting.diagnostics import calibration_table, confusion_table, signal_by_block

    track = report_inputs().track
    refits = report_inputs().refits
    calibration = calibration_table(track)
    assert len(calibration) == 10
    assert calibration["days"].sum() == len(track)
    assert (calibration["low"] <= calibration["observed"]).all()
    assert (calibration["observed"] <= calibration["high"]).all()
    assert calibration["predicted"].is_monotonic_increasing
    confusion = confusion_table(track, refits)
    counts = [
        int(cell.split()[0]) for cell in confusion[["predicted up", "predicted down"]].to_numpy().ravel()
    ]
    assert sum(counts) == len(track)
    predicted_up = int((track["probability"] >= 0.55).sum())
    assert counts[0] + counts[2] == predicted_up
    by_block = signal_by_block(track)
    assert by_block["block"].tolist() == [str(b) for b in refits["block"]]
    assert (by_block["auc_low"] <= by_block["auc"]).all()
    assert (by_block["auc"] <= by_block["auc_high"]).all()
    assert (by_block["ic"] > 0).all()  # the fixture's probability follows the next return
    assert (by_block["ic_low"] <= by_block["ic"]).all()
    assert (by_block["ic"] <= by_block["ic_high"]).all()


# --- the monitoring card's glitches -------------------------------------------------------------------
def test_one_prediction_is_visible_in_the_probability_plot() -> None:
    from spylib.monitoring.plots import probability_figure

    one = pd.DataFrame(
        {"date": [date(2018, 12, 27)], "probability": [0.5312], "signal": [1], "segment": ["daily"]}
    )
    ax = probability_figure(one).axes[0]
    line = next(line for line in ax.get_lines() if line.get_label() == "P(up next day)")
    assert line.get_marker() == "o"  # a single point, drawn
    low, high = ax.get_xlim()
    assert high - low == pytest.approx(10)  # ten days around the day, not a degenerate axis
    assert any("0.5312" in t.get_text() for t in ax.texts)


def test_the_threshold_is_printed_as_recorded() -> None:
    from types import SimpleNamespace

    from spylib.monitoring.card import prediction_line

    today = pd.DataFrame(
        {"symbol": ["SPY"], "date": [date(2018, 12, 27)], "probability": [0.53], "signal": [1]}
    )
    model = SimpleNamespace(bundle={"threshold": 0.525}, model_version="spy-direction/v1")
    assert "threshold 0.525," in prediction_line(today, model)


def test_a_replay_does_not_see_later_predictions() -> None:
    from spylib.monitoring.track_record import monitoring_predictions

    track = pd.DataFrame({
        "date": [date(2018, 12, 26), date(2018, 12, 27), date(2018, 12, 31)], "symbol": "SPY", "segment": "daily",
        "probability": [0.5, 0.52, 0.6], "signal": [0, 1, 1], "position": [0.0, 1.0, 1.0],
        "target_up": [1.0, math.nan, math.nan],
        "fwd_return": [0.01, math.nan, math.nan], "model_version": "spy-direction/v1",
    })  # fmt: skip
    seen = monitoring_predictions(track, None, pd.DataFrame(), 0, as_of=date(2018, 12, 27))  # type: ignore[arg-type]
    assert seen["date"].max() == date(2018, 12, 27)
    assert len(monitoring_predictions(track, None, pd.DataFrame(), 0)) == 3  # type: ignore[arg-type]


def test_predict_flow_summary_names_the_prediction_the_status_and_the_card() -> None:
    from types import SimpleNamespace

    from spylib.monitoring.card import predict_summary

    today = pd.DataFrame(
        {"symbol": ["SPY"], "date": [date(2018, 12, 27)], "probability": [0.53], "signal": [1]}
    )
    model = SimpleNamespace(bundle={"threshold": 0.525}, model_version="spy-direction/v1")
    report = MonitoringReport.from_checks(CHECKS)
    text = predict_summary(report, today, model, run_id="17", monitor_task="5",
                           output_files={"monitoring": "/tmp/m.json"})  # fmt: skip
    assert "Prediction: SPY 2018-12-27 close" in text
    assert f"Monitoring: {report.status.upper()}" in text
    assert "card get 17/monitor/5 monitoring.html --id monitoring" in text
    assert "namespace(None)" in text
    assert "METAFLOW_USER=" in text


def test_the_card_states_the_measured_false_approval_rate() -> None:
    from dataclasses import replace

    from spylib.evaluation.simulation import load_simulated_power

    simulated = load_simulated_power()
    assert simulated, "the shipped simulation result (spylib/evaluation/resources/gate_power.json)"
    inputs = report_inputs()
    items = evaluation_report(replace(inputs, power={**inputs.power, "simulation": simulated}))
    texts = [p for k, p in items if k == "markdown" and p.startswith("**What this track can detect.**")]
    assert len(texts) == 1
    assert "synthetic markets with no edge" in texts[0]
    assert "the gate approved" in texts[0]
