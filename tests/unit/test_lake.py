"""The Parquet lake: validation before writing, layout, idempotent runs, merge mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spylib.core.errors import ConfigError, DataValidationError
from spylib.storage.lake import list_partitions, read_table, write_table
from spylib.storage.tables import LAKE_TABLES, MERGE_WRITE, WritePolicy, validate_frame
from tests.helpers.lake_frames import make_frame


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("table", sorted(LAKE_TABLES))
def test_valid_frame_casts_to_the_schema(table: str) -> None:
    frame = make_frame(table)
    result = validate_frame(frame.iloc[:, ::-1], table)  # column order does not matter
    assert result.schema.equals(LAKE_TABLES[table].data_schema)
    assert result.num_rows == len(frame)


def test_missing_column_names_table_and_column_and_writes_nothing(tmp_path: Path) -> None:
    frame = make_frame("prices").drop(columns=["adj_close"])
    with pytest.raises(DataValidationError, match=r"lake table 'prices'.*column 'adj_close'.*missing") as e:
        write_table(frame, "prices", str(tmp_path), "1")
    assert e.value.column == "adj_close"
    assert files_under(tmp_path) == []


def test_extra_column_is_refused() -> None:
    frame = make_frame("prices").assign(junk=1.0)
    with pytest.raises(DataValidationError, match=r"column 'junk'.*unexpected"):
        validate_frame(frame, "prices")


def test_wrong_type_names_the_column(tmp_path: Path) -> None:
    frame = make_frame("features")
    frame["rsi_14"] = "high"
    with pytest.raises(DataValidationError, match=r"lake table 'features'.*column 'rsi_14'.*expected double"):
        write_table(frame, "features", str(tmp_path), "1")
    assert files_under(tmp_path) == []


def test_null_in_non_nullable_column_names_row_and_date(tmp_path: Path) -> None:
    frame = make_frame("prices")
    frame.loc[3, "close"] = np.nan
    with pytest.raises(DataValidationError) as e:
        write_table(frame, "prices", str(tmp_path), "1")
    err = e.value
    assert (err.source, err.column, err.row, err.date) == ("lake table 'prices'", "close", 3, "2020-01-01")
    assert "null" in str(err)
    assert "date 2020-01-01" in str(err)
    assert files_under(tmp_path) == []


def test_nullable_outcomes_accept_nan_and_int_like_floats() -> None:
    frame = make_frame("predictions")
    frame["target_up"] = frame["target_up"].astype(float)
    frame.loc[frame.index[-1], ["target_up", "fwd_return"]] = np.nan
    result = validate_frame(frame, "predictions")
    assert result["target_up"].type == pa.int8()
    assert result["target_up"].null_count == 1
    assert result["fwd_return"].null_count == 1


def test_fractional_value_in_int_column_names_the_row() -> None:
    frame = make_frame("predictions")
    frame["signal"] = frame["signal"].astype(float)
    frame.loc[4, "signal"] = 0.5
    with pytest.raises(DataValidationError, match=r"line 4.*column 'signal'.*0.5") as e:
        validate_frame(frame, "predictions")
    assert e.value.row == 4


def test_timestamp_with_time_of_day_is_not_a_date() -> None:
    frame = make_frame("prices")
    frame["date"] = frame["date"] + pd.Timedelta(hours=16)
    with pytest.raises(DataValidationError, match=r"column 'date'.*time of day"):
        validate_frame(frame, "prices")


def test_duplicate_key_is_refused() -> None:
    frame = make_frame("prices")
    frame = pd.concat([frame, frame.iloc[[3]]], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"duplicate key.*date=2020-01-01.*symbol=SPY"):
        validate_frame(frame, "prices")


def test_unknown_table_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown lake table 'nope'"):
        validate_frame(make_frame("prices"), "nope")


def test_bad_run_id_or_symbol_cannot_become_a_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run_id"):
        write_table(make_frame("prices"), "prices", str(tmp_path), "../x")
    with pytest.raises(ConfigError, match="symbol"):
        write_table(make_frame("prices", symbols=("A/B",)), "prices", str(tmp_path), "1")
    assert files_under(tmp_path) == []


# --- write / read -----------------------------------------------------------------------------


def test_layout_and_file_schema(tmp_path: Path) -> None:
    uris = write_table(make_frame("prices"), "prices", str(tmp_path), "17")
    expected = [f"prices/symbol={s}/year={y}/run_id=17.parquet" for s in ("QQQ", "SPY") for y in (2019, 2020)]
    assert files_under(tmp_path) == [*expected, "published_runs/run_id=17.parquet"]
    assert uris == [str(tmp_path / p) for p in expected]
    schema = pq.read_schema(tmp_path / expected[0])
    assert "symbol" not in schema.names
    assert "year" not in schema.names
    assert schema.names[-2:] == ["run_id", "source_fingerprint"]
    assert schema.field("date").type == pa.date32()
    assert list_partitions("prices", str(tmp_path)) == [
        ("QQQ", 2019),
        ("QQQ", 2020),
        ("SPY", 2019),
        ("SPY", 2020),
    ]


@pytest.mark.parametrize("table", sorted(LAKE_TABLES))
def test_round_trip(tmp_path: Path, table: str) -> None:
    frame = make_frame(table)
    write_table(frame, table, str(tmp_path), "5")
    back = read_table(table, str(tmp_path))
    assert list(back.columns) == [*LAKE_TABLES[table].data_schema.names, "run_id", "source_fingerprint"]
    assert (back["run_id"] == "5").all()
    want = frame.sort_values(["date", "symbol"]).reset_index(drop=True)
    got = back.drop(columns=["run_id", "source_fingerprint"])
    pd.testing.assert_series_equal(got["date"], want["date"].astype("datetime64[ns]"), check_names=False)
    for col in want.columns.drop("date"):
        np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(), err_msg=col)


def test_rewriting_the_same_run_is_idempotent(tmp_path: Path) -> None:
    frame = make_frame("prices")
    first = write_table(frame, "prices", str(tmp_path), "1")
    second = write_table(frame, "prices", str(tmp_path), "1")
    assert first == second
    assert len(read_table("prices", str(tmp_path))) == len(frame)
    assert not [p for p in tmp_path.rglob(".*")]  # no temp files left behind


def test_two_runs_are_both_present_and_filterable(tmp_path: Path) -> None:
    frame = make_frame("prices")
    write_table(frame, "prices", str(tmp_path), "1")
    write_table(frame.assign(close=frame["close"] + 1), "prices", str(tmp_path), "2")
    back = read_table("prices", str(tmp_path), runs="all")
    assert len(back) == 2 * len(frame)
    assert back.groupby("run_id").size().to_dict() == {"1": len(frame), "2": len(frame)}
    latest = read_table("prices", str(tmp_path))  # one source (none given): its latest run only
    assert set(latest["run_id"]) == {"2"}
    assert len(latest) == len(frame)
    only = read_table("prices", str(tmp_path), [("run_id", "=", "2"), ("symbol", "=", "SPY")], runs="all")
    assert len(only) == 6
    assert set(only["symbol"]) == {"SPY"}
    later = read_table("prices", str(tmp_path), filters=[("year", ">=", 2020), ("date", "<", "2020-01-03")])
    assert sorted(later["date"].dt.strftime("%Y-%m-%d").unique()) == ["2020-01-01", "2020-01-02"]


def test_empty_lake_reads_an_empty_frame_with_columns(tmp_path: Path) -> None:
    back = read_table("predictions", str(tmp_path / "missing"))
    assert back.empty
    assert list(back.columns) == [
        *LAKE_TABLES["predictions"].data_schema.names,
        "run_id",
        "source_fingerprint",
    ]


# --- merge mode -------------------------------------------------------------------------------


def test_merge_fills_a_null_outcome_and_does_not_duplicate(tmp_path: Path) -> None:
    root = str(tmp_path)
    day1 = make_frame("predictions", symbols=("SPY",), start="2024-01-02", days=3)
    day1.loc[2, ["target_up", "fwd_return"]] = np.nan  # the latest day has no outcome yet
    write_table(day1, "predictions", root, "100", policy=MERGE_WRITE)

    # The next day's run: yesterday's row with its realized outcome, and a new row without one.
    day2 = make_frame("predictions", symbols=("SPY",), start="2024-01-04", days=2, seed=1)
    day2.loc[0, ["target_up", "fwd_return"]] = [1, 0.004]
    day2.loc[1, ["target_up", "fwd_return"]] = np.nan
    day2.loc[0, ["probability", "signal", "segment", "model_version"]] = day1.loc[
        2, ["probability", "signal", "segment", "model_version"]
    ].to_numpy()
    uris = write_table(day2, "predictions", root, "101", policy=MERGE_WRITE)

    back = read_table("predictions", root)
    assert len(back) == 4
    assert not back.duplicated(["date", "symbol"]).any()
    assert uris == [str(tmp_path / "predictions/symbol=SPY/year=2024/run_id=101.parquet")]
    assert [f for f in files_under(tmp_path) if f.startswith("predictions/")] == [
        "predictions/symbol=SPY/year=2024/run_id=101.parquet"
    ]
    filled = back.set_index(back["date"].dt.strftime("%Y-%m-%d"))
    assert filled.loc["2024-01-04", "target_up"] == 1
    assert filled.loc["2024-01-04", "fwd_return"] == pytest.approx(0.004)
    assert filled.loc["2024-01-04", "run_id"] == "101"
    assert filled.loc["2024-01-02", "run_id"] == "100"  # untouched rows keep the run that wrote them
    assert pd.isna(filled.loc["2024-01-05", "target_up"])

    # A later write with a null outcome for a known day does not erase the outcome.
    again = day2.iloc[[0]].copy()
    again[["target_up", "fwd_return"]] = np.nan
    write_table(again, "predictions", root, "102", policy=MERGE_WRITE)
    back = read_table("predictions", root)
    assert len(back) == 4
    assert back.loc[back["date"] == "2024-01-04", "target_up"].item() == 1


def test_merge_rerun_of_the_same_run_is_idempotent(tmp_path: Path) -> None:
    frame = make_frame("predictions", symbols=("SPY",), start="2024-03-01", days=4)
    write_table(frame, "predictions", str(tmp_path), "7", policy=MERGE_WRITE)
    write_table(frame, "predictions", str(tmp_path), "7", policy=MERGE_WRITE)
    assert len(read_table("predictions", str(tmp_path))) == 4


def test_merge_key_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="merge key"):
        write_table(
            make_frame("prices"),
            "prices",
            str(tmp_path),
            "1",
            policy=WritePolicy(mode="merge", merge_on=("nope",)),
        )
