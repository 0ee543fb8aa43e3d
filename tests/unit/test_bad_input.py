"""Bad input, one case per table row, each asserting the exact message (file, line or date, column or key).

The cases call the ingest/config/split functions on files written in ``tmp_path``: every one of them
fails before anything is written, so "no artifact, lake partition or registry version" holds
trivially here. The tables: one price file broken in one place (structure, impossible numbers,
implausible moves, the file's calendar, locations that must not lie); two files whose common calendar
is bad; parameters and config files (numbers, hyperparameters checked by scikit-learn, templates and
symbols, config text as Metaflow hands it over, the data-checks config, the S3 settings); output
locations ``start`` probes; what only the data can tell, refused by ``run_ingest`` before the step
writes. What a user of the flow sees is ``tests/flow/test_bad_input.py``.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spylib.core.config import (
    ModelSpec,
    WalkForwardConfig,
    parse_data_checks,
    parse_gate,
    parse_holdout_start,
    parse_resources,
    parse_sweep,
    validate_cost_bps,
    validate_seed,
)
from spylib.core.errors import ConfigError, DataValidationError
from spylib.data.price_files import check_source_template, resolve_source
from spylib.data.sources import ingest, load_price_file, require_history
from spylib.modelling.walk_forward import walk_forward_splits
from spylib.stages.settings import (
    TrainingSettings,
    build_training_settings,
    check_lake_symbols,
    check_model_params,
    check_run_io,
    check_source,
    check_symbols,
    config_from_text,
)
from spylib.stages.training.ingest import run_ingest
from spylib.storage.s3 import s3_timeouts
from tests.helpers.flow_defaults import config_defaults, flow_class, load_json_config, parameter_defaults
from tests.helpers.metaflow_env import output_params
from tests.helpers.paths import CONFIG_DIR, FLOW_FILE, SMALL_SWEEP
from tests.helpers.price_files import (
    SEED_HEADER,
    YAHOO_HEADER,
    csv_text,
    parquet_bytes,
    seed_csv,
    seed_lines,
    write_pair,
    write_seed_csv,
    yahoo_csv,
    yahoo_lines,
)
from tests.helpers.synthetic import one_symbol, synthetic_prices

# 30 business days from 2010-01-04 (a Monday): line k of a file holds the (k-1)-th day (header = line 1).
START = "2010-01-04"
BASE = one_symbol(synthetic_prices(30, symbols=("SPY",), start=START), "SPY")
LINES = seed_lines(BASE)


def day(line: int) -> str:
    """The ISO date on file ``line`` of an unmodified file."""
    return f"{BASE['date'].iloc[line - 2]:%Y-%m-%d}"


def with_field(line: int, field: int, value: str, lines: list[str] | None = None) -> list[str]:
    """A copy of the data lines with one field of file ``line`` replaced."""
    out = list(lines or LINES)
    parts = out[line - 2].split(",")
    parts[field] = value
    out[line - 2] = ",".join(parts)
    return out


def without_fields(line: int, n: int) -> list[str]:
    """A copy of the data lines where file ``line`` lost its last ``n`` fields."""
    out = list(LINES)
    out[line - 2] = out[line - 2].rsplit(",", n)[0]
    return out


def shifted_from(row: int, by: timedelta) -> pd.DataFrame:
    """BASE with every date from ``row`` on moved ``by`` later (a hole in the calendar)."""
    frame = BASE.copy()
    frame["date"] = [d + by if i >= row else d for i, d in enumerate(frame["date"])]
    return frame


def with_value(row: int, column: str, value: float) -> pd.DataFrame:
    frame = BASE.copy()
    frame.loc[row, column] = value
    return frame


def write(tmp_path: Path, text: str | bytes, name: str = "spy.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def data_error(call: Callable[[], object]) -> str:
    with pytest.raises(DataValidationError) as info:
        call()
    return str(info.value)


def config_error(call: Callable[[], object]) -> str:
    with pytest.raises(ConfigError) as info:
        call()
    return str(info.value)


# --- price files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadFile:
    """A price file broken in one place, and the exact message ``load_price_file`` must give for it."""

    content: str | bytes | None  # None: no file at all (or the ``special`` kind of file)
    message: Callable[[str], str]  # the file's path -> the expected message
    name: str = "spy.csv"
    today: date | None = None  # as load_price_file: None is the real today
    special: str = ""  # "directory", "fifo" or "broken_link": made at the path instead of a file


def scaled_from(row: int, factor: float, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """BASE with every price from ``row`` on multiplied by ``factor`` (an unadjusted split)."""
    out = (BASE if frame is None else frame).copy()
    out.loc[row:, ["open", "high", "low", "close", "adj_close"]] *= factor
    return out


def spiked(row: int, factor: float) -> pd.DataFrame:
    """BASE with the close (and high) of one row multiplied by ``factor``."""
    out = BASE.copy()
    out.loc[row, ["high", "close", "adj_close"]] *= factor
    return out


def g(value: float) -> str:
    """A price as the plausibility messages print it."""
    return f"{value:.6g}"


def move_limit() -> str:
    return (
        "(more than 25%: data_checks.max_daily_move; a real move is accepted by listing the day in "
        "data_checks.accepted_moves)"
    )


SPLIT = scaled_from(15, 0.5)  # line 17 onwards at half price
SPIKE = spiked(15, 1000.0)
FACTOR_JUMP = BASE.copy()
FACTOR_JUMP.loc[15, "adj_close"] *= 10  # Adj Close x10 for one day, Close unchanged
WIDE_DAY = BASE.copy()
WIDE_DAY.loc[15, "high"] *= 2
SATURDAY = BASE.copy()
SATURDAY.loc[5, "date"] = date(2010, 1, 9)  # between Friday 01-08 and Monday 01-12
ZERO_VOLUME = BASE.copy()
ZERO_VOLUME.loc[5:12, "volume"] = 0.0  # eight trading days
BLANK_LINE = with_field(12, 5, "-5", [*LINES[:3], "", *LINES[3:]])  # file line 5 is blank
QUOTED_NEWLINE = [  # a note column; line 4's note spans two physical lines
    f'{line},"a\nb"' if i == 2 else f"{line},x" for i, line in enumerate(with_field(12, 5, "-5"))
]


def integer_dates() -> bytes:
    buffer = io.BytesIO()
    frame = BASE.drop(columns=["symbol", "adj_close"]).assign(date=[20100104 + i for i in range(len(BASE))])
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


NON_UTF8 = csv_text(with_field(5, 5, "12\xff34")).encode("latin-1")  # one Latin-1 byte in line 5's volume
NON_UTF8_OFFSET = NON_UTF8.index(b"\xff")
HIGH, LOW = BASE["high"].iloc[7], BASE["low"].iloc[7]  # line 9's day range
TOO_HIGH = round(HIGH * 1.1, 4)

# fmt: off
PRICE_FILE_CASES = {
    "empty_file": BadFile("", lambda p: f"{p}: the file is empty"),
    "header_only": BadFile(SEED_HEADER + "\n", lambda p: f"{p}: the file has a header but no data rows"),
    "wrong_delimiter": BadFile(
        csv_text([line.replace(",", ";") for line in LINES], SEED_HEADER.replace(",", ";")),
        lambda p: f"{p}, line 1: the header is one column 'date;open;high;low;close;volume': "
        "the file is not comma-separated",
    ),
    "non_utf8_bytes": BadFile(
        NON_UTF8,
        lambda p: f"{p}, line 5, column 'volume': not UTF-8 text: byte 0xff at offset "
        f"{NON_UTF8_OFFSET} cannot be decoded",
    ),
    "missing_column": BadFile(
        csv_text([line.rsplit(",", 1)[0] for line in LINES], "date,open,high,low,close"),
        lambda p: f"{p}, line 1, column 'volume': missing column for the seed layout "
        "(header has: date, open, high, low, close)",
    ),
    "duplicate_column_names": BadFile(
        csv_text(LINES, "date,open,high,low,close,close"),
        lambda p: f"{p}, line 1, column 'close': duplicate column name in the header",
    ),
    "row_with_extra_fields": BadFile(
        csv_text(with_field(11, 5, "1,2")), lambda p: f"{p}, line 11: 7 fields where the header has 6 (extra values)"
    ),
    "row_with_missing_fields": BadFile(
        csv_text(without_fields(11, 2)),  # line 11 loses close and volume
        lambda p: f"{p}, line 11, column 'close': 4 fields where the header has 6 (missing values)",
    ),
    "unparsable_date": BadFile(
        csv_text(with_field(6, 0, "2010-01-11")),  # an ISO date in an M/D/YYYY file
        lambda p: f"{p}, line 6, column 'date': unparsable date '2010-01-11' (expected %m/%d/%Y)",
    ),
    "date_in_the_future": BadFile(
        csv_text(LINES),
        lambda p: f"{p}, line 15, date 2010-01-21, column 'date': date is in the future (today is 2010-01-20)",
        today=date(2010, 1, 20),  # line 15 holds 2010-01-21
    ),
    "duplicate_date": BadFile(
        csv_text(with_field(7, 0, LINES[4].split(",")[0])),  # line 7 repeats line 6's date
        lambda p: f"{p}, line 7, date {day(6)}, column 'date': duplicate date (first seen on line 6)",
    ),
    "price_zero": BadFile(
        csv_text(with_field(8, 4, "0")),
        lambda p: f"{p}, line 8, date {day(8)}, column 'close': price must be positive, got 0.0",
    ),
    "price_negative": BadFile(
        csv_text(with_field(8, 3, "-1.5")),
        lambda p: f"{p}, line 8, date {day(8)}, column 'low': price must be positive, got -1.5",
    ),
    "high_below_low": BadFile(
        csv_text(with_field(9, 2, "50")),
        lambda p: f"{p}, line 9, date {day(9)}, column 'high': high 50.0 is below low {LOW}",
    ),
    "close_outside_the_day_range": BadFile(
        csv_text(with_field(9, 4, str(TOO_HIGH))),
        lambda p: f"{p}, line 9, date {day(9)}, column 'close': close {TOO_HIGH} is outside "
        f"[low, high] = [{LOW}, {HIGH}]",
    ),
    "volume_negative": BadFile(
        csv_text(with_field(10, 5, "-100")),
        lambda p: f"{p}, line 10, date {day(10)}, column 'volume': volume must be >= 0, got -100.0",
    ),
    "volume_not_numeric": BadFile(
        csv_text(with_field(10, 5, "12k")),
        lambda p: f"{p}, line 10, date {day(10)}, column 'volume': not a number: '12k'",
    ),
    "nan_in_a_price": BadFile(
        csv_text(with_field(11, 4, "NaN")),
        lambda p: f"{p}, line 11, date {day(11)}, column 'close': missing value (NaN or empty)",
    ),
    "empty_price_cell": BadFile(
        csv_text(with_field(11, 1, "")),
        lambda p: f"{p}, line 11, date {day(11)}, column 'open': missing value (NaN or empty)",
    ),
    "gap_of_many_weeks": BadFile(
        # line 12 is the first row after the hole; line 11 (2010-01-15) the last before it
        csv_text(seed_lines(shifted_from(10, timedelta(weeks=8)))),
        lambda p: f"{p}, line 12, date 2010-03-15, column 'date': a gap of 59 calendar days since 2010-01-15 "
        "(more than 14): missing data",
    ),
    "yahoo_layout_null_adjusted_close": BadFile(
        csv_text(with_field(5, 5, "null", yahoo_lines(BASE)), YAHOO_HEADER),
        lambda p: f"{p}, line 5, date {day(5)}, column 'adj_close': missing value (NaN or empty)",
    ),
    "parquet_negative_close": BadFile(
        # Parquet has no header line: rows are numbered from 1, so row index 11 is "line 12".
        parquet_bytes(with_value(11, "close", -3.0)),
        lambda p: f"{p}, line 12, date {BASE['date'].iloc[11]:%Y-%m-%d}, column 'close': "
        "price must be positive, got -3.0",
        name="spy.parquet",
    ),
    "file_not_found": BadFile(None, lambda p: f"{p}: file not found", name="nope.csv"),
    # --- impossible numbers
    "infinite_close": BadFile(
        csv_text(with_field(8, 4, "inf")),
        lambda p: f"{p}, line 8, date {day(8)}, column 'close': not a finite number: 'inf'",
    ),
    "infinite_high_and_close": BadFile(  # inf passed the "close within [low, high]" test before
        csv_text(with_field(8, 4, "inf", with_field(8, 2, "inf"))),
        lambda p: f"{p}, line 8, date {day(8)}, column 'high': not a finite number: 'inf'",
    ),
    "overflowing_number": BadFile(
        csv_text(with_field(8, 2, "1e400")),
        lambda p: f"{p}, line 8, date {day(8)}, column 'high': not a finite number: '1e400'",
    ),
    "absurd_price": BadFile(
        csv_text(with_field(8, 2, "1e300")),
        lambda p: f"{p}, line 8, date {day(8)}, column 'high': absurd value 1e+300 (above 1e+07: "
        "data_checks.max_price)",
    ),
    "absurd_volume": BadFile(
        csv_text(with_field(8, 5, "5e15")),
        lambda p: f"{p}, line 8, date {day(8)}, column 'volume': absurd value 5e+15 (above 1e+12: "
        "data_checks.max_volume)",
    ),
    "unadjusted_split": BadFile(
        seed_csv(SPLIT),
        lambda p: f"{p}, line 17, date {day(17)}, column 'close': close moves "
        f"{SPLIT['close'].iloc[15] / SPLIT['close'].iloc[14] - 1:+.1%} in one day ({g(SPLIT['close'].iloc[14])} to "
        f"{g(SPLIT['close'].iloc[15])}) and stays there: like an unadjusted 2-for-1 split {move_limit()}",
    ),
    "spike_x1000": BadFile(
        seed_csv(SPIKE),
        lambda p: f"{p}, line 17, date {day(17)}, column 'close': close moves "
        f"x{SPIKE['close'].iloc[15] / SPIKE['close'].iloc[14]:.4g} in one day ({g(SPIKE['close'].iloc[14])} to "
        f"{g(SPIKE['close'].iloc[15])}) and returns to {g(SPIKE['close'].iloc[16])} the next day: a spike "
        f"(a bad value) {move_limit()}",
    ),
    "adjustment_factor_jump": BadFile(
        yahoo_csv(FACTOR_JUMP),
        lambda p: f"{p}, line 17, date {day(17)}, column 'adj_close': the adjustment factor adj_close / close "
        f"jumps x10 (from 1 to 10) and back the next day while close moves "
        f"{BASE['close'].iloc[15] / BASE['close'].iloc[14] - 1:+.1%}: a bad adjusted close {move_limit()}",
    ),
    "spike_in_high": BadFile(
        seed_csv(WIDE_DAY),
        lambda p: f"{p}, line 17, date {day(17)}, column 'high': the day's range is "
        f"{WIDE_DAY['high'].iloc[15] / WIDE_DAY['low'].iloc[15] - 1:+.1%} (low {g(WIDE_DAY['low'].iloc[15])}, high "
        f"{g(WIDE_DAY['high'].iloc[15])}, open and close within "
        f"[{g(min(WIDE_DAY['open'].iloc[15], WIDE_DAY['close'].iloc[15]))}, "
        f"{g(max(WIDE_DAY['open'].iloc[15], WIDE_DAY['close'].iloc[15]))}]): a spike in high (more than 50%: "
        "data_checks.max_day_range; a real day is accepted with data_checks.accepted_moves)",
    ),
    # --- the calendar of one file
    "saturday_row": BadFile(
        seed_csv(SATURDAY),
        lambda p: f"{p}, line 7, date 2010-01-09, column 'date': a Saturday: markets are closed on weekends "
        "(1 weekend row(s) in the file; data_checks.weekend_dates)",
    ),
    "weekly_bars": BadFile(
        seed_csv(BASE.iloc[::5].reset_index(drop=True)),
        lambda p: f"{p}, line 3, date 2010-01-11, column 'date': the bars are not daily: the median step between "
        "rows is 5 trading days (weekly bars); daily bars are required",
    ),
    "every_other_day": BadFile(
        seed_csv(BASE.iloc[::2].reset_index(drop=True)),
        lambda p: f"{p}, line 3, date 2010-01-06, column 'date': the bars are not daily: the median step between "
        "rows is 2 trading days (every other trading day); daily bars are required",
    ),
    "zero_volume_run": BadFile(
        seed_csv(ZERO_VOLUME),
        lambda p: f"{p}, line 7, date {day(7)}, column 'volume': 8 consecutive rows with zero volume "
        f"({day(7)}..{day(14)}; at most 4 allowed: data_checks.max_zero_volume_days): the volume features "
        "are undefined there",
    ),
    # --- locations: physical lines, what a path is
    "blank_line_before_a_bad_value": BadFile(
        csv_text(BLANK_LINE),  # the bad value is on physical line 12 (the blank line 5 counts)
        lambda p: f"{p}, line 12, date {day(11)}, column 'volume': volume must be >= 0, got -5.0",
    ),
    "quoted_newline_before_a_bad_value": BadFile(
        csv_text(QUOTED_NEWLINE, SEED_HEADER + ",note"),
        lambda p: f"{p}, line 13, date {day(12)}, column 'volume': volume must be >= 0, got -5.0",
    ),
    "parquet_integer_dates": BadFile(
        integer_dates(),
        lambda p: f"{p}, line 1, column 'date': the dates are stored as int64 numbers (first value 20100104), "
        "not as a date, a timestamp or text: write the column as a date",
        name="spy.parquet",
    ),
    "a_directory": BadFile(None, lambda p: f"{p}: is a directory, not a regular file", special="directory"),
    "a_fifo": BadFile(None, lambda p: f"{p}: is a named pipe (FIFO), not a regular file", special="fifo"),
    "a_broken_link": BadFile(None, lambda p: f"{p}: is a broken symbolic link, not a file", special="broken_link"),
}
# fmt: on


def make_special(path: Path, kind: str) -> None:
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # reading it would block forever: it must be refused without being opened
    elif kind == "broken_link":
        path.symlink_to(path.parent / "gone.csv")


@pytest.mark.parametrize("case", PRICE_FILE_CASES.values(), ids=PRICE_FILE_CASES.keys())
def test_bad_price_file(tmp_path: Path, case: BadFile) -> None:
    path = str(tmp_path / case.name) if case.content is None else write(tmp_path, case.content, case.name)
    if case.special:
        make_special(tmp_path / case.name, case.special)
    assert data_error(lambda: load_price_file(path, "SPY", today=case.today)) == case.message(path)


@pytest.mark.parametrize("case", ["a_directory", "a_fifo", "a_broken_link", "file_not_found"])
def test_start_names_what_a_source_path_is(tmp_path: Path, flow_defaults: dict[str, Any], case: str) -> None:
    bad = PRICE_FILE_CASES[case]
    path = tmp_path / "spy.csv"
    if bad.special:
        make_special(path, bad.special)
    write_seed_csv(tmp_path / "qqq.csv", BASE.assign(symbol="QQQ"))
    settings = settings_under(tmp_path, flow_defaults, source=str(tmp_path / "{symbol_lower}.csv"))
    assert data_error(lambda: check_run_io(settings)) == bad.message(str(path))


def test_a_real_extreme_day_is_accepted_when_listed(tmp_path: Path) -> None:
    path = write(tmp_path, seed_csv(SPLIT))
    checks = parse_data_checks(
        {"accepted_moves": [{"date": day(17), "symbol": "SPY", "note": "a real -50%"}]}
    )
    assert len(load_price_file(path, "SPY", checks=checks).frame) == len(BASE)
    other = parse_data_checks({"accepted_moves": [{"date": day(17), "symbol": "QQQ"}]})
    assert "like an unadjusted 2-for-1 split" in data_error(
        lambda: load_price_file(path, "SPY", checks=other)
    )


def test_warning_rules_log_and_go_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    checks = parse_data_checks({"weekend_dates": "warning", "zero_volume_runs": "warning"})
    saturday = write(tmp_path, seed_csv(SATURDAY), "sat.csv")
    zero = write(tmp_path, seed_csv(ZERO_VOLUME), "zero.csv")
    with caplog.at_level(logging.WARNING):
        data = load_price_file(saturday, "SPY", checks=checks)
        quiet = load_price_file(zero, "SPY", checks=checks)
    assert date(2010, 1, 9) not in set(data.frame["date"])  # the weekend row is dropped
    assert len(data.frame) == len(BASE) - 1
    assert len(quiet.frame) == len(BASE)  # zero-volume rows are kept
    assert f"{saturday}, line 7, date 2010-01-09: a Saturday" in caplog.text
    assert (
        f"{zero}, line 7, date {day(7)}, column 'volume': 8 consecutive rows with zero volume" in caplog.text
    )


def test_a_split_the_adjusted_close_absorbs_is_fine(tmp_path: Path) -> None:
    raw = scaled_from(15, 0.5)  # the close halves: a 2-for-1 split
    raw["adj_close"] = BASE["adj_close"] * 0.5  # Adj Close continuous, on the post-split scale
    path = write(tmp_path, yahoo_csv(raw))
    data = load_price_file(path, "SPY")
    assert data.frame["adj_close"].tolist() == pytest.approx((BASE["adj_close"] * 0.5).tolist())


# --- the aligned calendar (two files) ------------------------------------------------------------

PAIR = synthetic_prices(400, start=START)
SPY400, QQQ400 = one_symbol(PAIR, "SPY"), one_symbol(PAIR, "QQQ")


def rows_without(frame: pd.DataFrame, rows: range) -> pd.DataFrame:
    return frame.drop(index=list(rows)).reset_index(drop=True)


# (SPY's frame, QQQ's frame, the message: the template directory -> text)
# fmt: off
ALIGNMENT_CASES: dict[str, tuple[pd.DataFrame, pd.DataFrame, Callable[[Path], str]]] = {
    "benchmark_every_other_day": (
        SPY400, QQQ400.iloc[::2].reset_index(drop=True),
        lambda d: f"{d / 'qqq.csv'}, line 3, date 2010-01-06, column 'date': the bars are not daily: the median "
        "step between rows is 2 trading days (every other trading day); daily bars are required",
    ),
    "benchmark_lacks_dates_within_the_common_span": (
        # 30 of SPY's 400 dates (7.5%) are missing from QQQ's file: the date quoted is in SPY's file
        SPY400, rows_without(QQQ400, range(100, 160, 2)),
        lambda d: f"{d / 'spy.csv'}, line 102, date 2010-05-24, column 'date': 30 of the 400 dates of SPY "
        f"within the common span 2010-01-04..2011-07-15 are missing from {d / 'qqq.csv'} (7.5%; the first is "
        "this one): aligning may drop at most 5% (data_checks.max_dropped_share)",
    ),
    "symbol_lacks_dates_within_the_common_span": (
        rows_without(SPY400, range(200, 260, 2)), QQQ400,
        lambda d: f"{d / 'qqq.csv'}, line 202, date 2010-10-11, column 'date': 30 of the 400 dates of QQQ "
        f"within the common span 2010-01-04..2011-07-15 are missing from {d / 'spy.csv'} (7.5%; the first is "
        "this one): aligning may drop at most 5% (data_checks.max_dropped_share)",
    ),
    "gaps_that_join_on_the_common_calendar": (
        # each file's hole is 9 calendar days; together they leave 18 days without a common date
        rows_without(SPY400, range(100, 107)), rows_without(QQQ400, range(104, 111)),
        lambda d: f"{d / 'spy.csv'}, date 2010-06-08, column 'date': after alignment with QQQ, a gap of 18 "
        "calendar days since 2010-05-21 (more than 14): SPY has 4 rows in between, QQQ has 4",
    ),
}
# fmt: on


@pytest.mark.parametrize(("spy", "qqq", "message"), ALIGNMENT_CASES.values(), ids=ALIGNMENT_CASES.keys())
def test_bad_aligned_calendar(
    tmp_path: Path, spy: pd.DataFrame, qqq: pd.DataFrame, message: Callable[[Path], str]
) -> None:
    write_seed_csv(tmp_path / "spy.csv", spy)
    write_seed_csv(tmp_path / "qqq.csv", qqq)
    assert data_error(lambda: ingest(str(tmp_path / "{symbol_lower}.csv"), "SPY", "QQQ")) == message(tmp_path)


def test_no_common_dates(tmp_path: Path) -> None:
    write_seed_csv(tmp_path / "spy.csv", BASE)
    later = one_symbol(synthetic_prices(30, symbols=("QQQ",), start="2015-01-05"), "QQQ")
    write_seed_csv(tmp_path / "qqq.csv", later)
    template = str(tmp_path / "{symbol_lower}.csv")
    assert data_error(lambda: ingest(template, "SPY", "QQQ")) == (
        f"{tmp_path / 'spy.csv'}, column 'date': no common dates with {tmp_path / 'qqq.csv'} "
        "(2010-01-04..2010-02-12 vs 2015-01-05..2015-02-13)"
    )


def test_history_too_short(tmp_path: Path) -> None:
    template = write_pair(tmp_path, 300, start=START)
    market = ingest(template, "SPY", "QQQ")
    span = (market.prices["date"].min(), market.prices["date"].max())
    what = "100 warm-up rows, four segments and three gaps of 60 rows"
    source = market.symbol.source
    assert data_error(lambda: require_history(len(market.prices) // 2, 520, source, what, span=span)) == (
        f"{source}, date 2010-01-04..2011-02-25, column 'date': history too short: 300 common trading days, "
        f"{what} need at least 520"
    )


# --- parameters and config files -----------------------------------------------------------------

SWEEP_ONE_MODEL = {"models": {"logistic": {"C": [1.0]}}}

# fmt: off
CONFIG_CASES: dict[str, tuple[Callable[[], object], str]] = {
    "holdout_outside_the_data": (
        lambda: walk_forward_splits(
            list(pd.bdate_range("2010-01-04", periods=1000).date), [True] * 1000, WalkForwardConfig(), 1,
            holdout_start=date(2030, 1, 1),
        ),
        "--holdout-start: 2030-01-01 is outside the labelled data (2010-01-04 .. 2013-11-01)",
    ),
    "holdout_not_a_date": (
        lambda: parse_holdout_start("2013-13-01"),
        "--holdout-start: '2013-13-01' is not a YYYY-MM-DD date",
    ),
    "history_too_short_for_the_blocks": (
        lambda: walk_forward_splits(
            list(pd.bdate_range("2010-01-04", periods=1000).date), [True] * 1000, WalkForwardConfig(), 1
        ),
        "sweep config, key 'walk_forward': the history gives 0 walk-forward block(s) after 750 training days; "
        "at least 3 are needed (min_selection_blocks=2, plus one traded): 1000 rows from 2010-01-04 to "
        "2013-11-01; use a longer history, shorter blocks or a smaller min_train_days",
    ),
    "empty_grid": (
        lambda: parse_sweep({"models": {}}, source="sweep.json"),
        "sweep.json, key 'models': the model grid is empty: give at least one configuration",
    ),
    "empty_hyperparameter_list": (
        lambda: parse_sweep({"models": {"logistic": {"C": []}}}, source="sweep.json"),
        "sweep.json, key 'models.logistic.C': expected a non-empty list of values",
    ),
    "cost_below_zero": (
        lambda: validate_cost_bps(-1.0),
        "--cost-bps: cost must be >= 0 basis points per side, got -1.0",
    ),
    "config_value_of_the_wrong_type": (
        lambda: parse_sweep({**SWEEP_ONE_MODEL, "walk_forward": {"min_train_days": "20"}}, source="sweep.json"),
        "sweep.json, key 'walk_forward.min_train_days': must be a positive integer, got '20'",
    ),
    "gate_config_unknown_key": (
        lambda: parse_gate({"min_dsr": 0.9, "max_pbo2": 0.5}, source="gate.json"),
        "gate.json, key 'max_pbo2': unknown key (allowed: bootstrap_block_lengths, bootstrap_replicates, "
        "champion_alpha, champion_days, champion_margin, dsr_trials, max_difference_p_value, max_pbo, "
        "max_prob_oos_loss, min_auc_lower, min_dsr, min_exposure, min_psr, min_trades_per_year, "
        "require_beat_buy_and_hold, require_beat_vol_target)",
    ),
    "gate_config_wrong_type": (
        lambda: parse_gate({"min_dsr": "high"}, source="gate.json"),
        "gate.json, key 'min_dsr': must be a non-negative number, got 'high'",
    ),
    "resources_config_wrong_value": (
        lambda: parse_resources({"train": {"cpu": 0}}, source="resources.json"),
        "resources.json, key 'train.cpu': must be a positive integer, got 0",
    ),
    # --- numbers that fail late
    "cost_not_finite": (
        lambda: validate_cost_bps(float("inf")),
        "--cost-bps: cost must be a finite number of basis points per side, got inf",
    ),
    "cost_nan": (
        lambda: validate_cost_bps(float("nan")),
        "--cost-bps: cost must be a finite number of basis points per side, got nan",
    ),
    "seed_negative": (
        lambda: validate_seed(-1), "--seed: must be an integer in 0 .. 4294967295 (2**32 - 1), got -1",
    ),
    "seed_above_2_32": (
        lambda: validate_seed(2**32), "--seed: must be an integer in 0 .. 4294967295 (2**32 - 1), got 4294967296",
    ),
    "rolling_window_shorter_than_the_training": (
        lambda: parse_sweep(
            {**SWEEP_ONE_MODEL, "walk_forward": {"scheme": "rolling", "rolling_days": 500}}, source="sweep.json"
        ),
        "sweep.json, key 'walk_forward.rolling_days': a rolling window of 500 days never holds min_train_days=750: "
        "no block could be trained",
    ),
    # --- hyperparameters, checked by scikit-learn in start
    "hyperparameter_misspelt": (
        lambda: check_model_params([ModelSpec("random_forest", {"n_estimator": 100})], 0),
        "config 'sweep', key 'models.random_forest.n_estimator': RandomForestClassifier has no hyperparameter "
        "'n_estimator' (did you mean 'n_estimators'?)",
    ),
    "hyperparameter_mistyped": (
        lambda: check_model_params([ModelSpec("random_forest", {"max_depth": "4"})], 0),
        "config 'sweep', key 'models.random_forest.max_depth': The 'max_depth' parameter of RandomForestClassifier "
        "must be an int in the range [1, inf) or None. Got '4' instead.",
    ),
    "hyperparameter_out_of_range": (
        lambda: check_model_params([ModelSpec("logistic", {"C": -1.0})], 0),
        "config 'sweep', key 'models.logistic.C': The 'C' parameter of LogisticRegression must be a float in the "
        "range (0.0, inf]. Got -1.0 instead.",
    ),
    "hyperparameter_set_by_the_flow": (
        lambda: check_model_params([ModelSpec("extra_trees", {"random_state": 7})], 0),
        "config 'sweep', key 'models.extra_trees.random_state': random_state is set by spy-flow (from --seed, or "
        "fixed for one thread per task), not by the sweep",
    ),
    # --- templates and symbols
    "template_without_the_symbol": (
        lambda: check_source_template("data/spy.csv"),
        "--source: 'data/spy.csv' does not contain {symbol} or {symbol_lower}: both symbols would read the same "
        "file (e.g. 'data/{symbol_lower}_daily.csv')",
    ),
    "template_unknown_placeholder": (
        lambda: check_source_template("data/{sym}.csv"),
        "--source: unknown placeholder {sym} in 'data/{sym}.csv': only {symbol} and {symbol_lower} are filled",
    ),
    "template_empty_placeholder": (
        lambda: resolve_source("data/{}.csv", "SPY"),
        "--source: unknown placeholder {} in 'data/{}.csv': only {symbol} and {symbol_lower} are filled",
    ),
    "template_unbalanced_brace": (
        lambda: check_source_template("data/{symbol_lower.csv"),
        "--source: unbalanced brace in 'data/{symbol_lower.csv' (expected '}' before end of string); write a "
        "literal brace as '{{' or '}}'",
    ),
    "symbol_is_a_path": (
        lambda: check_symbols("../etc", "QQQ"),
        "--symbol: '../etc' is not a ticker symbol (1 to 20 letters, digits, '.', '-', '^' or '=', with a letter "
        "or digit)",
    ),
    "benchmark_empty": (
        lambda: check_symbols("SPY", "  "),
        "--benchmark: '  ' is not a ticker symbol (1 to 20 letters, digits, '.', '-', '^' or '=', with a letter "
        "or digit)",
    ),
    "symbol_equals_benchmark": (
        lambda: check_symbols("spy", "SPY"),
        "--symbol/--benchmark: symbol and benchmark must differ, both are 'SPY'",
    ),
    "symbol_with_equals_sign_and_a_lake": (
        lambda: check_lake_symbols("data/lake", ("ES=F", "SPY")),
        "--lake-root: 'ES=F' contains '=', which a Hive partition path (symbol=ES=F) cannot hold: turn the lake "
        "off with --lake-root ''",
    ),
    "embedded_without_a_stand_in": (
        lambda: check_source("embedded", ("IWM", "QQQ")),
        "--source: the embedded data set has stand-ins only for SPY, QQQ; give files for IWM with a path template",
    ),
    # --- config files as Metaflow hands them over (the flows' Config parsers)
    "config_is_a_list": (
        lambda: config_from_text("sweep", "[1, 2]"),
        "config 'sweep': expected a JSON object {...} at the top level, got a list",
    ),
    "config_is_a_string": (
        lambda: config_from_text("gate", '"strict"'),
        "config 'gate': expected a JSON object {...} at the top level, got a string",
    ),
    "config_invalid_json": (
        lambda: config_from_text("data_checks", '{"max_daily_move": 0.3,}'),
        "config 'data_checks': invalid JSON at line 1 column 24: Expecting property name enclosed in double quotes",
    ),
    "resources_config_misspelt_step": (
        lambda: config_from_text(
            "resources", json.dumps({**json.loads((CONFIG_DIR / "resources.json").read_text()), "trian": {"cpu": 1}})
        ),
        "config 'resources', key 'trian': unknown step (steps with resources: ingest, features, train, evaluate, "
        "predict)",
    ),
    "resources_config_missing_step": (
        lambda: config_from_text("resources", '{"ingest": {"cpu": 1}}'),
        "config 'resources', key 'features': missing the cpu/memory of this step",
    ),
    "schedule_config_without_a_cron": (
        lambda: config_from_text("schedule", '{"cron": "daily"}'),
        "config 'schedule', key 'cron': expected an EventBridge cron of six fields with '?' as day-of-month or "
        "day-of-week, got 'daily'",
    ),
    # --- the data-checks config
    "data_checks_unknown_key": (
        lambda: parse_data_checks({"max_daily_mvoe": 0.3}, source="data_checks.json"),
        "data_checks.json, key 'max_daily_mvoe': unknown key (allowed: accepted_moves, max_daily_move, "
        "max_day_range, max_dropped_share, max_gap_days, max_price, max_volume, max_zero_volume_days, "
        "stale_open_tolerance, weekend_dates, zero_volume_runs)",
    ),
    "data_checks_unknown_severity": (
        lambda: parse_data_checks({"weekend_dates": "ignore"}, source="data_checks.json"),
        "data_checks.json, key 'weekend_dates': must be 'error' or 'warning', got 'ignore'",
    ),
    "data_checks_share_above_one": (
        lambda: parse_data_checks({"max_dropped_share": 1.5}, source="data_checks.json"),
        "data_checks.json, key 'max_dropped_share': must be a share within [0, 1], got 1.5",
    ),
    "data_checks_accepted_day_not_a_date": (
        lambda: parse_data_checks({"accepted_moves": [{"date": "13/10/2008"}]}, source="data_checks.json"),
        "data_checks.json, key 'accepted_moves[0].date': expected a YYYY-MM-DD date, got '13/10/2008'",
    ),
    "data_checks_accepted_days_not_a_list": (
        lambda: parse_data_checks({"accepted_moves": {"SPY": ["2008-10-13"]}}, source="data_checks.json"),
        'data_checks.json, key \'accepted_moves\': expected a list of {"date": "YYYY-MM-DD", "symbol": ...} '
        "objects, got dict",
    ),
    # --- the S3 client's settings
    "s3_timeout_not_a_number": (
        lambda: s3_settings_from({"SPYFLOW_S3_READ_TIMEOUT": "soon"}),
        "$SPYFLOW_S3_READ_TIMEOUT: must be a positive number of seconds, got 'soon'",
    ),
    "s3_attempts_zero": (
        lambda: s3_settings_from({"SPYFLOW_S3_MAX_ATTEMPTS": "0"}),
        "$SPYFLOW_S3_MAX_ATTEMPTS: must be a positive integer, got '0'",
    ),
}
# fmt: on


def s3_settings_from(env: dict[str, str]) -> object:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return s3_timeouts()


@pytest.mark.parametrize(("call", "expected"), CONFIG_CASES.values(), ids=CONFIG_CASES.keys())
def test_bad_parameter_or_config(call: Callable[[], object], expected: str) -> None:
    assert config_error(call) == expected


@pytest.mark.parametrize(("value", "shown"), [(1.2, "1.2"), (0, "0"), (1, "1"), ("0.5", "'0.5'")])
def test_threshold_outside_the_unit_interval(value: object, shown: str) -> None:
    raw = {**SWEEP_ONE_MODEL, "thresholds": [0.5, value]}
    assert config_error(lambda: parse_sweep(raw, source="sweep.json")) == (
        f"sweep.json, key 'thresholds[1]': threshold {shown} is outside (0, 1)"
    )


def small_sweep_with(change: Callable[[dict[str, Any]], object]) -> str:
    """The small sweep's JSON text after ``change`` edited it in place."""
    raw = json.loads(SMALL_SWEEP.read_text())
    change(raw)
    return json.dumps(raw)


