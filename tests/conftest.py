"""Shared test setup: Metaflow's isolation, the tier markers, the session fixtures every tier uses.

Metaflow reads its configuration when it is first imported, so the session's isolated datastore is
set up here, at import, before any test module imports metaflow (``tests/helpers/metaflow_env.py``).

Tiers are folders, and the folder gives the marker: ``tests/unit`` -> ``unit``, ``tests/flow`` ->
``flow``, ``tests/aws`` -> ``aws``, ``tests/docker`` -> ``docker`` (``-m unit``, ``-m 'not aws'``...).
A test outside those folders, or one marked with another tier than its folder's, fails collection.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.helpers import metaflow_env

metaflow_env.isolate(Path(tempfile.mkdtemp(prefix="spyflow-tests-")))

import pytest  # noqa: E402

TIERS = ("unit", "flow", "aws", "docker")
TESTS = Path(__file__).resolve().parent


def tier_of(path: Path) -> str | None:
    """The tier folder ``path`` sits in (``tests/<tier>/...``), or None."""
    try:
        first = path.resolve().relative_to(TESTS).parts[0]
    except (ValueError, IndexError):
        return None
    return first if first in TIERS else None


@pytest.hookimpl(tryfirst=True)  # before -m deselects: the markers must be on the items by then
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced = []
    for item in items:
        tier = tier_of(item.path)
        if tier is None:
            misplaced.append(
                f"{item.nodeid}: not in a tier folder ({', '.join(f'tests/{t}' for t in TIERS)})"
            )
            continue
        others = sorted({m.name for m in item.iter_markers() if m.name in TIERS and m.name != tier})
        if others:
            misplaced.append(f"{item.nodeid}: marked {', '.join(others)} but sits in tests/{tier}")
        item.add_marker(getattr(pytest.mark, tier))
    if misplaced:
        raise pytest.UsageError("tests in the wrong place:\n  " + "\n  ".join(misplaced))


@pytest.fixture(scope="session")
def session_root() -> Path:
    """The session's Metaflow datastore root (every flow test run stores its artifacts and cards here)."""
    return metaflow_env.session_root()
