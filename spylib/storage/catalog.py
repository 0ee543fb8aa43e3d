"""Glue Data Catalog tables and Athena DDL for the lake, generated from :data:`spylib.storage.lake.LAKE_TABLES`.

Conventions:

- Columns are the lake's file columns (the data schema without ``symbol``, plus ``run_id``) with
  Hive types; ``symbol string`` and ``year int`` are the partition keys, in path order.
- Tables are EXTERNAL Parquet tables (``ParquetHiveSerDe``) whose location is
  ``{lake_root}/{table}/``; each partition's location is ``.../symbol=X/year=YYYY/``.
- Registration is idempotent: the database and tables are created or updated, and only the
  partitions Glue does not have yet are added. Partitions come from the tables' prefixes, so a flow
  run's staged files (:mod:`spylib.storage.staging`) add none until the run is published; SpyFlow
  registers again after publishing.
- Athena itself is not called: the DDL is generated and its Glue equivalent registered. (moto's
  Athena does not execute SQL, so nothing here pretends it does; :mod:`spylib.storage.sql` runs the SQL
  locally in DuckDB.)
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from spylib.core.errors import ConfigError, SpyFlowError
from spylib.storage.lake import list_partitions, table_uri
from spylib.storage.s3 import RetryLogger, client_config, split_s3_uri
from spylib.storage.tables import LAKE_TABLES, get_lake_table

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
# Glue's BatchCreatePartition accepts at most 100 partitions per call.
_PARTITION_BATCH = 100


def hive_type(dtype: pa.DataType) -> str:
    """The Hive/Athena type of an Arrow type (only the types the lake schemas use)."""
    for check, name in (
        (pa.types.is_float64, "double"),
        (pa.types.is_float32, "float"),
        (pa.types.is_int8, "tinyint"),
        (pa.types.is_int16, "smallint"),
        (pa.types.is_int32, "int"),
        (pa.types.is_int64, "bigint"),
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_string, "string"),
        (pa.types.is_large_string, "string"),
        (pa.types.is_date32, "date"),
    ):
        if check(dtype):
            return name
    raise ConfigError(f"no Hive type for Arrow type {dtype}", source="catalog", key=str(dtype))


def hive_columns(table: str) -> list[dict[str, str]]:
    """Glue ``Columns`` of ``table``: name and Hive type of each file column, in file order."""
    spec = get_lake_table(table)
    return [{"Name": f.name, "Type": hive_type(f.type)} for f in spec.file_schema]


def hive_partition_keys(table: str) -> list[dict[str, str]]:
    """Glue ``PartitionKeys`` of ``table``: ``symbol string``, ``year int``."""
    spec = get_lake_table(table)
    return [{"Name": f.name, "Type": hive_type(f.type)} for f in spec.partition_schema]


def _directory(location: str) -> str:
    return location.rstrip("/") + "/"


def athena_ddl(table: str, database: str, location: str) -> str:
    """``CREATE EXTERNAL TABLE`` for ``table`` in ``database`` over the Parquet files at ``location``.

    After creating the table in Athena, load the partitions with ``MSCK REPAIR TABLE`` (the layout is
    Hive style) or with :func:`register_glue_tables`.
    """
    columns = ",\n".join(f"  `{c['Name']}` {c['Type']}" for c in hive_columns(table))
    partitions = ", ".join(f"`{c['Name']}` {c['Type']}" for c in hive_partition_keys(table))
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}` (\n{columns}\n)\n"
        f"PARTITIONED BY ({partitions})\n"
        "STORED AS PARQUET\n"
        f"LOCATION '{_directory(location)}'\n"
        "TBLPROPERTIES ('parquet.compression'='SNAPPY');"
    )


def _storage_descriptor(table: str, location: str) -> dict[str, Any]:
    return {
        "Columns": hive_columns(table),
        "Location": _directory(location),
        "InputFormat": PARQUET_INPUT_FORMAT,
        "OutputFormat": PARQUET_OUTPUT_FORMAT,
        "Compressed": True,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        "StoredAsSubDirectories": False,
    }


def glue_table_input(table: str, location: str) -> dict[str, Any]:
    """The Glue ``TableInput`` of ``table`` (external Parquet table, Hive columns, partition keys)."""
    return {
        "Name": table,
        "Description": f"spy-flow lake table '{table}' (Parquet, partitioned by symbol and year)",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "SNAPPY"},
        "PartitionKeys": hive_partition_keys(table),
        "StorageDescriptor": _storage_descriptor(table, location),
    }


def partition_input(table: str, location: str, symbol: str, year: int) -> dict[str, Any]:
    """The Glue ``PartitionInput`` of one ``(symbol, year)`` partition of ``table``."""
    part_location = f"{_directory(location)}symbol={symbol}/year={year:04d}/"
    return {"Values": [symbol, str(year)], "StorageDescriptor": _storage_descriptor(table, part_location)}


def make_glue_client(endpoint_url: str | None = None) -> Any:
    """A boto3 Glue client (``AWS_ENDPOINT_URL_GLUE`` / ``AWS_ENDPOINT_URL`` point it at an emulator), with
    the timeouts, retry budget and retry log of :mod:`spylib.storage.s3`."""
    import boto3

    config = client_config()
    client = boto3.client("glue", endpoint_url=endpoint_url, config=config)
    client.meta.events.register("needs-retry.glue", RetryLogger(config.retries["total_max_attempts"], "Glue"))
    return client


def _ensure_database(glue: Any, database: str) -> bool:
    try:
        glue.get_database(Name=database)
        return False
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(
            DatabaseInput={"Name": database, "Description": "spy-flow data lake (Parquet, Hive partitions)"}
        )
        return True


def _upsert_table(glue: Any, database: str, table_input: dict[str, Any]) -> str:
    try:
        glue.get_table(DatabaseName=database, Name=table_input["Name"])
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=table_input)
        return "created"
    glue.update_table(DatabaseName=database, TableInput=table_input)
    return "updated"


def _existing_partitions(glue: Any, database: str, table: str) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        found.update(tuple(p["Values"]) for p in page["Partitions"])
    return found


def register_glue_tables(
    lake_root: str,
    database: str,
    glue_client: Any | None = None,
    *,
    s3: Any | None = None,
    tables: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Register the lake under ``lake_root`` (``s3://...``) in the Glue database ``database``.

    Creates the database if missing, creates or updates every table (all of ``LAKE_TABLES`` unless
    ``tables`` is given), and adds each partition found under the lake that Glue does not have yet.
    Returns ``{"database": name, "database_created": bool, "tables": {table: {"action":
    "created"|"updated", "partitions_added": n, "partitions": total}}}``. Partitions are never
    deleted. ``glue_client``/``s3`` default to boto3 clients from the environment.
    """
    split_s3_uri(lake_root)  # Glue/Athena read S3 only: refuse a local root early
    glue = glue_client if glue_client is not None else make_glue_client()
    report: dict[str, Any] = {"database": database, "database_created": _ensure_database(glue, database)}
    report["tables"] = {}
    for table in tables or tuple(LAKE_TABLES):
        location = table_uri(lake_root, table)
        action = _upsert_table(glue, database, glue_table_input(table, location))
        have = _existing_partitions(glue, database, table)
        found = list_partitions(table, lake_root, s3)
        new = [(sym, year) for sym, year in found if (sym, str(year)) not in have]
        for start in range(0, len(new), _PARTITION_BATCH):
            batch = [partition_input(table, location, s, y) for s, y in new[start : start + _PARTITION_BATCH]]
            response = glue.batch_create_partition(
                DatabaseName=database, TableName=table, PartitionInputList=batch
            )
            # A partition added concurrently since the listing is fine; anything else is not.
            errors = [
                e
                for e in response.get("Errors", [])
                if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"
            ]
            if errors:
                first = errors[0]
                raise SpyFlowError(
                    f"glue {database}.{table}: partition {first['PartitionValues']} refused: "
                    f"{first['ErrorDetail']}"
                )
        report["tables"][table] = {
            "action": action,
            "partitions_added": len(new),
            "partitions": len(have) + len(new),
        }
    return report
