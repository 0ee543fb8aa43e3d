"""Glue/Athena catalog generation and DuckDB SQL over a local lake (the S3 lake and Glue on a moto server
are ``tests/aws/test_catalog_sql.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from spylib.core.errors import ConfigError, SpyFlowError
from spylib.storage.catalog import (
    PARQUET_SERDE,
    athena_ddl,
    glue_table_input,
    hive_type,
    register_glue_tables,
)
from spylib.storage.lake import write_table
from spylib.storage.sql import all_ddl, query
from spylib.storage.tables import LAKE_TABLES
from tests.helpers.lake_frames import HIVE, expected_columns, make_frame

# --- DDL and Glue input -----------------------------------------------------------------------


def test_hive_type_mapping() -> None:
    import pyarrow as pa

    got = {str(t): hive_type(t) for t in (pa.float64(), pa.int8(), pa.string(), pa.date32(), pa.int64())}
    assert got == HIVE
    with pytest.raises(ConfigError, match="no Hive type"):
        hive_type(pa.list_(pa.int8()))


@pytest.mark.parametrize("table", sorted(LAKE_TABLES))
def test_athena_ddl_has_every_column_and_the_partitions(table: str) -> None:
    ddl = athena_ddl(table, "spy_flow", "s3://bucket/lake/" + table)
    assert ddl.startswith(f"CREATE EXTERNAL TABLE IF NOT EXISTS `spy_flow`.`{table}_runs` (")
    body = ddl[ddl.index("(") + 1 : ddl.index("\n)")]
    columns = re.findall(r"`(\w+)` (\w+)", body)
    assert columns == expected_columns(table)
    assert "PARTITIONED BY (`symbol` string, `year` int)" in ddl
    assert "STORED AS PARQUET" in ddl
    assert f"LOCATION 's3://bucket/lake/{table}/'" in ddl


@pytest.mark.parametrize("table", sorted(LAKE_TABLES))
def test_glue_table_input_matches_the_schema(table: str) -> None:
    ti = glue_table_input(table, "s3://bucket/lake/" + table)
    sd = ti["StorageDescriptor"]
    assert ti["Name"] == f"{table}_runs"
    assert ti["TableType"] == "EXTERNAL_TABLE"
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == expected_columns(table)
    assert ti["PartitionKeys"] == [{"Name": "symbol", "Type": "string"}, {"Name": "year", "Type": "int"}]
    assert sd["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert sd["InputFormat"].endswith("MapredParquetInputFormat")
    assert sd["OutputFormat"].endswith("MapredParquetOutputFormat")
    assert sd["Location"] == f"s3://bucket/lake/{table}/"


def test_register_refuses_a_local_root(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an s3:// URI"):
        register_glue_tables(str(tmp_path), "db", glue_client=object())


# --- DuckDB over a local lake -----------------------------------------------------------------


@pytest.fixture
def local_lake(tmp_path: Path) -> tuple[str, dict[str, pd.DataFrame]]:
    root = str(tmp_path / "lake")
    frames = {t: make_frame(t, seed=i) for i, t in enumerate(sorted(LAKE_TABLES))}
    for t, f in frames.items():
        write_table(f, t, root, "1")
    write_table(frames["prices"], "prices", root, "2")  # a second run of prices
    return root, frames


def test_query_counts_and_filtered_aggregate(local_lake: tuple[str, dict[str, pd.DataFrame]]) -> None:
    root, frames = local_lake
    counts = query("SELECT run_id, count(*) AS n FROM prices_runs GROUP BY run_id ORDER BY run_id", root)
    assert counts.to_dict("list") == {"run_id": ["1", "2"], "n": [12, 12]}
    # the default views: the latest run that wrote each table (one source: none was given)
    latest = query("SELECT run_id, count(*) AS n FROM prices GROUP BY run_id", root)
    assert latest.to_dict("list") == {"run_id": ["2"], "n": [12]}
    assert query("SELECT DISTINCT run_id FROM features", root)["run_id"].tolist() == ["1"]
    got = query(
        "SELECT avg(close) AS m, count(*) AS n FROM prices_runs "
        "WHERE symbol = 'SPY' AND year = 2020 AND run_id = '1'",
        root,
    )
    p = frames["prices"]
    want = p[(p["symbol"] == "SPY") & (p["date"].dt.year == 2020)]["close"]
    assert got["n"].item() == len(want) == 3
    assert got["m"].item() == pytest.approx(want.mean())


def test_views_have_the_lake_columns_and_types(local_lake: tuple[str, dict[str, pd.DataFrame]]) -> None:
    root, _ = local_lake
    desc = query("DESCRIBE features", root)
    names = desc["column_name"].tolist()
    lake_columns = [*LAKE_TABLES["features"].data_schema.names, "run_id", "source_fingerprint", "year"]
    assert names == [*lake_columns, "rel_strength_qqq"]  # the deprecated old name, last
    assert query("DESCRIBE features_runs", root)["column_name"].tolist() == lake_columns
    types = dict(zip(desc["column_name"], desc["column_type"], strict=True))
    assert (types["date"], types["target_up"], types["symbol"], types["year"]) == (
        "DATE",
        "TINYINT",
        "VARCHAR",
        "INTEGER",
    )
    joined = query(
        "SELECT count(*) AS n FROM prices_runs p JOIN features f USING (date, symbol) WHERE p.run_id = '1'",
        root,
    )
    assert joined["n"].item() == 12


def test_missing_table_is_an_empty_view(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    write_table(make_frame("prices"), "prices", root, "1")
    got = query("SELECT count(*) AS n, count(probability) AS p FROM predictions", root)
    assert got["n"].item() == 0


def test_bad_sql_is_a_spyflow_error(tmp_path: Path) -> None:
    with pytest.raises(SpyFlowError, match="query over lake"):
        query("SELECT * FROM nope", str(tmp_path))


def test_the_ddl_has_the_runs_tables_published_runs_and_the_views() -> None:
    ddl = all_ddl("spy_flow", "s3://b/lake")
    assert ddl.count("CREATE EXTERNAL TABLE") == 4  # the three *_runs tables and published_runs
    assert ddl.count("CREATE OR REPLACE VIEW") == 3
    assert "LOCATION 's3://b/lake/predictions/'" in ddl
    assert "LOCATION 's3://b/lake/published_runs/'" in ddl
