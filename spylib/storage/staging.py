"""Staged lake writes: a flow run's rows become visible only when the run succeeds.

Layout (next to the tables, never inside a table's directory)::

    {lake_root}/_staging/run_id={RUN_ID}/{table}/symbol={S}/year={Y}/run_id={RUN_ID}.parquet
    {lake_root}/_published/run_id={RUN_ID}.json

* :func:`stage_table` writes a run's rows under its staging prefix (the lake's layout and validation,
  :func:`spylib.storage.lake.write_table`, ``mode="run"``) and returns the URIs the files will have
  once published. The readers (:func:`~spylib.storage.lake.read_table`,
  :func:`~spylib.storage.lake.list_lake_files`, the DuckDB views of :mod:`spylib.storage.sql` and the
  Glue partitions of :mod:`spylib.storage.catalog`) read the tables' directories only: a staged run is
  invisible to them, whatever step it failed in.
* :func:`publish_run` moves every staged file of the run into its table (a rename locally, a
  server-side copy and a delete on S3; each file appears whole), then records the run in the lake's
  ``published_runs`` table (:func:`spylib.storage.lake.record_run`: from then on the default views and
  ``read_table`` answer with this run's rows for its source) and writes the run's publication record
  ``_published/run_id={RUN_ID}.json``. Until the ``published_runs`` row exists, a run cut short in the
  middle of its publication is in the ``*_runs`` views only, never in the default ones. Files are keyed by the run id, so publishing again (a
  ``resume`` of the same run: SpyFlow keys its outputs by the origin run's id) replaces the same files:
  a run's rows are in the lake exactly once. A crash in the middle of a publication leaves some of the
  run's files published and the rest staged; publishing again completes it.
* Once a run is published (its record exists), :func:`stage_table` writes its files to the tables
  directly: a retried step of a published run replaces its own visible files, as before staging.
* A failed run that is never resumed leaves its staging prefix: :func:`list_staged_runs` names them,
  :func:`discard_run` deletes one.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from spylib.core.errors import ConfigError
from spylib.storage.lake import (
    _check_path_value,
    get_store,
    join_uri,
    read_runs,
    record_run,
    write_table,
)
from spylib.storage.publishing import PUBLISHING_SUFFIX
from spylib.storage.tables import RUN_ID_COLUMN, SOURCE_COLUMN, STAGED_WRITE

STAGING_DIR = "_staging"
PUBLISHED_DIR = "_published"


@dataclass(frozen=True)
class Publication:
    """What :func:`publish_run` did: the run's published files, how many it moved now, and whether the
    run had already been published before this call."""

    run_id: str
    files: tuple[str, ...]
    moved: int
    already_published: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "files": list(self.files),
            "moved": self.moved,
            "already_published": self.already_published,
        }


def staging_root(lake_root: str, run_id: str) -> str:
    """The prefix a run's files are staged under (a lake of its own, the same layout)."""
    _check_path_value(run_id, "run_id")
    return join_uri(lake_root, STAGING_DIR, f"run_id={run_id}")


def record_uri(lake_root: str, run_id: str) -> str:
    """Where the publication record of ``run_id`` is written."""
    _check_path_value(run_id, "run_id")
    return join_uri(lake_root, PUBLISHED_DIR, f"run_id={run_id}.json")


def marker_uri(lake_root: str, run_id: str) -> str:
    """The marker of a publication under way (written first, removed after the publication record):
    :func:`spylib.storage.lake.list_lake_files` leaves out the run's files while it exists alone."""
    _check_path_value(run_id, "run_id")
    return join_uri(lake_root, PUBLISHED_DIR, f"run_id={run_id}{PUBLISHING_SUFFIX}")


def missing_staged(lake_root: str, run_id: str, uris: list[str], s3: Any | None = None) -> list[str]:
    """Of the URIs :func:`stage_table` returned for ``run_id``, the files that are neither staged nor
    published any more (a lake deleted or cleaned while the run ran); what is missing is named by its
    staged location (or its table location, once the run is published)."""
    store = get_store(lake_root, s3)
    published = is_published(lake_root, run_id, s3)
    root = staging_root(lake_root, run_id)
    missing = []
    for uri in uris:
        if store.exists(uri):
            continue
        staged = join_uri(root, uri[len(lake_root.rstrip("/")) + 1 :])
        if published or not store.exists(staged):
            missing.append(uri if published else staged)
    return sorted(missing)


def is_published(lake_root: str, run_id: str, s3: Any | None = None) -> bool:
    return get_store(lake_root, s3).exists(record_uri(lake_root, run_id))


def _published_uri(lake_root: str, run_id: str, staged: str) -> str:
    root = staging_root(lake_root, run_id)
    if not staged.startswith(root + "/"):
        raise ConfigError(f"{staged} is not under the staging prefix {root}", source="lake", key="run_id")
    return join_uri(lake_root, staged[len(root) + 1 :])


def stage_table(
    frame: pd.DataFrame,
    table: str,
    lake_root: str,
    run_id: str,
    *,
    s3: Any | None = None,
    source_fingerprint: str | None = None,
    owner: str | None = None,
) -> list[str]:
    """Write ``frame`` as ``run_id``'s rows of ``table`` where readers cannot see them yet (or into the
    table, if the run is already published); return the URIs the files have once published (sorted).

    Every row carries ``source_fingerprint`` (the data fingerprint of the run's source; by default the
    one the run's staged or published rows already carry). ``owner``
    (default ``run_id``) is the run whose files these are: PredictFlow's run rewrites the file of the
    earlier run that first predicted a day (to fill its outcome) in its own staging, so the rewrite is
    published with the run, or not at all."""
    keyed = owner or run_id
    if source_fingerprint is None:  # a later step's table: the source the run declared first
        source_fingerprint = run_source(lake_root, run_id, s3)
    if is_published(lake_root, run_id, s3):
        return write_table(
            frame, table, lake_root, keyed, policy=STAGED_WRITE, s3=s3, source_fingerprint=source_fingerprint
        )
    staged = write_table(
        frame, table, staging_root(lake_root, run_id), keyed, policy=STAGED_WRITE, s3=s3,
        source_fingerprint=source_fingerprint,
    )  # fmt: skip
    return sorted(_published_uri(lake_root, run_id, uri) for uri in staged)


