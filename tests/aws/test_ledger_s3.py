"""The trials ledger on S3 (the SageMaker target's registry prefix), against a real moto server."""

from __future__ import annotations

import threading

import boto3
import pytest

from spylib.registry.ledger import TrialsLedger
from tests.helpers.moto_server import MotoServer

BUCKET = "spyflow-ledger"


@pytest.fixture(scope="module")
def prefix(moto_server: MotoServer, moto_env: dict[str, str]) -> str:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return f"s3://{BUCKET}/registry"


def test_s3_ledger_counts_every_grid_per_fingerprint(prefix: str) -> None:
    ledger = TrialsLedger(prefix)
    first = ledger.record_and_count("fp1", [f"cfg-a|t={t}" for t in range(10)])
    second = ledger.record_and_count("fp1", [f"cfg-b|t={t}" for t in range(5)] + ["cfg-a|t=0"])
    other = ledger.record_and_count("fp2", ["cfg-a|t=0"])
    assert (first.n_trials, second.n_trials, second.n_entries) == (10, 15, 2)
    assert (other.n_trials, other.n_entries) == (1, 1)
    keys = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="registry/trials-ledger/fp1/")["Contents"]
    assert len(keys) == 2


def test_s3_ledger_concurrent_writers_lose_nothing(prefix: str) -> None:
    ledger = TrialsLedger(prefix)
    grids = [[f"cfg-{i}|t={t}" for t in range(3)] for i in range(8)]
    threads = [threading.Thread(target=TrialsLedger(prefix).record, args=("fp3", g)) for g in grids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ledger.distinct_trials("fp3")) == 24
