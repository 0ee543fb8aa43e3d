"""Segments and purged walk-forward folds."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
import pytest

from spylib.core.config import CVConfig, SplitBoundaries
from spylib.core.errors import ConfigError
from spylib.research.split import time_splits, walk_forward_folds

DATES = [date(2000, 1, 3) + timedelta(days=i) for i in range(2000)]


def test_default_split_is_40_10_10_40_with_gaps_in_time_order() -> None:
    splits = time_splits(DATES, gap_rows=20)
    seg = [splits[n] for n in ("train", "validation", "test", "production")]
    assert [s.first_row for s in seg] == [0, 800, 1000, 1200]
    assert [s.n_rows for s in seg] == [780, 180, 180, 800]
    for a, b in itertools.pairwise(seg):
        assert a.end < b.start
        assert b.first_row - a.last_row - 1 == 20
    frame = splits.to_frame()
    assert list(frame["name"]) == ["train", "validation", "test", "production"]
    assert frame["n_rows"].sum() == 2000 - 3 * 20


def test_explicit_boundaries_are_used() -> None:
    b = SplitBoundaries(DATES[1000], DATES[1300], DATES[1600])
    splits = time_splits(DATES, b, gap_rows=5)
    assert splits["validation"].start == DATES[1000]
    assert splits["train"].end == DATES[994]
    assert splits["production"].end == DATES[-1]


def test_boundary_outside_the_data_is_an_error() -> None:
    b = SplitBoundaries(DATES[100], DATES[200], date(2030, 1, 1))
    with pytest.raises(ConfigError, match="key 'production_start': 2030-01-01 is outside the usable data"):
        time_splits(DATES, b)


@pytest.mark.parametrize("scheme", ["expanding", "rolling"])
def test_walk_forward_folds_purge_and_embargo(scheme: str) -> None:
    rows = np.arange(100, 1100)
    cv = CVConfig(scheme=scheme, n_folds=4, embargo_days=30, min_train_days=150)
    folds = walk_forward_folds(rows, cv, label_horizon=1)
    assert len(folds) == 4
    scored = np.concatenate([f.score_rows() for f in folds])
    assert np.all(np.diff(scored) == 1)  # contiguous, no overlap
    for fold in folds:
        assert fold.score_first - fold.train_last - 1 == 31  # purge (label span) + embargo
        if scheme == "expanding":
            assert fold.train_first == 100
        else:
            assert fold.train_last - fold.train_first + 1 == 150


def test_too_few_training_rows_for_the_folds_is_an_error() -> None:
    with pytest.raises(ConfigError, match="fold 1 would train on"):
        walk_forward_folds(np.arange(300), CVConfig(n_folds=5, embargo_days=10, min_train_days=200), 1)