def staged_files(lake_root: str, run_id: str, s3: Any | None = None) -> list[str]:
    """The files of ``run_id`` still staged (sorted)."""
    return get_store(lake_root, s3).list_files(staging_root(lake_root, run_id))


def _previous_files(lake_root: str, run_id: str, s3: Any | None) -> list[str] | None:
    """The files of the run's publication record, or None if the run was never published."""
    store = get_store(lake_root, s3)
    uri = record_uri(lake_root, run_id)
    if not store.exists(uri):
        return None
    return [str(f) for f in json.loads(store.read_bytes(uri)).get("files", [])]


def _remove_empty_directories(root: str) -> None:
    """Local staging only: the directories a publication emptied (S3 has none)."""
    base = Path(root)
    if not base.is_dir():
        return
    for directory in sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()
    if not any(base.iterdir()):
        base.rmdir()
    parent = base.parent
    if parent.name == STAGING_DIR and not any(parent.iterdir()):
        parent.rmdir()


def _staged_source(store: Any, staged: list[str], run_id: str) -> str | None:
    """The source fingerprint the run's own staged rows carry (None when none says)."""
    for uri in staged:
        column = pq.read_table(io.BytesIO(store.read_bytes(uri)), columns=[RUN_ID_COLUMN, SOURCE_COLUMN])
        for run, source in zip(
            column[RUN_ID_COLUMN].to_pylist(), column[SOURCE_COLUMN].to_pylist(), strict=True
        ):
            if run == run_id and source:
                return str(source)
    return None


def run_source(lake_root: str, run_id: str, s3: Any | None = None) -> str | None:
    """The source fingerprint of ``run_id``: its staged rows' or, once published, its record's."""
    source = _staged_source(get_store(lake_root, s3), staged_files(lake_root, run_id, s3), run_id)
    if source is not None:
        return source
    runs = read_runs(lake_root, s3)
    known = runs.loc[(runs[RUN_ID_COLUMN] == run_id) & (runs[SOURCE_COLUMN] != ""), SOURCE_COLUMN]
    return str(known.iloc[0]) if len(known) else None


def publish_run(
    lake_root: str,
    run_id: str,
    *,
    s3: Any | None = None,
    source_fingerprint: str | None = None,
    cumulative: bool = False,
) -> Publication:
    """Move every staged file of ``run_id`` into its table, then record the run in ``published_runs``
    (``source_fingerprint``: default, the one its staged rows carry; ``cumulative``: see
    :data:`spylib.storage.tables.RUNS_SCHEMA`) and write its publication record (see the module
    docstring). Idempotent: a published run with nothing staged is left as it is."""
    store = get_store(lake_root, s3)
    previous = _previous_files(lake_root, run_id, s3)
    if previous is None:  # readers hide the run's moved files until the publication record exists
        store.write_bytes(marker_uri(lake_root, run_id), b"")
    staged = staged_files(lake_root, run_id, s3)
    source = source_fingerprint or _staged_source(store, staged, run_id)
    moved = []
    for uri in staged:
        target = _published_uri(lake_root, run_id, uri)
        store.move(uri, target)
        moved.append(target)
    if not lake_root.startswith("s3://"):
        _remove_empty_directories(staging_root(lake_root, run_id))
    files = tuple(sorted({*(previous or []), *moved}))
    runs = read_runs(lake_root, s3)
    known_tables = [uri.split("/")[-4] for uri in files]
    if moved or run_id not in set(runs[RUN_ID_COLUMN]):
        if source is None:  # a resumed publication: keep the source the run was recorded with
            known = runs.loc[runs[RUN_ID_COLUMN] == run_id, SOURCE_COLUMN]
            source = str(known.iloc[0]) if len(known) else None
        tables = {uri.split("/")[-4] for uri in moved} or set(known_tables)
        record_run(lake_root, run_id, sorted(tables), source, cumulative=cumulative, s3=s3)
    if moved or previous is None:
        record = {
            "run_id": run_id,
            "files": list(files),
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        store.write_bytes(record_uri(lake_root, run_id), json.dumps(record, indent=1).encode())
    if store.exists(marker_uri(lake_root, run_id)):
        store.delete(marker_uri(lake_root, run_id))
    return Publication(run_id, files, len(moved), already_published=previous is not None)


def list_staged_runs(lake_root: str, s3: Any | None = None) -> list[str]:
    """Run ids with files still staged (failed runs not resumed, or a publication cut short)."""
    prefix = join_uri(lake_root, STAGING_DIR)
    runs = set()
    for uri in get_store(lake_root, s3).list_files(prefix):
        part = uri[len(prefix) + 1 :].split("/", 1)[0]
        if part.startswith("run_id="):
            runs.add(part[len("run_id=") :])
    return sorted(runs)


def discard_run(lake_root: str, run_id: str, s3: Any | None = None) -> int:
    """Delete the staged files of ``run_id`` (a failed run that will not be resumed); count them."""
    store = get_store(lake_root, s3)
    files = staged_files(lake_root, run_id, s3)
    for uri in files:
        store.delete(uri)
    if not lake_root.startswith("s3://"):
        _remove_empty_directories(staging_root(lake_root, run_id))
    return len(files)
