"""The private Docker engine: what the machine must offer (else the proof is skipped), installing
``docker.io`` and ``debootstrap``, starting dockerd on its own socket, data root and exec root,
the offline base image (debootstrap, then ``docker import``), and stopping and unmounting it all."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .session import Session
from .settings import BASE_ROOTFS_IMAGE, DEBOOTSTRAP, DOCKER_CLI, DOCKERD, EXEC_ROOT_PREFIX
from .shell import ProofFailure, Skip, log_line, run_cmd, tail_text, wait_for


def preflight() -> None:
    """Raise ``Skip`` when this machine cannot start the engine the proof needs."""
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


def install_packages(logs: Path) -> None:
    """``docker.io`` and ``debootstrap`` with apt, unless already installed (``Skip`` when apt fails)."""
    if Path(DOCKERD).exists() and Path(DEBOOTSTRAP).exists() and Path(DOCKER_CLI).exists():
        log_line("docker.io and debootstrap already installed")
        return
    if shutil.which("apt-get") is None:
        raise Skip("apt-get is not available to install docker.io and debootstrap")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log = logs / "apt.log"
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "docker.io", "debootstrap"],
    ):
        if run_cmd(cmd, env=env, log=log, timeout=600, check=False).returncode != 0:
            raise Skip(f"`{' '.join(cmd)}` failed, see {log}:\n{tail_text(log, 15)}")


class Engine:
    """A dockerd of the proof's own (private socket, data root and exec root) and its CLI."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.root = session.work / "engine"
        self.sock = self.root / "docker.sock"
        self.exec_root = Path(EXEC_ROOT_PREFIX + hashlib.sha1(str(session.work).encode()).hexdigest()[:8])

    def env(self) -> dict[str, str]:
        """This process's environment with the CLI pointed at this engine (legacy builder)."""
        env = dict(os.environ)
        env["DOCKER_HOST"] = f"unix://{self.sock}"
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
            env=self.env(),
            log=log,
            timeout=timeout,
            check=check,
            input_bytes=input_bytes,
        )

    def image_exists(self, ref: str) -> bool:
        return self.docker("image", "inspect", ref, check=False).returncode == 0

    def image_size(self, ref: str) -> int:
        return int(self.docker("image", "inspect", "--format", "{{.Size}}", ref).stdout.decode().strip())

    def start(self) -> None:
        """Start dockerd and wait for it; ``Skip`` when it does not come up with overlay2."""
        pidfile = self.root / "dockerd.pid"
        if pidfile.exists():
            with contextlib.suppress(ValueError, OSError):
                old = int(pidfile.read_text().strip())
                os.kill(old, 0)
                raise ProofFailure(f"a proof engine is already running (dockerd pid {old}, {pidfile})")
        for path in (self.root / "data", self.exec_root):
            path.mkdir(parents=True, exist_ok=True)
        self.sock.unlink(missing_ok=True)
        log = self.session.logs / "dockerd.log"
        self.session.procs.start(
            "dockerd",
            [
                DOCKERD,
                f"--host=unix://{self.sock}",
                f"--data-root={self.root / 'data'}",
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
        self.session.report["engine"] = {"version": info.get("ServerVersion"), "driver": info.get("Driver")}

    def build_base_image(self) -> None:
        """Debian bookworm + Python 3.11 + pip, imported as an image: the stand-in for python:3.11-slim."""
        if self.image_exists(BASE_ROOTFS_IMAGE):
            log_line(f"{BASE_ROOTFS_IMAGE} already in the engine")
            return
        rootfs = self.session.work / "base" / "rootfs"
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
            log=self.session.logs / "debootstrap.log",
            timeout=900,
        )
        slim_down(rootfs)
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
            env=self.env(),
            timeout=600,
            check=False,
        )
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise ProofFailure(f"docker import failed: {imported.stderr.decode(errors='replace')}")
        shutil.rmtree(rootfs)  # the image holds it now

    def kill_containers(self) -> None:
        """Kill every container still running in this engine (before the engine itself stops)."""
        if not self.sock.exists():
            return
        ids = self.docker("ps", "-q", check=False, timeout=30).stdout.decode().split()
        if ids:
            self.docker("kill", *ids, check=False, timeout=60)

    def remove_exec_root(self) -> None:
        """After dockerd stopped: it leaves its default network namespace mounted in the exec root,
        even on a clean exit."""
        unmount_under(self.exec_root)
        with contextlib.suppress(OSError):
            shutil.rmtree(self.exec_root)


def slim_down(rootfs: Path) -> None:
    """Like python:3.11-slim: no package caches or docs, and a Python pip may install into
    (Debian marks its system Python "externally managed"; the official image's is not)."""
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
