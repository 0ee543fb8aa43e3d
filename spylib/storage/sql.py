"""SQL over the Parquet lake with DuckDB: the local stand-in for Athena.

``query(sql, lake_root)`` opens an in-memory DuckDB and defines, per lake table (``prices``,
``features``, ``predictions``), two views:

- ``{table}_runs``: every run's rows, over
  ``read_parquet('{root}/{table}/*/*/*.parquet', hive_partitioning=true)``;
- ``{table}`` (the default): the rows of the latest published run of each source (the run's
  ``source_fingerprint``) and of every cumulative run (PredictFlow's daily track record), as chosen by
  the ``published_runs`` view over ``{root}/published_runs/*.parquet``
  (:func:`spylib.storage.tables.visible_runs_sql`). A question (a symbol and a date) has one answer per
  source, never a mix of runs within a source.

Each table view has the table's data columns in schema order (``symbol`` back in place), then
``run_id``, ``source_fingerprint`` and ``year``, then the deprecated old names of renamed columns
(``features.rel_strength_qqq``, the same values as ``rel_strength_benchmark``): the same columns and
views Athena shows for the Glue tables of :mod:`spylib.storage.catalog`. Files written before a rename
are read with their old column as the new one. A table without files is an empty view with the right column
types, so queries never fail on a missing table. Only published runs are read: a flow run's staged
files (:mod:`spylib.storage.staging`) sit outside the tables' directories until the run succeeds, and a
run in the middle of its publication is left out until its publication record exists
(:func:`spylib.storage.lake.list_lake_files`).

**Read-only.** One statement, and only a query: ``SELECT`` (with ``WITH``, ``VALUES``, ``FROM ...``,
``DESCRIBE``, ``SHOW``, ``SUMMARIZE``, which DuckDB parses as selects) or ``EXPLAIN`` of one; anything
else (``COPY``, ``ATTACH``, ``CREATE``, ``INSERT``, ``SET``, ``INSTALL``, ``PRAGMA``...) is a
:class:`~spylib.core.errors.ConfigError` before the lake is read. Beyond that rule, the connection
cannot touch a file: the lake's rows are loaded into in-memory tables (the listed files only; the
``{table}`` views read those tables), then ``enable_external_access`` is turned off and the
configuration locked, so no statement can read or write any file afterwards.

An ``s3://`` lake is read in one of two ways (``s3_mode``):

- ``"httpfs"``: DuckDB reads S3 itself through its ``httpfs`` extension, configured from the same
  environment as boto3 (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` /
  ``METAFLOW_S3_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...). The extension is not in the duckdb
  wheel and cannot be downloaded offline; it must already be installed, in DuckDB's extension
  directory or as the ``duckdb-ext-httpfs`` wheel of the same version (which exists for duckdb 1.x
  only: up to 1.4.4 at the time of writing). With duckdb 2.0.1 installed here there is none, so
  ``auto`` syncs; the httpfs path was checked by hand with duckdb 1.4.4 + duckdb-ext-httpfs 1.4.4
  against a moto server.
- ``"sync"``: the table files are copied from S3 with boto3 into a temporary directory (deleted
  afterwards) and queried there. Costs one download of the lake per query; fine for EDA-sized lakes.
- ``"auto"`` (default): ``httpfs`` if the extension loads, else ``sync``.

Command line: ``spy-flow sql "SELECT ..."`` prints the result; ``spy-flow ddl --location s3://bucket/lake``
prints the Athena DDL of every table (:mod:`spylib.cli.lake`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from spylib.core.errors import ConfigError, SpyFlowError
from spylib.storage.catalog import all_tables_ddl, hive_type, latest_view_sql, runs_table_name
from spylib.storage.lake import get_store, join_uri, list_lake_files
from spylib.storage.s3 import s3_endpoint, split_s3_uri
from spylib.storage.tables import (
    LAKE_TABLES,
    RUN_ID_COLUMN,
    RUNS_SCHEMA,
    RUNS_TABLE,
    SOURCE_COLUMN,
    YEAR_COLUMN,
    LakeTable,
    renamed_columns,
)

S3Mode = Literal["auto", "httpfs", "sync"]
DEFAULT_DATABASE = "spy_flow"

_DUCKDB_TYPES = {
    "double": "DOUBLE",
    "float": "FLOAT",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "boolean": "BOOLEAN",
    "string": "VARCHAR",
    "date": "DATE",
}


def _duckdb_type(dtype: pa.DataType) -> str:
    return _DUCKDB_TYPES[hive_type(dtype)]


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view_columns(spec: LakeTable) -> list[pa.Field]:
    """View column order: the data schema, then run_id, source_fingerprint and year."""
    return [
        *spec.data_schema,
        spec.file_schema.field(RUN_ID_COLUMN),
        spec.file_schema.field(SOURCE_COLUMN),
        spec.partition_schema.field(YEAR_COLUMN),
    ]


def _empty_view(name: str, fields: Sequence[pa.Field]) -> str:
    cols = ", ".join(f'CAST(NULL AS {_duckdb_type(f.type)}) AS "{f.name}"' for f in fields)
    return f'CREATE VIEW "{name}" AS SELECT {cols} WHERE false'


def _column_read(name: str, old: str | None, present: frozenset[str]) -> str:
    """How a column is read from files that may predate its rename (``old``: its former name)."""
    if old is None or old not in present:
        return f'"{name}"'
    if name not in present:
        return f'"{old}" AS "{name}"'
    return f'COALESCE("{name}", "{old}") AS "{name}"'


def view_sql(spec: LakeTable, files: Sequence[str], present: frozenset[str] = frozenset()) -> str:
    """``CREATE TABLE {table}_runs`` (in memory): every visible run's rows of one table, from its
    ``files`` (none: an empty, typed view). A table: once loaded, the connection reads no file again.
    ``present``: the column names the files hold, when they may hold a renamed column's old name."""
    fields = _view_columns(spec)
    name = runs_table_name(spec.name)
    if not files:
        return _empty_view(name, fields)
    pattern = "[" + ", ".join(_quote_literal(f) for f in files) + "]"
    hive_types = ", ".join(f"'{f.name}': '{_duckdb_type(f.type)}'" for f in spec.partition_schema)
    old_name = {new: old for old, new in renamed_columns(spec.name).items()}
    cols = ", ".join(_column_read(f.name, old_name.get(f.name), present) for f in fields)
    return (
        f'CREATE TABLE "{name}" AS SELECT {cols} FROM read_parquet({pattern}, '
        f"hive_partitioning = true, hive_types = {{{hive_types}}}, union_by_name = true)"
    )


