"""Bad input, one case per table row, each asserting the exact message (file, line or date, column or key).

The cases call the ingest/config/split functions on files written in ``tmp_path``: every one of them
fails before anything is written, so "no artifact, lake partition or registry version" holds
trivially here. What a user of the flow sees (a bad price file fails ``ingest`` naming the file, line
and column, and nothing is written; an unknown config key fails ``start``) is
``tests/flow/test_bad_input.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spylib.core.config import (
    WalkForwardConfig,
    load_json_config,
    parse_gate,
    parse_holdout_start,
    parse_resources,
    parse_sweep,
    validate_cost_bps,
)
from spylib.core.errors import ConfigError, DataValidationError
from spylib.research.data import ingest, load_price_file, require_history
from spylib.research.split import walk_forward_splits
from tests.helpers.paths import SMALL_SWEEP
from tests.helpers.price_files import (
    SEED_HEADER,
    YAHOO_HEADER,
    csv_text,
    parquet_bytes,
    seed_lines,
    write_pair,
    write_seed_csv,
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

    content: str | bytes | None  # None: no file at all
    message: Callable[[str], str]  # the file's path -> the expected message
    name: str = "spy.csv"
    today: date | None = None  # as load_price_file: None is the real today


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
}
# fmt: on


@pytest.mark.parametrize("case", PRICE_FILE_CASES.values(), ids=PRICE_FILE_CASES.keys())
def test_bad_price_file(tmp_path: Path, case: BadFile) -> None:
    path = str(tmp_path / case.name) if case.content is None else write(tmp_path, case.content, case.name)
    assert data_error(lambda: load_price_file(path, "SPY", today=case.today)) == case.message(path)


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
        "gate.json, key 'max_pbo2': unknown key (allowed: champion_alpha, champion_days, champion_margin, "
        "dsr_trials, max_difference_p_value, max_pbo, max_prob_oos_loss, min_auc_lower, min_dsr, min_exposure, "
        "min_psr, min_trades_per_year, require_beat_buy_and_hold)",
    ),
    "gate_config_wrong_type": (
        lambda: parse_gate({"min_dsr": "high"}, source="gate.json"),
        "gate.json, key 'min_dsr': must be a non-negative number, got 'high'",
    ),
    "resources_config_wrong_value": (
        lambda: parse_resources({"train": {"cpu": 0}}, source="resources.json"),
        "resources.json, key 'train.cpu': must be a positive integer, got 0",
    ),
}
# fmt: on


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
def test_bad_config_file(tmp_path: Path, text: str, message: Callable[[str], str]) -> None:
    path = write(tmp_path, text, "sweep.json")
    assert config_error(lambda: parse_sweep(load_json_config(path), source=path)) == message(path)
