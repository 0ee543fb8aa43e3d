"""publish: a run's outputs become visible only when the run has succeeded, as one set.

* The lake's rows are staged by ``ingest``, ``features`` and ``predict`` (:func:`write_lake`).
* The prediction files are staged by ``predict`` (:func:`stage_predictions`) under
  ``{output_dir}/_staging/predictions/run_id={RUN}/``, in the layout they are published with.
* ``end`` (:func:`publish_outputs`) first checks that every staged file is still there (a lake or an
  output directory deleted or cleaned while the run trained stops the run here, naming the first missing
  file, and nothing is published), then moves the prediction files into
  ``{output_dir}/predictions/run_id={RUN}/`` and publishes the lake (its publication record last).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from spylib.core.errors import SpyFlowError
from spylib.stages.settings import TrainingSettings

STAGING_DIR = "_staging"


def write_lake(frame: pd.DataFrame, table: str, settings: TrainingSettings, run_id: str) -> list[str]:
    """Stage one of the lake's tables for this run (idempotent per run; invisible to readers until
    :func:`publish_lake`); return the URIs the files have once published. Nothing when the lake is off."""
    if not settings.lake_root:
        return []
    from spylib.storage.staging import stage_table
    from spylib.storage.tables import get_lake_table

    columns = [c for c in get_lake_table(table).data_schema.names if c in frame.columns]
    return stage_table(frame[columns], table, settings.lake_root, run_id)


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


def _prediction_dirs(output_dir: str, run_id: str) -> tuple[Path, Path]:
    """(staged, published) directories of a run's prediction files."""
    relative = Path("predictions") / f"run_id={run_id}"
    return Path(output_dir) / STAGING_DIR / relative, Path(output_dir) / relative


def stage_predictions(predictions: pd.DataFrame, output_dir: str, run_id: str) -> dict[str, str]:
    """Write the prediction files (Parquet and CSV) where readers do not look yet; return the paths they
    have once ``end`` publishes them. A failed write (disk full) removes what it had staged: nothing of
    the set is left half-written."""
    from spylib.modelling.predictions import write_predictions

    staged, published = _prediction_dirs(output_dir, run_id)
    try:
        files = write_predictions(predictions, Path(output_dir) / STAGING_DIR, run_id)
    except SpyFlowError:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return {kind: str(published / Path(path).name) for kind, path in files.items()}


def missing_staged_files(
    settings: TrainingSettings,
    run_id: str,
    prediction_files: Mapping[str, str],
    lake_files: Mapping[str, Any],
) -> list[str]:
    """Every staged file of the run that is gone (neither staged nor already published), sorted."""
    staged_dir = _prediction_dirs(settings.output_dir, run_id)[0]
    missing = [
        str(staged_dir / Path(path).name)
        for path in prediction_files.values()
        if not (staged_dir / Path(path).name).is_file() and not Path(path).is_file()
    ]
    if settings.lake_root:
        from spylib.storage.staging import missing_staged

        uris = [str(u) for files in lake_files.values() for u in files]
        missing += missing_staged(settings.lake_root, run_id, uris)
    return sorted(missing)


def publish_outputs(
    settings: TrainingSettings,
    run_id: str,
    prediction_files: Mapping[str, str],
    lake_files: Mapping[str, Any],
    catalog: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``end``: check that every staged file is still there, publish the prediction files, then the lake
    (see the module docstring). A missing file is one line naming it; nothing is published then."""
    missing = missing_staged_files(settings, run_id, prediction_files, lake_files)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SpyFlowError(
            f"a staged file of run {run_id} is gone: {missing[0]}{more}; the lake or output directory "
            "changed while the run ran, so nothing was published: run the flow again"
        )
    staged_dir, published_dir = _prediction_dirs(settings.output_dir, run_id)
    for path in prediction_files.values():
        source = staged_dir / Path(path).name
        if source.is_file():
            published_dir.mkdir(parents=True, exist_ok=True)
            os.replace(source, path)
    _remove_empty(staged_dir, Path(settings.output_dir) / STAGING_DIR)
    return publish_lake(settings, run_id, catalog)


def _remove_empty(directory: Path, stop: Path) -> None:
    """Remove ``directory`` and its parents up to ``stop`` (included) while they are empty."""
    current = directory
    while current.is_dir() and not any(current.iterdir()):
        current.rmdir()
        if current == stop:
            break
        current = current.parent
