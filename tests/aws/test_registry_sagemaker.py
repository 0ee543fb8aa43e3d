"""SageMaker registry against a real moto server over HTTP (boto3 clients, no in-process mocks)."""

from __future__ import annotations

import io
import json
import multiprocessing
import tarfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from spylib import registry
from spylib.core.errors import ConfigError, IntegrityError
from spylib.registry import SageMakerRegistry, images, inference, open_registry
from spylib.registry import sagemaker as sagemaker_target
from spylib.storage.s3 import split_s3_uri
from tests.helpers.moto_server import MotoServer
from tests.helpers.registry_requests import make_bundle, make_provenance, make_request

BUCKET = "spyflow-models"
PREFIX = f"s3://{BUCKET}/registry"
# The project's image (docker/Dockerfile) in ECR: what a model package names by default.
PROJECT_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/spy-flow:0.1.0"


@pytest.fixture(scope="module")
def endpoint(moto_server: MotoServer, moto_env: dict[str, str]) -> str:
    """The module's moto server, boto3 pointed at it, with the registry's bucket."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return moto_server.endpoint


@pytest.fixture
def sagemaker(endpoint: str) -> Any:
    return boto3.client("sagemaker")


@pytest.fixture
def s3(endpoint: str) -> Any:
    return boto3.client("s3")


def object_keys(s3: Any, prefix: str) -> list[str]:
    response = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in response.get("Contents", []))


def test_register_versions_metadata_and_artifacts(sagemaker: Any, s3: Any) -> None:
    group = "spy-versions"
    reg = open_registry("sagemaker", PREFIX, image_uri=PROJECT_IMAGE)
    assert isinstance(reg, SageMakerRegistry)
    first = reg.register(
        make_request("SpyFlow/1", group=group, extra_files={"reference_profile.json": b'{"mean": 0.1}'})
    )
    second = reg.register(
        make_request("SpyFlow/2", status="Rejected", group=group, description="rejected:\n dsr too low")
    )
    third = reg.register(make_request("SpyFlow/3", status="PendingManualApproval", group=group))
    assert (
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupName"] == group
    )
    assert [r.version for r in (first, second, third)] == [1, 2, 3]
    assert first.location.endswith(f"model-package/{group}/1")
    assert first.created
    assert [r.status for r in reg.list_versions(group)] == ["Approved", "Rejected", "PendingManualApproval"]

    described = sagemaker.describe_model_package(ModelPackageName=second.location)
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["ModelPackageDescription"] == "rejected:  dsr too low"  # no control characters
    meta = described["CustomerMetadataProperties"]
    assert meta["run_pathspec"] == "SpyFlow/2"
    assert meta["model_sha256"] == second.model_sha256
    assert meta["gate_reasons"] == "dsr 0.95 0.41"  # '<' and '()' are illegal in AWS metadata values
    assert meta["threshold"] == "0.5"
    assert meta["feature_columns"] == "ret_1d rsi_14"
    versions = inference.runtime_versions()
    assert meta["sklearn_version"] == versions["scikit-learn"]
    assert meta["numpy_version"] == versions["numpy"]
    assert meta["python_version"] == versions["python"]
    assert meta["joblib_version"] == versions["joblib"]
    container = described["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == PROJECT_IMAGE
    assert container["ModelDataUrl"] == second.model_uri
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert described["InferenceSpecification"]["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert described["InferenceSpecification"]["SupportedResponseMIMETypes"] == [
        "text/csv",
        "application/json",
    ]
    statistics = described["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"

    bucket, key = split_s3_uri(statistics["S3Uri"])
    document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert document["metrics"] == {"sharpe": 0.8, "dsr": None, "hit_rate": 0.54}
    assert document["gate_reasons"] == ["dsr < 0.95 (0.41)"]  # the full text lives in metrics.json
    assert document["pickled_with"] == versions

    keys = object_keys(s3, f"registry/{group}/")
    assert len(keys) == 7  # 3 x (model.tar.gz, metrics.json) + 1 extra file
    assert any(k.endswith("/reference_profile.json") for k in keys)
    bucket, key = split_s3_uri(first.model_uri)
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        assert sorted(tar.getnames()) == ["code/inference.py", "code/rule.py", "model.joblib"]


def test_latest_approved_and_later_approval(s3: Any, sagemaker: Any) -> None:
    group = "spy-latest"
    reg = SageMakerRegistry(PREFIX, image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/custom:1")
    assert reg.latest_approved(group) is None
    reg.register(make_request("SpyFlow/1", group=group, bundle=make_bundle(threshold=0.51)))
    reg.register(
        make_request("SpyFlow/2", status="Rejected", group=group, bundle=make_bundle(threshold=0.52))
    )
    reg.register(
        make_request("SpyFlow/3", status="Approved", group=group, bundle=make_bundle(threshold=0.53))
    )
    reg.register(
        make_request(
            "SpyFlow/4", status="PendingManualApproval", group=group, bundle=make_bundle(threshold=0.54)
        )
    )
    latest = reg.latest_approved(group)
    assert latest is not None
    assert latest.registration.version == 3
    assert latest.bundle["threshold"] == 0.53
    assert latest.metadata["run_pathspec"] == "SpyFlow/3"
    assert latest.metadata["status"] == "Approved"
    assert latest.metadata["customer_metadata"]["data_fingerprint"] == "abc123"
    assert latest.bundle["pickled_with"] == inference.runtime_versions()

    approved = reg.set_status(group, 4, "Approved")
    assert approved.status == "Approved"
    # moto wipes metadata on update unless it is sent again; the registry sends it
    described = sagemaker.describe_model_package(ModelPackageName=approved.location)
    assert described["CustomerMetadataProperties"]["run_pathspec"] == "SpyFlow/4"
    latest = reg.latest_approved(group)
    assert latest is not None
    assert latest.registration.version == 4
    assert latest.bundle["threshold"] == 0.54
    assert described["InferenceSpecification"]["Containers"][0]["Image"].endswith("/custom:1")


def test_same_run_is_not_registered_twice(s3: Any) -> None:
    group = "spy-idempotent"
    reg = SageMakerRegistry(PREFIX, image_uri=PROJECT_IMAGE)
    first = reg.register(make_request("SpyFlow/42", group=group))
    keys_before = object_keys(s3, f"registry/{group}/")
    again = reg.register(make_request("SpyFlow/42", group=group, bundle=make_bundle(seed=3)))
    assert again.created is False
    assert (again.version, again.location, again.model_sha256) == (
        first.version,
        first.location,
        first.model_sha256,
    )
    assert len(reg.list_versions(group)) == 1
    assert object_keys(s3, f"registry/{group}/") == keys_before


def test_tampered_object_is_refused(s3: Any) -> None:
    group = "spy-tampered"
    reg = SageMakerRegistry(PREFIX, image_uri=PROJECT_IMAGE)
    registration = reg.register(make_request("SpyFlow/1", group=group))
    forged_model = registry.serialize_bundle(make_bundle(seed=8, threshold=0.99))
    bucket, key = split_s3_uri(registration.model_uri)
    s3.put_object(Bucket=bucket, Key=key, Body=registry.build_model_tarball(forged_model))
    with pytest.raises(IntegrityError) as info:
        reg.latest_approved(group)
    message = str(info.value)
    assert registration.model_uri in message
    assert registration.model_sha256 in message
    assert registry.sha256_bytes(forged_model) in message


class FailingCreate:
    """A real boto3 SageMaker client whose create_model_package fails (fault injection)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def create_model_package(self, **kwargs: Any) -> Any:
        self.calls += 1
        raise ClientError({"Error": {"Code": "InternalFailure", "Message": "injected"}}, "CreateModelPackage")


