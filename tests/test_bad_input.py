"""Bad input, one case per test, each asserting the exact message (file, line or date, column or key).

The library cases call the ingest/config/split functions on files written in ``tmp_path``: every one of
them fails before anything is written, so "no artifact, lake partition or registry version" holds
trivially there. Two flow-level tests then check what a user of the flow sees: a bad price file fails
the ``ingest`` step naming the file, line and column, and nothing is written; a config file with an
unknown key fails ``start`` naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from conftest import SMALL_SWEEP
from faults.flowrun import run_flow
from faults.synthetic import (
    SEED_HEADER,
    YAHOO_HEADER,
    seed_lines,
    synthetic_prices,
    write_pair,
    write_seed_csv,
    yahoo_lines,
)

from spylib.core.config import (
    load_json_config,
    parse_gate,
    parse_resources,
    parse_split_dates,
    parse_sweep,
    validate_cost_bps,
)
from spylib.core.errors import ConfigError, DataValidationError
from spylib.research.data import ingest, load_price_file, require_history
from spylib.research.split import time_splits

# 30 business days from 2010-01-04 (a Monday): line k of a file holds the (k-1)-th day (header = line 1).
BASE = synthetic_prices(30)
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


def csv_text(lines: list[str], header: str = SEED_HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


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


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert data_error(lambda: load_price_file(path, "SPY")) == f"{path}: the file is empty"


def test_header_only(tmp_path: Path) -> None:
    path = write(tmp_path, SEED_HEADER + "\n")
    assert (
        data_error(lambda: load_price_file(path, "SPY")) == f"{path}: the file has a header but no data rows"
    )


def test_wrong_delimiter(tmp_path: Path) -> None:
    path = write(
        tmp_path, csv_text([line.replace(",", ";") for line in LINES], SEED_HEADER.replace(",", ";"))
    )
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 1: the header is one column 'date;open;high;low;close;volume': "
        "the file is not comma-separated"
    )


def test_non_utf8_bytes(tmp_path: Path) -> None:
    lines = with_field(5, 5, "12\xff34")  # one Latin-1 byte in the volume of line 5
    raw = csv_text(lines).encode("latin-1")
    path = write(tmp_path, raw)
    offset = raw.index(b"\xff")
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 5, column 'volume': not UTF-8 text: byte 0xff at offset {offset} cannot be decoded"
    )


def test_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text([line.rsplit(",", 1)[0] for line in LINES], "date,open,high,low,close"))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 1, column 'volume': missing column for the seed layout "
        "(header has: date, open, high, low, close)"
    )


def test_duplicate_column_names(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(LINES, "date,open,high,low,close,close"))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 1, column 'close': duplicate column name in the header"
    )


def test_row_with_extra_fields(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(with_field(11, 5, "1,2")))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 11: 7 fields where the header has 6 (extra values)"
    )


def test_row_with_missing_fields(tmp_path: Path) -> None:
    lines = list(LINES)
    lines[9] = lines[9].rsplit(",", 2)[0]  # line 11 loses close and volume
    path = write(tmp_path, csv_text(lines))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 11, column 'close': 4 fields where the header has 6 (missing values)"
    )


def test_unparsable_date(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(with_field(6, 0, "2010-01-11")))  # ISO date in an M/D/YYYY file
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 6, column 'date': unparsable date '2010-01-11' (expected %m/%d/%Y)"
    )


def test_date_in_the_future(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(LINES))
    today = date(2010, 1, 20)  # line 15 holds 2010-01-21
    assert data_error(lambda: load_price_file(path, "SPY", today=today)) == (
        f"{path}, line 15, date 2010-01-21, column 'date': date is in the future (today is 2010-01-20)"
    )


def test_duplicate_date(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(with_field(7, 0, LINES[4].split(",")[0])))  # line 7 repeats line 6's date
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 7, date {day(6)}, column 'date': duplicate date (first seen on line 6)"
    )


def test_price_zero(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(with_field(8, 4, "0")))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 8, date {day(8)}, column 'close': price must be positive, got 0.0"
    )


def test_price_negative(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(with_field(8, 3, "-1.5")))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 8, date {day(8)}, column 'low': price must be positive, got -1.5"
    )


def test_high_below_low(tmp_path: Path) -> None:
    low = BASE["low"].iloc[7]
    path = write(tmp_path, csv_text(with_field(9, 2, "50")))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 9, date {day(9)}, column 'high': high 50.0 is below low {low}"
    )


def test_close_outside_the_day_range(tmp_path: Path) -> None:
    low, high = BASE["low"].iloc[7], BASE["high"].iloc[7]
    path = write(tmp_path, csv_text(with_field(9, 4, str(round(high * 1.1, 4)))))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 9, date {day(9)}, column 'close': close {round(high * 1.1, 4)} is outside "
        f"[low, high] = [{low}, {high}]"
    )


def test_volume_negative(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(with_field(10, 5, "-100")))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 10, date {day(10)}, column 'volume': volume must be >= 0, got -100.0"
    )


def test_volume_not_numeric(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(with_field(10, 5, "12k")))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 10, date {day(10)}, column 'volume': not a number: '12k'"
    )


def test_nan_in_a_price(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(with_field(11, 4, "NaN")))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 11, date {day(11)}, column 'close': missing value (NaN or empty)"
    )


def test_empty_price_cell(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(with_field(11, 1, "")))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 11, date {day(11)}, column 'open': missing value (NaN or empty)"
    )


def test_gap_of_many_weeks(tmp_path: Path) -> None:
    shifted = BASE.copy()
    shifted.loc[10:, "date"] = shifted.loc[10:, "date"] + pd.Timedelta(weeks=8)
    path = write(tmp_path, csv_text(seed_lines(shifted)))
    # line 12 is the first row after the hole; line 11 (2010-01-15) the last before it
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 12, date 2010-03-15, column 'date': a gap of 59 calendar days since 2010-01-15 "
        "(more than 14): missing data"
    )


def test_yahoo_layout_null_adjusted_close(tmp_path: Path) -> None:
    lines = with_field(5, 5, "null", yahoo_lines(BASE))
    path = write(tmp_path, csv_text(lines, YAHOO_HEADER))
    assert data_error(lambda: load_price_file(path, "SPY")) == (
        f"{path}, line 5, date {day(5)}, column 'adj_close': missing value (NaN or empty)"
    )


def test_parquet_negative_close(tmp_path: Path) -> None:
    frame = BASE.copy()
    frame.loc[11, "close"] = -3.0
    path = tmp_path / "spy.parquet"
    frame.to_parquet(path, index=False)
    # Parquet has no header line: rows are numbered from 1, so row index 11 is "line 12".
    assert data_error(lambda: load_price_file(str(path), "SPY")) == (
        f"{path}, line 12, date {BASE['date'].iloc[11]:%Y-%m-%d}, column 'close': "
        "price must be positive, got -3.0"
    )


def test_file_not_found(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.csv")
    assert data_error(lambda: load_price_file(path, "SPY")) == f"{path}: file not found"


def test_no_common_dates(tmp_path: Path) -> None:
    write_seed_csv(tmp_path / "spy.csv", synthetic_prices(30))
    write_seed_csv(tmp_path / "qqq.csv", synthetic_prices(30, start="2015-01-05"))
    template = str(tmp_path / "{symbol_lower}.csv")
    assert data_error(lambda: ingest(template, "SPY", "QQQ")) == (
        f"{tmp_path / 'spy.csv'}, column 'date': no common dates with {tmp_path / 'qqq.csv'} "
        "(2010-01-04..2010-02-12 vs 2015-01-05..2015-02-13)"
    )


def test_history_too_short(tmp_path: Path) -> None:
    template = write_pair(tmp_path, 300)
    market = ingest(template, "SPY", "QQQ")
    span = (market.prices["date"].min(), market.prices["date"].max())
    what = "100 warm-up rows, four segments and three gaps of 60 rows"
    source = market.symbol.source
    assert data_error(lambda: require_history(len(market.prices) // 2, 520, source, what, span=span)) == (
        f"{source}, date 2010-01-04..2011-02-25, column 'date': history too short: 300 common trading days, "
        f"{what} need at least 520"
    )


# --- parameters and config files -----------------------------------------------------------------


def test_split_boundary_outside_the_data() -> None:
    dates = list(pd.bdate_range("2010-01-04", periods=1000).date)
    boundaries = parse_split_dates("2011-01-03,2012-01-02,2030-01-01")
    assert config_error(lambda: time_splits(dates, boundaries)) == (
        "--split-dates, key 'production_start': 2030-01-01 is outside the usable data "
        "(2010-01-04 .. 2013-11-01)"
    )


def test_split_date_not_a_date() -> None:
    assert config_error(lambda: parse_split_dates("2012-01-01,2013-13-01,2014-01-01")) == (
        "--split-dates, key 'test_start': '2013-13-01' is not a YYYY-MM-DD date"
    )


def test_empty_grid() -> None:
    assert config_error(lambda: parse_sweep({"models": {}}, source="sweep.json")) == (
        "sweep.json, key 'models': the model grid is empty: give at least one configuration"
    )


def test_empty_hyperparameter_list() -> None:
    assert config_error(lambda: parse_sweep({"models": {"logistic": {"C": []}}}, source="sweep.json")) == (
        "sweep.json, key 'models.logistic.C': expected a non-empty list of values"
    )


@pytest.mark.parametrize(("value", "shown"), [(1.2, "1.2"), (0, "0"), (1, "1"), ("0.5", "'0.5'")])
def test_threshold_outside_the_unit_interval(value: object, shown: str) -> None:
    raw = {"models": {"logistic": {"C": [1.0]}}, "thresholds": [0.5, value]}
    assert config_error(lambda: parse_sweep(raw, source="sweep.json")) == (
        f"sweep.json, key 'thresholds[1]': threshold {shown} is outside (0, 1)"
    )


def test_cost_below_zero() -> None:
    assert config_error(lambda: validate_cost_bps(-1.0)) == (
        "--cost-bps: cost must be >= 0 basis points per side, got -1.0"
    )


def test_config_file_with_an_unknown_key(tmp_path: Path) -> None:
    raw = json.loads(SMALL_SWEEP.read_text())
    raw["treshold"] = [0.5]
    path = write(tmp_path, json.dumps(raw), "sweep.json")
    assert config_error(lambda: parse_sweep(load_json_config(path), source=path)) == (
        f"{path}, key 'treshold': unknown key (allowed: cv, filters, models, selection, thresholds)"
    )


def test_config_file_with_an_unknown_nested_key(tmp_path: Path) -> None:
    raw = json.loads(SMALL_SWEEP.read_text())
    raw["cv"]["n_fold"] = 3
    path = write(tmp_path, json.dumps(raw), "sweep.json")
    assert config_error(lambda: parse_sweep(load_json_config(path), source=path)) == (
        f"{path}, key 'cv.n_fold': unknown key (allowed: embargo_days, min_train_days, n_folds, scheme)"
    )


def test_config_file_with_invalid_json(tmp_path: Path) -> None:
    path = write(tmp_path, '{"models": {"logistic": {"C": [1]}},\n "cv": {"n_folds": 3,}}', "sweep.json")
    assert config_error(lambda: load_json_config(path)) == (
        f"{path}: invalid JSON at line 2 column 22: Expecting property name enclosed in double quotes"
    )


def test_config_value_of_the_wrong_type() -> None:
    raw = {"models": {"logistic": {"C": [1.0]}}, "selection": {"min_trades": "20"}}
    assert config_error(lambda: parse_sweep(raw, source="sweep.json")) == (
        "sweep.json, key 'selection.min_trades': must be a non-negative integer, got '20'"
    )


def test_gate_config_unknown_key_and_wrong_type() -> None:
    assert config_error(lambda: parse_gate({"min_dsr": 0.9, "max_pbo2": 0.5}, source="gate.json")) == (
        "gate.json, key 'max_pbo2': unknown key (allowed: max_pbo, min_auc_lower, min_dsr, min_trades, "
        "require_beat_buy_and_hold)"
    )
    assert config_error(lambda: parse_gate({"min_dsr": "high"}, source="gate.json")) == (
        "gate.json, key 'min_dsr': must be a number, got 'high'"
    )


def test_resources_config_wrong_value() -> None:
    assert config_error(lambda: parse_resources({"train": {"cpu": 0}}, source="resources.json")) == (
        "resources.json, key 'train.cpu': must be a positive integer, got 0"
    )


# --- what a user of the flow sees ----------------------------------------------------------------

# Artifacts Metaflow itself stores for every task, failed or not.
METAFLOW_INTERNAL = {"name"}


@pytest.mark.flow
def test_flow_on_a_bad_file_stops_in_ingest_and_writes_nothing(tmp_path: Path) -> None:
    source = write_pair(tmp_path / "data", 700)
    spy = tmp_path / "data" / "spy_daily.csv"
    lines = spy.read_text().splitlines()
    parts = lines[299].split(",")  # line 300 of the file
    parts[5] = "-100"
    lines[299] = ",".join(parts)
    spy.write_text("\n".join(lines) + "\n")
    when = f"{pd.Timestamp(parts[0]):%Y-%m-%d}"
    expected = f"{spy}, line 300, date {when}, column 'volume': volume must be >= 0, got -100.0"

    result = run_flow(tmp_path, source=source)
    assert result.status == "failed"
    run = result.run
    assert sorted(step.id for step in run) == ["ingest", "start"]  # no later step ran
    task = run["ingest"].task
    assert not task.successful
    assert f"spylib.core.errors.DataValidationError: {expected}\n" in task.stderr
    assert expected in result.stdout  # the user's terminal shows it too (task logs go to stdout)
    # The failed task stored nothing of its own: only what start passed on, and Metaflow's bookkeeping.
    inherited = {a.id for a in run["start"].task}
    own = {a.id for a in task} - inherited - METAFLOW_INTERNAL
    assert not {name for name in own if not name.startswith("_")}, own
    assert not (tmp_path / "lake").exists()
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "registry").exists()


@pytest.mark.flow
def test_flow_with_an_unknown_config_key_stops_in_start_naming_the_key(tmp_path: Path) -> None:
    raw = json.loads(SMALL_SWEEP.read_text())
    raw["treshold"] = [0.5]
    bad = tmp_path / "bad_sweep.json"
    bad.write_text(json.dumps(raw))
    expected = (
        "config 'sweep', key 'treshold': unknown key (allowed: cv, filters, models, selection, thresholds)"
    )

    result = run_flow(tmp_path, sweep=bad)
    assert result.status == "failed"
    run = result.run
    assert [step.id for step in run] == ["start"]
    assert f"spylib.core.errors.ConfigError: {expected}\n" in run["start"].task.stderr
    assert expected in result.stdout
    assert "settings" not in run["start"].task
    assert not any((tmp_path / name).exists() for name in ("lake", "out", "registry"))
