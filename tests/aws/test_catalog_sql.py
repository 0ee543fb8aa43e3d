"""The S3 lake, Glue registration and DuckDB over S3, against a real moto server over HTTP (the DDL,
the Glue table input and DuckDB over a local lake are ``tests/unit/test_catalog_sql.py``)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import boto3
import pytest

from spylib.core.errors import ConfigError
from spylib.storage.catalog import PARQUET_SERDE, register_glue_tables
from spylib.storage.lake import LAKE_TABLES, read_table, write_table
from spylib.storage.sql import query
from tests.helpers.lake_frames import expected_columns, make_frame
from tests.helpers.moto_server import MotoServer


@pytest.fixture
def aws(moto_server: MotoServer, moto_env: dict[str, str]) -> dict[str, Any]:
    """A fresh bucket on the module's moto server (boto3 points at it: ``moto_env``), and clients."""
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_server.endpoint)
    s3.create_bucket(Bucket=bucket)
    return {"bucket": bucket, "s3": s3, "glue": boto3.client("glue", endpoint_url=moto_server.endpoint)}


def test_s3_lake_write_read_and_glue_registration(aws: dict[str, Any]) -> None:
    root = f"s3://{aws['bucket']}/lake"
    frames = {t: make_frame(t, seed=i) for i, t in enumerate(sorted(LAKE_TABLES))}
    for t, f in frames.items():
        write_table(f, t, root, "1")  # clients from the environment (AWS_ENDPOINT_URL)
    write_table(frames["prices"], "prices", root, "1")  # idempotent on S3 too
    keys = sorted(o["Key"] for o in aws["s3"].list_objects_v2(Bucket=aws["bucket"])["Contents"])
    assert len(keys) == 12
    assert "lake/prices/symbol=SPY/year=2020/run_id=1.parquet" in keys
    back = read_table("prices", root)
    assert len(back) == 12
    assert (back["run_id"] == "1").all()

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
