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
* :func:`publish_run` writes the marker ``_published/run_id={RUN_ID}.publishing``, moves every staged
  file of the run into its table (a rename locally, a server-side copy and a delete on S3; each file
  appears whole), then writes the run's publication record ``_published/run_id={RUN_ID}.json`` and
  removes the marker. Readers leave out the files of a run with a marker and no record, so a run is
  seen whole or not at all, even when the publication is killed half-way. Files are keyed by the run id, so publishing again (a
  ``resume`` of the same run: SpyFlow keys its outputs by the origin run's id) replaces the same files:
  a run's rows are in the lake exactly once. A crash in the middle of a publication leaves some of the
  run's files published and the rest staged; publishing again completes it.
* Once a run is published (its record exists), :func:`stage_table` writes its files to the tables
  directly: a retried step of a published run replaces its own visible files, as before staging.
* A failed run that is never resumed leaves its staging prefix: :func:`list_staged_runs` names them,
  :func:`discard_run` deletes one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from spylib.core.errors import ConfigError
from spylib.storage.lake import (
    PUBLISHED_DIR,
    PUBLISHING_SUFFIX,
    _check_path_value,
    get_store,
    join_uri,
    write_table,
)

STAGING_DIR = "_staging"


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
    """The marker of a publication under way (written first, removed after the record)."""
    _check_path_value(run_id, "run_id")
    return join_uri(lake_root, PUBLISHED_DIR, f"run_id={run_id}{PUBLISHING_SUFFIX}")


def is_published(lake_root: str, run_id: str, s3: Any | None = None) -> bool:
    return get_store(lake_root, s3).exists(record_uri(lake_root, run_id))


def _published_uri(lake_root: str, run_id: str, staged: str) -> str:
    root = staging_root(lake_root, run_id)
    if not staged.startswith(root + "/"):
        raise ConfigError(f"{staged} is not under the staging prefix {root}", source="lake", key="run_id")
    return join_uri(lake_root, staged[len(root) + 1 :])


def stage_table(
    frame: pd.DataFrame, table: str, lake_root: str, run_id: str, *, s3: Any | None = None
) -> list[str]:
    """Write ``frame`` as ``run_id``'s rows of ``table`` where readers cannot see them yet (or into the
    table, if the run is already published); return the URIs the files have once published (sorted)."""
    if is_published(lake_root, run_id, s3):
        return write_table(frame, table, lake_root, run_id, s3=s3)
    staged = write_table(frame, table, staging_root(lake_root, run_id), run_id, s3=s3)
    return sorted(_published_uri(lake_root, run_id, uri) for uri in staged)


def staged_files(lake_root: str, run_id: str, s3: Any | None = None) -> list[str]:
    """The files of ``run_id`` still staged (sorted)."""
    return get_store(lake_root, s3).list_files(staging_root(lake_root, run_id))


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


def publish_run(lake_root: str, run_id: str, *, s3: Any | None = None) -> Publication:
    """Move every staged file of ``run_id`` into its table, then record the publication (see the module
    docstring). Idempotent: a published run with nothing staged is left as it is."""
    store = get_store(lake_root, s3)
    previous = _previous_files(lake_root, run_id, s3)
    if previous is None:  # readers hide the run's moved files until the record exists
        store.write_bytes(marker_uri(lake_root, run_id), b"")
    moved = []
    for uri in staged_files(lake_root, run_id, s3):
        target = _published_uri(lake_root, run_id, uri)
        store.move(uri, target)
        moved.append(target)
    if not lake_root.startswith("s3://"):
        _remove_empty_directories(staging_root(lake_root, run_id))
    files = tuple(sorted({*(previous or []), *moved}))
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
