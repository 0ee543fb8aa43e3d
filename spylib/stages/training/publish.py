"""The lake's side of SpyFlow's steps: each step stages the table :data:`spylib.core.outputs.LAKE_TABLE_OF_STEP`
names for it (invisible to readers), ``predict`` registers the tables in Glue when asked, and ``end``
publishes the run's staged files once the run has succeeded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from spylib.core.outputs import LAKE_TABLE_OF_STEP
from spylib.stages.settings import OutputSettings
from spylib.stages.training.artifacts import EndResult


def write_lake(
    frame: pd.DataFrame,
    table: str,
    outputs: OutputSettings,
    run_id: str,
    source_fingerprint: str | None = None,
) -> list[str]:
    """Stage one of the lake's tables for this run (idempotent per run; invisible to readers until
    :func:`run_end`); return the URIs the files have once published. Every row carries the data
    fingerprint of the run's source (given by ingest; the later steps' tables inherit the one the run
    staged first). Nothing when the lake is off."""
    if not outputs.lake_root:
        return []
    from spylib.storage.staging import stage_table
    from spylib.storage.tables import get_lake_table

    columns = [c for c in get_lake_table(table).data_schema.names if c in frame.columns]
    return stage_table(
        frame[columns], table, outputs.lake_root, run_id, source_fingerprint=source_fingerprint
    )


def stage_step_table(
    step: str,
    frame: pd.DataFrame,
    outputs: OutputSettings,
    run_id: str,
    staged: Mapping[str, list[str]],
    source_fingerprint: str | None = None,
) -> dict[str, list[str]]:
    """Stage the lake table of ``step`` (see the catalog); the run's staged files so far, with these."""
    table = LAKE_TABLE_OF_STEP[step]
    return {**staged, table: write_lake(frame, table, outputs, run_id, source_fingerprint)}


def register_catalog(outputs: OutputSettings) -> dict[str, Any]:
    """Register the lake in Glue when ``--glue-database`` is set."""
    if not outputs.glue_database:
        return {}
    from spylib.storage.catalog import register_glue_tables

    return register_glue_tables(outputs.lake_root, outputs.glue_database)


def run_end(outputs: OutputSettings, run_id: str, catalog: Mapping[str, Any] | None = None) -> EndResult:
    """When the run has succeeded: move its staged lake files into the tables (once: a resumed run
    publishes the origin run's files, keyed by the same id), then register the new partitions in Glue
    when ``--glue-database`` is set. ``catalog``, the earlier Glue report of the run, says whether the
    run created the database."""
    if not outputs.lake_root:
        return EndResult({}, dict(catalog or {}))
    from spylib.storage.staging import publish_run

    publication = publish_run(outputs.lake_root, run_id)
    print(
        f"lake: published run {run_id}: {publication.moved} file(s) moved into {outputs.lake_root}"
        + (" (the run had been published before)" if publication.already_published else "")
    )
    glue = dict(catalog or {})
    if outputs.glue_database:
        glue = register_catalog(outputs)
        glue["database_created"] = bool(glue["database_created"] or (catalog or {}).get("database_created"))
    return EndResult(publication.to_dict(), glue)
