"""publish: see spylib.stages.training.evaluate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from spylib.stages.settings import TrainingSettings


def write_lake(
    frame: pd.DataFrame,
    table: str,
    settings: TrainingSettings,
    run_id: str,
    source_fingerprint: str | None = None,
) -> list[str]:
    """Stage one of the lake's tables for this run (idempotent per run; invisible to readers until
    :func:`publish_lake`), every row carrying the data fingerprint of the run's source; return the URIs
    the files have once published. Nothing when the lake is off."""
    if not settings.lake_root:
        return []
    from spylib.storage.staging import stage_table
    from spylib.storage.tables import get_lake_table

    columns = [c for c in get_lake_table(table).data_schema.names if c in frame.columns]
    return stage_table(
        frame[columns], table, settings.lake_root, run_id, source_fingerprint=source_fingerprint
    )


def publish_lake(
    settings: TrainingSettings, run_id: str, catalog: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """When the run has succeeded: move its staged lake files into the tables (once: a resumed run
    publishes the origin run's files, keyed by the same id), then register the new partitions in Glue
    when ``--glue-database`` is set. Returns the publication and the Glue report (``catalog``, the
    earlier report of the run, says whether the run created the database)."""
    if not settings.lake_root:
        return {"publication": {}, "glue_catalog": dict(catalog or {})}
    from spylib.storage.staging import publish_run

    publication = publish_run(settings.lake_root, run_id)
    print(
        f"lake: published run {run_id}: {publication.moved} file(s) moved into {settings.lake_root}"
        + (" (the run had been published before)" if publication.already_published else "")
    )
    glue = dict(catalog or {})
    if settings.glue_database:
        glue = register_catalog(settings)
        glue["database_created"] = bool(glue["database_created"] or (catalog or {}).get("database_created"))
    return {"publication": publication.to_dict(), "glue_catalog": glue}


def register_catalog(settings: TrainingSettings) -> dict[str, Any]:
    """Register the lake in Glue when ``--glue-database`` is set."""
    if not settings.glue_database:
        return {}
    from spylib.storage.catalog import register_glue_tables

    return register_glue_tables(settings.lake_root, settings.glue_database)
