"""The trials ledger: every trial ever evaluated on the same data, for the deflated Sharpe ratio's N.

A grid trimmed after looking at its results on the same blocks has spent the trials it dropped; a
second grid tried on the same data adds its trials to the first's. The ledger records them: it lives
beside the model registry (``{registry location}/trials-ledger/``, a local directory or an ``s3://``
prefix) and is keyed by the data's fingerprint (the provenance's, from ingest), one folder per
fingerprint. Each run adds one JSON entry listing its trials' keys
(configuration id, threshold, filter, sizing, execution and cost: what makes the trial's returns;
and the window, for the `rolling` walk-forward scheme).

**No lost entries without a lock.** The layout is append-only and content-addressed: an entry is
named by the hash of its sorted trial keys, written atomically (a temp file renamed into place; one
``put_object`` on S3), and never rewritten with different content. Two concurrent runs write two
files (or the same file with the same keys); a reader takes the union of every entry. N is the
number of distinct trial keys in the union, this run's included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from spylib.core.config import WalkForwardConfig
from spylib.core.errors import ConfigError
from spylib.core.jsonio import dump_json
from spylib.registry.bundle import utc_now
from spylib.storage.files import atomic_write_bytes
from spylib.storage.s3 import is_s3_uri, read_s3_bytes, s3_client, split_s3_uri, write_s3_bytes

LEDGER_DIR = "trials-ledger"
_KEY_COLUMNS = ("config_id", "threshold", "filter", "sizing")


def trial_keys(
    trials: pd.DataFrame, *, execution: str, cost_bps: float, walk_forward: WalkForwardConfig | None = None
) -> list[str]:
    """One key per row of a trials table: what makes the trial's out-of-fold returns on given data.
    A ``rolling`` walk-forward adds its window to every key (``|rolling=1500d``): the same grid fitted
    on a bounded window is another set of trials, so trying both schemes counts both. The default
    ``expanding`` scheme adds nothing, so keys recorded before the scheme existed still match."""
    missing = [c for c in _KEY_COLUMNS if c not in trials.columns]
    if missing:
        raise ConfigError(f"the trials table has no column {missing[0]!r}", source="trials ledger")
    window = (
        f"|rolling={walk_forward.rolling_days}d"
        if walk_forward is not None and walk_forward.scheme == "rolling"
        else ""
    )
    return [
        f"{row.config_id}|t={float(row.threshold):g}|{row.filter}|{row.sizing}|{execution}|{float(cost_bps):g}bps"
        + window
        for row in trials[list(_KEY_COLUMNS)].itertuples(index=False)
    ]


@dataclass(frozen=True)
class LedgerCount:
    """What the ledger holds for one data fingerprint after this run's entry was added."""

    fingerprint: str
    n_trials: int  # distinct trials ever evaluated on this data, this run's included
    n_run: int  # this run's trials
    n_entries: int  # entries (runs with distinct grids) recorded
    location: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "ledger_n_trials": self.n_trials,
            "ledger_run_trials": self.n_run,
            "ledger_entries": self.n_entries,
            "ledger_location": self.location,
        }


class TrialsLedger:
    """The ledger under ``root`` (a directory or an ``s3://`` prefix): ``{root}/trials-ledger/{fingerprint}/``."""

    def __init__(self, root: str | Path, *, client: Any | None = None) -> None:
        text = str(root)
        if not text:
            raise ConfigError("the trials ledger needs a location", source="trials ledger")
        self.root = text.rstrip("/")
        self.s3 = is_s3_uri(self.root)
        self._client = client

    def folder(self, fingerprint: str) -> str:
        if not fingerprint or "/" in fingerprint or fingerprint.startswith("."):
            raise ConfigError(f"invalid data fingerprint {fingerprint!r}", source="trials ledger")
        return f"{self.root}/{LEDGER_DIR}/{fingerprint}"

    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def record(self, fingerprint: str, keys: Iterable[str], *, run: str = "") -> str:
        """Add an entry with ``keys``; returns its URI or path. Idempotent for the same keys."""
        unique = sorted(set(keys))
        digest = hashlib.sha256("\n".join(unique).encode()).hexdigest()[:24]
        body = dump_json({"fingerprint": fingerprint, "recorded": utc_now(), "run": run, "trials": unique})
        target = f"{self.folder(fingerprint)}/{digest}.json"
        if self.s3:
            write_s3_bytes(target, body, client=self.client())
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, body)
        return target

    def entries(self, fingerprint: str) -> list[dict[str, Any]]:
        """Every entry recorded for ``fingerprint`` (none: an empty list)."""
        folder = self.folder(fingerprint)
        if self.s3:
            bucket, prefix = split_s3_uri(folder + "/", source="trials ledger")
            paginator = self.client().get_paginator("list_objects_v2")
            names = [
                obj["Key"]
                for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
                for obj in page.get("Contents", [])
                if obj["Key"].endswith(".json")
            ]
            blobs = [read_s3_bytes(f"s3://{bucket}/{name}", client=self.client()) for name in sorted(names)]
        else:
            directory = Path(folder)
            blobs = [p.read_bytes() for p in sorted(directory.glob("*.json"))] if directory.is_dir() else []
        return [json.loads(blob) for blob in blobs]

    def distinct_trials(self, fingerprint: str) -> set[str]:
        return {key for entry in self.entries(fingerprint) for key in entry.get("trials", [])}

    def record_and_count(self, fingerprint: str, keys: Sequence[str], *, run: str = "") -> LedgerCount:
        """Add this run's entry, then count the distinct trials of every entry on this data."""
        self.record(fingerprint, keys, run=run)
        entries = self.entries(fingerprint)
        distinct = {key for entry in entries for key in entry.get("trials", [])} | set(keys)
        return LedgerCount(fingerprint, len(distinct), len(set(keys)), len(entries), self.folder(fingerprint))
