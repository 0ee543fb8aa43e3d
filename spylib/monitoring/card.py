"""What a person reads after a daily run: the one-line prediction and the monitoring card's items.

Card items are ``(kind, payload)`` pairs (``markdown``, ``table``, ``figure``), turned into Metaflow
card components by :func:`spylib.stages.cards.to_card_components`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from spylib.monitoring.checks import MonitoringReport
from spylib.monitoring.track_record import DAILY_SEGMENT, REPLAY_SEGMENT

if TYPE_CHECKING:
    from spylib.research.report import CardItem  # the card item type SpyFlow's card uses too

FIGURE_TITLES: dict[str, str] = {
    "drift": "Drift per feature (PSI)",
    "performance": "Rolling realized performance",
    "probability": "Predicted probability over time",
    "step_durations": "Step durations",
}


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
    return (
        f"{row['symbol']} {row['date']} close -> next trading day (~{next_business_day(row['date'])}): "
        f"P(up) = {row['probability']:.4f}, threshold {model.bundle['threshold']:.2f}, signal {action} "
        f"({model.model_version})"
    )


def card_items(
    report: MonitoringReport,
    today: pd.DataFrame,
    model: CardModel,
    predictions: pd.DataFrame,
    figures: Mapping[str, Any],
    trend: pd.DataFrame,
) -> list[CardItem]:
    """The monitoring card: verdict, today's prediction, the checks, the figures, the run trend."""
    replayed = int((predictions["segment"] == REPLAY_SEGMENT).sum()) if len(predictions) else 0
    daily = int((predictions["segment"] == DAILY_SEGMENT).sum()) if len(predictions) else 0
    window = model.profile.get("window") or {}
    items: list[CardItem] = [
        ("markdown", f"# Daily inference and monitoring: **{report.status.upper()}**"),
        ("markdown", prediction_line(today, model)),
        ("markdown", f"Model `{model.model_version}` (sha256 `{model.model_sha256[:16]}`), reference window "
                     f"{window.get('start')}..{window.get('end')}. "
                     f"Monitored predictions: {daily} daily, {replayed} replayed."),
        ("table", report.to_frame()),
    ]  # fmt: skip
    for key, title in FIGURE_TITLES.items():
        if key in figures:
            items += [("markdown", f"## {title}"), ("figure", figures[key])]
        else:
            items.append(("markdown", f"## {title}\n\nNo data yet."))
    if len(trend):
        items += [("markdown", "## Seconds per step, last runs"), ("table", trend)]
    return items
