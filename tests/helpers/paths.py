"""The repository files the tests read (no side effects: plain paths)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
FLOW_FILE = REPO / "flows" / "spy_flow.py"
PREDICT_FLOW = REPO / "flows" / "predict_flow.py"
CONFIG_DIR = REPO / "flows" / "config"
SMALL_SWEEP = TESTS / "data" / "sweep_small.json"
# The seed project's CSVs, when the shared data is checked out next to the repository.
SEED_DATA = REPO.parent / "shared" / "data" / "seed"
# Directories put on a flow subprocess's PYTHONPATH.
FAULT_SITE = TESTS / "helpers" / "faultsite"
PLUGINS = TESTS / "helpers" / "plugins"
