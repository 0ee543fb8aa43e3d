"""What a person reads after a daily run: the one-line prediction and the monitoring card's items.

Card items are ``(kind, payload)`` pairs (``banner``, ``markdown``, ``table``, ``figure``, ``caption``, as
in :mod:`spylib.reporting.evaluation_card`), turned into Metaflow card components by
:func:`spylib.stages.cards.to_card_components`. The card reads top down: the status in colour, today's
prediction, every alert and warning in words, every check (alerts, then warnings, then ok), the figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from spylib.monitoring.checks import STATUS_RANK, Check, MonitoringReport
from spylib.monitoring.track_record import DAILY_SEGMENT, REPLAY_SEGMENT
from spylib.reporting.evaluation_card import Banner, Tone
from spylib.reporting.format import display_table

if TYPE_CHECKING:
    from spylib.reporting.evaluation_card import CardItem  # the card item type SpyFlow's card uses too

FIGURE_TITLES: dict[str, str] = {
    "drift": "Drift per feature (PSI)",
    "performance": "Rolling realized performance",
    "probability": "Predicted probability over time",
    "step_durations": "Step durations",
}
FIGURE_CAPTIONS: dict[str, str] = {
    "drift": "Bars above the red dashed line are features whose recent values no longer look like the "
    "training window's: the model is fed inputs it was not fitted on (bar colour is the check's status).",
    "performance": "Each line should stay near or above the grey reference (0.5 for hit rate and AUC, 0 for "
    "the Sharpe ratio); weeks below it mean the edge is gone.",
    "probability": "The probability should keep moving around the threshold; a flat line, or one far from "
    "the threshold for weeks, means the inputs or the model changed.",
    "step_durations": "A step much slower than the median of its previous runs points to a data or "
    "infrastructure problem.",
}
TONES: dict[str, Tone] = {"ok": "good", "warn": "warn", "alert": "bad"}


class CardModel(Protocol):
    """What the card shows of the deployed model."""

    @property
    def bundle(self) -> dict[str, Any]: ...

    @property
    def model_version(self) -> str: ...

    @property
    def model_sha256(self) -> str: ...

    @property
    def profile(self) -> dict[str, Any]: ...


def next_business_day(day: date) -> date:
    """The next weekday after ``day`` (no holiday calendar: the data's next row is the truth)."""
    return (pd.Timestamp(day) + pd.offsets.BDay(1)).date()


def prediction_line(today: pd.DataFrame, model: CardModel) -> str:
    """``SPY 2024-03-04 close -> next trading day (~2024-03-05): P(up) = ..., signal LONG (...)``."""
    row = today.iloc[0]
    action = "LONG" if int(row["signal"]) == 1 else "FLAT"
    if action == "LONG" and "position" in today.columns and float(row["position"]) != 1.0:
        action += f" at {float(row['position']):.2f} of a full position"
    return (
        f"{row['symbol']} {row['date']} close -> next trading day (~{next_business_day(row['date'])}): "
        f"P(up) = {row['probability']:.4f}, threshold {model.bundle['threshold']:g}, signal {action} "
        f"({model.model_version})"
    )


def predict_summary(
    report: MonitoringReport,
    today: pd.DataFrame,
    model: CardModel,
    *,
    run_id: str,
    monitor_task: str,
    output_files: Mapping[str, str],
    flow_file: str = "flows/predict_flow.py",
) -> str:
    """What the end of a PredictFlow run prints: the prediction, the monitoring status with its alerts
    and warnings, and where the card and the files are (commands that work as printed)."""
    import os

    user = os.environ.get("METAFLOW_USER") or "spyflow"
    alerts, warnings = report.alerts(), report.warnings()
    lines = [
        f"PredictFlow run {run_id} finished.",
        f"Prediction: {prediction_line(today, model)}",
        f"Monitoring: {report.status.upper()} ({len(report.checks)} checks: {len(alerts)} alerts, "
        f"{len(warnings)} warnings{', listed below' if alerts or warnings else ''})",
        "",
        f"  card file:   python {flow_file} card get {run_id}/monitor/{monitor_task} monitoring.html --id monitoring",
        f"  card server: python {flow_file} card server  (then open http://localhost:8324)",
        *(f"  {name + ':':<12} {path}" for name, path in output_files.items()),
        "  runs:        spy-flow runs --flow PredictFlow",
        f'  artifacts:   METAFLOW_USER={user} python -c "from metaflow import Run, namespace; namespace(None); '
        f"print(Run('PredictFlow/{run_id}').data.monitoring_status)\"",
    ]
    return "\n".join(lines)


def worst_first(checks: Sequence[Check]) -> list[Check]:
    """The checks ordered alerts, then warnings, then ok (the report's order within each)."""
    return sorted(checks, key=lambda c: -STATUS_RANK[c.status])


def status_banner(report: MonitoringReport, model_version: str) -> Banner:
    """The overall status in colour and words: ``ALERT: 9 alerts and 8 warnings in 55 checks``."""
    n, alerts, warnings = len(report.checks), len(report.alerts()), len(report.warnings())
    parts = [f"{alerts} alert{'s' * (alerts != 1)}"] if alerts else []
    parts += [f"{warnings} warning{'s' * (warnings != 1)}"] if warnings else []
    value = f"{report.status.upper()}: " + (
        " and ".join(parts) + f" in {n} checks" if parts else f"all {n} checks ok"
    )
    advice = {
        "alert": "Look at the alerts below before acting on today's signal.",
        "warn": "Today's signal stands; the warnings below are worth a look.",
        "ok": "No check flags a problem (skipped checks say why in the table).",
    }[report.status]
    return Banner(f"Monitoring of {model_version}", value, TONES[report.status], advice)


def checks_table(checks: Sequence[Check]) -> pd.DataFrame:
    """Every check, worst first, with its value formatted."""
    frame = pd.DataFrame(
        [(c.name, c.status, c.value, c.threshold, c.reason) for c in worst_first(checks)],
        columns=["name", "status", "value", "threshold", "reason"],
    )
    columns = {"name": "check", "status": "status", "value": "value", "threshold": "rule", "reason": "reason"}
    return display_table(frame, columns)


def check_list(checks: Sequence[Check]) -> str:
    """Checks as a Markdown list: the name in bold, then the reason."""
    return "\n".join(f"- **{c.name}**: {c.reason}" for c in checks)


def card_items(
    report: MonitoringReport,
    today: pd.DataFrame,
    model: CardModel,
    predictions: pd.DataFrame,
    figures: Mapping[str, Any],
    trend: pd.DataFrame,
) -> list[CardItem]:
    """The monitoring card: the status banner, today's prediction, the alerts and warnings in words,
    every check (worst first), the figures with captions, the run trend."""
    replayed = int((predictions["segment"] == REPLAY_SEGMENT).sum()) if len(predictions) else 0
    daily = int((predictions["segment"] == DAILY_SEGMENT).sum()) if len(predictions) else 0
    window = model.profile.get("window") or {}
    line = prediction_line(today, model)
    items: list[CardItem] = [
        ("markdown", f"# Daily inference and monitoring: {report.status.upper()}"),
        ("banner", status_banner(report, model.model_version)),
        ("markdown", f"**Today's prediction.** {line}"),
        ("markdown", f"Model `{model.model_version}` (sha256 `{model.model_sha256[:16]}`), reference window "
                     f"{window.get('start')} to {window.get('end')}. "
                     f"Monitored predictions: {daily} daily, {replayed} replayed."),
    ]  # fmt: skip
    for title, group in (("Alerts", report.alerts()), ("Warnings", report.warnings())):
        if group:
            items.append(("markdown", f"## {title} ({len(group)})\n\n{check_list(group)}"))
    items += [
        ("markdown", f"## All {len(report.checks)} checks: alerts, then warnings, then ok"),
        ("table", checks_table(report.checks)),
    ]
    for key, title in FIGURE_TITLES.items():
        if key in figures:
            items += [
                ("markdown", f"## {title}"),
                ("figure", figures[key]),
                ("caption", FIGURE_CAPTIONS[key]),
            ]
        else:
            items.append(("markdown", f"## {title}\n\nNo data yet."))
    if len(trend):
        items += [
            ("markdown", "## Seconds per step, last runs (newest first)"),
            ("table", display_table(trend, {str(c): str(c) for c in trend.columns})),
        ]
    return items
