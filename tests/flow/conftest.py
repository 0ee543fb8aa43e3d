"""Flow-tier fixtures: runs shared by several tests of the session, made once, on first use."""

from __future__ import annotations

import pytest

from tests.helpers.flowrun import TwinRuns, make_twin_runs


@pytest.fixture(scope="session")
def twin_runs(tmp_path_factory: pytest.TempPathFactory) -> TwinRuns:
    """Two runs with the same data, config and seed (the first with fake credentials set), shared by
    ``test_determinism.py`` and ``test_security.py``."""
    return make_twin_runs(tmp_path_factory.mktemp("twins"))