def test_failed_package_creation_leaves_no_objects(sagemaker: Any, s3: Any) -> None:
    group = "spy-failing"
    failing = FailingCreate(sagemaker)
    reg = SageMakerRegistry(PREFIX, image_uri=PROJECT_IMAGE, sagemaker_client=failing)
    with pytest.raises(ClientError, match="injected"):
        reg.register(make_request("SpyFlow/1", group=group, extra_files={"reference_profile.json": b"{}"}))
    assert failing.calls == 1
    assert object_keys(s3, f"registry/{group}/") == []
    assert sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"] == []
    # the same run succeeds once the service works again
    again = SageMakerRegistry(PREFIX, image_uri=PROJECT_IMAGE)
    assert again.register(make_request("SpyFlow/1", group=group)).version == 1


def test_invalid_group_is_refused_before_any_upload(s3: Any) -> None:
    with pytest.raises(ConfigError, match="'group'"):
        SageMakerRegistry(PREFIX, image_uri=PROJECT_IMAGE).register(
            make_request("SpyFlow/1", group="bad_group!")
        )
    assert object_keys(s3, "registry/bad") == []


# ---- the image a package names must serve what was trained ---------------------------------------


def packages(sagemaker: Any, group: str) -> list[dict[str, Any]]:
    try:
        return list(sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"])
    except ClientError:
        return []


def test_a_framework_image_with_another_scikit_learn_is_refused(sagemaker: Any, s3: Any) -> None:
    group = "spy-framework-mismatch"
    framework = registry.sklearn_image_uri("us-east-1")  # scikit-learn 1.2
    trained = inference.runtime_versions()["scikit-learn"]
    assert not trained.startswith("1.2."), "this test needs a scikit-learn other than the image's"
    reg = SageMakerRegistry(PREFIX, image_uri=framework)
    with pytest.raises(ConfigError) as info:
        reg.register(make_request("SpyFlow/1", group=group))
    message = str(info.value)
    assert f"{framework} has scikit-learn 1.2" in message
    assert f"pickled with scikit-learn {trained}" in message
    assert object_keys(s3, f"registry/{group}/") == []
    assert packages(sagemaker, group) == []


def test_no_image_falls_back_to_metaflows_batch_image(
    sagemaker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = "spy-metaflow-image"
    monkeypatch.setenv("METAFLOW_BATCH_CONTAINER_IMAGE", PROJECT_IMAGE)
    registration = SageMakerRegistry(PREFIX).register(make_request("SpyFlow/1", group=group))
    described = sagemaker.describe_model_package(ModelPackageName=registration.location)
    assert described["InferenceSpecification"]["Containers"][0]["Image"] == PROJECT_IMAGE


def test_no_image_at_all_is_refused_unless_the_framework_image_matches(
    sagemaker: Any, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = "spy-no-image"
    monkeypatch.setattr(images, "metaflow_batch_image", lambda: "")
    with pytest.raises(
        ConfigError, match=r"the default SageMaker scikit-learn image .* --sagemaker-image-uri"
    ):
        SageMakerRegistry(PREFIX).register(make_request("SpyFlow/1", group=group))
    assert object_keys(s3, f"registry/{group}/") == []
    # A model pickled with the framework image's scikit-learn may use it.
    real = sagemaker_target.runtime_versions

    def as_if_trained_with_1_2() -> dict[str, str]:
        return {**real(), "scikit-learn": "1.2.2"}

    monkeypatch.setattr(sagemaker_target, "runtime_versions", as_if_trained_with_1_2)
    registration = SageMakerRegistry(PREFIX).register(make_request("SpyFlow/1", group=group))
    described = sagemaker.describe_model_package(ModelPackageName=registration.location)
    assert described["InferenceSpecification"]["Containers"][0]["Image"] == registry.sklearn_image_uri(
        "us-east-1"
    )


# ---- once per content: two identical runs at once, a crash in register, provenance -------------


def register_in_child(env: dict[str, str], group: str, run: str, barrier: Any) -> tuple[int, bool]:
    """Runs in a spawned process: point boto3 at the moto server, wait at the barrier, register."""
    import os

    os.environ.update(env)
    reg = SageMakerRegistry(PREFIX, image_uri=PROJECT_IMAGE)
    barrier.wait()
    registration = reg.register(make_request(run, group=group, provenance=make_provenance()))
    return registration.version, registration.created


def test_two_identical_runs_at_once_register_one_package(
    sagemaker: Any, s3: Any, moto_env: dict[str, str]
) -> None:
    """Two processes, two run ids, identical content (model bytes, strategy, provenance): one package,
    and both are told its version."""
    group = "spy-identical"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(2)
        with ctx.Pool(2) as pool:
            jobs = [
                pool.apply_async(register_in_child, (dict(moto_env), group, run, barrier))
                for run in ("SpyFlow/600", "SpyFlow/700")
            ]
            results = [job.get(timeout=180) for job in jobs]
    assert {version for version, _ in results} == {1}
    assert sorted(created for _, created in results) == [False, True]
    packages = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert len(packages) == 1
    # the package's metadata carries the provenance and the strategy
    metadata = sagemaker.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])[
        "CustomerMetadataProperties"
    ]
    assert metadata["source_kind"] == "file"
    assert metadata["symbols"] == "SPY QQQ"
    assert metadata["seed"] == "42"
    assert metadata["shuffle_labels"] == "false"
    assert metadata["control"] == "false"
    assert metadata["sweep_config_sha256"] == "5" * 64
    assert metadata["strategy_sizing"] == "long_flat"
    assert len(metadata["content_key"]) == 64
    registered = SageMakerRegistry(PREFIX, image_uri=PROJECT_IMAGE).latest_approved(group)
    assert registered is not None
    assert registered.provenance == make_provenance()
    assert registered.strategy.threshold == 0.5


def test_a_retry_after_a_crash_in_register_reuses_its_claim(sagemaker: Any, s3: Any) -> None:
    """The run crashed after claiming its content and before creating the package: the retry (same
    run) takes its own claim back and registers once; another run of that content then gets it."""
    group = "spy-crashed"
    failing = FailingCreate(sagemaker)
    crashed = SageMakerRegistry(PREFIX, image_uri=PROJECT_IMAGE, sagemaker_client=failing)
    with pytest.raises(ClientError, match="injected"):
        crashed.register(make_request("SpyFlow/800", group=group, provenance=make_provenance()))
    reg = SageMakerRegistry(PREFIX, image_uri=PROJECT_IMAGE)
    retried = reg.register(make_request("SpyFlow/800", group=group, provenance=make_provenance()))
    assert (retried.version, retried.created) == (1, True)
    other = reg.register(make_request("SpyFlow/900", group=group, provenance=make_provenance()))
    assert (other.version, other.created) == (1, False)
    assert len(reg.list_versions(group)) == 1


def test_a_control_goes_to_its_own_group(sagemaker: Any, s3: Any) -> None:
    reg = SageMakerRegistry(PREFIX, image_uri=PROJECT_IMAGE)
    shuffled = make_provenance(shuffle_labels=True)
    with pytest.raises(ConfigError, match="registers only in a group ending in '-control'"):
        reg.register(make_request("SpyFlow/1", group="spy-prod", provenance=shuffled))
    registration = reg.register(make_request("SpyFlow/1", group="spy-prod-control", provenance=shuffled))
    metadata = sagemaker.describe_model_package(ModelPackageName=registration.location)[
        "CustomerMetadataProperties"
    ]
    assert metadata["control"] == "true"
