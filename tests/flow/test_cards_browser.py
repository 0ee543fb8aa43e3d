"""The two cards as a person sees them: rendered by headless Chromium after the cards' scripts ran.

SpyFlow's evaluation card comes from the session's shared small-sweep run (``twin_runs``: no extra
SpyFlow run when the determinism and security tests run too); PredictFlow's monitoring card from one
run with an Approved model on drifted data, so it alerts. Without Chromium the module skips and says
why (``.ci/run`` installs Debian's ``chromium`` when it can).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest
from metaflow import Run

from spylib.evaluation.gate import GateDecision
from spylib.monitoring.card import status_banner, worst_first
from spylib.monitoring.checks import STATUS_RANK, Check, MonitoringReport
from spylib.reporting.diagnostics import confusion_sentence, signal_by_block, signal_sentence
from spylib.reporting.evaluation_card import collapse_identical, verdict_line
from spylib.reporting.format import fmt
from tests.helpers.browser import (
    RenderedPage,
    card_html,
    chromium_or_reason,
    dump_dom,
    long_numbers,
    read_page,
)
from tests.helpers.flowrun import TwinRuns, task_of
from tests.helpers.predict_flow import NEXT_DAY, register_approved_model, run_predict_flow

# Slow (runs of both flows, then Chromium): `pytest -m slow`, its own line in .ci/run.
pytestmark = pytest.mark.slow

MIN_IMAGE_BYTES = 10_000  # a blank or broken figure's PNG is far smaller
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Card:
    """A rendered card: the run it belongs to and what Chromium shows of it."""

    run: Run
    page: RenderedPage


@pytest.fixture(scope="module")
def chromium() -> str:
    binary, reason = chromium_or_reason()
    if binary is None:
        pytest.skip(f"chromium is not installed: {reason}")
    return binary


@pytest.fixture(scope="module")
def evaluation_card(chromium: str, request: pytest.FixtureRequest, session_root: Path) -> Card:
    # Asked for here, after `chromium`: a session fixture named as an argument would be set up first,
    # running both flows before the skip.
    twins: TwinRuns = request.getfixturevalue("twin_runs")
    run = twins.second
    html = card_html(session_root, run.id, "evaluate", task_of(run, "evaluate").id, "evaluation")
    return Card(run, read_page(dump_dom(chromium, html)))


@pytest.fixture(scope="module")
def monitoring_card(chromium: str, tmp_path_factory: pytest.TempPathFactory, session_root: Path) -> Card:
    tmp = tmp_path_factory.mktemp("predict_card")
    register_approved_model(tmp / "registry")
    run = run_predict_flow(tmp, NEXT_DAY, replay_days=30)
    html = card_html(session_root, run.id, "monitor", task_of(run, "monitor").id, "monitoring")
    return Card(run, read_page(dump_dom(chromium, html)))


def monitoring_report(run: Run) -> MonitoringReport:
    raw = task_of(run, "monitor")["monitoring"].data
    checks = [
        Check(c["name"], c["status"], math.nan if c["value"] is None else float(c["value"]), c["threshold"],
              c["reason"])
        for c in raw["checks"]
    ]  # fmt: skip
    return MonitoringReport.from_checks(checks)


def assert_images_drawn(page: RenderedPage, at_least: int) -> None:
    images = page.image_bytes()
    assert len(images) >= at_least, f"{len(images)} images"
    for i, data in enumerate(images):
        assert data.startswith(PNG_MAGIC), f"image {i} is not a PNG"
        assert len(data) > MIN_IMAGE_BYTES, f"image {i}: {len(data)} bytes"


# --- SpyFlow's evaluation card --------------------------------------------------------------------
def test_evaluation_card_shows_the_verdict_in_colour(evaluation_card: Card) -> None:
    gate = GateDecision.from_dict(task_of(evaluation_card.run, "end")["gate"].data)
    boxes = evaluation_card.page.value_boxes
    assert len(boxes) == 1
    classes, text = boxes[0]
    assert verdict_line(gate) in text
    assert ("success" if gate.status == "Approved" else "danger") in classes


def test_evaluation_card_shows_every_gate_check_in_words(evaluation_card: Card) -> None:
    gate = GateDecision.from_dict(task_of(evaluation_card.run, "end")["gate"].data)
    text = evaluation_card.page.text
    for check in gate.checks:
        measured = fmt(check.value) if math.isfinite(check.value) else "– (not measured)"
        words = f"{'pass' if check.passed else 'FAIL'} {check.label}: {measured}, needs {check.requirement}"
        assert words in text, f"{check.name}: {words!r} not shown"


def test_evaluation_card_shows_every_baseline_and_every_trial(evaluation_card: Card) -> None:
    data = task_of(evaluation_card.run, "evaluate")
    page = evaluation_card.page
    # identical strategies share one row that names them all ("buy_and_hold = always_up = ...")
    strategies = collapse_identical(data["baselines"].data)["strategy"].tolist()
    assert sum(len(s.split(" = ")) for s in strategies) == len(data["baselines"].data)
    key = page.table_with_header("break-even cost (bp)")
    detail = page.table_with_header("what it is")
    assert [row[0] for row in key[1:]] == strategies
    assert [row[0] for row in detail[1:]] == strategies
    for table in (key, detail):
        assert {len(row) for row in table} == {len(table[0])}, "a row is missing cells"
    trials = page.table_with_header("trial", "net Sharpe (ann.)", "exposure")
    assert len(trials) - 1 == min(25, len(data["trials"].data))
    refits = page.table_with_header("block net Sharpe (ann.)", "score (per-period)")
    assert len(refits) - 1 == len(data["refits"].data)


def test_evaluation_card_shows_calibration_errors_and_the_signal_by_block(evaluation_card: Card) -> None:
    data = task_of(evaluation_card.run, "evaluate")
    track, refits = data["track"].data, data["refits"].data
    page = evaluation_card.page
    assert "The probabilities on the track" in page.text
    confusion = page.table_with_header("actual next day", "predicted up", "predicted down")
    assert [row[0] for row in confusion[1:]] == ["up", "down"]
    counts = [int(cell.split()[0].replace(",", "")) for row in confusion[1:] for cell in row[1:]]
    assert sum(counts) == int(track["target_up"].notna().sum())
    assert confusion_sentence(track, refits) in page.text
    assert signal_sentence(signal_by_block(track)) in page.text
    assert "Points on the dashed line mean the probabilities can be taken at face value" in page.text


def test_evaluation_card_numbers_are_short_and_images_drawn(evaluation_card: Card) -> None:
    page = evaluation_card.page
    assert long_numbers(page.text, ignore=(evaluation_card.run.id,)) == []
    assert_images_drawn(page, at_least=6)  # scheme, growth, drawdown, calibration, signal, importance


# --- PredictFlow's monitoring card ----------------------------------------------------------------
def test_monitoring_card_shows_the_status_and_every_alert(monitoring_card: Card) -> None:
    report = monitoring_report(monitoring_card.run)
    assert report.status == "alert"  # drifted data: this run must alert, or the test shows nothing
    page = monitoring_card.page
    version = task_of(monitoring_card.run, "monitor")["model"].data.model_version
    classes, text = page.value_boxes[0]
    assert status_banner(report, version).value in text
    assert "danger" in classes
    alerts = page.text.split("Alerts (", 1)[1].split("Warnings (", 1)[0]
    for check in report.alerts():
        assert f"{check.name} : {check.reason}" in alerts, f"alert {check.name} not listed"


def test_monitoring_card_lists_every_check_worst_first(monitoring_card: Card) -> None:
    report = monitoring_report(monitoring_card.run)
    rows = monitoring_card.page.table_with_header("reason")[1:]
    assert [row[0] for row in rows] == [c.name for c in worst_first(report.checks)]
    ranks = [STATUS_RANK[row[1]] for row in rows]
    assert ranks == sorted(ranks, reverse=True)


def test_monitoring_card_numbers_are_short_and_images_drawn(monitoring_card: Card) -> None:
    page = monitoring_card.page
    monitor = task_of(monitoring_card.run, "monitor")
    run_ids = {monitoring_card.run.id, *monitor["step_history"].data["run_id"].astype(str)}
    assert long_numbers(page.text, ignore=tuple(run_ids)) == []
    assert_images_drawn(page, at_least=4)  # drift, performance, probability, step durations


def test_monitoring_card_shows_the_threshold_as_recorded_and_only_days_up_to_the_as_of(
    monitoring_card: Card,
) -> None:
    monitor = task_of(monitoring_card.run, "monitor")
    bundle = monitor["model"].data.bundle
    assert f"threshold {bundle['threshold']:g}," in monitoring_card.page.text
    as_of = monitor["as_of_date"].data
    assert max(monitor["monitored_predictions"].data["date"]) <= as_of
