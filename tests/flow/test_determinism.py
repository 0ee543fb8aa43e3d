"""Determinism: two runs with the same data, config and seed give identical trial tables, the same chosen
model, the same model sha256 and identical predictions (the runs are shared with test_security.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spylib.registry import sha256_file
from tests.helpers.flowrun import TwinRuns, data_of


def test_same_data_config_and_seed_give_identical_results(twin_runs: TwinRuns) -> None:
    twins = twin_runs
    a, b = data_of(twins.first), data_of(twins.second)
    assert twins.first.id != twins.second.id
    assert a.data_provenance["fingerprint"] == b.data_provenance["fingerprint"]
    pd.testing.assert_frame_equal(a.trials, b.trials)
    assert repr(a.best) == repr(b.best)  # repr: NaN-safe, and exact for floats
    # Every figure equal; the trials ledger's location names each run's own registry directory.
    where = "ledger_location"
    assert a.metrics[where] != b.metrics[where]
    assert repr({k: v for k, v in a.metrics.items() if k != where}) == repr(
        {k: v for k, v in b.metrics.items() if k != where}
    )
    assert a.gate == b.gate
    # The same fitted model, byte for byte: the registered joblib file and its tarball.
    ra, rb = a.registration, b.registration
    assert ra["model_sha256"] == rb["model_sha256"]
    assert sha256_file(Path(ra["model_uri"])) == sha256_file(Path(rb["model_uri"])) == ra["model_sha256"]
    tar_a, tar_b = (Path(r["location"]) / "model.tar.gz" for r in (ra, rb))
    assert sha256_file(tar_a) == sha256_file(tar_b)
    # Identical predictions; only the model_version column names the run that made them (and the
    # walk-forward block: run-<id>/block-<year>).
    assert {v.partition("/")[0] for v in a.predictions["model_version"]} == {f"run-{twins.first.id}"}
    pd.testing.assert_frame_equal(
        a.predictions.drop(columns="model_version"), b.predictions.drop(columns="model_version")
    )
    on_disk = [pd.read_parquet(d.prediction_files["parquet"]).drop(columns="model_version") for d in (a, b)]
    pd.testing.assert_frame_equal(on_disk[0], on_disk[1])
