"""Which runs are in the middle of their publication (:mod:`spylib.storage.staging`): a run whose
marker ``{PUBLISHED_DIR}/run_id=R{PUBLISHING_SUFFIX}`` exists without its record ``run_id=R.json``.
:func:`spylib.storage.lake.list_lake_files` leaves their files out, so a run killed half-way through
its publication is seen by no reader until a publication completes it."""

from __future__ import annotations

from collections.abc import Iterable

PUBLISHED_DIR = "_published"
PUBLISHING_SUFFIX = ".publishing"


def publishing_runs(uris: Iterable[str]) -> set[str]:
    """The run ids with a marker and no record, from the URIs listed under ``{lake_root}/_published``."""
    markers, records = set(), set()
    for uri in uris:
        name = uri.rsplit("/", 1)[-1]
        if not name.startswith("run_id="):
            continue
        if name.endswith(PUBLISHING_SUFFIX):
            markers.add(name[len("run_id=") : -len(PUBLISHING_SUFFIX)])
        elif name.endswith(".json"):
            records.add(name[len("run_id=") : -len(".json")])
    return markers - records
