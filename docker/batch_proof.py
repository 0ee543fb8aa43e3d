#!/usr/bin/env python3
"""The local AWS Batch proof: every step of SpyFlow runs in a container scheduled by AWS Batch.

No AWS account and no image registry are needed. As root on Debian (bookworm) this script

1. installs ``docker.io`` and ``debootstrap`` with apt (when missing);
2. starts its own Docker engine on a private socket, data root and exec root (overlay2, no
   iptables, no bridge: containers use the host's loopback);
3. builds the base image offline from Debian packages (debootstrap: Python 3.11, pip, CA certs) and
   tags it as ``docker/Dockerfile``'s base (``python:3.11-slim``), with a pip configuration that
   installs from a wheelhouse this script downloads on the host and serves on 127.0.0.1
   (the build has the host's network, and nothing inside it ever talks to PyPI);
4. builds the project image from ``docker/Dockerfile`` unchanged, and on top of it the
   emulator-only layer ``docker/test-layer.Dockerfile`` (what moto's Batch lacks; see that file);
5. starts a moto server whose AWS Batch runs each job as a container in that engine, and creates
   the IAM roles, network, managed compute environment, job queue and S3 bucket;
6. runs the flow with ``--with batch`` on the S3 datastore (a tiny sweep), and checks with the
   Client that it succeeded, that every ``train`` task ran in a Batch container (its metadata
   carries the Batch job id, and the job asked for the ``resources`` Config's cpu and memory),
   that the artifacts and the card read back, and that the model reached the (emulated) SageMaker
   Model Registry;
7. runs the flow again while killing the ``evaluate`` container from outside as soon as it starts
   (what a Spot reclaim or an OOM kill does), checks that the run failed in ``evaluate``, resumes it
   with ``resume --origin-run-id`` and checks that the resumed run succeeded with every ``train``
   task cloned from the failed run and ``evaluate`` run again on Batch;
8. stops everything it started, by process id, whatever happens (also on SIGINT/SIGTERM).

Usage (from anywhere; scratch goes to ``docker/.work/proof``, which git ignores)::

    python docker/batch_proof.py            # the proof; prints a timing per phase
    python docker/batch_proof.py --check    # only: can this machine start a Docker engine here?
    python docker/batch_proof.py --fresh    # forget the cached base image, wheelhouse and layers

Exit status: 0 proved, 1 failed (the failing check or phase is printed), 77 skipped: this machine
cannot start a Docker engine (not root, not Debian, no overlay filesystem, apt unavailable, or
dockerd refused to start); the reason is printed on the last line.
A JSON report (timings, image sizes, run ids, checks) is written to ``<workdir>/report.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import traceback
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "docker" / "Dockerfile"
TEST_LAYER = REPO / "docker" / "test-layer.Dockerfile"
METADATA_SHIM = REPO / "docker" / "proof_local_metadata.py"
DEFAULT_WORKDIR = REPO / "docker" / ".work" / "proof"
# dockerd's exec root holds containerd's sockets, whose paths must stay under 108 bytes: a short
# directory under /run, one per workdir (see Proof.exec_root).
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

# A tiny grid: two `train` tasks (the foreach fan-out) that each take seconds.
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
    "cv": {"scheme": "expanding", "n_folds": 2, "embargo_days": 60, "min_train_days": 400},
    "selection": {"metric": "sharpe_net", "min_trades": 20},
}
# Parameters of the proof runs: S3 for everything a step writes (moto's, reached from inside the
# containers), as on real Batch, where a local directory vanishes with the container that wrote it.
DEFAULT_RUN_ARGS = (
    "--lake-root s3://{bucket}/lake --registry sagemaker --registry-location s3://{bucket}/registry"
    " --model-group {model_group}"
)


class Skip(Exception):
    """This machine cannot run the proof (exit status 77); the message says why."""


class ProofFailure(Exception):
    """A phase broke or a check did not hold (exit status 1)."""


# --------------------------------------------------------------------------------------------
# Processes: everything started is recorded and stopped by process id (its own process group).
# --------------------------------------------------------------------------------------------


@dataclass
class Started:
    name: str
    proc: subprocess.Popen[Any]
    grace_seconds: float


@dataclass
class Processes:
    """The processes this script started, stopped newest first by their ids (never by name)."""

    started: list[Started] = field(default_factory=list)

    def start(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        grace_seconds: float = 10.0,
        stdout: int | None = None,
    ) -> subprocess.Popen[Any]:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = stdout if stdout is not None else log.open("ab")
        err = log.open("ab")
        # A new session: the process and its children form one group whose id is the pid, so the
        # whole group can be signalled without touching anything this script did not start.
        proc = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=err,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
        self.started.append(Started(name, proc, grace_seconds))
        return proc

    def stop(self, proc: subprocess.Popen[Any]) -> None:
        for item in list(self.started):
            if item.proc is proc:
                stop_process(item)
                self.started.remove(item)

    def stop_all(self) -> None:
        while self.started:
            item = self.started.pop()
            try:
                stop_process(item)
            except Exception as exc:  # keep stopping the others
                print(f"[proof] could not stop {item.name} (pid {item.proc.pid}): {exc}", flush=True)


def stop_process(item: Started) -> None:
    """SIGTERM to the process group the process leads, then SIGKILL after its grace period."""
    proc = item.proc
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=item.grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # Children that outlived their leader still carry its group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    print(f"[proof] stopped {item.name} (pid {proc.pid})", flush=True)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def log_line(message: str) -> None:
    print(f"[proof {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_cmd(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 900,
    log: Path | None = None,
    input_bytes: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command to completion; its output goes to ``log`` (appended) or is captured."""
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as handle:
            handle.write(f"\n$ {' '.join(cmd)}\n".encode())
            handle.flush()
            result = subprocess.run(
                list(cmd),
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                timeout=timeout,
                input=input_bytes,
                check=False,
            )
    else:
        result = subprocess.run(
            list(cmd), capture_output=True, env=env, cwd=cwd, timeout=timeout, input=input_bytes, check=False
        )
    if check and result.returncode != 0:
        detail = (
            tail_text(log) if log is not None else (result.stderr or result.stdout).decode(errors="replace")
        )
        raise ProofFailure(f"`{' '.join(cmd[:4])} ...` exited with {result.returncode}:\n{detail[-3000:]}")
    return result


