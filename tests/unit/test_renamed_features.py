"""The relative-strength feature's benchmark-neutral name, ``rel_strength_benchmark`` (it was
``rel_strength_qqq`` whatever ``--benchmark`` said), and its old name where readers name features: the
lake's views (DuckDB and Athena), lake files written before the rename, user feature names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from spylib.core.errors import ConfigError
from spylib.core.schema import (
    FEATURE_TABLE_COLUMNS,
    MODEL_FEATURE_COLUMNS,
    RENAMED_FEATURE_COLUMNS,
    SEED_MODEL_COLUMNS,
)
from spylib.features.table import build_features, load_extra_features
from spylib.storage.catalog import all_tables_ddl, latest_view_sql, view_columns, view_table_input
from spylib.storage.lake import write_table
from spylib.storage.sql import query
from tests.helpers.lake_frames import make_frame
from tests.helpers.synthetic import synthetic_prices

OLD, NEW = "rel_strength_qqq", "rel_strength_benchmark"


def test_the_feature_is_the_close_over_the_benchmarks_whatever_the_benchmark() -> None:
    assert RENAMED_FEATURE_COLUMNS == {OLD: NEW}
    assert NEW in FEATURE_TABLE_COLUMNS
    assert NEW in SEED_MODEL_COLUMNS  # the seed recipe's baseline reads the table's column
    assert OLD not in FEATURE_TABLE_COLUMNS
    # not a model input: a default run's model, trials, track and predictions do not see the name
    assert NEW not in MODEL_FEATURE_COLUMNS
    prices = synthetic_prices(300, seed=3, symbols=("SPY", "IWM"))
    features = build_features(prices, "SPY", "IWM")
    closes = prices.pivot(index="date", columns="symbol", values="close").loc[features["date"]]
    np.testing.assert_allclose(
        features[NEW].to_numpy(), (closes["SPY"] / closes["IWM"]).to_numpy(), rtol=1e-12
    )


def test_a_user_feature_may_not_take_the_old_name() -> None:
    with pytest.raises(ConfigError, match="built-in column"):
        load_extra_features([f"tests.helpers.user_features:{OLD}"])


def test_the_lake_views_answer_to_the_old_name(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    frame = make_frame("features")
    write_table(frame, "features", root, "1")
    got = query(f"SELECT date, symbol, {OLD}, {NEW} FROM features ORDER BY symbol, date", root)
    want = frame.sort_values(["symbol", "date"]).reset_index(drop=True)
    np.testing.assert_array_equal(got[OLD].to_numpy(), want[NEW].to_numpy())
    np.testing.assert_array_equal(got[NEW].to_numpy(), want[NEW].to_numpy())


def rename_in_files(files: list[str], old: str, new: str) -> None:
    """Rewrite lake files as they were before the rename (``new`` stored as ``old``)."""
    for path in files:
        table = pq.read_table(path)
        pq.write_table(table.rename_columns([old if c == new else c for c in table.column_names]), path)


def test_lake_files_written_before_the_rename_are_read_under_both_names(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    before, after = make_frame("features", seed=1), make_frame("features", seed=2, start="2020-03-02")
    rename_in_files(write_table(before, "features", root, "old"), old=OLD, new=NEW)
    # only old files: the view still has the current column
    only_old = query(f"SELECT {NEW}, {OLD} FROM features ORDER BY symbol, date", root)
    want = before.sort_values(["symbol", "date"])[NEW].to_numpy()
    np.testing.assert_array_equal(only_old[NEW].to_numpy(), want)
    np.testing.assert_array_equal(only_old[OLD].to_numpy(), want)
    # old and new files together: each row has its value under the new name (no nulls)
    write_table(after, "features", root, "new")
    both = query(f"SELECT run_id, {NEW} FROM features_runs ORDER BY run_id, symbol, date", root)
    expected = pd.concat([after.sort_values(["symbol", "date"]), before.sort_values(["symbol", "date"])])
    np.testing.assert_array_equal(both[NEW].to_numpy(), expected[NEW].to_numpy())


def test_the_athena_view_has_the_old_name_last() -> None:
    columns = view_columns("features")
    assert columns[-1] == {"Name": OLD, "Type": "double"}
    sql = latest_view_sql("features", [c["Name"] for c in columns])
    assert f'"{NEW}" AS "{OLD}"' in sql
    glue_view = view_table_input("features", "db")
    assert glue_view["StorageDescriptor"]["Columns"][-1]["Name"] == OLD
    assert f'"{NEW}" AS "{OLD}"' in all_tables_ddl("db", "s3://bucket/lake")
    assert all(c["Name"] != OLD for c in view_columns("prices"))
