"""Time-based segments and purged walk-forward folds.

Segments ``train``, ``validation``, ``test``, ``production`` are contiguous date ranges in time order,
separated by ``gap_rows`` unused rows so that no label window (nor any feature window, when the gap
is at least :data:`spylib.research.features.LONGEST_WINDOW`) crosses a boundary.

Model selection runs walk-forward cross-validation over the *development* range, from the first
train row to the last validation row: the range is cut into ``n_folds + 1`` blocks; fold ``i`` scores
block ``i`` and trains on the rows before it (all of them: ``expanding``; the last
``min_train_days``: ``rolling``), minus a purge of ``label_horizon`` rows (their label would reach
into the scored block) and an embargo of ``embargo_days`` rows. Training never follows the scored
block, so no post-block embargo is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd

from spylib.core.config import CVConfig, SplitBoundaries
from spylib.core.errors import ConfigError

SEGMENTS: tuple[str, ...] = ("train", "validation", "test", "production")
# The seed project's split by row count.
DEFAULT_FRACTIONS: tuple[float, float, float, float] = (0.4, 0.1, 0.1, 0.4)
MIN_SEGMENT_ROWS = 60


@dataclass(frozen=True)
class Segment:
    """Rows ``first_row..last_row`` (inclusive positions in the feature table) of one segment."""

    name: str
    start: date
    end: date
    first_row: int
    last_row: int

    @property
    def n_rows(self) -> int:
        return self.last_row - self.first_row + 1

    def rows(self) -> np.ndarray:
        return np.arange(self.first_row, self.last_row + 1)


@dataclass(frozen=True)
class Splits:
    segments: dict[str, Segment]
    gap_rows: int

    def __getitem__(self, name: str) -> Segment:
        return self.segments[name]

    def development_rows(self) -> np.ndarray:
        """train through validation, contiguous: the range that model selection may look at."""
        return np.arange(self["train"].first_row, self["validation"].last_row + 1)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{**asdict(s), "n_rows": s.n_rows} for s in self.segments.values()],
            columns=["name", "start", "end", "n_rows", "first_row", "last_row"],
        )


def _boundary_index(dates: np.ndarray, boundary: date, key: str) -> int:
    if not (dates[0] < boundary <= dates[-1]):
        raise ConfigError(
            f"{boundary} is outside the usable data ({dates[0]} .. {dates[-1]})",
            source="--split-dates",
            key=key,
        )
    return int(np.searchsorted(dates, boundary, side="left"))  # type: ignore[call-overload]


def time_splits(
    dates: Sequence[date],
    boundaries: SplitBoundaries | None = None,
    gap_rows: int = 60,
    fractions: tuple[float, float, float, float] = DEFAULT_FRACTIONS,
    min_rows: int = MIN_SEGMENT_ROWS,
) -> Splits:
    """Cut sorted feature-table dates into the four named segments with ``gap_rows`` between them.

    Starts of validation/test/production come from ``boundaries`` when given, otherwise from the
    row ``fractions`` (the seed's 40/10/10/40).
    """
    d = np.asarray(list(dates), dtype=object)
    n = len(d)
    b = boundaries or SplitBoundaries()
    if b.validation_start is None:
        cum = np.cumsum(fractions)[:3]
        starts = [round(c * n) for c in cum]
    else:
        assert b.test_start is not None and b.production_start is not None
        starts = [
            _boundary_index(d, b.validation_start, "validation_start"),
            _boundary_index(d, b.test_start, "test_start"),
            _boundary_index(d, b.production_start, "production_start"),
        ]
    firsts = [0, *starts]
    lasts = [s - gap_rows - 1 for s in starts] + [n - 1]
    segments: dict[str, Segment] = {}
    for name, first, last in zip(SEGMENTS, firsts, lasts, strict=True):
        if last - first + 1 < min_rows:
            raise ConfigError(
                f"segment '{name}' would have {max(last - first + 1, 0)} rows (at least {min_rows} needed, "
                f"with {gap_rows} gap rows between segments); {n} rows from {d[0] if n else '-'} to "
                f"{d[-1] if n else '-'}",
                source="split",
                key=name,
            )
        segments[name] = Segment(name, d[first], d[last], first, last)
    return Splits(segments, gap_rows)


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: fit on ``train_rows``, score ``score_rows`` (positions in the table)."""

    index: int
    train_first: int
    train_last: int
    score_first: int
    score_last: int

    def train_rows(self) -> np.ndarray:
        return np.arange(self.train_first, self.train_last + 1)

    def score_rows(self) -> np.ndarray:
        return np.arange(self.score_first, self.score_last + 1)


def walk_forward_folds(rows: np.ndarray, cv: CVConfig, label_horizon: int) -> list[Fold]:
    """Purged, embargoed walk-forward folds over the contiguous positions ``rows``."""
    rows = np.asarray(rows)
    n = rows.size
    edges = np.linspace(0, n, cv.n_folds + 2).round().astype(int)
    gap = label_horizon + cv.embargo_days
    folds: list[Fold] = []
    for i in range(1, cv.n_folds + 1):
        score_first, score_last = edges[i], edges[i + 1] - 1
        train_last = score_first - gap - 1
        train_first = 0 if cv.scheme == "expanding" else max(0, train_last - cv.min_train_days + 1)
        if train_last - train_first + 1 < cv.min_train_days:
            raise ConfigError(
                f"fold {i} would train on {max(train_last - train_first + 1, 0)} rows, fewer than "
                f"min_train_days={cv.min_train_days}: use fewer folds or a longer history",
                source="sweep config",
                key="cv.n_folds",
            )
        folds.append(
            Fold(
                i,
                int(rows[train_first]),
                int(rows[train_last]),
                int(rows[score_first]),
                int(rows[score_last]),
            )
        )
    return folds


def rows_needed(gap_rows: int, warmup_rows: int) -> int:
    """Feature warm-up plus four minimal segments and three gaps: checked at ingest, before any work.
    (Whether the walk-forward folds fit is checked when the folds are made.)"""
    return warmup_rows + len(SEGMENTS) * MIN_SEGMENT_ROWS + (len(SEGMENTS) - 1) * gap_rows