def runs_view_sql(root: str | None) -> str:
    """``CREATE VIEW published_runs`` over the run records under ``root`` (None: empty)."""
    if root is None:
        return _empty_view(RUNS_TABLE, list(RUNS_SCHEMA))
    pattern = _quote_literal(join_uri(root, RUNS_TABLE, "*.parquet"))
    cols = ", ".join(f'"{f.name}"' for f in RUNS_SCHEMA)
    return f'CREATE TABLE "{RUNS_TABLE}" AS SELECT {cols} FROM read_parquet({pattern}, hive_partitioning = false)'


def latest_view(spec: LakeTable) -> str:
    """``CREATE VIEW {table}``: the rows of the latest published run of each source (the same SQL as
    the Athena view of :mod:`spylib.storage.catalog`)."""
    cols = [*(f.name for f in _view_columns(spec)), *renamed_columns(spec.name)]
    return f'CREATE VIEW "{spec.name}" AS {latest_view_sql(spec.name, cols)}'


def httpfs_wheel_file(con: Any) -> Path | None:
    """The httpfs extension file shipped by the ``duckdb-ext-httpfs`` wheel for this duckdb, if any."""
    import duckdb

    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        return None
    platform = con.execute("PRAGMA platform").fetchone()[0]
    for base in spec.submodule_search_locations:
        path = Path(base) / "extensions" / f"v{duckdb.__version__}" / platform / "httpfs.duckdb_extension"
        if path.is_file():
            return path
    return None


def load_httpfs(con: Any) -> bool:
    """Load DuckDB's httpfs extension if it is installed (extension directory, or the
    ``duckdb-ext-httpfs`` wheel matching this duckdb); True on success. Never downloads."""
    import duckdb

    try:
        con.execute("LOAD httpfs")
        return True
    except duckdb.Error:
        pass
    path = httpfs_wheel_file(con)
    if path is None:
        return False
    try:
        con.execute(f"LOAD {_quote_literal(str(path))}")
    except duckdb.Error:
        return False
    return True


def _configure_s3_secret(con: Any) -> None:
    """An S3 secret for httpfs from the boto3-style environment (path-style URLs for an emulator)."""
    parts = ["TYPE s3", f"REGION {_quote_literal(os.environ.get('AWS_DEFAULT_REGION', 'us-east-1'))}"]
    endpoint = s3_endpoint()
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        parts += [
            f"ENDPOINT {_quote_literal(host.rstrip('/'))}",
            "URL_STYLE 'path'",
            f"USE_SSL {'true' if scheme == 'https' else 'false'}",
        ]
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        parts += [f"KEY_ID {_quote_literal(key)}", f"SECRET {_quote_literal(secret)}"]
        if os.environ.get("AWS_SESSION_TOKEN"):
            parts.append(f"SESSION_TOKEN {_quote_literal(os.environ['AWS_SESSION_TOKEN'])}")
    else:
        parts.append("PROVIDER credential_chain")
    con.execute(f"CREATE OR REPLACE SECRET spyflow_lake ({', '.join(parts)})")


def sync_lake(lake_root: str, target: Path, s3: Any | None = None) -> int:
    """Copy every lake file under ``lake_root`` (s3://) to ``target`` with the same layout; count them."""
    store = get_store(lake_root, s3)
    n = 0
    uris = [f.uri for table in LAKE_TABLES for f in list_lake_files(table, lake_root, s3)]
    uris += store.list_files(join_uri(lake_root, RUNS_TABLE))
    for uri in uris:
        path = target / uri[len(lake_root.rstrip("/")) + 1 :]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(store.read_bytes(uri))
        n += 1
    return n


