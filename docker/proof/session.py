"""One proof session's shared state: its options, scratch and log directories, the processes it
started, and the JSON report that every phase times itself into and every check is recorded in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from typing import Any

from .settings import Options
from .shell import Processes, ProofFailure, log_line


@dataclass
class Session:
    opts: Options
    procs: Processes = field(default_factory=Processes)
    report: dict[str, Any] = field(default_factory=lambda: {"phases": {}, "checks": [], "status": "started"})

    @property
    def work(self) -> Path:
        return self.opts.workdir

    @property
    def logs(self) -> Path:
        return self.opts.workdir / "logs"

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block into ``report['phases'][name]`` (also when it raises)."""
        log_line(f"{name} ...")
        start = monotonic()
        try:
            yield
        finally:
            elapsed = round(monotonic() - start, 1)
            self.report["phases"][name] = elapsed
            log_line(f"{name}: {elapsed} s")

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        """Record a check; one that does not hold ends the proof."""
        self.report["checks"].append({"check": name, "ok": bool(ok), "detail": detail})
        log_line(f"check {'OK  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        if not ok:
            raise ProofFailure(f"check failed: {name}: {detail}")
