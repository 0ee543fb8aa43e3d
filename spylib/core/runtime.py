"""Process-level facts: the user name Metaflow needs before it is imported, and the code version."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path

from spylib.core.errors import ConfigError

DEFAULT_METAFLOW_USER = "spyflow"
TRUE_WORDS: tuple[str, ...] = ("1", "true", "yes")
FALSE_WORDS: tuple[str, ...] = ("0", "false", "no")


def env_flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """A boolean environment setting: ``1``/``true``/``yes`` or ``0``/``false``/``no`` (any case), unset
    or empty = false. Anything else (``ture``) is a :class:`~spylib.core.errors.ConfigError` naming the
    variable: a typo must not silently read as false."""
    env = os.environ if environ is None else environ
    text = env.get(name, "").strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS or not text:
        return False
    raise ConfigError(
        f"expected one of {', '.join(TRUE_WORDS + FALSE_WORDS)} (or empty), got {env.get(name)!r}",
        source=f"${name}",
    )


def ensure_metaflow_user(environ: MutableMapping[str, str] | None = None) -> str:
    """Metaflow refuses the user name ``root`` and fails when no user is set (CI and containers run
    as root). Pick a name the way Metaflow would, and fall back to ``spyflow`` only when that would
    be ``root`` or nothing. Must run before ``import metaflow`` (it reads the setting at import)."""
    env = os.environ if environ is None else environ
    for key in ("METAFLOW_USER", "SUDO_USER", "USERNAME", "USER"):
        value = env.get(key)
        if value and value != "root":
            env.setdefault("METAFLOW_USER", value)
            return value
    env["METAFLOW_USER"] = DEFAULT_METAFLOW_USER
    return DEFAULT_METAFLOW_USER


def code_version() -> str:
    """The git commit of the working tree when available, else the package version."""
    from spylib import __version__

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"{__version__}+g{out.stdout.strip()}"
    except OSError:
        pass
    return __version__


def exit_on_config_error(check: Callable[[], object]) -> None:
    """For the flow files, before Metaflow starts (some settings are read by Metaflow itself, or by a
    Parameter default it evaluates): a :class:`~spylib.core.errors.ConfigError` from ``check`` is one
    line on stderr and exit status 2, not Metaflow's "Internal error" and a traceback."""
    try:
        check()
    except ConfigError as exc:
        print(f"spy-flow: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def available_cores() -> int:
    """The cores this process may run on (the task's allotment under a container or taskset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def metaflow_batch_image(_context: object = None) -> str:
    """Metaflow's ``METAFLOW_BATCH_CONTAINER_IMAGE`` (environment or Metaflow config), or ''.

    That is the project's image (``docker/Dockerfile``), which also serves (``docker run IMAGE
    serve``). Only the process that launches a run sees it: Metaflow does not pass it into Batch
    containers, so a flow resolves it at launch: as a Parameter's default
    (``Parameter("sagemaker-image-uri", default=metaflow_batch_image)``: Metaflow calls it with the
    parameter's context when ``run`` starts), not in a Batch step.
    """
    value = os.environ.get("METAFLOW_BATCH_CONTAINER_IMAGE", "")
    if not value:
        with contextlib.suppress(Exception):  # Metaflow missing or its config unreadable: no fallback
            from metaflow.metaflow_config import BATCH_CONTAINER_IMAGE

            value = str(BATCH_CONTAINER_IMAGE or "")
    return value