# DuckDB statement types a query may have; DESCRIBE, SHOW and SUMMARIZE parse as SELECT.
_EXPLAIN = re.compile(r"^\s*explain(\s+analyze)?\b", re.IGNORECASE)


def check_read_only(sql: str, con: Any) -> None:
    """One query statement (see the module docstring), else a one-line :class:`ConfigError`."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise ConfigError(_first_line(e), source="spy-flow sql") from None
    if len(statements) != 1:
        raise ConfigError(f"give exactly one query, got {len(statements)} statements", source="spy-flow sql")
    kind = statements[0].type.name
    if kind == "EXPLAIN":  # EXPLAIN ANALYZE runs its statement: that one must be a query too
        inner = con.extract_statements(_EXPLAIN.sub("", sql, count=1))
        kind = inner[0].type.name if len(inner) == 1 else kind
    if kind != "SELECT":
        raise ConfigError(
            f"read-only: only queries run here (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW), not {kind}",
            source="spy-flow sql",
        )


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _file_columns(con: Any, files: Sequence[str]) -> frozenset[str]:
    """Every column name the Parquet ``files`` hold (their footers only)."""
    listed = "[" + ", ".join(_quote_literal(f) for f in files) + "]"
    return frozenset(
        row[0] for row in con.execute(f"SELECT DISTINCT name FROM parquet_schema({listed})").fetchall()
    )


def _define_views(con: Any, root: str, files: dict[str, list[str]]) -> None:
    """Load every lake table, then lock the connection out of the file system (see the module docstring)."""
    import duckdb

    statements = [(RUNS_TABLE, runs_view_sql(root if files[RUNS_TABLE] else None))]
    for name, spec in LAKE_TABLES.items():
        present: frozenset[str] = frozenset()
        if renamed_columns(name) and files[name]:
            try:
                present = _file_columns(con, files[name])
            except duckdb.Error as e:
                raise SpyFlowError(f"lake {root}, table '{name}': cannot read: {_first_line(e)}") from None
        statements += [(name, view_sql(spec, files[name], present)), (name, latest_view(spec))]
    for name, statement in statements:
        try:
            con.execute(statement)
        except duckdb.Error as e:
            raise SpyFlowError(f"lake {root}, table '{name}': cannot read: {_first_line(e)}") from None
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _run(sql: str, root: str, files: dict[str, list[str]], con: Any | None = None) -> pd.DataFrame:
    import duckdb

    con = con if con is not None else duckdb.connect(":memory:")
    try:
        check_read_only(sql, con)
        _define_views(con, root, files)
        try:
            frame: pd.DataFrame = con.execute(sql).df()
        except duckdb.Error as e:
            raise SpyFlowError(f"query over lake {root} failed: {_first_line(e)}") from None
        return frame
    finally:
        con.close()


def _relocated(files: dict[str, list[str]], old_root: str, new_root: str) -> dict[str, list[str]]:
    """The same files under a synced copy of the lake."""
    cut = len(old_root.rstrip("/")) + 1
    return {t: [join_uri(new_root, f[cut:]) for f in uris] for t, uris in files.items()}


def query(sql: str, lake_root: str, *, s3_mode: S3Mode = "auto", s3: Any | None = None) -> pd.DataFrame:
    """Run ``sql`` in DuckDB over the lake's views (see the module docstring); return a frame.

    ``lake_root`` is a local directory or an ``s3://`` prefix; ``s3_mode`` picks how S3 is read
    (``"auto"``, ``"httpfs"``, ``"sync"``); ``s3`` is an optional boto3 S3 client for the sync path.
    """
    import duckdb

    if s3_mode not in ("auto", "httpfs", "sync"):
        raise ConfigError(f"unknown s3_mode {s3_mode!r}", source="sql", key="s3_mode")
    with duckdb.connect(":memory:") as con:
        check_read_only(sql, con)  # before the lake is listed or read
    files = {t: [f.uri for f in list_lake_files(t, lake_root, s3)] for t in LAKE_TABLES}
    files[RUNS_TABLE] = get_store(lake_root, s3).list_files(join_uri(lake_root, RUNS_TABLE))
    if not lake_root.startswith("s3://"):
        return _run(sql, lake_root, files)
    split_s3_uri(lake_root)
    if s3_mode != "sync":
        con = duckdb.connect(":memory:")
        if load_httpfs(con):
            _configure_s3_secret(con)
            return _run(sql, lake_root, files, con)
        con.close()
        if s3_mode == "httpfs":
            raise ConfigError(
                f"DuckDB {duckdb.__version__} cannot load the httpfs extension (not installed; "
                "duckdb-ext-httpfs exists for duckdb 1.x only): use s3_mode='sync'",
                source="sql",
                key="s3_mode",
            )
    with tempfile.TemporaryDirectory(prefix="spyflow-lake-") as tmp:
        sync_lake(lake_root, Path(tmp), s3)
        return _run(sql, tmp, _relocated(files, lake_root, tmp))


def all_ddl(database: str, location: str) -> str:
    """The Athena DDL of the lake (see :func:`spylib.storage.catalog.all_tables_ddl`)."""
    return all_tables_ddl(database, location)
