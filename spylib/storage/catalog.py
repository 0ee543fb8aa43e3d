"""Glue Data Catalog tables and Athena DDL for the lake, generated from :data:`spylib.storage.lake.LAKE_TABLES`.

Conventions:

- Per lake table, an EXTERNAL Parquet table ``{table}_runs`` (``ParquetHiveSerDe``, location
  ``{lake_root}/{table}/``, partitions ``.../symbol=X/year=YYYY/``) holds every published run's rows:
  the lake's file columns (the data schema without ``symbol``, plus ``run_id`` and
  ``source_fingerprint``) with Hive types, partition keys ``symbol string`` and ``year int``.
- ``published_runs`` (unpartitioned, ``{lake_root}/published_runs/``) lists the published runs: run
  id, source fingerprint, cumulative, publication time.
- The view ``{table}`` (the default one to query) shows the rows of the latest published run of each
  source and of every cumulative run: :func:`latest_view_sql`, the same SQL as the DuckDB views of
  :mod:`spylib.storage.sql`. In Glue it is an Athena (Presto) view (``TableType VIRTUAL_VIEW``).
- Registration is idempotent: the database and tables are created or updated, and only the
  partitions Glue does not have yet are added. Partitions come from the tables' prefixes, so a flow
  run's staged files (:mod:`spylib.storage.staging`) add none until the run is published; SpyFlow
  registers again after publishing.
- Athena itself is not called: the DDL is generated and its Glue equivalent registered. (moto's
  Athena does not execute SQL, so nothing here pretends it does; :mod:`spylib.storage.sql` runs the SQL
  locally in DuckDB.)
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pyarrow as pa

from spylib.core.errors import ConfigError, SpyFlowError
from spylib.storage.lake import join_uri, list_partitions, table_uri
from spylib.storage.s3 import RetryLogger, client_config, split_s3_uri
from spylib.storage.tables import (
    LAKE_TABLES,
    RUN_ID_COLUMN,
    RUNS_SCHEMA,
    RUNS_TABLE,
    SOURCE_COLUMN,
    YEAR_COLUMN,
    get_lake_table,
    renamed_columns,
    visible_runs_sql,
)

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


# Presto/Athena types of the Hive types, for the views' column lists.
_PRESTO_TYPES = {"string": "varchar", "int": "integer"}


def runs_table_name(table: str) -> str:
    """The name of the table (DuckDB view, Glue table) holding every run's rows of ``table``."""
    return f"{table}_runs"


def latest_view_sql(table: str, columns: list[str]) -> str:
    """The default view's query: ``columns`` of ``{table}_runs`` for the runs :func:`visible_runs_sql`
    keeps (the latest published run of each source, and every cumulative run). A column's old name
    (:func:`~spylib.storage.tables.renamed_columns`) selects its current column under the old name."""
    renamed = renamed_columns(table)
    cols = ", ".join(f'"{renamed[c]}" AS "{c}"' if c in renamed else f'"{c}"' for c in columns)
    runs = f'"{RUNS_TABLE}"'
    return (
        f'SELECT {cols} FROM "{runs_table_name(table)}" WHERE "{RUN_ID_COLUMN}" IN '
        f"({visible_runs_sql(runs, table)})"
    )


def view_columns(table: str) -> list[dict[str, str]]:
    """The default view's columns: the data schema (``symbol`` in place), ``run_id``,
    ``source_fingerprint``, ``year``, with Hive types; then the old names of renamed columns."""
    spec = get_lake_table(table)
    fields = [*spec.data_schema, spec.file_schema.field(RUN_ID_COLUMN), spec.file_schema.field(SOURCE_COLUMN),
              spec.partition_schema.field(YEAR_COLUMN)]  # fmt: skip
    old_names = [
        pa.field(old, spec.data_schema.field(new).type) for old, new in renamed_columns(table).items()
    ]
    return [{"Name": f.name, "Type": hive_type(f.type)} for f in [*fields, *old_names]]


def _directory(location: str) -> str:
    return location.rstrip("/") + "/"


