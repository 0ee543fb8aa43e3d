"""What the proof is configured by: the repository's paths, the names it gives to images and AWS
resources, the tiny sweep it runs, and the command line (``Options``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
TEST_LAYER = REPO / "docker" / "test-layer.Dockerfile"
METADATA_SHIM = REPO / "docker" / "proof_local_metadata.py"
DEFAULT_WORKDIR = REPO / "docker" / ".work" / "proof"
# dockerd's exec root holds containerd's sockets, whose paths must stay under 108 bytes: a short
# directory under /run, one per workdir (see Engine.exec_root).
EXEC_ROOT_PREFIX = "/run/spyflow-proof-"
# The docker.io client, not whatever `docker` comes first on PATH: a newer CLI would default to
# BuildKit (buildx), which this engine does not have.
DOCKER_CLI = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
DEBOOTSTRAP = "/usr/sbin/debootstrap"

SKIPPED = 77
BASE_ROOTFS_IMAGE = "spyflow-proof/debian-python:bookworm"
PROJECT_IMAGE = "spy-flow:proof"
TEST_IMAGE = "spy-flow:batch-proof"
PREFERRED_WHEEL_PORT = 18765  # fixed when free, so the stand-in base (and the build cache) stays valid

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
BUCKET = "spyflow-proof"
COMPUTE_ENV = "spyflow-proof-ce"
JOB_QUEUE = "spyflow-proof-queue"
JOB_ROLE = "spyflow-batch-job-role"
SERVICE_ROLE = "spyflow-batch-service-role"
INSTANCE_ROLE = "spyflow-batch-instance-role"
MODEL_GROUP = "spy-direction-proof"
# The project image under the ECR name a real account would push it to: the proof's runs register the
# model with it (--sagemaker-image-uri), and the serving phases run the image the model package names.
INFERENCE_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/spy-flow:proof"
SERVE_CONTAINER = "spyflow-serve-proof"
TRANSFORM_CONTAINER = "spyflow-transform-proof"
# The Batch Transform the proof plays: MaxPayloadInMB (SageMaker's default is 6; 1 makes the run's
# feature table several mini-batches) and MaxConcurrentTransforms.
TRANSFORM_MAX_PAYLOAD_MB = 1
TRANSFORM_CONCURRENCY = 2
# Dummy credentials, valid only against the local moto server (the test layer bakes the same).
DUMMY_KEY = "spyflow-proof"

# A tiny grid: two configurations, so two `train` tasks (the foreach fan-out, one Batch job each:
# `--configs-per-task 1` below), each scored on yearly walk-forward blocks.
PROOF_SWEEP: dict[str, Any] = {
    "models": {
        "logistic": {"C": [0.1]},
        "random_forest": {
            "n_estimators": [50],
            "max_depth": [3],
            "min_samples_leaf": [50],
            "max_features": ["sqrt"],
        },
    },
    "thresholds": [0.5, 0.55],
    "filters": [[]],
    "walk_forward": {
        "block_months": 12,
        "scheme": "expanding",
        "min_train_days": 750,
        "embargo_days": 60,
        "min_selection_blocks": 2,
    },
    "selection": {"metric": "sharpe_net"},
}
# Parameters of the proof runs: S3 for everything a step writes (moto's, reached from inside the
# containers), as on real Batch, where a local directory vanishes with the container that wrote it.
DEFAULT_RUN_ARGS = (
    "--lake-root s3://{bucket}/lake --registry sagemaker --registry-location s3://{bucket}/registry"
    " --model-group {model_group} --sagemaker-image-uri {inference_image} --configs-per-task 1"
)
# The --serving-only run: on this machine (no Batch, no moto), a local datastore and a local registry.
LOCAL_RUN_ARGS = "--lake-root '' --registry local --registry-location {registry} --output-dir {output} --configs-per-task 1"
DESCRIPTION = (
    "The local AWS Batch proof: every step of SpyFlow runs in a container scheduled by AWS Batch; then the "
    "registered model is served by the project's image under SageMaker's inference-container contract."
)


@dataclass(frozen=True)
class Options:
    workdir: Path
    flow: Path
    run_args: str
    fail_step: str
    foreach_step: str
    max_workers: int
    run_timeout: float
    fresh: bool
    check_only: bool
    measure_compressed: bool
    resources_config: Path | None
    serving_only: bool


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="scratch directory")
    parser.add_argument("--flow", type=Path, default=REPO / "flows" / "spy_flow.py", help="the flow file")
    parser.add_argument(
        "--run-args",
        default=DEFAULT_RUN_ARGS,
        help="parameters of the proof runs ({bucket}, {model_group} and {inference_image} are filled in)",
    )
    parser.add_argument(
        "--resources-config",
        type=Path,
        default=None,
        help="a `resources` Config file to pass (default: the flow's own default)",
    )
    parser.add_argument("--fail-step", default="evaluate", help="the step whose container is killed")
    parser.add_argument("--foreach-step", default="train", help="the foreach step that must fan out")
    parser.add_argument("--max-workers", type=int, default=4, help="concurrent Batch tasks")
    parser.add_argument("--run-timeout", type=float, default=600, help="seconds allowed per flow run")
    parser.add_argument("--fresh", action="store_true", help="wipe the workdir (cached images, wheels) first")
    parser.add_argument("--check", action="store_true", help="only check that a Docker engine starts here")
    parser.add_argument(
        "--serving-only",
        action="store_true",
        help="only the serving phases, on a model from a local run of the flow (no Batch, no moto)",
    )
    parser.add_argument(
        "--measure-compressed",
        action="store_true",
        help="also measure the gzip-compressed image (docker save | gzip; about a minute)",
    )
    args = parser.parse_args(argv)
    return Options(
        workdir=args.workdir.resolve(),
        flow=args.flow.resolve(),
        run_args=args.run_args,
        fail_step=args.fail_step,
        foreach_step=args.foreach_step,
        max_workers=args.max_workers,
        run_timeout=args.run_timeout,
        fresh=args.fresh,
        check_only=args.check,
        measure_compressed=args.measure_compressed,
        resources_config=args.resources_config.resolve() if args.resources_config else None,
        serving_only=args.serving_only,
    )