# fmt: off
CONFIG_FILE_CASES: dict[str, tuple[str, Callable[[str], str]]] = {
    "unknown_key": (
        small_sweep_with(lambda raw: raw.update(treshold=[0.5])),
        lambda p: f"{p}, key 'treshold': unknown key (allowed: filters, models, selection, sizings, "
        "target_volatility, thresholds, walk_forward)",
    ),
    "unknown_nested_key": (
        small_sweep_with(lambda raw: raw["walk_forward"].update(n_fold=3)),
        lambda p: f"{p}, key 'walk_forward.n_fold': unknown key (allowed: block_months, embargo_days, "
        "min_selection_blocks, min_train_days, rolling_days, scheme)",
    ),
    "invalid_json": (
        '{"models": {"logistic": {"C": [1]}},\n "cv": {"n_folds": 3,}}',
        lambda p: f"{p}: invalid JSON at line 2 column 22: Expecting property name enclosed in double quotes",
    ),
}
# fmt: on


@pytest.mark.parametrize(("text", "message"), CONFIG_FILE_CASES.values(), ids=CONFIG_FILE_CASES.keys())
def test_bad_config_file(text: str, message: Callable[[str], str]) -> None:
    source = "config 'sweep'"  # what the flow's Config parser and parse_sweep name
    assert config_error(lambda: parse_sweep(config_from_text("sweep", text), source=source)) == message(
        source
    )


