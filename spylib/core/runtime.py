"""Process-level settings the project's commands need before Metaflow is imported."""

from __future__ import annotations

import os
from collections.abc import MutableMapping

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
