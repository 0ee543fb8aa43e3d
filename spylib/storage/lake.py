"""The Parquet data lake: validated, partitioned, idempotent writes and reads.

Layout (Hive style, the same on a local directory and under an ``s3://`` prefix)::

    {lake_root}/{table}/symbol={SYMBOL}/year={YYYY}/run_id={RUN_ID}.parquet

Conventions:

- The tables and their columns come from :mod:`spylib.core.schema`, extended here ONCE in
  :data:`LAKE_TABLES`; that single description drives write validation, the Glue table input and
  the Athena DDL (:mod:`spylib.storage.catalog`) and the DuckDB views (:mod:`spylib.storage.sql`).
- ``symbol`` moves from the data columns into the partition path; ``year`` (int, from ``date``) is
  a partition key only. Each file carries a ``run_id`` column (the Metaflow run id that wrote the row)
  and a ``source_fingerprint`` column (the data fingerprint of the run's source, from ingest).
- ``{lake_root}/published_runs/run_id={RUN_ID}.parquet`` records a published run: one row per table
  it wrote, with its source fingerprint, whether it is cumulative, and when it was published.
  :func:`read_table` (by default) and the default SQL views show, per table and source, the rows of
  the latest published run, and those of every cumulative run (PredictFlow's daily track record, and
  ``mode="merge"`` writes); ``runs="all"`` and the ``*_runs`` views show every run's rows.
- ``mode="run"`` (default): one file per (partition, run). Rewriting the same run replaces the same
  files, so retries and ``resume`` never duplicate rows; two runs are both present.
- ``mode="merge"``: for the partitions the frame touches, the existing files are read, combined
  with the new rows and deduplicated on a key (default ``(date, symbol)``): per key, every column
  takes its newest non-null value (the new frame is newest, then existing rows by run id, newest
  first). So a later run fills a realized outcome that was null, and never adds a duplicate row.
  The merged partition is written as the current run's file, then the files it absorbed are
  deleted: a crash in between leaves duplicates that the next merge removes.
- Each file is written atomically: a temporary name and ``os.replace`` locally, one ``PutObject``
  on S3 (so readers see the old file or the new one, never half of one).
- A flow run's files can be staged instead (:mod:`spylib.storage.staging`): written under
  ``{lake_root}/_staging/run_id={RUN_ID}/`` in the same layout, outside every table's directory, and
  moved into the tables only when the run succeeds; every reader here (:func:`list_lake_files`,
  :func:`read_table`), the DuckDB views and the Glue partitions list the tables' directories only,
  so they never see a staged (unpublished) run.
- S3 goes through boto3, which honours ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``; when neither
  is set, ``METAFLOW_S3_ENDPOINT_URL`` is used, so the lake follows Metaflow onto an emulator.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spylib.core.errors import ConfigError
from spylib.storage.files import atomic_write_bytes
from spylib.storage.publishing import PUBLISHED_DIR, publishing_runs
from spylib.storage.s3 import (
    copy_s3_object,
    head_s3_object,
    read_s3_bytes,
    s3_client,
    split_s3_uri,
    write_s3_bytes,
)
from spylib.storage.tables import (
    _PARTITION_RE,
    _PATH_VALUE_RE,
    _RUN_FILE_RE,
    DATE_COLUMN,
    DIRECT_WRITE,
    RUN_ID_COLUMN,
    RUNS_SCHEMA,
    RUNS_TABLE,
    SOURCE_COLUMN,
    SYMBOL_COLUMN,
    YEAR_COLUMN,
    LakeTable,
    WritePolicy,
    get_lake_table,
    validate_frame,
    visible_runs,
)

# --- storage ------------------------------------------------------------------------------------


class _Store(Protocol):
    """The operations the lake needs, on a local directory or an S3 prefix."""

    def list_files(self, prefix: str, suffix: str = ".parquet") -> list[str]: ...
    def read_bytes(self, uri: str) -> bytes: ...
    def write_bytes(self, uri: str, data: bytes) -> None: ...
    def delete(self, uri: str) -> None: ...
    def exists(self, uri: str) -> bool: ...
    def move(self, source: str, target: str) -> None: ...


class _LocalStore:
    def list_files(self, prefix: str, suffix: str = ".parquet") -> list[str]:
        root = Path(prefix)
        if not root.is_dir():
            return []
        return sorted(str(p) for p in root.rglob(f"*{suffix}") if p.is_file() and not p.name.startswith("."))

    def read_bytes(self, uri: str) -> bytes:
        return Path(uri).read_bytes()

    def write_bytes(self, uri: str, data: bytes) -> None:
        atomic_write_bytes(uri, data)

    def delete(self, uri: str) -> None:
        Path(uri).unlink(missing_ok=True)

    def exists(self, uri: str) -> bool:
        return Path(uri).is_file()

    def move(self, source: str, target: str) -> None:
        """A rename (atomic: staging and the tables share the lake root's file system)."""
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)


