"""``resume`` and changed sources: Metaflow clones the steps that succeeded, ``start`` and ``ingest``
included, so a resumed run finishes on the data the origin run read, whatever the source files say now.

``start`` records the sha256 of every source file (:func:`source_digests`; local files and ``s3://``
objects of a path template; the embedded and synthetic sources are fixed by the package versions and
the spec). Every step a resumed run executes again compares them with the files as they are now
(:func:`check_resumed_sources`): when a file changed, the run stops with one line naming it, unless
``SPYFLOW_RESUME_CHANGED_SOURCES`` is true, in which case it goes on (on the origin run's data, as
Metaflow's resume means) and says so in a warning and in the artifact ``resume_source_change``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

from spylib.core.errors import DataValidationError
from spylib.core.runtime import env_flag
from spylib.stages.settings import TrainingSettings

log = logging.getLogger(__name__)

RESUME_CHANGED_SOURCES_ENV = "SPYFLOW_RESUME_CHANGED_SOURCES"


def source_digests(settings: TrainingSettings) -> dict[str, str]:
    """``{uri: sha256 of its bytes}`` for the symbol's and the benchmark's source files (empty for the
    embedded, live and synthetic sources)."""
    from spylib.data.price_files import is_template_source, read_source_bytes, resolve_source

    data = settings.data
    if not is_template_source(data.source):
        return {}
    uris = [resolve_source(data.source, s) for s in (data.symbol, data.benchmark)]
    return {uri: hashlib.sha256(read_source_bytes(uri)).hexdigest() for uri in uris}


def changed_sources(recorded: Mapping[str, str], settings: TrainingSettings) -> list[str]:
    """The source files whose bytes differ from ``recorded`` (a file that cannot be read counts)."""
    try:
        now = source_digests(settings)
    except DataValidationError:
        return sorted(recorded)
    return sorted(uri for uri, digest in recorded.items() if now.get(uri) != digest)


def check_resumed_sources(
    recorded: Mapping[str, str] | None, settings: TrainingSettings, origin_run_id: str | None
) -> dict[str, object]:
    """In a resumed run (``origin_run_id`` set): refuse when a source file changed since the origin run
    read it, or with ``$SPYFLOW_RESUME_CHANGED_SOURCES`` true, warn and return what changed (recorded by
    the flow). ``{}`` when nothing changed or the run is not a resume."""
    if not origin_run_id or not recorded:
        return {}
    changed = changed_sources(recorded, settings)
    if not changed:
        return {}
    more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
    if not env_flag(RESUME_CHANGED_SOURCES_ENV):
        raise DataValidationError(
            f"changed since run {origin_run_id} read it{more}: a resumed run reuses the origin run's data "
            f"(its ingest is cloned), so it would finish on the old data: start a new run, or set "
            f"{RESUME_CHANGED_SOURCES_ENV}=true to finish on the origin run's data",
            source=changed[0],
        )
    message = (
        f"{changed[0]}{more} changed since run {origin_run_id} read it: this resumed run goes on with the "
        f"origin run's data ({RESUME_CHANGED_SOURCES_ENV} is set)"
    )
    log.warning(message)
    print(f"WARNING: {message}")
    return {"origin_run_id": origin_run_id, "changed_files": changed, "note": message}
