"""Shared test setup.

Metaflow reads its configuration when it is first imported, so the settings every flow test needs
are made here, before any test module imports metaflow: an isolated local datastore and metadata
root for the whole session (never the user's ``.metaflow``), and a user name (CI runs as root,
which Metaflow refuses).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="spyflow-tests-"))
os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(_SESSION_ROOT)
os.environ["METAFLOW_DEFAULT_DATASTORE"] = "local"
os.environ["METAFLOW_DEFAULT_METADATA"] = "local"
# Without this, a flow writes its cards under the first .metaflow found from its cwd upwards (the
# repo); with it set, Metaflow 2.19 writes them inside the datastore root instead.
os.environ["METAFLOW_CARD_LOCALROOT"] = str(_SESSION_ROOT / ".metaflow" / "mf.cards")
os.environ.setdefault("METAFLOW_USER", "spyflow-tests")
# Card rendering and matplotlib must not look for a display or write outside the sandbox.
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

RUNNER_CWD = str(_SESSION_ROOT)
REPO = Path(__file__).resolve().parents[1]
FLOW_FILE = REPO / "flows" / "spy_flow.py"
SMALL_SWEEP = REPO / "tests" / "data" / "sweep_small.json"
SEED_DATA = REPO.parent / "shared" / "data" / "seed"


def flow_env(**extra: str) -> dict[str, str]:
    """Environment for a flow subprocess started by metaflow.Runner (the session's datastore)."""
    env = {
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(_SESSION_ROOT),
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_USER": os.environ["METAFLOW_USER"],
        "MPLBACKEND": "Agg",
    }
    env.update(extra)
    return env


def card_text(run_id: str, step: str, task_id: str, card_id: str) -> str:
    """The content (decoded JSON text) of a rendered card of a test run, read from the session datastore.

    (The card client resolves a different root than the writer when the datastore root is moved by
    METAFLOW_DATASTORE_SYSROOT_LOCAL, as it is here; users running from the repo are not affected.)
    """
    pattern = f"**/{run_id}/steps/{step}/tasks/{task_id}/cards/*-{card_id}-*.html"
    files = sorted(_SESSION_ROOT.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no card matching {pattern} under {_SESSION_ROOT}")
    html = files[-1].read_text()
    # The card's content is a base64 JSON payload rendered by the page's script: decode it.
    import base64
    import re

    payloads = re.findall(r'window\.__MF_DATA__\["[^"]+"\] = "([A-Za-z0-9+/=]+)"', html)
    if not payloads:
        raise ValueError(f"{files[-1]}: no card payload found")
    return "\n".join(base64.b64decode(p).decode("utf-8") for p in payloads)


def output_params(tmp: Path) -> dict[str, str]:
    """Flow parameters that keep every output of a test run inside ``tmp``."""
    return {
        "output_dir": str(tmp / "out"),
        "lake_root": str(tmp / "lake"),
        "registry_location": str(tmp / "registry"),
    }


@pytest.fixture(scope="session")
def session_root() -> Path:
    return _SESSION_ROOT


@pytest.fixture
def small_run_params(tmp_path: Path) -> dict[str, str]:
    return output_params(tmp_path)
