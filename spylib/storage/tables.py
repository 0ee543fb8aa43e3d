"""The lake's tables: each one's schema (from :mod:`spylib.core.schema`), partitioning and key, and the
validation of a frame against it, with errors that name the table, the date and the column."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spylib.core.errors import ConfigError, DataValidationError
from spylib.core.schema import FEATURES_SCHEMA, PREDICTIONS_SCHEMA, PRICES_SCHEMA, RENAMED_FEATURE_COLUMNS

RUN_ID_COLUMN = "run_id"
SOURCE_COLUMN = "source_fingerprint"
YEAR_COLUMN = "year"
SYMBOL_COLUMN = "symbol"
DATE_COLUMN = "date"

# Values that become path segments: no '/', '=' or spaces, so Hive parsing and S3 keys stay exact.
_PATH_VALUE_RE = re.compile(r"^[A-Za-z0-9._^-]+$")
_PARTITION_RE = re.compile(r"symbol=(?P<symbol>[^/]+)/year=(?P<year>\d{4})/(?P<file>[^/]+\.parquet)$")
_RUN_FILE_RE = re.compile(r"^run_id=(?P<run_id>.+)\.parquet$")


@dataclass(frozen=True)
class LakeTable:
    """A lake table: its data schema (from :mod:`spylib.core.schema`) and its partitioning.

    ``data_schema`` is what producers hand to :func:`write_table` (``symbol`` included);
    ``file_schema`` is what a Parquet file holds (``symbol`` removed, ``run_id`` and
    ``source_fingerprint`` appended);
    ``partition_schema`` are the Hive partition keys in path order.
    """

    name: str
    data_schema: pa.Schema
    partition_schema: pa.Schema
    key: tuple[str, ...]

    @property
    def partition_keys(self) -> tuple[str, ...]:
        return tuple(self.partition_schema.names)

    @property
    def file_schema(self) -> pa.Schema:
        fields = [f for f in self.data_schema if f.name not in self.partition_keys]
        return pa.schema(
            [
                *fields,
                pa.field(RUN_ID_COLUMN, pa.string(), nullable=False),
                # The data fingerprint of the run's source (ingest's provenance); null: not given.
                pa.field(SOURCE_COLUMN, pa.string(), nullable=True),
            ]
        )

    @property
    def lake_schema(self) -> pa.Schema:
        """Every column a reader of the lake sees: file columns, then the partition keys."""
        return pa.schema([*self.file_schema, *self.partition_schema])


_PARTITIONS = pa.schema(
    [
        pa.field(SYMBOL_COLUMN, pa.string(), nullable=False),
        pa.field(YEAR_COLUMN, pa.int32(), nullable=False),
    ]
)
_KEY = (DATE_COLUMN, SYMBOL_COLUMN)

LAKE_TABLES: dict[str, LakeTable] = {
    "prices": LakeTable("prices", PRICES_SCHEMA, _PARTITIONS, _KEY),
    "features": LakeTable("features", FEATURES_SCHEMA, _PARTITIONS, _KEY),
    "predictions": LakeTable("predictions", PREDICTIONS_SCHEMA, _PARTITIONS, _KEY),
}


def renamed_columns(table: str) -> dict[str, str]:
    """Old name -> current name of ``table``'s renamed columns. The default views show each current
    column a second time under its old name (last, deprecated), so queries written before the rename
    still run; the DuckDB views also read files written before it (their old column fills the new)."""
    return dict(RENAMED_FEATURE_COLUMNS) if table == "features" else {}


def get_lake_table(table: str) -> LakeTable:
    """Return the :class:`LakeTable` named ``table``; an unknown name is a :class:`ConfigError`."""
    try:
        return LAKE_TABLES[table]
    except KeyError:
        raise ConfigError(
            f"unknown lake table '{table}' (known: {', '.join(sorted(LAKE_TABLES))})",
            source="lake",
            key="table",
        ) from None


# --- published runs: which run answers for each source ---------------------------------------

RUNS_TABLE = "published_runs"
PUBLISHED_AT_COLUMN = "published_at"
CUMULATIVE_COLUMN = "cumulative"
TABLE_COLUMN = "table_name"
# One row per published run and table it wrote: ``{lake_root}/published_runs/run_id={RUN}.parquet``.
RUNS_SCHEMA = pa.schema(
    [
        pa.field(RUN_ID_COLUMN, pa.string(), nullable=False),
        pa.field(TABLE_COLUMN, pa.string(), nullable=False),
        pa.field(SOURCE_COLUMN, pa.string(), nullable=False),  # "" when the writer gave none
        # A cumulative run's rows stay visible beside later runs of its source (PredictFlow's daily
        # track record: each run owns the days it first predicted) instead of being replaced.
        pa.field(CUMULATIVE_COLUMN, pa.bool_(), nullable=False),
        pa.field(PUBLISHED_AT_COLUMN, pa.string(), nullable=False),  # ISO 8601 UTC, microseconds
    ]
)


@dataclass(frozen=True)
class WritePolicy:
    """How :func:`spylib.storage.lake.write_table` writes (the lake module's docstring): ``mode`` 'run'
    (one file per partition and run) or 'merge' (into the partitions, on ``merge_on``, default the
    table key); then, with ``publish`` (a direct write), the run is recorded as published,
    ``cumulative`` as given (a merge always is). A staged write (:mod:`spylib.storage.staging`) does
    not publish: the run is recorded when it is."""

    mode: Literal["run", "merge"] = "run"
    merge_on: tuple[str, ...] | None = None
    publish: bool = True
    cumulative: bool = False


DIRECT_WRITE = WritePolicy()
MERGE_WRITE = WritePolicy(mode="merge")
STAGED_WRITE = WritePolicy(publish=False)


def visible_runs(runs: pd.DataFrame, table: str) -> set[str]:
    """The run ids whose rows of ``table`` the default views show: per source fingerprint, the latest
    published run that wrote ``table`` (by ``published_at``, then run id) among the runs that replace
    (not cumulative), and every cumulative run. ``runs`` has the columns of :data:`RUNS_SCHEMA`."""
    runs = runs[runs[TABLE_COLUMN] == table]
    if runs.empty:
        return set()
    cumulative = runs[CUMULATIVE_COLUMN].astype(bool)
    replacing = runs[~cumulative].sort_values([PUBLISHED_AT_COLUMN, RUN_ID_COLUMN])
    latest = replacing.groupby(SOURCE_COLUMN, sort=False).tail(1)
    return {str(r) for r in latest[RUN_ID_COLUMN]} | {str(r) for r in runs.loc[cumulative, RUN_ID_COLUMN]}


def visible_runs_sql(runs: str, table: str) -> str:
    """The run ids of :func:`visible_runs`, as a query over the relation ``runs`` (DuckDB and Athena)."""
    return (
        f"SELECT {RUN_ID_COLUMN} FROM (SELECT {RUN_ID_COLUMN}, "
        f"{CUMULATIVE_COLUMN}, row_number() OVER (PARTITION BY {SOURCE_COLUMN}, {CUMULATIVE_COLUMN} "
        f"ORDER BY {PUBLISHED_AT_COLUMN} DESC, {RUN_ID_COLUMN} DESC) AS newest FROM {runs} "
        f"WHERE {TABLE_COLUMN} = '{table}') WHERE {CUMULATIVE_COLUMN} OR newest = 1"
    )


# --- validation ---------------------------------------------------------------------------------


def validate_frame(frame: pd.DataFrame, table: str) -> pa.Table:
    """Cast ``frame`` to ``table``'s data schema, or raise :class:`DataValidationError`.

    The frame must have exactly the schema's columns (any order; the index is ignored). Accepted
    inputs per target type: float64 <- ints/floats; int8 <- ints, bools, or floats holding whole
    numbers (NaN = null); string <- strings; date32 <- dates or timestamps at midnight. A null (or
    NaN) in a non-nullable column, a value that does not convert, and a duplicate key are errors
    naming the table, the column, the first offending row (0-based position) and its date.
    """
    spec = get_lake_table(table)
    source = f"lake table '{table}'"
    names = list(spec.data_schema.names)
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise DataValidationError("duplicate column", source=source, column=dup)
    missing = [c for c in names if c not in columns]
    if missing:
        raise DataValidationError(
            f"missing column (missing: {', '.join(missing)})", source=source, column=missing[0]
        )
    extra = [c for c in columns if c not in names]
    if extra:
        raise DataValidationError(
            f"unexpected column (not in the schema: {', '.join(extra)})", source=source, column=extra[0]
        )
    frame = frame.reset_index(drop=True)
    dates = _date_labels(frame)
    arrays = [
        _convert_column(frame[field.name], field, source=source, dates=dates) for field in spec.data_schema
    ]
    result = pa.Table.from_arrays(arrays, schema=spec.data_schema)
    _check_unique(result, spec, source=source)
    return result


def _date_labels(frame: pd.DataFrame) -> list[str | None]:
    """Best-effort ISO date of every row, for error messages only."""
    if DATE_COLUMN not in frame.columns:
        return [None] * len(frame)
    parsed = pd.to_datetime(frame[DATE_COLUMN], errors="coerce")
    return [None if pd.isna(v) else v.date().isoformat() for v in parsed]


def _fail(
    problem: str, *, source: str, column: str, row: int, dates: list[str | None]
) -> DataValidationError:
    return DataValidationError(problem, source=source, column=column, row=row, date=dates[row])


def _convert_column(series: pd.Series, field: pa.Field, *, source: str, dates: list[str | None]) -> pa.Array:
    """Convert one column to ``field``'s type with the type rules of :func:`validate_frame`."""
    name, target = field.name, field.type
    try:
        arr = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        row = _first_unconvertible(series)
        raise _fail(
            f"expected {target}, got mixed values ({series.iloc[row]!r})",
            source=source,
            column=name,
            row=row,
            dates=dates,
        ) from None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    got = arr.type
    if not _is_compatible(got, target):
        raise DataValidationError(f"expected {target}, got {got}", source=source, column=name)
    if pa.types.is_timestamp(got) and pa.types.is_date32(target):
        if got.tz is not None:
            raise DataValidationError(
                f"expected {target}, got time-zone-aware {got}", source=source, column=name
            )
        # Casting a timestamp to a date silently drops the time of day: refuse instead.
        midnight = pc.equal(arr, pc.floor_temporal(arr, unit="day"))
        bad = _first_false(midnight)
        if bad is not None:
            raise _fail(
                f"timestamp {series.iloc[bad]} is not a date (has a time of day)",
                source=source,
                column=name,
                row=bad,
                dates=dates,
            )
    try:
        out = arr.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        row = _first_bad_cast(arr, target)
        raise _fail(
            f"value {series.iloc[row]!r} does not convert to {target}",
            source=source,
            column=name,
            row=row,
            dates=dates,
        ) from None
    if not field.nullable and out.null_count:
        row = int(np.flatnonzero(out.is_null().to_numpy(zero_copy_only=False))[0])
        raise _fail("null value in a non-nullable column", source=source, column=name, row=row, dates=dates)
    return out


def _is_compatible(got: pa.DataType, target: pa.DataType) -> bool:
    if pa.types.is_null(got):
        return True
    if pa.types.is_floating(target):
        return pa.types.is_integer(got) or pa.types.is_floating(got)
    if pa.types.is_integer(target):
        return pa.types.is_integer(got) or pa.types.is_floating(got) or pa.types.is_boolean(got)
    if pa.types.is_string(target):
        return pa.types.is_string(got) or pa.types.is_large_string(got)
    if pa.types.is_date(target):
        return pa.types.is_date(got) or pa.types.is_timestamp(got)
    return bool(got == target)


def _first_false(mask: pa.Array) -> int | None:
    values = mask.fill_null(True).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(~values)
    return int(bad[0]) if bad.size else None


def _first_unconvertible(series: pd.Series) -> int:
    """Position of the first value whose Python type differs from the first non-null value's."""
    kinds: type | None = None
    for i, value in enumerate(series):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        kind = str if isinstance(value, str) else type(value)
        if kinds is None:
            kinds = kind
        elif kind is not kinds and not (isinstance(value, int | float) and kinds in (int, float)):
            return i
    return 0


def _first_bad_cast(arr: pa.Array, target: pa.DataType) -> int:
    for i in range(len(arr)):
        try:
            arr.slice(i, 1).cast(target, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return i
    return 0


def _check_unique(table: pa.Table, spec: LakeTable, *, source: str) -> None:
    keys = table.select(list(spec.key)).to_pandas()
    dup = keys.duplicated(keep="first").to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        values = ", ".join(f"{k}={keys.iloc[row][k]}" for k in spec.key)
        raise DataValidationError(
            f"duplicate key ({values}) within the frame",
            source=source,
            column=",".join(spec.key),
            row=row,
            date=str(keys.iloc[row][DATE_COLUMN]) if DATE_COLUMN in spec.key else None,
        )
