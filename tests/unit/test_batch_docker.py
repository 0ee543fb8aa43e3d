"""The AWS Batch image and its local proof, checked without Docker: ``docker/Dockerfile`` stays free of
emulator-only settings and credentials, the build context is whitelisted, and the proof script's helpers
read the project the way the proof needs (the proof itself is ``tests/docker/test_batch_docker.py``).
The proof's package is imported by file location (``docker/`` is not a package, nothing goes on sys.path)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers.docker_proof import import_proof
from tests.helpers.paths import REPO

DOCKERFILE = REPO / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
TEST_LAYER = REPO / "docker" / "test-layer.Dockerfile"


def dockerfile_instructions(path: Path) -> list[str]:
    """Instructions without comments, continuation lines joined."""
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
    return [re.sub(r"\s+", " ", ins).strip() for ins in text.replace("\\\n", " ").splitlines() if ins.strip()]


def test_dockerfile_builds_from_python_311_slim_and_has_no_emulator_settings() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    assert instructions[0] == "FROM python:3.11-slim"
    body = "\n".join(instructions)
    # Everything that exists only because moto is not AWS belongs to the test layer.
    for forbidden in (
        "AWS_",
        "MOTO",
        "METAFLOW_",
        "127.0.0.1",
        "localhost",
        "cert",
        "--index-url",
        "find-links",
        "--trusted-host",
    ):
        assert forbidden.lower() not in body.lower(), f"docker/Dockerfile mentions {forbidden!r}"
    assert any(i.startswith("USER ") and "root" not in i for i in instructions), "tasks must run unprivileged"


def test_test_layer_holds_the_emulator_workarounds() -> None:
    body = "\n".join(dockerfile_instructions(TEST_LAYER))
    for needed in (
        "AWS_BATCH_JOB_ATTEMPT",
        "AWS_BATCH_CE_NAME",
        "AWS_BATCH_JQ_NAME",
        "AWS_EXECUTION_ENV",
        "AWS_ACCESS_KEY_ID",
        "METAFLOW_SKIP_INSTALL_DEPENDENCIES",
        "AWS_ENDPOINT_URL",
    ):
        assert needed in body


def test_build_context_is_a_whitelist() -> None:
    lines = [
        ln.strip() for ln in DOCKERIGNORE.read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*", "everything is excluded first, then only what the image needs comes back"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "spylib"}


def test_proof_reads_the_dockerfile_base_and_the_project_requirements() -> None:
    images = import_proof("images")
    assert images.dockerfile_base(DOCKERFILE) == "python:3.11-slim"
    requirements = images.project_requirements()
    assert any(r.startswith("metaflow") for r in requirements)
    assert any(r.startswith("setuptools") for r in requirements), "the image's PEP 517 build needs it"
    assert import_proof("flows").flow_class_name(REPO / "flows" / "spy_flow.py") == "SpyFlow"


def test_proof_sweep_fans_out_and_is_valid() -> None:
    from spylib.core.config import parse_sweep

    settings = import_proof("settings")
    sweep = parse_sweep(settings.PROOF_SWEEP, source="proof.settings.PROOF_SWEEP")
    assert len(sweep.models) >= 2, "the train foreach must fan out to at least two Batch jobs"


def test_mount_points_under_finds_only_the_engines_own_mounts() -> None:
    engine = import_proof("engine")
    table = (
        "nsfs /run/spyflow-proof/netns/default nsfs rw 0 0\n"
        "overlay /run/spyflow-proof-other/merged overlay rw 0 0\n"
        "tmpfs /run/spyflow-proof tmpfs rw 0 0\n"
        "proc /proc proc rw 0 0\n"
    )
    assert engine.mount_points_under(Path("/run/spyflow-proof"), table) == [
        "/run/spyflow-proof/netns/default",
        "/run/spyflow-proof",
    ]
