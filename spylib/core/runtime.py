"""Process-level facts: the user name Metaflow needs before it is imported, and the code version."""

from __future__ import annotations

import os
import subprocess
from collections.abc import MutableMapping
from pathlib import Path

DEFAULT_METAFLOW_USER = "spyflow"


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
