"""Glue/Athena catalog generation and DuckDB SQL over the lake (local, and S3 on a moto server)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from moto_server import aws_env, running_moto_server
from test_lake import make_frame

from spylib.core.errors import ConfigError, SpyFlowError
from spylib.storage.catalog import (
    PARQUET_SERDE,
    athena_ddl,
    glue_table_input,
    hive_type,
    register_glue_tables,
)
from spylib.storage.lake import LAKE_TABLES, read_table, write_table
from spylib.storage.sql import all_ddl, main, query

HIVE = {"double": "double", "int8": "tinyint", "string": "string", "date32[day]": "date", "int64": "bigint"}


def expected_columns(table: str) -> list[tuple[str, str]]:
    """(name, Hive type) of the file columns, from spylib.core.schema directly (not via the catalog)."""
    fields = [f for f in LAKE_TABLES[table].data_schema if f.name != "symbol"]
    return [(f.name, HIVE[str(f.type)]) for f in fields] + [("run_id", "string")]


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
    assert ddl.startswith(f"CREATE EXTERNAL TABLE IF NOT EXISTS `spy_flow`.`{table}` (")
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
    assert ti["Name"] == table and ti["TableType"] == "EXTERNAL_TABLE"
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
    counts = query("SELECT run_id, count(*) AS n FROM prices GROUP BY run_id ORDER BY run_id", root)
    assert counts.to_dict("list") == {"run_id": ["1", "2"], "n": [12, 12]}
    got = query(
        "SELECT avg(close) AS m, count(*) AS n FROM prices "
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
    assert names == [*LAKE_TABLES["features"].data_schema.names, "run_id", "year"]
    types = dict(zip(desc["column_name"], desc["column_type"], strict=True))
    assert (types["date"], types["target_up"], types["symbol"], types["year"]) == (
        "DATE",
        "TINYINT",
        "VARCHAR",
        "INTEGER",
    )
    joined = query(
        "SELECT count(*) AS n FROM prices p JOIN features f USING (date, symbol) WHERE p.run_id = '1'", root
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


def test_cli_prints_the_result_and_the_ddl(
    local_lake: tuple[str, dict[str, pd.DataFrame]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = local_lake
    assert main(["SELECT symbol, count(*) AS n FROM prices GROUP BY 1 ORDER BY 1", "--lake", root]) == 0
    out = capsys.readouterr().out.split("\n")
    assert out[0].split() == ["symbol", "n"] and out[1].split() == ["QQQ", "12"]
    assert main(["--ddl", "--location", "s3://b/lake"]) == 0
    ddl = capsys.readouterr().out
    assert ddl == all_ddl("spy_flow", "s3://b/lake")
    assert ddl.count("CREATE EXTERNAL TABLE") == 3 and "LOCATION 's3://b/lake/predictions/'" in ddl
    assert main(["SELECT * FROM nope", "--lake", root]) == 1
    assert "nope" in capsys.readouterr().err


# --- against a moto server over HTTP ----------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with running_moto_server() as server:
        yield server.endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Environment pointing boto3 at the moto server, a fresh bucket, and clients."""
    for var in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_GLUE", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    for var, value in aws_env(moto_endpoint).items():
        monkeypatch.setenv(var, value)
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket=bucket)
    return {"bucket": bucket, "s3": s3, "glue": boto3.client("glue", endpoint_url=moto_endpoint)}


