"""Plausibility and calendar rules of ingest, per file and on the aligned calendar of the two symbols.

The thresholds are a :class:`~spylib.core.config.DataChecks` (``flows/config/data_checks.json``); every
rule raises a :class:`~spylib.core.errors.DataValidationError` naming the file, the line (when the
row has one in the file) and date, and the column, or, where the rule's severity is ``"warning"``,
logs the same words and goes on.

Per file (:func:`check_prices`), in this order:

1. weekend dates: a Saturday or Sunday row (``weekend_dates``: error, or warning = the row is dropped);
2. bar frequency: the median step between rows must be one trading day (Monday to Friday): every other
   day, weekly or monthly bars are errors (not configurable);
3. zero volume: a run of ``max_zero_volume_days`` or more rows with volume 0 (``zero_volume_runs``);
4. one-day moves (files and the embedded data; not synthetic markets, whose volatility is their
   spec's): ``adj_close`` moving more than ``max_daily_move`` from the previous row is an error that
   says what it looks like: a spike (the next row returns within the threshold), an unadjusted split
   (a ratio near 2, 3, 4, 5, 8, 10, 20, 50, 100, 3/2 or their inverses, that stays), a jump of the
   adjustment factor ``adj_close / close`` (the close itself barely moved), or a move; a split that the
   adjusted close already absorbs (``close`` jumps, ``adj_close`` does not) is fine;
5. day range: ``high / low - 1`` beyond ``max_day_range`` (a spike in high or low).

A real extreme day is accepted by listing it in ``accepted_moves`` (both days of a real spike and its
reversal, if both moved more than the threshold).

After alignment (:func:`check_alignment`, on the common span: a leading or trailing span only one file
covers is trimmed before, by :func:`spylib.data.sources.align_symbols`): the share of either symbol's
rows within the span that the other file lacks is at most ``max_dropped_share``; no gap of the common calendar is longer than ``max_gap_days``; the
common calendar is daily.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from spylib.core.config import DataChecks
from spylib.core.errors import DataValidationError

if TYPE_CHECKING:
    from spylib.data.prices import PriceData

log = logging.getLogger(__name__)

# Split ratios a vendor may leave unadjusted (n-for-1 and reverse splits).
SPLIT_RATIOS: tuple[float, ...] = (1.5, 2.0, 3.0, 4.0, 5.0, 8.0, 10.0, 20.0, 50.0, 100.0)
_SPLIT_TOLERANCE = 0.03
_MIN_ROWS_FOR_FREQUENCY = 5
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _fail(data: PriceData, i: int, problem: str, column: str) -> DataValidationError:
    """The located error of row ``i`` of ``data`` (its line when the file has one, and its date)."""
    row = int(data.lines[i]) if data.lines is not None else None
    return DataValidationError(
        problem, source=data.source, row=row, date=str(data.frame["date"].iloc[i]), column=column
    )


def _where(data: PriceData, i: int) -> str:
    line = f"line {int(data.lines[i])}, " if data.lines is not None else ""
    return f"{line}date {data.frame['date'].iloc[i]}"


def _days(dates: pd.Series | Sequence[Any]) -> np.ndarray:
    return np.asarray(pd.to_datetime(pd.Series(list(dates))).to_numpy(), dtype="datetime64[D]")


def _frequency_name(step: float) -> str:
    if step == 2:
        return "every other trading day"
    if 4 <= step <= 6:
        return "weekly bars"
    if 18 <= step <= 23:
        return "monthly bars"
    if 60 <= step <= 66:
        return "quarterly bars"
    return f"one bar every {step:g} trading days"


def median_step(dates: pd.Series | Sequence[Any]) -> float:
    """The median number of trading days (Monday to Friday) between consecutive dates."""
    d = _days(dates)
    if len(d) < 2:
        return 1.0
    return float(np.median(np.busday_count(d[:-1], d[1:])))


# ---------------------------------------------------------------------------------------------
# per file
# ---------------------------------------------------------------------------------------------
def drop_weekends(data: PriceData, checks: DataChecks) -> PriceData:
    """Refuse (``"error"``) or drop with a log line (``"warning"``) the Saturday and Sunday rows."""
    weekday = pd.to_datetime(pd.Series(list(data.frame["date"]))).dt.day_of_week.to_numpy()
    weekend = np.flatnonzero(weekday >= 5)
    if not weekend.size:
        return data
    i = int(weekend[0])
    problem = (
        f"a {_WEEKDAYS[weekday[i]]}: markets are closed on weekends "
        f"({weekend.size} weekend row(s) in the file; data_checks.weekend_dates)"
    )
    if checks.weekend_dates == "error":
        raise _fail(data, i, problem, "date")
    log.warning("%s, %s: %s; dropped them", data.source, _where(data, i), problem)
    keep = weekday < 5
    frame = data.frame[keep].reset_index(drop=True)
    lines = data.lines[keep] if data.lines is not None else None
    from spylib.data.prices import prices_fingerprint  # lazy: data imports this module

    return dataclasses.replace(data, frame=frame, lines=lines, fingerprint=prices_fingerprint(frame))


def check_frequency(data: PriceData) -> None:
    """Daily bars: the median step between rows is one trading day."""
    if len(data.frame) < _MIN_ROWS_FOR_FREQUENCY:
        return
    step = median_step(data.frame["date"])
    if step > 1:
        steps = np.busday_count(_days(data.frame["date"])[:-1], _days(data.frame["date"])[1:])
        i = int(np.flatnonzero(steps > 1)[0]) + 1
        raise _fail(
            data,
            i,
            f"the bars are not daily: the median step between rows is {step:g} trading days "
            f"({_frequency_name(step)}); daily bars are required",
            "date",
        )


def check_zero_volume(data: PriceData, checks: DataChecks) -> None:
    """A run of ``max_zero_volume_days`` or more rows with zero volume (error or warning)."""
    zero = data.frame["volume"].to_numpy() == 0
    if not zero.any():
        return
    edges = np.diff(np.concatenate([[0], zero.astype("int8"), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = ends - starts
    long = np.flatnonzero(lengths >= checks.max_zero_volume_days)
    if not long.size:
        return
    k = int(long[0])
    first, last = int(starts[k]), int(ends[k]) - 1
    dates = data.frame["date"]
    problem = (
        f"{int(lengths[k])} consecutive rows with zero volume ({dates.iloc[first]}..{dates.iloc[last]}; "
        f"at most {checks.max_zero_volume_days - 1} allowed: data_checks.max_zero_volume_days): the "
        "volume features are undefined there"
    )
    if checks.zero_volume_runs == "error":
        raise _fail(data, first, problem, "volume")
    log.warning("%s, %s, column 'volume': %s", data.source, _where(data, first), problem)


def _split_like(ratio: float) -> str | None:
    for r in SPLIT_RATIOS:
        if abs(ratio * r - 1) < _SPLIT_TOLERANCE:
            return f"{r:g}-for-1 split"
        if abs(ratio / r - 1) < _SPLIT_TOLERANCE:
            return f"1-for-{r:g} reverse split"
    return None


def _describe_move(data: PriceData, i: int, checks: DataChecks) -> tuple[str, str]:
    """What the move into row ``i`` looks like, and the column to name."""
    f = data.frame
    adj, close = f["adj_close"].to_numpy(), f["close"].to_numpy()
    a = adj[i] / adj[i - 1]
    c = close[i] / close[i - 1]
    m = checks.max_daily_move
    reverts = i + 1 < len(f) and abs(adj[i + 1] / adj[i - 1] - 1) <= m
    separate_adjusted = not np.array_equal(adj, close)
    if separate_adjusted and abs(c - 1) <= m:
        g_prev, g = adj[i - 1] / close[i - 1], adj[i] / close[i]
        back = " and back the next day" if reverts else ""
        return (
            f"the adjustment factor adj_close / close jumps x{g / g_prev:.4g} (from {g_prev:.4g} to "
            f"{g:.4g}){back} while close moves {c - 1:+.1%}: a bad adjusted close",
            "adj_close",
        )
    column = "adj_close" if separate_adjusted else "close"
    size = f"x{a:.4g}" if a >= 2 else f"{a - 1:+.1%}"
    move = f"{column} moves {size} in one day ({adj[i - 1]:.6g} to {adj[i]:.6g})"
    if reverts:
        return f"{move} and returns to {adj[i + 1]:.6g} the next day: a spike (a bad value)", column
    split = _split_like(a)
    if split is not None:
        return f"{move} and stays there: like an unadjusted {split}", column
    return f"{move}", column


def check_moves(data: PriceData, checks: DataChecks) -> None:
    """One-day moves of the adjusted close, then day ranges, beyond their thresholds."""
    f = data.frame
    adj = f["adj_close"].to_numpy()
    move = np.abs(adj[1:] / adj[:-1] - 1)
    for j in np.flatnonzero(move > checks.max_daily_move):
        i = int(j) + 1
        if checks.accepts(data.symbol, f["date"].iloc[i]):
            continue
        problem, column = _describe_move(data, i, checks)
        raise _fail(
            data,
            i,
            f"{problem} (more than {checks.max_daily_move:.0%}: data_checks.max_daily_move; a real move "
            "is accepted by listing the day in data_checks.accepted_moves)",
            column,
        )
    high, low = f["high"].to_numpy(), f["low"].to_numpy()
    body_high = np.maximum(f["open"].to_numpy(), f["close"].to_numpy())
    body_low = np.minimum(f["open"].to_numpy(), f["close"].to_numpy())
    for j in np.flatnonzero(high / low - 1 > checks.max_day_range):
        i = int(j)
        if checks.accepts(data.symbol, f["date"].iloc[i]):
            continue
        column = "high" if high[i] / body_high[i] >= body_low[i] / low[i] else "low"
        raise _fail(
            data,
            i,
            f"the day's range is {high[i] / low[i] - 1:+.1%} (low {low[i]:.6g}, high {high[i]:.6g}, open and "
            f"close within [{body_low[i]:.6g}, {body_high[i]:.6g}]): a spike in {column} (more than "
            f"{checks.max_day_range:.0%}: data_checks.max_day_range; a real day is accepted with "
            "data_checks.accepted_moves)",
            column,
        )


def check_prices(data: PriceData, checks: DataChecks, *, plausibility: bool = True) -> PriceData:
    """Every per-file rule of the module docstring; returns ``data`` (without weekend rows if they are
    dropped by a ``"warning"`` severity)."""
    data = drop_weekends(data, checks)
    check_frequency(data)
    check_zero_volume(data, checks)
    if plausibility and len(data.frame) > 1:
        check_moves(data, checks)
    return data


# ---------------------------------------------------------------------------------------------
# after alignment
# ---------------------------------------------------------------------------------------------
def _check_dropped(ours: PriceData, theirs: PriceData, common: set[Any], checks: DataChecks) -> None:
    """``theirs`` must not lack more than ``max_dropped_share`` of ``ours``'s dates (both already trimmed
    to the common span). The error names ``ours``'s file: the file that holds the date it quotes."""
    dates = ours.frame["date"]
    missing = ~dates.isin(common)
    share = float(missing.mean()) if len(dates) else 0.0
    if share <= checks.max_dropped_share:
        return
    i = int(np.flatnonzero(missing.to_numpy())[0])
    span = f"{min(common)}..{max(common)}"
    raise _fail(
        ours,
        i,
        f"{int(missing.sum())} of the {len(dates)} dates of {ours.symbol} within the common span {span} "
        f"are missing from {theirs.source} ({share:.1%}; the first is this one): aligning may drop at most "
        f"{checks.max_dropped_share:.0%} (data_checks.max_dropped_share)",
        "date",
    )


