"""Fingerprint of a SpyFlow run: the figures a refactor must leave unchanged.

Runs the flow (or reads an existing run) and prints one line per public artifact with a sha256 of
its content: the trials table, the chosen trial, the registered model's sha256, the track, the refits,
the baselines, the metrics, the gate and the predictions.
Two runs of the same code and data give the same lines; a refactor that changes none of them changed
no behaviour.

    python tests/bench/run_fingerprint.py            # run the default flow, then fingerprint it
    python tests/bench/run_fingerprint.py --run-id 1700000000000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def frame_sha256(frame: Any) -> str:
    import pandas as pd

    ordered = frame.reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(ordered, index=True).to_numpy().tobytes()).hexdigest()


def dict_sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def fingerprint(run: Any) -> dict[str, str]:
    data = run.data
    best = {k: v for k, v in dict(data.best).items() if k != "filter_columns"}
    return {
        "trials": frame_sha256(data.trials),
        "n_trials": str(len(data.trials)),
        "best_trial": f"{best.get('trial_id')} {best.get('config_id')} threshold={best.get('threshold')} "
        f"filter={best.get('filter')}",
        "best_sha256": dict_sha256(best),
        "model_sha256": str(data.registration["model_sha256"]),
        "track": frame_sha256(data.track),
        "refits": frame_sha256(data.refits),
        "baselines": frame_sha256(data.baselines),
        # where the run's trials ledger lives follows --registry-location, not the run's results
        "metrics": dict_sha256({k: v for k, v in data.metrics.items() if k != "ledger_location"}),
        "gate": dict_sha256(dict(data.gate)),
        # model_version names the run ("run-<id>"): everything else must match across runs.
        "predictions": frame_sha256(data.predictions.drop(columns=["model_version"])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", help="fingerprint this SpyFlow run instead of starting one")
    parser.add_argument("--max-workers", default="2")
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("METAFLOW_USER", "spyflow")
    os.environ.setdefault("METAFLOW_USER", "spyflow")
    run_id = args.run_id
    if run_id is None:
        out = Path(tempfile.mkdtemp(prefix="spyflow-fingerprint-"))
        cmd = [
            sys.executable, str(REPO / "flows" / "spy_flow.py"), "--quiet", "run",
            "--max-workers", args.max_workers,
            "--output-dir", str(out / "out"), "--lake-root", str(out / "lake"),
            "--registry-location", str(out / "registry"),
            "--run-id-file", str(out / "run_id"),
        ]  # fmt: skip
        subprocess.run(cmd, check=True, env=env, cwd=REPO)
        run_id = (out / "run_id").read_text().strip()
    from metaflow import Run, namespace

    namespace(None)
    for key, value in fingerprint(Run(f"SpyFlow/{run_id}")).items():
        print(f"{key:13s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
