"""The images: a wheelhouse downloaded on the host and served on 127.0.0.1 (nothing in a build
talks to PyPI), the Debian image tagged as ``docker/Dockerfile``'s base, the project image built from
``docker/Dockerfile`` unchanged (and smoke-tested; tagged with its ECR-style name as the inference
image), and the emulator-only ``test-layer.Dockerfile``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from .engine import Engine
from .session import Session
from .settings import (
    BASE_ROOTFS_IMAGE,
    COMPUTE_ENV,
    DOCKER_CLI,
    DOCKERFILE,
    INFERENCE_IMAGE,
    JOB_QUEUE,
    METADATA_SHIM,
    PREFERRED_WHEEL_PORT,
    PROJECT_IMAGE,
    REPO,
    TEST_IMAGE,
    TEST_LAYER,
)
from .shell import ProofFailure, free_port, http_ok, mib, run_cmd, wait_for


def dockerfile_base(dockerfile: Path) -> str:
    """The image named by the Dockerfile's (first) FROM line."""
    for line in dockerfile.read_text().splitlines():
        match = re.match(r"^\s*FROM\s+(\S+)", line, flags=re.IGNORECASE)
        if match:
            return match.group(1)
    raise ProofFailure(f"{dockerfile}: no FROM line")


def project_requirements() -> list[str]:
    """What the image installs: the project's dependencies, the ``serve`` extra (the inference server)
    and its build backend (PEP 517 build)."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = meta["project"]
    return [
        *project["dependencies"],
        *project["optional-dependencies"]["serve"],
        *meta["build-system"]["requires"],
        "wheel",
    ]


class Images:
    """Builds the proof's images in one engine; sizes go to the session's report."""

    def __init__(self, session: Session, engine: Engine) -> None:
        self.session = session
        self.engine = engine
        self.wheelhouse = session.work / "wheelhouse"
        self.wheel_port = 0

    def build_wheelhouse(self) -> None:
        """Every wheel the image installs, downloaded on the host (which trusts the machine's CA)."""
        self.wheelhouse.mkdir(parents=True, exist_ok=True)
        requirements = self.session.work / "requirements-proof.txt"
        requirements.write_text("\n".join(project_requirements()) + "\n")
        run_cmd(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--dest",
                str(self.wheelhouse),
                "-r",
                str(requirements),
            ],
            log=self.session.logs / "pip-download.log",
            timeout=900,
        )
        self.session.report["wheelhouse_mib"] = mib(sum(p.stat().st_size for p in self.wheelhouse.iterdir()))

    def serve_wheelhouse(self) -> None:
        self.wheel_port = free_port(PREFERRED_WHEEL_PORT)
        self.session.procs.start(
            "wheel server",
            [
                sys.executable,
                "-m",
                "http.server",
                str(self.wheel_port),
                "--bind",
                "127.0.0.1",
                "--directory",
                str(self.wheelhouse),
            ],
            log=self.session.logs / "wheel-server.log",
        )
        wait_for("the wheel server", lambda: http_ok(f"http://127.0.0.1:{self.wheel_port}/"), timeout=20)

    def tag_dockerfile_base(self) -> None:
        """Tag the Debian image as the Dockerfile's base, with pip pointed at the local wheelhouse."""
        base = dockerfile_base(DOCKERFILE)
        self.session.report["dockerfile_base"] = base
        stand_in = (
            f"FROM {BASE_ROOTFS_IMAGE}\n"
            "RUN printf '[global]\\nno-index = true\\nfind-links = http://127.0.0.1:%s/\\n' "
            f"{self.wheel_port} > /etc/pip.conf\n"
        )
        context = self.session.work / "empty-context"
        context.mkdir(parents=True, exist_ok=True)
        self.engine.docker(
            "build",
            "--network",
            "host",
            "-t",
            base,
            "-f",
            "-",
            str(context),
            input_bytes=stand_in.encode(),
            log=self.session.logs / "build-base.log",
        )
        self.session.report["base_image_mib"] = mib(self.engine.image_size(base))

    def build_project_image(self, measure_compressed: bool) -> None:
        """``docker/Dockerfile`` from the repository root, then checks that it works on its own."""
        report = self.session.report
        self.engine.docker(
            "build",
            "--network",
            "host",
            "-f",
            str(DOCKERFILE),
            "-t",
            PROJECT_IMAGE,
            str(REPO),
            log=self.session.logs / "build-project.log",
            timeout=1200,
        )
        size = self.engine.image_size(PROJECT_IMAGE)
        report["project_image_mib"] = mib(size)
        report["project_layers_mib"] = round(mib(size) - report["base_image_mib"], 1)
        # The image must work on its own: `python` runs, spylib and the dependencies import.
        smoke = self.engine.docker("run", "--rm", "--network", "none", PROJECT_IMAGE, timeout=120)
        self.session.check(
            "project image runs its default command",
            b"spylib" in smoke.stdout,
            smoke.stdout.decode(errors="replace").strip(),
        )
        user = self.engine.docker("run", "--rm", "--network", "none", PROJECT_IMAGE, "id", "-un")
        name = user.stdout.decode().strip()
        self.session.check("project image runs unprivileged", name != "root", f"user {name}")
        # The same image is the model package's inference image (SageMaker runs `docker run IMAGE serve`).
        self.engine.docker("tag", PROJECT_IMAGE, INFERENCE_IMAGE)
        if measure_compressed:
            saved = subprocess.Popen(
                [DOCKER_CLI, "save", PROJECT_IMAGE], stdout=subprocess.PIPE, env=self.engine.env()
            )
            assert saved.stdout is not None
            gz = subprocess.run(["gzip", "-6"], stdin=saved.stdout, capture_output=True, check=True)
            saved.wait()
            report["project_image_gzip_mib"] = mib(len(gz.stdout))

    def build_test_image(self, aws_endpoint: str) -> None:
        """The emulator-only layer on top (what moto's Batch lacks), baking in moto's endpoint."""
        context = self.session.work / "test-layer-context"
        context.mkdir(parents=True, exist_ok=True)
        shutil.copy2(METADATA_SHIM, context / METADATA_SHIM.name)
        self.engine.docker(
            "build",
            "-f",
            "-",
            "-t",
            TEST_IMAGE,
            "--build-arg",
            f"BASE_IMAGE={PROJECT_IMAGE}",
            "--build-arg",
            f"CE_NAME={COMPUTE_ENV}",
            "--build-arg",
            f"JQ_NAME={JOB_QUEUE}",
            "--build-arg",
            f"AWS_ENDPOINT_URL={aws_endpoint}",
            str(context),
            input_bytes=TEST_LAYER.read_bytes(),
            log=self.session.logs / "build-test-layer.log",
        )