def check_alignment(symbol: PriceData, benchmark: PriceData, checks: DataChecks) -> None:
    """The rules on the common calendar: dropped share, gaps, daily bars."""
    common = set(symbol.frame["date"]) & set(benchmark.frame["date"])
    _check_dropped(symbol, benchmark, common, checks)
    _check_dropped(benchmark, symbol, common, checks)
    days = sorted(common)
    d = _days(days)
    gaps = (d[1:] - d[:-1]).astype("int64")
    for j in np.flatnonzero(gaps > checks.max_gap_days):
        before, after = days[int(j)], days[int(j) + 1]
        inside = {
            p.symbol: int(((p.frame["date"] > before) & (p.frame["date"] < after)).sum())
            for p in (symbol, benchmark)
        }
        short = min((symbol, benchmark), key=lambda p: inside[p.symbol])
        other = benchmark if short is symbol else symbol
        raise DataValidationError(
            f"after alignment with {other.symbol}, a gap of {int(gaps[j])} calendar days since {before} "
            f"(more than {checks.max_gap_days}): {short.symbol} has {inside[short.symbol]} rows in between, "
            f"{other.symbol} has {inside[other.symbol]}",
            source=short.source,
            date=str(after),
            column="date",
        )
    if len(days) >= _MIN_ROWS_FOR_FREQUENCY and median_step(days) > 1:
        step = median_step(days)
        raise DataValidationError(
            f"after alignment with {benchmark.symbol} ({benchmark.source}), the common calendar is not daily: "
            f"the median step is {step:g} trading days ({_frequency_name(step)})",
            source=symbol.source,
            column="date",
        )
