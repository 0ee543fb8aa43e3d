"""The AWS Batch proof (``docker/batch_proof.py``): as root on Debian it starts its own Docker engine
and a moto server and runs SpyFlow with ``--with batch``. Deselected by default; ``pytest -m docker``
runs it (``.ci/run`` runs the same script directly). It is skipped, with the reason, when the machine
cannot start a Docker engine (the script's exit status 77). The image and the proof's helpers are
checked without Docker in ``tests/unit/test_batch_docker.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.docker_proof import checks_held, run_proof


@pytest.mark.timeout(1800)
def test_every_step_runs_on_emulated_batch(tmp_path: Path) -> None:
    report = run_proof(tmp_path / "proof.log")
    held = checks_held(report)
    for expected in (
        "the run succeeded",
        "every artifact reads back through the Client",
        "the card reads back through the Client",
        "the run with the fault failed",
        "the resumed run succeeded",
        "every `train` task was cloned from the failed run",
    ):
        assert expected in held, f"{expected!r} not among the checks that held: {sorted(held)}"
    assert any(c.startswith("SpyFlow/") and c.endswith("ran on Batch") and "/train/" in c for c in held)