def athena_ddl(table: str, database: str, location: str) -> str:
    """``CREATE EXTERNAL TABLE {table}_runs`` in ``database`` over the Parquet files at ``location``.

    After creating the table in Athena, load the partitions with ``MSCK REPAIR TABLE`` (the layout is
    Hive style) or with :func:`register_glue_tables`.
    """
    columns = ",\n".join(f"  `{c['Name']}` {c['Type']}" for c in hive_columns(table))
    partitions = ", ".join(f"`{c['Name']}` {c['Type']}" for c in hive_partition_keys(table))
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{runs_table_name(table)}` (\n{columns}\n)\n"
        f"PARTITIONED BY ({partitions})\n"
        "STORED AS PARQUET\n"
        f"LOCATION '{_directory(location)}'\n"
        "TBLPROPERTIES ('parquet.compression'='SNAPPY');"
    )


def _runs_columns() -> list[dict[str, str]]:
    return [{"Name": f.name, "Type": hive_type(f.type)} for f in RUNS_SCHEMA]


def all_tables_ddl(database: str, location: str) -> str:
    """The Athena DDL of the whole lake under ``location``: the ``*_runs`` tables, ``published_runs``,
    the partition-loading hint, then the default views (``CREATE OR REPLACE VIEW``)."""
    statements = [athena_ddl(t, database, join_uri(location, t)) for t in LAKE_TABLES]
    runs_columns = ",\n".join(f"  `{c['Name']}` {c['Type']}" for c in _runs_columns())
    statements.append(
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{RUNS_TABLE}` (\n{runs_columns}\n)\n"
        f"STORED AS PARQUET\nLOCATION '{_directory(join_uri(location, RUNS_TABLE))}';"
    )
    repairs = "\n".join(f"-- MSCK REPAIR TABLE `{database}`.`{runs_table_name(t)}`;" for t in LAKE_TABLES)
    views = [
        f'CREATE OR REPLACE VIEW "{t}" AS\n{latest_view_sql(t, [c["Name"] for c in view_columns(t)])};'
        for t in LAKE_TABLES
    ]
    return (
        "\n\n".join(statements)
        + "\n\n-- Then load the Hive partitions:\n"
        + repairs
        + "\n\n-- The default views: the latest published run of each source.\n"
        + "\n\n".join(views)
        + "\n"
    )


def _storage_descriptor(table: str, location: str) -> dict[str, Any]:
    return {
        "Columns": _runs_columns() if table == RUNS_TABLE else hive_columns(table),
        "Location": _directory(location),
        "InputFormat": PARQUET_INPUT_FORMAT,
        "OutputFormat": PARQUET_OUTPUT_FORMAT,
        "Compressed": True,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        "StoredAsSubDirectories": False,
    }


def glue_table_input(table: str, location: str) -> dict[str, Any]:
    """The Glue ``TableInput`` of ``{table}_runs`` (external Parquet table, Hive columns, partition keys)."""
    return {
        "Name": runs_table_name(table),
        "Description": f"spy-flow lake table '{table}' (Parquet, partitioned by symbol and year)",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "SNAPPY"},
        "PartitionKeys": hive_partition_keys(table),
        "StorageDescriptor": _storage_descriptor(table, location),
    }


def runs_table_input(location: str) -> dict[str, Any]:
    """The Glue ``TableInput`` of ``published_runs`` (external Parquet table, not partitioned)."""
    descriptor = _storage_descriptor(RUNS_TABLE, location)
    return {
        "Name": RUNS_TABLE,
        "Description": "spy-flow lake: the published runs (source fingerprint, cumulative, publication time)",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": [],
        "StorageDescriptor": descriptor,
    }


def view_table_input(table: str, database: str) -> dict[str, Any]:
    """The Glue ``TableInput`` of the default view ``table``: an Athena (Presto) view, stored as Athena
    stores the views it creates (the view's SQL and columns, base64 JSON in ``ViewOriginalText``)."""
    columns = view_columns(table)
    presto = {
        "originalSql": latest_view_sql(table, [c["Name"] for c in columns]),
        "catalog": "awsdatacatalog",
        "schema": database,
        "columns": [{"name": c["Name"], "type": _PRESTO_TYPES.get(c["Type"], c["Type"])} for c in columns],
    }
    encoded = base64.b64encode(json.dumps(presto).encode()).decode()
    return {
        "Name": table,
        "Description": f"spy-flow lake '{table}': the latest published run of each source",
        "TableType": "VIRTUAL_VIEW",
        "Parameters": {"presto_view": "true", "comment": "Presto View"},
        "ViewOriginalText": f"/* Presto View: {encoded} */",
        "ViewExpandedText": "/* Presto View */",
        "PartitionKeys": [],
        "StorageDescriptor": {"Columns": columns, "SerdeInfo": {}},
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
    pages = glue.get_paginator("get_partitions").paginate(
        DatabaseName=database, TableName=runs_table_name(table)
    )
    for page in pages:
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

    Creates the database if missing, creates or updates every table's ``{table}_runs`` and its view
    ``{table}`` (all of ``LAKE_TABLES`` unless ``tables`` is given) and ``published_runs``, and adds
    each partition found under the lake that Glue does not have yet. Returns ``{"database": name,
    "database_created": bool, "tables": {table: {"action": "created"|"updated", "partitions_added": n,
    "partitions": total, "view": "created"|"updated"}}, "published_runs": "created"|"updated"}``. Partitions are never
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
                DatabaseName=database, TableName=runs_table_name(table), PartitionInputList=batch
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
            "view": _upsert_table(glue, database, view_table_input(table, database)),
        }
    report[RUNS_TABLE] = _upsert_table(glue, database, runs_table_input(table_uri(lake_root, RUNS_TABLE)))
    return report
