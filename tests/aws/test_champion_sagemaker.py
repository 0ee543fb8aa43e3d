"""Champion and challenger on the SageMaker registry (a real moto server): the same three statuses as
on the local registry, from the same protocol calls."""

from __future__ import annotations

import boto3
import pandas as pd
import pytest

from spylib.evaluation.champion import TRACK_FILE, challenge, track_csv
from spylib.registry import open_registry
from spylib.registry.protocol import ModelRegistry
from tests.helpers.moto_server import MotoServer
from tests.helpers.registry_requests import make_request
from tests.helpers.tracks import RULE, track

BUCKET = "spyflow-champion"


@pytest.fixture(scope="module")
def registry(moto_server: MotoServer, moto_env: dict[str, str]) -> ModelRegistry:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    reg = open_registry(
        "sagemaker",
        f"s3://{BUCKET}/registry",
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/spy-flow:0.1.0",
    )
    reg.register(make_request("SpyFlow/1", "Approved", extra_files={TRACK_FILE: track_csv(track())}))
    return reg


@pytest.mark.parametrize(
    ("gate", "challenger", "status"),
    [
        ("Rejected", track(), "Rejected"),
        ("Approved", track(), "Approved"),
        ("Approved", track(seed=9), "PendingManualApproval"),
    ],
)
def test_three_outcomes_on_sagemaker(
    registry: ModelRegistry, gate: str, challenger: pd.DataFrame, status: str
) -> None:
    got, comparison = challenge(registry, "spy-direction", challenger, gate, **RULE)
    assert got == status
    assert comparison.champion_version == 1
