"""The S3 lake, Glue registration and DuckDB over S3, against a real moto server over HTTP (the DDL,
the Glue table input and DuckDB over a local lake are ``tests/unit/test_catalog_sql.py``); a staged run
invisible on S3 and in Glue until published; the start probes and source checks on S3."""

from __future__ import annotations

import os
import uuid
from typing import Any

import boto3
import pytest

from spylib.core.errors import ConfigError, DataValidationError
from spylib.data.price_files import check_source_file
from spylib.storage.catalog import PARQUET_SERDE, register_glue_tables
from spylib.storage.lake import list_lake_files, read_table, write_table
from spylib.storage.probe import probe_writable
from spylib.storage.sql import query
from spylib.storage.staging import is_published, publish_run, stage_table
from spylib.storage.tables import LAKE_TABLES
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
    assert len(keys) == 13  # 3 tables x 4 partitions, and the run's published_runs record
    assert "lake/prices/symbol=SPY/year=2020/run_id=1.parquet" in keys
    assert "lake/published_runs/run_id=1.parquet" in keys
    back = read_table("prices", root)
    assert len(back) == 12
    assert (back["run_id"] == "1").all()

    report = register_glue_tables(root, "spy_flow", glue_client=aws["glue"])
    assert report["database_created"] is True
    assert {t: r["partitions_added"] for t, r in report["tables"].items()} == dict.fromkeys(LAKE_TABLES, 4)

    glue = aws["glue"]
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="spy_flow")["TableList"]}
    assert sorted(tables) == sorted([*LAKE_TABLES, *(f"{t}_runs" for t in LAKE_TABLES), "published_runs"])
    assert tables["published_runs"]["StorageDescriptor"]["Location"] == f"{root}/published_runs/"
    for name in LAKE_TABLES:
        view = tables[name]  # the default view: an Athena (Presto) view over {name}_runs
        assert view["TableType"] == "VIRTUAL_VIEW"
        assert view["ViewOriginalText"].startswith("/* Presto View: ")
        t = tables[f"{name}_runs"]
        sd = t["StorageDescriptor"]
        assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == expected_columns(name)
        assert [(k["Name"], k["Type"]) for k in t["PartitionKeys"]] == [("symbol", "string"), ("year", "int")]
        assert sd["Location"] == f"{root}/{name}/"
        assert sd["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
        parts = glue.get_partitions(DatabaseName="spy_flow", TableName=f"{name}_runs")["Partitions"]
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
    assert third["tables"]["prices"] == {
        "action": "updated", "partitions_added": 1, "partitions": 5, "view": "updated"
    }  # fmt: skip
    assert len(glue.get_partitions(DatabaseName="spy_flow", TableName="prices_runs")["Partitions"]) == 5


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


# --- staged runs, the start probes and source checks, on S3 ---------------------------------------


def object_keys(aws: dict[str, Any], prefix: str = "") -> list[str]:
    listing = aws["s3"].list_objects_v2(Bucket=aws["bucket"], Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_a_staged_run_is_invisible_on_s3_and_in_glue_until_published(aws: dict[str, Any]) -> None:
    root = f"s3://{aws['bucket']}/lake"
    glue = aws["glue"]
    write_table(make_frame("prices"), "prices", root, "1")  # an earlier run, published
    new_symbol = make_frame("prices", symbols=("IWM",), start="2021-03-01", days=2)
    uris = stage_table(new_symbol, "prices", root, "2")
    assert uris == [f"{root}/prices/symbol=IWM/year=2021/run_id=2.parquet"]
    assert object_keys(aws, "lake/_staging/") == [
        "lake/_staging/run_id=2/prices/symbol=IWM/year=2021/run_id=2.parquet"
    ]

    assert set(read_table("prices", root)["run_id"]) == {"1"}
    assert {f.run_id for f in list_lake_files("prices", root)} == {"1"}
    assert (
        query("SELECT count(*) AS n FROM prices WHERE symbol = 'IWM'", root, s3_mode="sync")["n"].item() == 0
    )
    report = register_glue_tables(root, "staged_db", glue_client=glue, tables=("prices",))
    assert report["tables"]["prices"]["partitions"] == 4  # SPY and QQQ, 2019 and 2020: no IWM
    assert not is_published(root, "2")

    publication = publish_run(root, "2")
    assert publication.moved == 1
    assert object_keys(aws, "lake/_staging/") == []
    assert object_keys(aws, "lake/_published/") == ["lake/_published/run_id=2.json"]
    assert (
        query("SELECT count(*) AS n FROM prices WHERE symbol = 'IWM'", root, s3_mode="sync")["n"].item() == 2
    )
    again = register_glue_tables(root, "staged_db", glue_client=glue, tables=("prices",))
    assert again["tables"]["prices"]["partitions_added"] == 1

    assert publish_run(root, "2").moved == 0  # a second publication (a resume) changes nothing
    assert len(read_table("prices", root, filters=[("symbol", "=", "IWM")])) == 2


def test_start_probes_s3_locations_and_heads_s3_sources(aws: dict[str, Any]) -> None:
    before = object_keys(aws)
    probe_writable(f"s3://{aws['bucket']}/lake", "--lake-root")
    assert object_keys(aws) == before  # the probe object is deleted at once
    with pytest.raises(ConfigError) as info:
        probe_writable("s3://no-such-bucket-spyflow/lake", "--lake-root")
    assert str(info.value) == (
        "--lake-root: cannot write to s3://no-such-bucket-spyflow/lake: NoSuchBucket The specified bucket does not exist"
    )
    with pytest.raises(DataValidationError) as missing:
        check_source_file(f"s3://{aws['bucket']}/data/spy_daily.csv")
    assert str(missing.value) == f"s3://{aws['bucket']}/data/spy_daily.csv: object not found"
    aws["s3"].put_object(Bucket=aws["bucket"], Key="data/spy_daily.csv", Body=b"date,open\n")
    check_source_file(f"s3://{aws['bucket']}/data/spy_daily.csv")
