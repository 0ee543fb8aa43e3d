"""The proof's outcomes (``Skip``, ``ProofFailure``), running commands, and the processes it
starts: each in its own process group, recorded, and stopped by process id (never by name)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Skip(Exception):
    """This machine cannot run the proof (exit status 77); the message says why."""


class ProofFailure(Exception):
    """A phase broke or a check did not hold (exit status 1)."""


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


def mib(n_bytes: int) -> float:
    return round(n_bytes / 2**20, 1)


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