# --- locations start probes, and what only the data can tell (checked in ingest before any write) -----


@pytest.fixture(scope="module")
def flow_defaults() -> dict[str, Any]:
    """SpyFlow's Parameter defaults and its Configs' default files, loaded (what ``start`` receives)."""
    flow = flow_class(FLOW_FILE)
    return {**parameter_defaults(flow), **{n: load_json_config(p) for n, p in config_defaults(flow).items()}}


def settings_under(tmp: Path, defaults: dict[str, Any], **over: Any) -> TrainingSettings:
    """The settings of a run with every output under ``tmp`` and the small sweep."""
    values = {**defaults, **output_params(tmp), "sweep": load_json_config(SMALL_SWEEP), **over}
    return build_training_settings(**values)


# (the parameter to set, a path under tmp_path where ``blocker`` is a file, the message: tmp -> text)
# fmt: off
LOCATION_CASES: dict[str, tuple[str, str, Callable[[Path], str]]] = {
    "output_dir_is_a_file": (
        "output_dir", "blocker",
        lambda t: f"--output-dir: cannot write to {t / 'blocker'}: it is a file, not a directory",
    ),
    "lake_root_under_a_file": (
        "lake_root", "blocker/lake",
        lambda t: f"--lake-root: cannot write to {t / 'blocker' / 'lake'}: {t / 'blocker'} is a file: no directory "
        "can be created under it",
    ),
    "registry_location_under_a_file": (
        "registry_location", "blocker/deep/registry",
        lambda t: f"--registry-location: cannot write to {t / 'blocker' / 'deep' / 'registry'}: {t / 'blocker'} is "
        "a file: no directory can be created under it",
    ),
}
# fmt: on