def tail_text(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when it is free on 127.0.0.1, else any free port."""
    candidates = [preferred] if preferred else []
    for port in [*candidates, 0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise ProofFailure("no free TCP port on 127.0.0.1")


def wait_for(what: str, probe: Callable[[], bool], timeout: float, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if probe():
                return
        time.sleep(interval)
    raise ProofFailure(f"timed out after {timeout:.0f} s waiting for {what}")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(200 <= response.status < 500)


def dockerfile_base(dockerfile: Path) -> str:
    """The image named by the Dockerfile's (first) FROM line."""
    for line in dockerfile.read_text().splitlines():
        match = re.match(r"^\s*FROM\s+(\S+)", line, flags=re.IGNORECASE)
        if match:
            return match.group(1)
    raise ProofFailure(f"{dockerfile}: no FROM line")


def flow_class_name(flow_file: Path) -> str:
    match = re.search(r"^class\s+(\w+)\(\s*FlowSpec\s*\)", flow_file.read_text(), flags=re.MULTILINE)
    if not match:
        raise ProofFailure(f"{flow_file}: no `class Name(FlowSpec)` found")
    return match.group(1)


def project_requirements() -> list[str]:
    """What the image installs: the project's dependencies and its build backend (PEP 517 build)."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [*meta["project"]["dependencies"], *meta["build-system"]["requires"], "wheel"]


def mib(n_bytes: int) -> float:
    return round(n_bytes / 2**20, 1)


# --------------------------------------------------------------------------------------------
# The proof
# --------------------------------------------------------------------------------------------


@dataclass
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


class Proof:
    """One proof session: the phases in order, each timed into ``report['phases']``."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.work = opts.workdir
        self.logs = self.work / "logs"
        self.procs = Processes()
        self.report: dict[str, Any] = {"phases": {}, "checks": [], "status": "started"}
        self.engine_sock = self.work / "engine" / "docker.sock"
        self.exec_root = Path(EXEC_ROOT_PREFIX + hashlib.sha1(str(self.work).encode()).hexdigest()[:8])
        self.moto_port = 0
        self.wheel_port = 0
        self.flow_name = flow_class_name(opts.flow) if opts.flow.exists() else "?"

    # ---- bookkeeping ----
    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        log_line(f"{name} ...")
        start = time.monotonic()
        try:
            yield
        finally:
            elapsed = round(time.monotonic() - start, 1)
            self.report["phases"][name] = elapsed
            log_line(f"{name}: {elapsed} s")

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.report["checks"].append({"check": name, "ok": bool(ok), "detail": detail})
        log_line(f"check {'OK  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        if not ok:
            raise ProofFailure(f"check failed: {name}: {detail}")

    def docker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = f"unix://{self.engine_sock}"
        env["DOCKER_BUILDKIT"] = "0"
        env.pop("DOCKER_CONTEXT", None)
        return env

    def docker(
        self,
        *args: str,
        log: Path | None = None,
        timeout: float = 900,
        check: bool = True,
        input_bytes: bytes | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        return run_cmd(
            [DOCKER_CLI, *args],
            env=self.docker_env(),
            log=log,
            timeout=timeout,
            check=check,
            input_bytes=input_bytes,
        )

    def image_exists(self, ref: str) -> bool:
        return self.docker("image", "inspect", ref, check=False).returncode == 0

    def image_size(self, ref: str) -> int:
        return int(self.docker("image", "inspect", "--format", "{{.Size}}", ref).stdout.decode().strip())

    # ---- phases ----
    def preflight(self) -> None:
        if not sys.platform.startswith("linux"):
            raise Skip(f"needs Linux, this is {sys.platform}")
        if os.geteuid() != 0:
            raise Skip("needs root (it installs packages and starts its own Docker engine)")
        if not Path("/etc/debian_version").exists():
            raise Skip("needs Debian (apt-get and debootstrap build the base image)")
        if "overlay" not in Path("/proc/filesystems").read_text():
            raise Skip("the kernel offers no overlay filesystem (the engine uses overlay2)")
        if sys.version_info[:2] != (3, 11):
            raise Skip(f"the wheelhouse is downloaded for CPython 3.11; this is {sys.version.split()[0]}")

    def install_packages(self) -> None:
        if Path(DOCKERD).exists() and Path(DEBOOTSTRAP).exists() and Path(DOCKER_CLI).exists():
            log_line("docker.io and debootstrap already installed")
            return
        if shutil.which("apt-get") is None:
            raise Skip("apt-get is not available to install docker.io and debootstrap")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        log = self.logs / "apt.log"
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "docker.io", "debootstrap"],
        ):
            if run_cmd(cmd, env=env, log=log, timeout=600, check=False).returncode != 0:
                raise Skip(f"`{' '.join(cmd)}` failed, see {log}:\n{tail_text(log, 15)}")

    def start_engine(self) -> None:
        pidfile = self.work / "engine" / "dockerd.pid"
        if pidfile.exists():
            with contextlib.suppress(ValueError, OSError):
                old = int(pidfile.read_text().strip())
                os.kill(old, 0)
                raise ProofFailure(f"a proof engine is already running (dockerd pid {old}, {pidfile})")
        for path in (self.work / "engine" / "data", self.exec_root):
            path.mkdir(parents=True, exist_ok=True)
        self.engine_sock.unlink(missing_ok=True)
        log = self.logs / "dockerd.log"
        self.procs.start(
            "dockerd",
            [
                DOCKERD,
                f"--host=unix://{self.engine_sock}",
                f"--data-root={self.work / 'engine' / 'data'}",
                f"--exec-root={self.exec_root}",
                f"--pidfile={pidfile}",
                "--storage-driver=overlay2",
                "--iptables=false",
                "--ip-masq=false",
                "--bridge=none",
                "--host-gateway-ip=127.0.0.1",
            ],
            log=log,
            grace_seconds=30,
        )
        try:
            wait_for(
                "the Docker engine", lambda: self.docker("info", check=False).returncode == 0, timeout=60
            )
        except ProofFailure:
            raise Skip(f"dockerd did not start here; its log ends with:\n{tail_text(log, 15)}") from None
        info = json.loads(self.docker("info", "--format", "{{json .}}").stdout)
        if info.get("Driver") != "overlay2":
            raise Skip(f"the engine started with storage driver {info.get('Driver')!r}, not overlay2")
        self.report["engine"] = {"version": info.get("ServerVersion"), "driver": info.get("Driver")}

    def build_base_image(self) -> None:
        """Debian bookworm + Python 3.11 + pip, imported as an image: the stand-in for python:3.11-slim."""
        if self.image_exists(BASE_ROOTFS_IMAGE):
            log_line(f"{BASE_ROOTFS_IMAGE} already in the engine")
            return
        rootfs = self.work / "base" / "rootfs"
        if rootfs.exists():
            shutil.rmtree(rootfs)  # a partial debootstrap from an interrupted session
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        run_cmd(
            [
                DEBOOTSTRAP,
                "--variant=minbase",
                "--include=python3,python-is-python3,python3-pip,ca-certificates",
                "bookworm",
                str(rootfs),
                debian_mirror(),
            ],
            log=self.logs / "debootstrap.log",
            timeout=900,
        )
        # Like python:3.11-slim: no package caches or docs, and a Python pip may install into
        # (Debian marks its system Python "externally managed"; the official image's is not).
        for pattern in (
            "var/cache/apt/archives/*.deb",
            "var/lib/apt/lists/*",
            "usr/share/doc/*",
            "usr/share/man/*",
            "usr/share/locale/*",
            "usr/lib/python3*/EXTERNALLY-MANAGED",
        ):
            for path in rootfs.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        imported = subprocess.run(
            [
                DOCKER_CLI,
                "import",
                "--change",
                "ENV LANG=C.UTF-8",
                "--change",
                'CMD ["python3"]',
                "-",
                BASE_ROOTFS_IMAGE,
            ],
            stdin=tar.stdout,
            capture_output=True,
            env=self.docker_env(),
            timeout=600,
            check=False,
        )
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise ProofFailure(f"docker import failed: {imported.stderr.decode(errors='replace')}")
        shutil.rmtree(rootfs)  # the image holds it now

    def build_wheelhouse(self) -> None:
        """Every wheel the image installs, downloaded on the host (which trusts the machine's CA)."""
        wheelhouse = self.work / "wheelhouse"
        wheelhouse.mkdir(parents=True, exist_ok=True)
        requirements = self.work / "requirements-proof.txt"
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
                str(wheelhouse),
                "-r",
                str(requirements),
            ],
            log=self.logs / "pip-download.log",
            timeout=900,
        )
        self.report["wheelhouse_mib"] = mib(sum(p.stat().st_size for p in wheelhouse.iterdir()))

    def serve_wheelhouse(self) -> None:
        self.wheel_port = free_port(PREFERRED_WHEEL_PORT)
        self.procs.start(
            "wheel server",
            [
                sys.executable,
                "-m",
                "http.server",
                str(self.wheel_port),
                "--bind",
                "127.0.0.1",
                "--directory",
                str(self.work / "wheelhouse"),
            ],
            log=self.logs / "wheel-server.log",
        )
        wait_for("the wheel server", lambda: http_ok(f"http://127.0.0.1:{self.wheel_port}/"), timeout=20)

    def tag_dockerfile_base(self) -> None:
        """Tag the Debian image as the Dockerfile's base, with pip pointed at the local wheelhouse."""
        base = dockerfile_base(DOCKERFILE)
        self.report["dockerfile_base"] = base
        stand_in = (
            f"FROM {BASE_ROOTFS_IMAGE}\n"
            "RUN printf '[global]\\nno-index = true\\nfind-links = http://127.0.0.1:%s/\\n' "
            f"{self.wheel_port} > /etc/pip.conf\n"
        )
        context = self.work / "empty-context"
        context.mkdir(parents=True, exist_ok=True)
        self.docker(
            "build",
            "--network",
            "host",
            "-t",
            base,
            "-f",
            "-",
            str(context),
            input_bytes=stand_in.encode(),
            log=self.logs / "build-base.log",
        )
        self.report["base_image_mib"] = mib(self.image_size(base))

    def build_project_image(self) -> None:
        self.docker(
            "build",
            "--network",
            "host",
            "-f",
            str(DOCKERFILE),
            "-t",
            PROJECT_IMAGE,
            str(REPO),
            log=self.logs / "build-project.log",
            timeout=1200,
        )
        size = self.image_size(PROJECT_IMAGE)
        base = self.report["base_image_mib"]
        self.report["project_image_mib"] = mib(size)
        self.report["project_layers_mib"] = round(mib(size) - base, 1)
        # The image must work on its own: `python` runs, spylib and the dependencies import.
        smoke = self.docker("run", "--rm", "--network", "none", PROJECT_IMAGE, timeout=120)
        self.check(
            "project image runs its default command",
            b"spylib" in smoke.stdout,
            smoke.stdout.decode(errors="replace").strip(),
        )
        user = (
            self.docker("run", "--rm", "--network", "none", PROJECT_IMAGE, "id", "-un")
            .stdout.decode()
            .strip()
        )
        self.check("project image runs unprivileged", user != "root", f"user {user}")
        if self.opts.measure_compressed:
            saved = subprocess.Popen(
                [DOCKER_CLI, "save", PROJECT_IMAGE], stdout=subprocess.PIPE, env=self.docker_env()
            )
            assert saved.stdout is not None
            gz = subprocess.run(["gzip", "-6"], stdin=saved.stdout, capture_output=True, check=True)
            saved.wait()
            self.report["project_image_gzip_mib"] = mib(len(gz.stdout))

    def build_test_image(self) -> None:
        self.moto_port = free_port()
        context = self.work / "test-layer-context"
        context.mkdir(parents=True, exist_ok=True)
        shutil.copy2(METADATA_SHIM, context / METADATA_SHIM.name)
        self.docker(
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
            f"AWS_ENDPOINT_URL=http://127.0.0.1:{self.moto_port}",
            str(context),
            input_bytes=TEST_LAYER.read_bytes(),
            log=self.logs / "build-test-layer.log",
        )

    def start_moto(self) -> None:
        env = dict(os.environ)
        env.update(
            DOCKER_HOST=f"unix://{self.engine_sock}",
            MOTO_DOCKER_NETWORK_MODE="host",  # the job containers reach moto (S3) on 127.0.0.1
            MOTO_PORT=str(self.moto_port),
            AWS_ACCESS_KEY_ID="spyflow-proof",
            AWS_SECRET_ACCESS_KEY="spyflow-proof",
            AWS_DEFAULT_REGION=REGION,
        )
        self.procs.start(
            "moto server",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.moto_port)],
            env=env,
            log=self.logs / "moto.log",
        )
        wait_for(
            "the moto server", lambda: http_ok(f"http://127.0.0.1:{self.moto_port}/moto-api/"), timeout=60
        )

    def boto3_client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=f"http://127.0.0.1:{self.moto_port}",
            region_name=REGION,
            aws_access_key_id="spyflow-proof",
            aws_secret_access_key="spyflow-proof",
        )

    def create_aws_resources(self) -> None:
        """The same resources a real account needs (docker/README-batch.md), created in moto."""
        self.boto3_client("s3").create_bucket(Bucket=BUCKET)
        iam = self.boto3_client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "{}"}, "Action": "sts:AssumeRole"}],
        }

        def create_role(name: str, service: str) -> str:
            doc = json.loads(json.dumps(trust).replace('"{}"', json.dumps(service)))
            return str(
                iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]
            )

        self.job_role_arn = create_role(JOB_ROLE, "ecs-tasks.amazonaws.com")
        service_role_arn = create_role(SERVICE_ROLE, "batch.amazonaws.com")
        create_role(INSTANCE_ROLE, "ec2.amazonaws.com")
        profile = iam.create_instance_profile(InstanceProfileName=INSTANCE_ROLE)["InstanceProfile"]["Arn"]
        iam.add_role_to_instance_profile(InstanceProfileName=INSTANCE_ROLE, RoleName=INSTANCE_ROLE)
        ec2 = self.boto3_client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="spyflow-batch", Description="spy-flow Batch", VpcId=vpc)
        batch = self.boto3_client("batch")
        # MANAGED, as in a real account: Metaflow reads computeResources.type of the queue's environment.
        ce = batch.create_compute_environment(
            computeEnvironmentName=COMPUTE_ENV,
            type="MANAGED",
            state="ENABLED",
            computeResources={
                "type": "EC2",
                "minvCpus": 0,
                "maxvCpus": 16,
                "desiredvCpus": 0,
                "instanceTypes": ["optimal"],
                "subnets": [subnet],
                "securityGroupIds": [group["GroupId"]],
                "instanceRole": profile,
            },
            serviceRole=service_role_arn,
        )
        batch.create_job_queue(
            jobQueueName=JOB_QUEUE,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}],
        )

    # ---- flow runs ----
    def flow_env(self) -> dict[str, str]:
        """The flow's environment: README-batch.md's settings, pointed at moto and this engine's image."""
        endpoint = f"http://127.0.0.1:{self.moto_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "AWS_"))}
        env.update(
            METAFLOW_USER="spyflow",
            METAFLOW_HOME=str(self.work / "metaflow-home"),  # no ~/.metaflowconfig leaks in
            METAFLOW_DEFAULT_METADATA="local",
            METAFLOW_DATASTORE_SYSROOT_LOCAL=str(self.work / "metaflow-local"),
            METAFLOW_DEFAULT_DATASTORE="s3",
            METAFLOW_DATASTORE_SYSROOT_S3=f"s3://{BUCKET}/metaflow",
            METAFLOW_S3_ENDPOINT_URL=endpoint,
            METAFLOW_BATCH_JOB_QUEUE=JOB_QUEUE,
            METAFLOW_ECS_S3_ACCESS_IAM_ROLE=self.job_role_arn,
            METAFLOW_BATCH_CONTAINER_IMAGE=TEST_IMAGE,
            AWS_ENDPOINT_URL_BATCH=endpoint,  # Metaflow's Batch client has no endpoint setting of its own
            AWS_ACCESS_KEY_ID="spyflow-proof",
            AWS_SECRET_ACCESS_KEY="spyflow-proof",
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=os.devnull,  # never a real profile or credential from this machine
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            PYTHONPATH=str(self.import_dir()),
        )
        return env

    def import_dir(self) -> Path:
        """A directory holding only a link to spylib, for the flow's PYTHONPATH.

        Not the repository root: a ``spy_flow.egg-info`` left there by an editable install would
        be on sys.path, Metaflow would package its (missing) METADATA as the distribution's, and in
        the container every entry-point scan (scikit-learn's, through narwhals) would raise
        ``TypeError: expected string or bytes-like object, got 'NoneType'``.
        """
        path = self.work / "pythonpath"
        path.mkdir(parents=True, exist_ok=True)
        link = path / "spylib"
        if not link.is_symlink():
            link.symlink_to(REPO / "spylib", target_is_directory=True)
        return path

    def run_flow(self, label: str, command: Sequence[str]) -> tuple[int, str | None]:
        """Run the flow CLI (``run`` or ``resume``); returns its exit status and the run id."""
        run_id_file = self.work / f"run-id-{label}"
        run_id_file.unlink(missing_ok=True)
        log = self.logs / f"flow-{label}.log"
        log.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            str(self.opts.flow),
            *command,
            "--run-id-file",
            str(run_id_file),
            "--max-workers",
            str(self.opts.max_workers),
        ]
        log_line(f"flow ({label}): {' '.join(cmd[1:])}")
        proc = self.procs.start(
            f"flow {label}", cmd, env=self.flow_env(), cwd=self.work, log=log, grace_seconds=30
        )
        try:
            code = proc.wait(timeout=self.opts.run_timeout)
        except subprocess.TimeoutExpired:
            raise ProofFailure(
                f"flow ({label}) still running after {self.opts.run_timeout:.0f} s; log:\n{tail_text(log)}"
            ) from None
        finally:
            self.procs.stop(proc)
        run_id = run_id_file.read_text().strip() if run_id_file.exists() else None
        log_line(f"flow ({label}) exited {code}, run id {run_id}")
        return code, run_id

    def run_args(self) -> list[str]:
        return self.opts.run_args.format(bucket=BUCKET, model_group=MODEL_GROUP).split()

    def config_args(self) -> list[str]:
        sweep = self.work / "sweep-proof.json"
        sweep.write_text(json.dumps(PROOF_SWEEP, indent=2))
        args = ["--config", "sweep", str(sweep)]
        if self.opts.resources_config is not None:
            args += ["--config", "resources", str(self.opts.resources_config)]
        return args

    # ---- checks through the Client ----
    def client(self) -> Any:
        """Metaflow's Client, configured like the flow (Metaflow reads its settings at import)."""
        if "metaflow" not in sys.modules:
            os.environ.update(self.flow_env())
            os.environ["METAFLOW_S3_RETRY_COUNT"] = "1"  # a dead endpoint fails fast
        import metaflow

        metaflow.namespace(None)
        return metaflow

    def batch_jobs(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        batch = self.boto3_client("batch")
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(job_ids), 100):
            for job in batch.describe_jobs(jobs=list(job_ids[i : i + 100]))["jobs"]:
                out[job["jobId"]] = job
        return out

    def check_plain_run(self, run_id: str) -> None:
        mf = self.client()
        run = mf.Run(f"{self.flow_name}/{run_id}")
        self.check("the run succeeded", run.successful, run.pathspec)
        steps = {s.id: list(s) for s in run}
        fanned = steps.get(self.opts.foreach_step, [])
        self.check(
            f"the `{self.opts.foreach_step}` foreach fanned out", len(fanned) >= 2, f"{len(fanned)} tasks"
        )
        # Every task of every step ran in a Batch container: its metadata carries the job id.
        job_of: dict[str, str] = {}
        for tasks in steps.values():
            for task in tasks:
                job_id = task.metadata_dict.get("aws-batch-job-id")
                self.check(f"{task.pathspec} ran on Batch", bool(job_id), f"job {job_id}")
                job_of[task.pathspec] = str(job_id)
        jobs = self.batch_jobs(sorted(set(job_of.values())))
        wanted = self.step_resources(self.opts.foreach_step)
        for task in fanned:
            job = jobs.get(job_of[task.pathspec], {})
            container = job.get("container", {})
            got = {"cpu": container.get("vcpus"), "memory": container.get("memory")}
            self.check(
                f"{task.pathspec}: Batch job SUCCEEDED with the Config's resources",
                job.get("status") == "SUCCEEDED" and (wanted is None or got == wanted),
                f"status {job.get('status')}, asked {got}, Config {wanted}",
            )
        # Artifacts read back (every artifact of every task is loaded from the S3 datastore).
        n_artifacts = 0
        for tasks in steps.values():
            for task in tasks:
                for artifact in task.artifacts:
                    _ = artifact.data
                    n_artifacts += 1
        self.check(
            "every artifact reads back through the Client", n_artifacts > 0, f"{n_artifacts} artifacts"
        )
        # The card(s).
        cards = [(task.pathspec, c) for tasks in steps.values() for task in tasks for c in task_cards(task)]
        self.check(
            "the card reads back through the Client",
            bool(cards) and all(len(c.get()) > 1000 for _, c in cards),
            ", ".join(f"{p} ({c.id or c.type})" for p, c in cards),
        )
        self.report["cards"] = [p for p, _ in cards]
        if self.flow_name == "SpyFlow":
            self.check_spyflow_outputs(run)

    def check_spyflow_outputs(self, run: Any) -> None:
        data = run["end"].task.data
        self.check(
            "the gate decided",
            data.gate["status"] in ("Approved", "Rejected", "PendingManualApproval"),
            str(data.gate["status"]),
        )
        self.check("predictions are an artifact", len(data.predictions) > 0, f"{len(data.predictions)} rows")
        registration = data.registration
        if "--lake-root s3://" in self.opts.run_args:
            listed = self.boto3_client("s3").list_objects_v2(Bucket=BUCKET, Prefix="lake/")
            keys = [o["Key"] for o in listed.get("Contents", [])]
            self.check(
                "the containers wrote the Parquet lake to S3",
                any(k.endswith(".parquet") for k in keys),
                f"{len(keys)} objects under s3://{BUCKET}/lake/",
            )
        if "--registry sagemaker" in self.opts.run_args:
            sm = self.boto3_client("sagemaker")
            packages = sm.list_model_packages(ModelPackageGroupName=MODEL_GROUP)["ModelPackageSummaryList"]
            arns = [p["ModelPackageArn"] for p in packages]
            self.check(
                "the model reached the SageMaker Model Registry from a container",
                any(str(registration.get("version")) in a for a in arns) and bool(arns),
                f"registration {registration.get('version')}, packages {arns}",
            )

    def step_resources(self, step_name: str) -> dict[str, int] | None:
        path = self.opts.resources_config or self.opts.flow.parent / "config" / "resources.json"
        if not path.exists():
            return None
        spec = json.loads(path.read_text()).get(step_name)
        return {"cpu": int(spec["cpu"]), "memory": int(spec["memory"])} if spec else None

    def run_with_failure_then_resume(self) -> None:
        fail_step = self.opts.fail_step
        watcher = KillOnStart(self, f"-{self.flow_name}-", f"-{fail_step}-")
        watcher.start()
        try:
            code, failed_id = self.run_flow(
                "failing", [*self.config_args(), "--with", "batch", "run", *self.run_args()]
            )
        finally:
            watcher.stop()
        self.report["failing_run"] = failed_id
        self.check(
            f"the `{fail_step}` container was killed from outside",
            bool(watcher.killed),
            ", ".join(watcher.killed),
        )
        self.check("the run with the fault failed", code != 0 and failed_id is not None, f"exit {code}")
        mf = self.client()
        failed = mf.Run(f"{self.flow_name}/{failed_id}")
        fail_tasks = list(failed[fail_step]) if fail_step in [s.id for s in failed] else []
        self.check(
            f"it failed in `{fail_step}`",
            not failed.successful and any(not t.successful for t in fail_tasks),
            failed.pathspec,
        )
        with self.phase("resume run"):
            code, resumed_id = self.run_flow(
                "resume", ["--with", "batch", "resume", "--origin-run-id", str(failed_id)]
            )
        self.report["resumed_run"] = resumed_id
        self.check("resume exited 0", code == 0 and resumed_id is not None, f"exit {code}")
        resumed = mf.Run(f"{self.flow_name}/{resumed_id}")
        self.check("the resumed run succeeded", resumed.successful, resumed.pathspec)
        origin_prefix = f"{self.flow_name}/{failed_id}/{self.opts.foreach_step}/"
        trains = list(resumed[self.opts.foreach_step])
        origins = [t.origin_pathspec for t in trains]
        self.check(
            f"every `{self.opts.foreach_step}` task was cloned from the failed run",
            len(trains) >= 2 and all(o and o.startswith(origin_prefix) for o in origins),
            ", ".join(str(o) for o in origins),
        )
        redo = resumed[fail_step].task
        self.check(
            f"`{fail_step}` ran again, on Batch",
            redo.origin_pathspec is None and bool(redo.metadata_dict.get("aws-batch-job-id")),
            f"{redo.pathspec}, job {redo.metadata_dict.get('aws-batch-job-id')}",
        )

    # ---- the whole session ----
    def run(self) -> None:
        with self.phase("preflight"):
            self.preflight()
            if self.opts.fresh:
                wipe_workdir(self.work)
            self.work.mkdir(parents=True, exist_ok=True)
        with self.phase("install docker.io and debootstrap"):
            self.install_packages()
        with self.phase("start the Docker engine"):
            self.start_engine()
        if self.opts.check_only:
            self.report["status"] = "engine-ok"
            return
        if not self.opts.flow.exists():
            raise ProofFailure(f"no flow at {self.opts.flow}")
        with self.phase("base image (debootstrap, import)"):
            self.build_base_image()
        with self.phase("wheelhouse (pip download on the host)"):
            self.build_wheelhouse()
            self.serve_wheelhouse()
            self.tag_dockerfile_base()
        with self.phase("project image (docker/Dockerfile)"):
            self.build_project_image()
        with self.phase("emulator layer (docker/test-layer.Dockerfile)"):
            self.build_test_image()
        with self.phase("moto server and Batch resources"):
            self.start_moto()
            self.create_aws_resources()
        with self.phase("plain run on Batch"):
            code, run_id = self.run_flow(
                "plain", [*self.config_args(), "--with", "batch", "run", *self.run_args()]
            )
            self.report["plain_run"] = run_id
            if code != 0 or run_id is None:
                raise ProofFailure(
                    f"the flow failed (exit {code}); log:\n{tail_text(self.logs / 'flow-plain.log', 60)}"
                )
        with self.phase("checks of the plain run"):
            self.check_plain_run(run_id)
        with self.phase("run with a killed evaluate, then resume"):
            self.run_with_failure_then_resume()
        self.report["status"] = "proved"

    def stop_engine_containers(self) -> None:
        if not self.engine_sock.exists():
            return
        ids = self.docker("ps", "-q", check=False, timeout=30).stdout.decode().split()
        if ids:
            self.docker("kill", *ids, check=False, timeout=60)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop_engine_containers()
        self.procs.stop_all()
        # dockerd leaves its default network namespace mounted in the exec root, even on a clean exit.
        unmount_under(self.exec_root)
        with contextlib.suppress(OSError):
            shutil.rmtree(self.exec_root)


