"""audit: see spylib.features.table."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spylib.core.errors import LookaheadError
from spylib.core.schema import LABEL_COLUMNS
from spylib.features.table import WARMUP_ROWS, ExtraFeature, build_feature_rows


def audit_days(
    full: pd.DataFrame,
    *,
    boundary_dates: Sequence[object] = (),
    n_largest_moves: int = 40,
    n_random: int = 40,
    seed: int = 0,
) -> np.ndarray:
    """Row positions to audit: the days with the largest moves and the day before each (a feature that
    leaks only around big days is caught there), the days on either side of every block boundary
    (where a leak would cross from one fit's data into the next block), and a seeded random sample of
    the rest."""
    candidates = np.arange(WARMUP_ROWS, len(full) - 2)
    if candidates.size == 0:
        return candidates
    moves = full["return"].abs().to_numpy()[candidates]
    biggest = candidates[np.argsort(-np.nan_to_num(moves), kind="stable")[:n_largest_moves]]
    # The big day itself, and the day before it: a feature that peeks at tomorrow shows there.
    largest = np.intersect1d(np.concatenate([biggest, biggest - 1]), candidates)
    dates = full["date"].to_numpy()
    at: list[int] = (
        [int(i) for i in np.searchsorted(dates, np.asarray(list(boundary_dates), dtype=object))]
        if len(boundary_dates)
        else []
    )
    edges = np.array([i + k for i in at for k in (-1, 0)], dtype=int)
    edges = edges[np.isin(edges, candidates)]
    rest = np.setdiff1d(candidates, np.concatenate([largest, edges]))
    rng = np.random.default_rng(seed)
    sample = rng.choice(rest, size=min(n_random, rest.size), replace=False) if rest.size else rest
    return np.unique(np.concatenate([largest, edges, sample]).astype(int))


@dataclass(frozen=True)
class AuditSample:
    """Which days the look-ahead audit checks: the arguments of :func:`audit_days`."""

    boundary_dates: Sequence[object] = ()
    n_largest_moves: int = 40
    n_random: int = 40
    seed: int = 0


def audit_lookahead(
    prices: pd.DataFrame,
    symbol: str,
    benchmark: str,
    *,
    extra: dict[str, ExtraFeature] | None = None,
    sample: AuditSample = AuditSample(),
    workers: int = 1,
) -> list[str]:
    """Truncation-invariance audit: for the days of :func:`audit_days` (chosen by ``sample``), the
    features computed on the data cut at day t must equal row t computed on the full data, exactly.
    Raises :class:`LookaheadError` naming the feature and the day otherwise; returns the audited dates.
    The cost is one feature build per audited day (~20 ms on 5,000 rows): about 2 s for the defaults,
    spread over ``workers`` forked processes (the result does not depend on them).

    Labels are excluded (they look ahead by definition).
    """
    full = build_feature_rows(prices, symbol, benchmark, extra=extra)
    dates = full["date"].to_numpy()
    picks = audit_days(
        full,
        boundary_dates=sample.boundary_dates,
        n_largest_moves=sample.n_largest_moves,
        n_random=sample.n_random,
        seed=sample.seed,
    )
    columns = [c for c in full.columns if c not in (*LABEL_COLUMNS, "date", "symbol")]
    audited: list[str] = []
    rows = truncated_rows(_Cuts(prices, dates, symbol, benchmark, extra), [int(i) for i in picks], workers)
    for i, row in zip(picks, rows, strict=True):
        for column in columns:
            a, b = full[column].iloc[i], row[column]
            same = (a == b) or (pd.isna(a) and pd.isna(b))
            if not same:
                raise LookaheadError(
                    f"feature '{column}' uses the future: on {dates[i]} it is {a!r} with the full history "
                    f"but {b!r} with the data cut at that day"
                )
        audited.append(str(dates[i]))
    return audited


@dataclass(frozen=True)
class _Cuts:
    """What every truncated build needs: the prices, their dates and the feature definitions."""

    prices: pd.DataFrame
    dates: np.ndarray
    symbol: str
    benchmark: str
    extra: dict[str, ExtraFeature] | None


_FORKED_CUTS: _Cuts | None = None  # set in the parent just before it forks the audit's workers


def _last_rows(cuts: _Cuts, picks: Sequence[int]) -> list[pd.Series]:
    return [
        build_feature_rows(
            cuts.prices[cuts.prices["date"] <= cuts.dates[i]], cuts.symbol, cuts.benchmark, extra=cuts.extra
        ).iloc[-1]
        for i in picks
    ]


def _last_rows_forked(picks: Sequence[int]) -> list[pd.Series]:
    assert _FORKED_CUTS is not None
    return _last_rows(_FORKED_CUTS, picks)


def truncated_rows(cuts: _Cuts, picks: Sequence[int], workers: int) -> list[pd.Series]:
    """For each picked row t, the last row of the features built on the prices cut at day t, in the
    order of ``picks``. Over ``workers`` processes forked from this one when the platform forks (they
    inherit the prices and the user's feature functions, which need not be picklable); only the
    row positions and the resulting rows cross between processes."""
    global _FORKED_CUTS
    if workers <= 1 or len(picks) < 2 * workers or "fork" not in mp.get_all_start_methods():
        return _last_rows(cuts, picks)
    chunks = [list(c) for c in np.array_split(np.asarray(picks), workers)]
    _FORKED_CUTS = cuts
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
            parts = list(pool.map(_last_rows_forked, chunks))
    finally:
        _FORKED_CUTS = None
    return [row for part in parts for row in part]


# A calendar year in which at least this share of opens lie within the tolerance of the previous close has
# no real opening prices: its gap_open is ~0 and an open-to-open return there is a close-to-close one.
STALE_OPEN_SHARE = 0.5
# The default tolerance: an open within 1 basis point of the previous close counts as "the same price"
# (index data sets often carry the previous close, rounded, as the open; exact equality misses them).
STALE_OPEN_TOLERANCE = 1e-4


def stale_open_shares(
    prices: pd.DataFrame, symbol: str, tolerance: float = STALE_OPEN_TOLERANCE
) -> dict[int, float]:
    """Calendar year -> share of ``symbol``'s days whose open is within ``tolerance`` (relative:
    ``|open / previous close - 1| <= tolerance``; 0 means exact equality) of the previous close, for
    every year (the first day, which has no previous close, is not counted)."""
    own = prices[prices["symbol"] == symbol].sort_values("date")
    opens = own["open"].to_numpy("float64")[1:]
    previous = own["close"].to_numpy("float64")[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        within = (opens == previous) | (np.abs(opens / previous - 1.0) <= tolerance)
    years = pd.to_datetime(pd.Series(own["date"].to_numpy()[1:])).dt.year.to_numpy()
    share = pd.Series(within).groupby(years).mean()
    return {int(y): float(v) for y, v in share.items()}


def stale_open_years(
    prices: pd.DataFrame, symbol: str, tolerance: float = STALE_OPEN_TOLERANCE
) -> dict[int, float]:
    """Calendar year -> share of opens within ``tolerance`` of the previous close, for the years where
    that share is at least :data:`STALE_OPEN_SHARE`: a year is scored only when most of its opens
    differ from the previous close by more than the tolerance."""
    shares = stale_open_shares(prices, symbol, tolerance)
    return {y: v for y, v in shares.items() if v >= STALE_OPEN_SHARE}
