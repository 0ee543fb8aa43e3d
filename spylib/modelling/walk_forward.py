"""Time-based segments and the walk-forward plan: which rows train each fit, which rows it predicts.

The feature table's rows (in date order) are cut into named segments:

* ``burn_in``: the first ``min_train_days`` labelled rows (plus the purge and embargo): training only;
* ``walk_forward``: contiguous blocks of ``block_months`` calendar months. Each block is predicted by
  a fit on the rows before it only. The first ``min_selection_blocks`` predicted blocks feed the
  selection only; every later block is *traded* by the trial selected on the blocks before it;
* ``holdout`` (optional, from ``holdout_start``): untouched until one final evaluation;
* the last day(s), whose label is unknown, are predicted by the final model (``latest``).

Purge and embargo: the fit for a block starting at row ``s`` uses rows ``<= s - label_horizon -
embargo_days - 1`` (their labels end before ``s``, and with ``embargo_days`` at least the longest
feature window no training row's features see the block's prices). Training never follows the
predicted block, so no post-block embargo is needed. With an expanding window on fixed block
boundaries, the fit that predicts block b for the selection is the fit that trades it: one fit per
configuration and block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd

from spylib.core.config import WalkForwardConfig
from spylib.core.errors import ConfigError


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
class Block(Segment):
    """One walk-forward block: predicted by a fit on ``train_first..train_last``; ``traded`` when the
    selection had ``min_selection_blocks`` predicted blocks before it."""

    index: int = 0
    train_first: int = 0
    train_last: int = 0
    traded: bool = False

    def train_rows(self) -> np.ndarray:
        return np.arange(self.train_first, self.train_last + 1)


@dataclass(frozen=True)
class Splits:
    """The named segments and the walk-forward blocks (the artifact ``splits``)."""

    segments: dict[str, Segment]
    blocks: tuple[Block, ...]
    final_train_last: int  # the final (registered) model trains on rows 0..final_train_last
    label_horizon: int
    embargo_days: int

    def __getitem__(self, name: str) -> Segment:
        return self.segments[name]

    def __contains__(self, name: str) -> bool:
        return name in self.segments

    @property
    def traded_blocks(self) -> tuple[Block, ...]:
        return tuple(b for b in self.blocks if b.traded)

    def predicted_rows(self) -> np.ndarray:
        """Rows of every block, in time order (the out-of-fold sample of the selection)."""
        return np.concatenate([b.rows() for b in self.blocks])

    def traded_rows(self) -> np.ndarray:
        """Rows of the traded blocks: the walk-forward track."""
        return np.concatenate([b.rows() for b in self.traded_blocks])

    def final_train_rows(self) -> np.ndarray:
        return np.arange(0, self.final_train_last + 1)

    def to_frame(self) -> pd.DataFrame:
        """One row per segment and per block, in time order."""
        rows = [
            {
                "name": s.name,
                "kind": "segment",
                "start": s.start,
                "end": s.end,
                "n_rows": s.n_rows,
                "first_row": s.first_row,
                "last_row": s.last_row,
                "train_rows": None,
                "traded": None,
            }
            for s in self.segments.values()
        ]
        rows += [
            {
                "name": b.name,
                "kind": "block",
                "start": b.start,
                "end": b.end,
                "n_rows": b.n_rows,
                "first_row": b.first_row,
                "last_row": b.last_row,
                "train_rows": b.train_last - b.train_first + 1,
                "traded": b.traded,
            }
            for b in self.blocks
        ]
        return pd.DataFrame(rows).sort_values(["first_row", "kind"], ignore_index=True)


def _period_keys(dates: Sequence[date], block_months: int) -> np.ndarray:
    d = pd.to_datetime(pd.Series(list(dates)))
    return (d.dt.year * 12 + (d.dt.month - 1) // block_months).to_numpy()


def _block_name(day: date, block_months: int) -> str:
    if block_months == 12:
        return f"{day.year}"
    return f"{day.year}-{(day.month - 1) // block_months + 1:02d}/{12 // block_months}"


def walk_forward_splits(
    dates: Sequence[date],
    labelled: npt.ArrayLike,
    cfg: WalkForwardConfig,
    label_horizon: int,
    *,
    holdout_start: date | None = None,
    unscored: npt.ArrayLike | None = None,
) -> Splits:
    """The segments and blocks of a feature table with sorted ``dates``.

    ``labelled[i]`` says whether row i has a known label (the last rows do not). ``unscored[i]``
    marks rows that may train but must not be predicted for the selection or the track (e.g. days
    whose open is stale under ``open_to_open``): a block with more than half its rows unscored is
    left out, with the reason logged by the caller.
    """
    d = list(dates)
    n = len(d)
    lab = np.asarray(labelled, dtype=bool)
    if n == 0 or not lab.any():
        raise ConfigError("the feature table has no labelled rows", source="split")
    last_labelled = int(np.flatnonzero(lab)[-1])
    end = last_labelled  # last row any block may contain
    final_train_last = last_labelled
    segments: dict[str, Segment] = {}
    if holdout_start is not None:
        first = int(np.searchsorted(np.asarray(d, dtype=object), holdout_start, side="left"))  # type: ignore[call-overload]
        if not 0 < first <= last_labelled:
            raise ConfigError(
                f"{holdout_start} is outside the labelled data ({d[0]} .. {d[last_labelled]})",
                source="--holdout-start",
            )
        segments["holdout"] = Segment("holdout", d[first], d[last_labelled], first, last_labelled)
        end = first - 1
    gap = label_horizon + cfg.embargo_days
    if holdout_start is not None:
        # The final model's labels must end before the holdout, like every block's training rows.
        final_train_last = end - gap
    skip = np.zeros(n, dtype=bool) if unscored is None else np.asarray(unscored, dtype=bool)
    blocks = _cut_blocks(d, lab, skip, cfg, gap, end)

    needed = cfg.min_selection_blocks + 1
    if len(blocks) < needed and holdout_start is not None:
        _refuse_early_holdout(d, labelled, cfg, label_horizon, unscored, holdout_start, len(blocks))
    if len(blocks) < needed:
        raise ConfigError(
            f"the history gives {len(blocks)} walk-forward block(s) after {cfg.min_train_days} training days; "
            f"at least {needed} are needed (min_selection_blocks={cfg.min_selection_blocks}, plus one traded): "
            f"{n} rows from {d[0]} to {d[-1]}; use a longer history, shorter blocks or a smaller min_train_days",
            source="sweep config",
            key="walk_forward",
        )
    ordered = _with_block_segments(segments, blocks, d)
    return Splits(ordered, tuple(blocks), final_train_last, label_horizon, cfg.embargo_days)


def _cut_blocks(
    d: list[date], lab: np.ndarray, skip: np.ndarray, cfg: WalkForwardConfig, gap: int, end: int
) -> list[Block]:
    """The walk-forward blocks of rows ``0..end``: calendar periods of ``cfg.block_months`` months, each
    trained on the rows ending ``gap`` rows before it (``lab``: labelled rows; ``skip``: unscored rows)."""
    keys = _period_keys(d, cfg.block_months)
    blocks: list[Block] = []
    first_row = 0
    while first_row <= end:
        key = keys[first_row]
        last_row = first_row
        while last_row + 1 <= end and keys[last_row + 1] == key:
            last_row += 1
        train_last = first_row - gap - 1
        train_first = 0 if cfg.scheme == "expanding" else max(0, train_last - cfg.rolling_days + 1)
        enough = (
            int(lab[train_first : train_last + 1].sum()) >= cfg.min_train_days if train_last >= 0 else False
        )
        # A block that starts after the history is long enough, whose rows are mostly scoreable.
        if enough and skip[first_row : last_row + 1].mean() <= 0.5:
            traded = len(blocks) >= cfg.min_selection_blocks
            blocks.append(
                Block(
                    _block_name(d[first_row], cfg.block_months),
                    d[first_row],
                    d[last_row],
                    first_row,
                    last_row,
                    index=len(blocks),
                    train_first=train_first,
                    train_last=train_last,
                    traded=traded,
                )
            )
        first_row = last_row + 1
    return blocks


def _with_block_segments(
    segments: dict[str, Segment], blocks: list[Block], d: list[date]
) -> dict[str, Segment]:
    """``segments`` plus ``burn_in``, ``walk_forward`` and ``track`` (from ``blocks``), in row order."""
    first_block = blocks[0]
    segments["burn_in"] = Segment("burn_in", d[0], d[first_block.first_row - 1], 0, first_block.first_row - 1)
    last_block = blocks[-1]
    segments["walk_forward"] = Segment(
        "walk_forward", first_block.start, last_block.end, first_block.first_row, last_block.last_row
    )
    on_track = [b for b in blocks if b.traded]
    segments["track"] = Segment(
        "track", on_track[0].start, on_track[-1].end, on_track[0].first_row, on_track[-1].last_row
    )
    return dict(sorted(segments.items(), key=lambda kv: (kv[1].first_row, kv[0] != "walk_forward")))


def _refuse_early_holdout(
    dates: list[date],
    labelled: npt.ArrayLike,
    cfg: WalkForwardConfig,
    label_horizon: int,
    unscored: npt.ArrayLike | None,
    holdout_start: date,
    n_blocks: int,
) -> None:
    """A holdout that starts too early to leave enough walk-forward blocks: name the earliest start
    that does (the day after the first day of the last block needed, else the day after that block).
    Returns when even the whole history is too short (the caller's message says so)."""
    needed = cfg.min_selection_blocks + 1
    try:
        full = walk_forward_splits(dates, labelled, cfg, label_horizon, unscored=unscored)
    except ConfigError:
        return
    if len(full.blocks) < needed:
        return
    block = full.blocks[needed - 1]
    for row in (block.first_row + 1, block.last_row + 1):
        if row >= len(dates):
            continue
        try:
            walk_forward_splits(
                dates, labelled, cfg, label_horizon, holdout_start=dates[row], unscored=unscored
            )
        except ConfigError:
            continue
        raise ConfigError(
            f"{holdout_start} leaves {n_blocks} walk-forward block(s) before the holdout; at least {needed} "
            f"are needed (min_selection_blocks={cfg.min_selection_blocks}, plus one traded) after "
            f"{cfg.min_train_days} training days: the earliest holdout start is {dates[row]}",
            source="--holdout-start",
        )
