"""``spy-flow`` against the SageMaker target on a real moto server: versions, show, approve, reject, latest."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import boto3
import pytest

from spylib.cli import main
from spylib.registry import RegistrationRequest, open_registry
from tests.helpers.moto_server import MotoServer
from tests.helpers.registry_requests import make_bundle

BUCKET = "spyflow-cli-models"
PREFIX = f"s3://{BUCKET}/registry"
GROUP = "spy-cli"
FAILED = "dsr FAILED: 0.41 (required >= 0.95)"
PASSED = "auc passed: 0.5312 (required >= 0.5)"


@pytest.fixture(scope="module")
def registered(moto_server: MotoServer, moto_env: dict[str, str]) -> dict[str, Any]:
    """The bucket, and two versions of GROUP registered with the SageMaker target: v1 Rejected by the gate
    (one failed check), v2 PendingManualApproval."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    registry = open_registry(
        "sagemaker", PREFIX, image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/spy-flow:0.1.0"
    )
    registrations = [
        registry.register(
            RegistrationRequest(
                group=GROUP,
                bundle=make_bundle(seed),
                approval_status=status,  # type: ignore[arg-type]
                metrics={"sharpe_net": 0.07746469818111738, "buy_and_hold_sharpe_net": 0.61, "auc": math.nan},
                gate_reasons=reasons,
                run_pathspec=f"SpyFlow/{seed}",
                data_fingerprint="fp-abc123",
                code_version="0.1.0+gdeadbeef",
            )
        )
        for seed, status, reasons in (
            (1, "Rejected", [FAILED, PASSED]),
            (2, "PendingManualApproval", [PASSED]),
        )
    ]
    return {"sagemaker": boto3.client("sagemaker"), "registrations": registrations}


@pytest.fixture
def sagemaker_env(registered: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """PredictFlow's environment defaults pointing at the SageMaker target: no --registry/--location."""
    monkeypatch.setenv("SPYFLOW_REGISTRY", "sagemaker")
    monkeypatch.setenv("SPYFLOW_REGISTRY_LOCATION", PREFIX)
    return registered["sagemaker"]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main([*args, "--group", GROUP])
    out, err = capsys.readouterr()
    return status, out, err


def test_versions_show_approve_reject_latest(
    capsys: pytest.CaptureFixture[str], sagemaker_env: Any, tmp_path: Path
) -> None:
    sagemaker = sagemaker_env
    status, out, err = cli(capsys, "versions")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"sagemaker registry {PREFIX}, group {GROUP}"
    assert lines[3].split()[:2] == ["v1", "Rejected"]
    assert lines[3].split()[-5:] == ["0.07746", "0.61", "–", "1", "SpyFlow/1"]
    assert lines[4].split()[:2] == ["v2", "PendingManualApproval"]
    assert (
        lines[-1]
        == "no Approved version: PredictFlow has no model to use (approve one: `spy-flow approve N`)"
    )

    status, out, err = cli(capsys, "approve", "v1", "--reason", "dsr: short track, reviewed")
    assert status == 0
    assert out == f"{GROUP}/v1  Approved  (was Rejected; reason: dsr: short track, reviewed)\n"
    assert "1 failed check" in err
    arn = sagemaker.list_model_packages(ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved")[
        "ModelPackageSummaryList"
    ][0]["ModelPackageArn"]
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelPackageVersion"] == 1
    assert described["ApprovalDescription"] == "dsr: short track, reviewed"
    assert described["CustomerMetadataProperties"]["run_pathspec"] == "SpyFlow/1"  # kept by the update

    status, out, err = cli(capsys, "show", "1")
    assert (status, err) == (0, "")
    assert out.startswith(f"{GROUP}/v1  Approved\n")
    for expected in (
        f"location          {arn}",
        "status reason     dsr: short track, reviewed",
        "gate decision     Rejected",
        "run               SpyFlow/1",
        "data fingerprint  fp-abc123",
        f"  {FAILED}",
        "  sharpe_net               0.07746",
    ):
        assert expected in out
    assert described["CustomerMetadataProperties"]["model_sha256"] in out

    status, out, _ = cli(capsys, "latest", "--lake", str(tmp_path / "lake"))
    assert status == 0
    assert out.splitlines()[0].startswith(f"{GROUP}/v1  Approved  sha256 ")

    status, out, _ = cli(capsys, "reject", "2")
    assert (status, out) == (0, f"{GROUP}/v2  Rejected  (was PendingManualApproval)\n")
    assert [line.split()[1] for line in cli(capsys, "versions")[1].splitlines()[3:5]] == [
        "Approved",
        "Rejected",
    ]


def test_unknown_version_is_one_line(capsys: pytest.CaptureFixture[str], sagemaker_env: Any) -> None:
    status, out, err = cli(capsys, "approve", "7")
    assert (status, out) == (2, "")
    assert (
        err
        == f"spy-flow approve: error: {PREFIX}, key 'VERSION': no version 7 in group '{GROUP}' (versions: v1, v2)\n"
    )