def task_cards(task: Any) -> list[Any]:
    """The cards of one task (none is not an error here)."""
    from metaflow.cards import get_cards
    from metaflow.plugins.cards.exception import CardNotPresentException

    try:
        return list(get_cards(task))
    except CardNotPresentException:
        return []


class KillOnStart:
    """Kills every container of one step the moment the engine starts it (a fault from outside).

    Batch job names are ``{user}-{flow}-{run}-{step}-{task}-{attempt}`` and moto names each
    container after its job, so the step is recognisable in the engine's start events.
    """

    def __init__(self, proof: Proof, *needles: str) -> None:
        self.proof = proof
        self.needles = needles
        self.killed: list[str] = []
        self.proc: subprocess.Popen[Any] | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.proc = self.proof.procs.start(
            "docker events",
            [
                DOCKER_CLI,
                "events",
                "--filter",
                "type=container",
                "--filter",
                "event=start",
                "--format",
                "{{.ID}} {{.Actor.Attributes.name}}",
            ],
            env=self.proof.docker_env(),
            log=self.proof.logs / "docker-events.log",
            stdout=subprocess.PIPE,
        )
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()
        time.sleep(1.0)  # let the client subscribe before the run starts

    def watch(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            container_id, _, name = raw.decode(errors="replace").strip().partition(" ")
            if all(n.lower() in name.lower() for n in self.needles):
                self.proof.docker("kill", container_id, check=False, timeout=60)
                self.killed.append(name)
                log_line(f"killed container {name}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proof.procs.stop(self.proc)
        if self.thread is not None:
            self.thread.join(timeout=10)


def debian_mirror() -> str:
    """The machine's own Debian mirror (deb822 or one-line sources), else deb.debian.org."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        match = re.search(r"^URIs:\s*(\S+/debian)\s*$", sources.read_text(), flags=re.MULTILINE)
        if match:
            return match.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        match = re.search(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s+bookworm\s", legacy.read_text(), flags=re.MULTILINE
        )
        if match:
            return match.group(1)
    return "http://deb.debian.org/debian"


def mount_points_under(root: Path, mounts_table: str) -> list[str]:
    """Mount points at or below ``root`` in a /proc/mounts table, deepest first."""
    points = [line.split()[1] for line in mounts_table.splitlines() if len(line.split()) > 1]
    return sorted((m for m in points if m == str(root) or m.startswith(f"{root}/")), reverse=True)


def unmount_under(root: Path) -> None:
    """Unmount everything at or below ``root`` (what an engine leaves behind when it stops)."""
    for mount in mount_points_under(root, Path("/proc/mounts").read_text()):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)


def wipe_workdir(work: Path) -> None:
    """Remove the scratch directory, unmounting what a crashed engine may have left mounted in it."""
    if not work.exists():
        return
    unmount_under(work)
    shutil.rmtree(work)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="scratch directory")
    parser.add_argument("--flow", type=Path, default=REPO / "flows" / "spy_flow.py", help="the flow file")
    parser.add_argument(
        "--run-args",
        default=DEFAULT_RUN_ARGS,
        help="parameters of the proof runs ({bucket} and {model_group} are filled in)",
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
    )


def raise_on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, raise_on_signal)
    proof = Proof(opts)
    started = time.monotonic()
    code = 1
    try:
        proof.run()
        code = 0
    except Skip as exc:
        proof.report["status"] = "skipped"
        proof.report["reason"] = str(exc)
        code = SKIPPED
    except ProofFailure as exc:
        proof.report["status"] = "failed"
        proof.report["reason"] = str(exc)
    except KeyboardInterrupt as exc:
        proof.report["status"] = "interrupted"
        proof.report["reason"] = str(exc) or "interrupted"
    except Exception:  # a bug or an unexpected API answer: still a failure, still cleaned up
        proof.report["status"] = "failed"
        proof.report["reason"] = traceback.format_exc()
    finally:
        # Whatever happened: stop what was started (new signals must not cut the cleanup short).
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        proof.close()
        proof.report["total_seconds"] = round(time.monotonic() - started, 1)
        if proof.work.exists():
            (proof.work / "report.json").write_text(json.dumps(proof.report, indent=2))
    status = proof.report["status"]
    log_line(f"total {proof.report['total_seconds']} s")
    if code == SKIPPED:
        print(f"batch proof SKIPPED: {proof.report['reason']}", flush=True)
    elif code != 0:
        print(f"batch proof {status.upper()}: {proof.report.get('reason')}", flush=True)
    elif status == "engine-ok":
        print("batch proof: a Docker engine starts on this machine (--check only)", flush=True)
    else:
        print(f"batch proof {status.upper()}: {len(proof.report['checks'])} checks held", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
