"""The serving proof alone (``docker/batch_proof.py --serving-only``): the project's image serves the model
a local run of SpyFlow registered, under SageMaker's inference-container contract, in the local Docker
engine the Batch proof starts. Deselected by default; ``pytest -m docker`` runs it. The full proof
(``tests/docker/test_batch_docker.py``, ``.ci/run``) runs the same serving phases on the model the
Batch run registered in (moto's) SageMaker Model Registry. Skipped, with the reason, when the machine
cannot start a Docker engine (exit status 77). The WSGI app itself is tested in process in
``tests/unit/test_serving.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.docker_proof import checks_held, run_proof


@pytest.mark.timeout(1800)
def test_the_image_serves_the_registered_model(tmp_path: Path) -> None:
    report = run_proof(tmp_path / "serving-proof.log", "--serving-only")
    held = checks_held(report)
    for expected in (
        "GET /ping answers 200 with the model's description",
        "text/csv: the rows the registered model scored in the flow get the predictions artifact's "
        "probabilities and signals, exactly",
        "application/json: the rows the registered model scored in the flow get the predictions artifact's "
        "probabilities and signals, exactly",
        "Batch Transform: one output line per input line, in order, no header",
        "Batch Transform: each mini-batch gets predict_frame's probabilities and signals for its rows",
        "bad payload (oversized body): 413 with a JSON error naming it",
        "spyflow-serve-proof: no 500 and no traceback in the server's log",
        "spyflow-serve-proof stops cleanly on SIGTERM",
    ):
        assert expected in held, f"{expected!r} not among the checks that held: {sorted(held)}"
    assert report["serving"]["transform_batches"] >= 2