@pytest.mark.emulator
def test_s3_lake_write_read_and_glue_registration(aws: dict[str, Any]) -> None:
    root = f"s3://{aws['bucket']}/lake"
    frames = {t: make_frame(t, seed=i) for i, t in enumerate(sorted(LAKE_TABLES))}
    for t, f in frames.items():
        write_table(f, t, root, "1")  # clients from the environment (AWS_ENDPOINT_URL)
    write_table(frames["prices"], "prices", root, "1")  # idempotent on S3 too
    keys = sorted(o["Key"] for o in aws["s3"].list_objects_v2(Bucket=aws["bucket"])["Contents"])
    assert len(keys) == 12 and "lake/prices/symbol=SPY/year=2020/run_id=1.parquet" in keys
    back = read_table("prices", root)
    assert len(back) == 12 and (back["run_id"] == "1").all()

    report = register_glue_tables(root, "spy_flow", glue_client=aws["glue"])
    assert report["database_created"] is True
    assert {t: r["partitions_added"] for t, r in report["tables"].items()} == dict.fromkeys(LAKE_TABLES, 4)

    glue = aws["glue"]
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="spy_flow")["TableList"]}
    assert sorted(tables) == sorted(LAKE_TABLES)
    for name, t in tables.items():
        sd = t["StorageDescriptor"]
        assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == expected_columns(name)
        assert [(k["Name"], k["Type"]) for k in t["PartitionKeys"]] == [("symbol", "string"), ("year", "int")]
        assert sd["Location"] == f"{root}/{name}/"
        assert sd["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
        parts = glue.get_partitions(DatabaseName="spy_flow", TableName=name)["Partitions"]
        assert sorted(tuple(p["Values"]) for p in parts) == [
            ("QQQ", "2019"),
            ("QQQ", "2020"),
            ("SPY", "2019"),
            ("SPY", "2020"),
        ]
        spy20 = next(p for p in parts if p["Values"] == ["SPY", "2020"])
        assert spy20["StorageDescriptor"]["Location"] == f"{root}/{name}/symbol=SPY/year=2020/"

    # Registering again adds nothing; a new partition is picked up.
    again = register_glue_tables(root, "spy_flow", glue_client=glue)
    assert again["database_created"] is False
    assert {r["action"] for r in again["tables"].values()} == {"updated"}
    assert sum(r["partitions_added"] for r in again["tables"].values()) == 0
    write_table(make_frame("prices", symbols=("IWM",), start="2021-03-01", days=2), "prices", root, "2")
    third = register_glue_tables(root, "spy_flow", glue_client=glue, tables=("prices",))
    assert third["tables"]["prices"] == {"action": "updated", "partitions_added": 1, "partitions": 5}
    assert len(glue.get_partitions(DatabaseName="spy_flow", TableName="prices")["Partitions"]) == 5


@pytest.mark.emulator
def test_duckdb_over_the_s3_lake_by_sync(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # Only Metaflow's variable set: the lake follows Metaflow's S3 endpoint.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert os.environ["METAFLOW_S3_ENDPOINT_URL"] == aws["s3"].meta.endpoint_url
    root = f"s3://{aws['bucket']}/lake"
    prices = make_frame("prices")
    write_table(prices, "prices", root, "9")
    got = query(
        "SELECT symbol, count(*) AS n, sum(volume) AS v FROM prices GROUP BY symbol ORDER BY symbol",
        root,
        s3_mode="sync",
    )
    assert got["n"].tolist() == [6, 6]
    want = prices.groupby("symbol")["volume"].sum().sort_index()
    assert got["v"].tolist() == pytest.approx(want.tolist())
    # "auto" falls back to the same path when DuckDB cannot load httpfs (the case with duckdb 2.x here).
    auto = query("SELECT count(*) AS n FROM prices", root)
    assert auto["n"].item() == 12


@pytest.mark.emulator
def test_httpfs_mode_says_why_it_cannot_run(aws: dict[str, Any]) -> None:
    import duckdb

    from spylib.storage.sql import load_httpfs

    con = duckdb.connect()
    available = load_httpfs(con)
    con.close()
    root = f"s3://{aws['bucket']}/lake"
    write_table(make_frame("prices"), "prices", root, "1")
    if available:
        assert query("SELECT count(*) AS n FROM prices", root, s3_mode="httpfs")["n"].item() == 12
    else:
        with pytest.raises(ConfigError, match="httpfs"):
            query("SELECT 1", root, s3_mode="httpfs")
