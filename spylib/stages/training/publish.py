"""A run's outputs become visible only when the run has succeeded, as one set.

* Each step stages the lake table :data:`spylib.core.outputs.LAKE_TABLE_OF_STEP` names for it (invisible
  to readers); ``predict`` registers the tables in Glue when asked.
* ``predict`` stages the prediction files (:func:`stage_predictions`) under
  ``{output_dir}/_staging/predictions/run_id={RUN}/``, in the layout they are published with.
* ``end`` (:func:`run_end`) first checks that every staged file is still there (a lake or an output
  directory deleted or cleaned while the run worked stops the run there, naming the first missing file,
  and nothing is published), then moves the prediction files into
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


STAGING_DIR = "_staging"
# What ``end`` publishes: the prediction files (kind -> published path) and the lake files (table -> URIs).
StagedOutputs = tuple[Mapping[str, str], Mapping[str, Any]]


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


def missing_staged_files(outputs: OutputSettings, run_id: str, staged: StagedOutputs) -> list[str]:
    """Every staged file of the run that is gone (neither staged nor already published), sorted."""
    prediction_files, lake_files = staged
    staged_dir = _prediction_dirs(outputs.output_dir, run_id)[0]
    missing = [
        str(staged_dir / Path(path).name)
        for path in prediction_files.values()
        if not (staged_dir / Path(path).name).is_file() and not Path(path).is_file()
    ]
    if outputs.lake_root:
        from spylib.storage.staging import missing_staged

        uris = [str(u) for files in lake_files.values() for u in files]
        missing += missing_staged(outputs.lake_root, run_id, uris)
    return sorted(missing)


def publish_predictions(outputs: OutputSettings, run_id: str, staged: StagedOutputs) -> None:
    """Check that every staged file is still there (else one line naming the first missing one, and
    nothing is published), then move the prediction files to where readers look."""
    missing = missing_staged_files(outputs, run_id, staged)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SpyFlowError(
            f"a staged file of run {run_id} is gone: {missing[0]}{more}; the lake or output directory "
            "changed while the run ran, so nothing was published: run the flow again"
        )
    staged_dir, published_dir = _prediction_dirs(outputs.output_dir, run_id)
    for path in staged[0].values():
        source = staged_dir / Path(path).name
        if source.is_file():
            published_dir.mkdir(parents=True, exist_ok=True)
            os.replace(source, path)
    _remove_empty(staged_dir, Path(outputs.output_dir) / STAGING_DIR)


def _remove_empty(directory: Path, stop: Path) -> None:
    """Remove ``directory`` and its parents up to ``stop`` (included) while they are empty."""
    current = directory
    while current.is_dir() and not any(current.iterdir()):
        current.rmdir()
        if current == stop:
            break
        current = current.parent


def run_end(
    outputs: OutputSettings,
    run_id: str,
    catalog: Mapping[str, Any] | None = None,
    *,
    staged: StagedOutputs = ({}, {}),
) -> EndResult:
    """When the run has succeeded: check that every ``staged`` file (prediction files, lake files) is
    still there, publish the prediction files, then move the staged lake files into the tables (once: a
    resumed run publishes the origin run's files, keyed by the same id; the publication record last),
    then register the new partitions in Glue when ``--glue-database`` is set. ``catalog``, the earlier
    Glue report of the run, says whether the run created the database."""
    publish_predictions(outputs, run_id, staged)
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