class _S3Store:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def list_files(self, prefix: str, suffix: str = ".parquet") -> list[str]:
        bucket, key = split_s3_uri(prefix)
        key = key.rstrip("/") + "/" if key else ""
        out: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for obj in page.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                if name.endswith(suffix) and not name.startswith("."):
                    out.append(f"s3://{bucket}/{obj['Key']}")
        return sorted(out)

    def read_bytes(self, uri: str) -> bytes:
        return read_s3_bytes(uri, self.client)

    def write_bytes(self, uri: str, data: bytes) -> None:
        write_s3_bytes(uri, data, self.client)

    def delete(self, uri: str) -> None:
        bucket, key = split_s3_uri(uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def exists(self, uri: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            head_s3_object(uri, self.client)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def move(self, source: str, target: str) -> None:
        """A server-side copy, then the source deleted (each object appears whole)."""
        copy_s3_object(source, target, self.client)
        self.delete(source)


def get_store(lake_root: str, s3: Any | None = None) -> _Store:
    """The store for ``lake_root``: S3 for ``s3://`` prefixes (optionally with a given client), else local."""
    if lake_root.startswith("s3://"):
        return _S3Store(s3)
    if "://" in lake_root:
        raise ConfigError(f"unsupported lake root {lake_root} (a directory or s3://)", source="lake")
    return _LocalStore()


def join_uri(root: str, *parts: str) -> str:
    """Join path parts with '/', for local paths and s3:// URIs alike."""
    return "/".join([root.rstrip("/"), *parts])


def table_uri(lake_root: str, table: str) -> str:
    return join_uri(lake_root, table)


def partition_uri(lake_root: str, table: str, symbol: str, year: int) -> str:
    return join_uri(lake_root, table, f"symbol={symbol}", f"year={year:04d}")


def file_uri(lake_root: str, table: str, symbol: str, year: int, run_id: str) -> str:
    return join_uri(partition_uri(lake_root, table, symbol, year), f"run_id={run_id}.parquet")


@dataclass(frozen=True)
class LakeFile:
    """One Parquet file of the lake, with the partition values and run id parsed from its path."""

    uri: str
    symbol: str
    year: int
    run_id: str


def list_lake_files(table: str, lake_root: str, s3: Any | None = None) -> list[LakeFile]:
    """Every visible data file of ``table`` by URI (not the layout's, nor a run's being published)."""
    get_lake_table(table)
    hidden = publishing_runs(get_store(lake_root, s3).list_files(join_uri(lake_root, PUBLISHED_DIR), ""))
    out = []
    for uri in get_store(lake_root, s3).list_files(table_uri(lake_root, table)):
        m = _PARTITION_RE.search(uri)
        if m is None:
            continue
        run = _RUN_FILE_RE.match(m["file"])
        run_id = run["run_id"] if run else m["file"]
        if run_id in hidden:
            continue
        out.append(LakeFile(uri, m["symbol"], int(m["year"]), run_id))
    return out


def list_partitions(table: str, lake_root: str, s3: Any | None = None) -> list[tuple[str, int]]:
    """The distinct ``(symbol, year)`` partitions that hold at least one file, sorted."""
    return sorted({(f.symbol, f.year) for f in list_lake_files(table, lake_root, s3)})


# --- write --------------------------------------------------------------------------------------


def _check_path_value(value: str, what: str) -> None:
    if not _PATH_VALUE_RE.match(value):
        raise ConfigError(
            f"{what} {value!r} cannot be a path segment (allowed: letters, digits, '.', '_', '^', '-')",
            source="lake",
            key=what,
        )


def _to_parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy")
    return bytes(sink.getvalue().to_pybytes())


def _file_table(
    data: pa.Table, spec: LakeTable, run_id: str | pa.Array, source: str | pa.Array | None = None
) -> pa.Table:
    """Drop the partition columns, append ``run_id`` and ``source_fingerprint``, sort by date: the
    on-disk form."""
    n = data.num_rows
    run = pa.array([run_id] * n, pa.string()) if isinstance(run_id, str) else run_id
    fingerprint = source if isinstance(source, pa.Array) else pa.array([source] * n, pa.string())
    body = data.drop_columns([c for c in spec.partition_keys if c in data.column_names])
    body = body.append_column(RUN_ID_COLUMN, run).append_column(SOURCE_COLUMN, fingerprint)
    return body.select(spec.file_schema.names).cast(spec.file_schema).sort_by(DATE_COLUMN)


def _read_file(store: _Store, uri: str, spec: LakeTable) -> pa.Table:
    """One lake file in the file schema (a file written before ``source_fingerprint`` existed gets nulls)."""
    body = pq.read_table(io.BytesIO(store.read_bytes(uri)))
    if SOURCE_COLUMN not in body.column_names:
        body = body.append_column(SOURCE_COLUMN, pa.nulls(body.num_rows, pa.string()))
    return body.select(spec.file_schema.names).cast(spec.file_schema)


# --- published runs -----------------------------------------------------------------------------


def run_record_uri(lake_root: str, run_id: str) -> str:
    """Where the published-runs row of ``run_id`` is: ``{lake_root}/published_runs/run_id={RUN}.parquet``."""
    _check_path_value(run_id, "run_id")
    return join_uri(lake_root, RUNS_TABLE, f"run_id={run_id}.parquet")


def record_run(
    lake_root: str,
    run_id: str,
    tables: Iterable[str],
    source_fingerprint: str | None,
    *,
    cumulative: bool = False,
    s3: Any | None = None,
) -> str:
    """Record ``run_id`` as a published run of its source for ``tables`` (its rows of those tables
    become the default views' answer for that source, or stay beside the others when ``cumulative``);
    return the record's URI. The run's earlier rows for other tables are kept. Written last and
    atomically: the views show a run only once its files are in the tables."""
    from datetime import UTC, datetime

    store = get_store(lake_root, s3)
    uri = run_record_uri(lake_root, run_id)
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    rows = {t: {RUN_ID_COLUMN: run_id, "table_name": t, SOURCE_COLUMN: source_fingerprint or "",
                "cumulative": bool(cumulative), "published_at": now} for t in tables}  # fmt: skip
    if store.exists(uri):
        for old in pq.read_table(io.BytesIO(store.read_bytes(uri))).to_pylist():
            rows.setdefault(str(old["table_name"]), old)
    table = pa.Table.from_pylist([rows[t] for t in sorted(rows)], schema=RUNS_SCHEMA)
    store.write_bytes(uri, _to_parquet_bytes(table))
    return uri


def read_runs(lake_root: str, s3: Any | None = None) -> pd.DataFrame:
    """Every published run of the lake (the columns of :data:`RUNS_SCHEMA`), oldest publication first."""
    store = get_store(lake_root, s3)
    uris = store.list_files(join_uri(lake_root, RUNS_TABLE))
    tables = [pq.read_table(io.BytesIO(store.read_bytes(u))).cast(RUNS_SCHEMA) for u in uris]
    frame = (pa.concat_tables(tables) if tables else RUNS_SCHEMA.empty_table()).to_pandas()
    return frame.sort_values(["published_at", RUN_ID_COLUMN]).reset_index(drop=True)


def _split_partitions(data: pa.Table) -> dict[tuple[str, int], pa.Table]:
    years = pc.year(data[DATE_COLUMN]).cast(pa.int32()).to_numpy()
    symbols = data[SYMBOL_COLUMN].to_numpy(zero_copy_only=False)
    parts: dict[tuple[str, int], pa.Table] = {}
    for sym, year in sorted({(str(s), int(y)) for s, y in zip(symbols, years, strict=True)}):
        mask = (symbols == sym) & (years == year)
        parts[(sym, year)] = data.filter(pa.array(mask))
    return parts


def write_table(
    frame: pd.DataFrame,
    table: str,
    lake_root: str,
    run_id: str,
    *,
    policy: WritePolicy = DIRECT_WRITE,
    s3: Any | None = None,
    source_fingerprint: str | None = None,
) -> list[str]:
    """Validate ``frame`` and write it to the lake; return the written file URIs (sorted).

    Everything is validated before the first byte is written. ``policy.mode`` 'run' writes one file
    per (symbol, year) partition for ``run_id`` (replacing that run's earlier file: idempotent);
    'merge' merges into the partitions as described in the module docstring, on ``policy.merge_on``
    (default: the table key). ``s3`` is an optional boto3 S3 client. Every row carries
    ``source_fingerprint``; with ``policy.publish`` (a direct write) the run is then recorded as
    published (:func:`record_run`); a staged write publishes later (:class:`WritePolicy`)."""
    mode, merge_on = policy.mode, policy.merge_on
    spec = get_lake_table(table)
    _check_path_value(run_id, "run_id")
    data = validate_frame(frame, table)
    for sym in set(data[SYMBOL_COLUMN].to_pylist()):
        _check_path_value(str(sym), "symbol")
    if mode not in ("run", "merge"):
        raise ConfigError(f"unknown write mode {mode!r} (run or merge)", source="lake", key="mode")
    key = tuple(merge_on) if merge_on is not None else spec.key
    unknown = [c for c in key if c not in spec.data_schema.names]
    if unknown:
        raise ConfigError(f"merge key column(s) not in '{table}': {unknown}", source="lake", key="merge_on")
    store = get_store(lake_root, s3)
    existing = list_lake_files(table, lake_root, s3) if mode == "merge" else []
    written = []
    for (sym, year), part in _split_partitions(data).items():
        uri = file_uri(lake_root, table, sym, year, run_id)
        if mode == "run":
            store.write_bytes(uri, _to_parquet_bytes(_file_table(part, spec, run_id, source_fingerprint)))
        else:
            olds = [f for f in existing if (f.symbol, f.year) == (sym, year)]
            merged = _merge_partition(part, olds, spec, key, (run_id, source_fingerprint), sym, store)
            store.write_bytes(uri, _to_parquet_bytes(merged))
            for old in olds:
                if old.uri != uri:
                    store.delete(old.uri)
        written.append(uri)
    if policy.publish:  # a merge keeps one row per key across runs: its runs stay visible side by side
        merged = policy.cumulative or mode == "merge"
        record_run(lake_root, run_id, [table], source_fingerprint, cumulative=merged, s3=s3)
    return sorted(written)


def _run_sort_key(run_id: str) -> tuple[int, int, str]:
    """Order run ids oldest first: numeric ids (Metaflow's local/S3 runs) numerically, then text."""
    return (0, int(run_id), "") if run_id.isdigit() else (1, 0, run_id)


def _merge_partition(
    new: pa.Table,
    olds: list[LakeFile],
    spec: LakeTable,
    key: tuple[str, ...],
    writer: tuple[str, str | None],
    symbol: str,
    store: _Store,
) -> pa.Table:
    """Combine a partition's files with new rows: per key, each column's newest non-null value
    (``writer``: the run id and source fingerprint of the new rows)."""
    frames = [_file_table(new, spec, *writer).to_pandas()]
    old_tables = [_read_file(store, f.uri, spec) for f in olds]
    if old_tables:
        old_frame = pa.concat_tables(old_tables).to_pandas()
        order = sorted(
            range(len(old_frame)), key=lambda i: _run_sort_key(str(old_frame[RUN_ID_COLUMN].iloc[i]))
        )
        frames.append(old_frame.iloc[order[::-1]])  # newest run first
    combined = pd.concat(frames, ignore_index=True)
    combined[SYMBOL_COLUMN] = symbol
    # groupby.first() takes each column's first non-null value; rows are ordered newest first.
    merged = combined.groupby(list(key), sort=True, dropna=False).first().reset_index()
    run = pa.array(merged[RUN_ID_COLUMN].astype(str).tolist(), pa.string())
    source = pa.array([None if pd.isna(v) else str(v) for v in merged[SOURCE_COLUMN]], pa.string())
    data = validate_frame(merged[list(spec.data_schema.names)], spec.name)
    return _file_table(data, spec, run, source)


# --- read ---------------------------------------------------------------------------------------

Filter = tuple[str, str, Any]
_OPS = {"=", "==", "!=", "<", "<=", ">", ">=", "in", "not in"}


def _match(value: Any, op: str, target: Any) -> bool:
    if op in ("=", "=="):
        return bool(value == target)
    if op == "!=":
        return bool(value != target)
    if op == "<":
        return bool(value < target)
    if op == "<=":
        return bool(value <= target)
    if op == ">":
        return bool(value > target)
    if op == ">=":
        return bool(value >= target)
    if op == "in":
        return value in target
    return value not in target


def _normalize_filter_value(column: str, value: Any) -> Any:
    if column != DATE_COLUMN:
        return value
    if isinstance(value, list | tuple | set):
        return [_normalize_filter_value(column, v) for v in value]
    return pd.Timestamp(value).date()


def read_table(
    table: str,
    lake_root: str,
    filters: Iterable[Filter] | None = None,
    *,
    s3: Any | None = None,
    runs: Literal["latest", "all"] = "latest",
) -> pd.DataFrame:
    """Read ``table`` from the lake into a frame: the data schema's columns, then ``run_id`` and
    ``source_fingerprint``.

    ``filters`` is a list of ``(column, op, value)`` with op in ``= != < <= > >= in, not in``, all
    ANDed; filters on ``symbol`` and ``year`` prune files by path before reading. ``runs="latest"``
    (default, as the SQL views ``prices``, ``features``, ``predictions``): the rows of the latest
    published run of each source, and of every cumulative run (:func:`spylib.storage.tables.visible_runs`);
    ``runs="all"``: every run's rows in the tables (the views ``*_runs``). Sorted by date, symbol,
    run_id; ``date`` comes back as ``datetime64[ns]``. No files: an empty frame with the right columns.
    """
    spec = get_lake_table(table)
    flt = [(c, op, _normalize_filter_value(c, v)) for c, op, v in (filters or [])]
    for column, op, _ in flt:
        if op not in _OPS:
            raise ConfigError(f"unknown filter operator {op!r}", source="lake", key="filters")
        if column not in (*spec.data_schema.names, RUN_ID_COLUMN, SOURCE_COLUMN, YEAR_COLUMN):
            raise ConfigError(f"filter column {column!r} not in '{table}'", source="lake", key="filters")
    if runs not in ("latest", "all"):
        raise ConfigError(f"unknown runs {runs!r} (latest or all)", source="lake", key="runs")
    store = get_store(lake_root, s3)
    shown = visible_runs(read_runs(lake_root, s3), table) if runs == "latest" else None
    tables = []
    for f in list_lake_files(table, lake_root, s3):
        # run_id is not pruned by file name: a merged file holds rows of several runs.
        path_values = {SYMBOL_COLUMN: f.symbol, YEAR_COLUMN: f.year}
        if not all(_match(path_values[c], op, v) for c, op, v in flt if c in (SYMBOL_COLUMN, YEAR_COLUMN)):
            continue
        body = _read_file(store, f.uri, spec)
        if shown is not None:
            body = body.filter(pc.is_in(body[RUN_ID_COLUMN], pa.array(sorted(shown), pa.string())))
        tables.append(body.append_column(SYMBOL_COLUMN, pa.array([f.symbol] * body.num_rows, pa.string())))
    out_schema = pa.schema(
        [*spec.data_schema, spec.file_schema.field(RUN_ID_COLUMN), spec.file_schema.field(SOURCE_COLUMN)]
    )
    if tables:
        result = pa.concat_tables(tables).select(out_schema.names).cast(out_schema)
    else:
        result = out_schema.empty_table()
    frame = result.to_pandas(date_as_object=False)
    frame[DATE_COLUMN] = frame[DATE_COLUMN].astype("datetime64[ns]")
    for column, op, value in flt:
        if column == YEAR_COLUMN:
            values = frame[DATE_COLUMN].dt.year
        elif column == DATE_COLUMN:
            values = frame[DATE_COLUMN].dt.date
        else:
            values = frame[column]
        mask = [_match(v, op, value) for v in values]
        frame = frame[pd.Series(mask, index=frame.index, dtype=bool)]
    frame = frame.sort_values([DATE_COLUMN, SYMBOL_COLUMN, RUN_ID_COLUMN], kind="stable")
    return frame.reset_index(drop=True)
