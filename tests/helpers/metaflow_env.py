"""The session's isolated Metaflow datastore, and the environment of the flow subprocesses.

Metaflow reads its configuration when it is first imported, so ``tests/conftest.py`` calls
:func:`isolate` before any test module imports metaflow: a local datastore and metadata root of the
session's own (never the user's ``.metaflow``), and a user name (CI runs as root, which Metaflow
refuses). The process environment is the one place the root is kept: :func:`session_root` reads it back.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_VARIABLE = "METAFLOW_DATASTORE_SYSROOT_LOCAL"


def isolate(root: Path) -> None:
    """Point this process (and every Metaflow process it starts) at a datastore under ``root``."""
    os.environ[ROOT_VARIABLE] = str(root)
    os.environ["METAFLOW_DEFAULT_DATASTORE"] = "local"
    os.environ["METAFLOW_DEFAULT_METADATA"] = "local"
    # Without this, a flow writes its cards under the first .metaflow found from its cwd upwards (the
    # repo); with it set, Metaflow 2.19 writes them inside the datastore root instead.
    os.environ["METAFLOW_CARD_LOCALROOT"] = str(root / ".metaflow" / "mf.cards")
    os.environ.setdefault("METAFLOW_USER", "spyflow-tests")
    # Card rendering and matplotlib must not look for a display or write outside the sandbox.
    os.environ.setdefault("MPLBACKEND", "Agg")


def session_root() -> Path:
    """The datastore root :func:`isolate` set for this session."""
    root = os.environ.get(ROOT_VARIABLE)
    if not root:
        raise RuntimeError(f"{ROOT_VARIABLE} is not set: tests/conftest.py isolates Metaflow first")
    return Path(root)


def flow_env(**extra: str) -> dict[str, str]:
    """Environment for a flow subprocess started by metaflow.Runner (the session's datastore)."""
    env = {
        ROOT_VARIABLE: str(session_root()),
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_USER": os.environ["METAFLOW_USER"],
        "MPLBACKEND": "Agg",
    }
    env.update(extra)
    return env


def pythonpath(*directories: Path) -> str:
    """``directories`` first, then this process's ``PYTHONPATH`` (if any), joined for a subprocess."""
    parts = [str(d) for d in directories]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(parts)


def output_params(tmp: Path) -> dict[str, str]:
    """Flow parameters that keep every output of a test run inside ``tmp``."""
    return {
        "output_dir": str(tmp / "out"),
        "lake_root": str(tmp / "lake"),
        "registry_location": str(tmp / "registry"),
    }