@pytest.mark.parametrize(
    ("parameter", "where", "message"), LOCATION_CASES.values(), ids=LOCATION_CASES.keys()
)
def test_unwritable_location_fails_in_start(
    tmp_path: Path, flow_defaults: dict[str, Any], parameter: str, where: str, message: Callable[[Path], str]
) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should go")
    settings = settings_under(tmp_path, flow_defaults, **{parameter: str(tmp_path / where)})
    assert config_error(lambda: check_run_io(settings)) == message(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]  # the probes left nothing behind


def test_writable_locations_are_probed_without_a_trace(tmp_path: Path, flow_defaults: dict[str, Any]) -> None:
    source = write_pair(tmp_path / "data", 30)
    check_run_io(settings_under(tmp_path, flow_defaults, source=source))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no lake, out or registry created


# (the Parameters changed, the expected message) for 1700 days of data from 2010-01-04
# fmt: off
INGEST_STAGE_CASES: dict[str, tuple[dict[str, Any], Callable[[str], str]]] = {
    "holdout_after_the_data": (
        {"holdout_start": "2030-01-01"},
        lambda src: "--holdout-start: 2030-01-01 is outside the labelled data (2010-05-24 .. 2016-07-06)",
    ),
    "holdout_leaves_too_few_blocks": (  # the history is long enough in total: only cutting it tells
        {"holdout_start": "2015-01-02"},
        lambda src: "sweep config, key 'walk_forward': the history gives 2 walk-forward block(s) after 750 "
        "training days; at least 3 are needed (min_selection_blocks=2, plus one traded): 1600 rows from "
        "2010-05-24 to 2016-07-08; use a longer history, shorter blocks or a smaller min_train_days",
    ),
    "min_train_days_longer_than_the_data": (
        {"sweep": {**json.loads(SMALL_SWEEP.read_text()),
                   "walk_forward": {**json.loads(SMALL_SWEEP.read_text())["walk_forward"], "min_train_days": 2000}}},
        lambda src: f"{src}, date 2010-01-04..2016-07-08, column 'date': history too short: 1700 common trading "
        "days, 100 warm-up rows, 2000 training days, an embargo of 60 and 3 blocks of 12 months need at least 2918",
    ),
}
# fmt: on


@pytest.mark.parametrize(("over", "message"), INGEST_STAGE_CASES.values(), ids=INGEST_STAGE_CASES.keys())
def test_what_only_the_data_tells_fails_in_ingest_before_any_write(
    tmp_path: Path, flow_defaults: dict[str, Any], over: dict[str, Any], message: Callable[[str], str]
) -> None:
    source = write_pair(tmp_path / "data", 1700)
    settings = settings_under(tmp_path, flow_defaults, source=source, **over)
    with pytest.raises((ConfigError, DataValidationError)) as info:
        run_ingest(settings, "1")  # stages the prices in the lake only after every check
    assert str(info.value) == message(str(tmp_path / "data" / "spy_daily.csv"))
