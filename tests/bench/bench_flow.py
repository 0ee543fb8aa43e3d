"""Issue 8, item 2: the flow's own overhead.

Times ``python flows/spy_flow.py run --max-workers N`` (default sweep, default data) end to end, in a
subprocess with an isolated Metaflow datastore and temporary output directories, against the same
``spylib.stages.training`` calls made in one plain Python process (also a subprocess, timed end to end, so
both include interpreter start-up and imports; the ``foreach`` is a plain loop there).

Where the time goes, per step:

* ``in-process s``: the stage's calls in the single process;
* ``flow span s``: from the runtime launching the step's first task to its last task finishing
  (from the run's log lines: they include each task's process start-up);
* ``flow task s``: the sum over the step's tasks of ``finished_at - created_at`` (Metaflow Client;
  the task registers itself after its imports, so this leaves out the process start-up);
* ``tasks``: how many tasks ran the step (the ``train`` step: one per configuration, or one per
  ``--configs-per-task`` configurations). A task's ``task s`` minus the in-process time is what
  running the stage as a Metaflow task adds (a fresh Python process and its imports, loading the
  input artifacts, pickling and storing the outputs, the card). The ``end`` step does nothing, so
  its task time is the fixed cost of one task.

The script also measures two of those costs directly: a fresh interpreter importing what each kind
of task imports, and pickling + gzip (what the local datastore does) of the feature table.

Run: ``python tests/bench/bench_flow.py`` (1 single-process run + flow runs with --max-workers 1, 2
and 4, one task per configuration, + one run with --max-workers 2 --configs-per-task 6 (``--packed``);
~10 minutes). ``--quick``: the small test sweep and --max-workers 2 only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchcommon import REPO, format_table, machine_header

FLOW_FILE = REPO / "flows" / "spy_flow.py"
DEFAULT_SWEEP = REPO / "flows" / "config" / "sweep.json"
SMALL_SWEEP = REPO / "tests" / "data" / "sweep_small.json"
GATE = REPO / "flows" / "config" / "gate.json"
STEPS = ("start", "ingest", "features", "split", "train", "evaluate", "predict", "register", "end")
LOG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) \[[^/]+/(\w+)/(\d+) \(pid \d+\)\] "
    r"(Task is starting|Task finished successfully)"
)


def metaflow_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(root / "datastore"),
            "METAFLOW_DEFAULT_DATASTORE": "local",
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_USER": os.environ.get("METAFLOW_USER", "spyflow-bench"),
            "MPLBACKEND": "Agg",
        }
    )
    return env


# ---------------------------------------------------------------------------------------------
# the single process (runs in a child: `bench_flow.py --child-inprocess OUT SWEEP ROOT`)
# ---------------------------------------------------------------------------------------------
def child_inprocess(out_path: str, sweep_path: str, root: str) -> None:
    """The flow's calls, step by step, in this process; per-stage times to ``out_path``."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    from spylib.core.settings import build_training_settings
    from spylib.stages import training as pipeline
    from spylib.stages.cards import to_card_components

    times["imports"] = time.perf_counter() - t0
    parameters = dict(
        source="embedded", symbol="SPY", benchmark="QQQ", split_dates="", gap_rows=60,
        execution="close_to_close", cost_bps=1.0, seed=42, shuffle_labels=False, extra_features="",
        configs_per_task=1, output_dir=f"{root}/out",
        lake_root=f"{root}/lake", glue_database="", registry="local", registry_location=f"{root}/registry",
        model_group="spy-direction", sagemaker_image_uri="",
        sweep=json.loads(Path(sweep_path).read_text()), gate=json.loads(GATE.read_text()), resources=json.loads((GATE.parent / "resources.json").read_text()),
    )  # fmt: skip
    run_id = "bench-inprocess"

    def stage(name: str, started: float) -> float:
        now = time.perf_counter()
        times[name] = now - started
        return now

    t = time.perf_counter()
    settings = build_training_settings(**parameters)  # type: ignore[arg-type]
    t = stage("start", t)
    ingested = pipeline.run_ingest(settings)
    pipeline.write_lake(ingested.prices, "prices", settings, run_id)
    t = stage("ingest", t)
    made = pipeline.run_features(ingested.prices, settings)
    pipeline.write_lake(made.table, "features", settings, run_id)
    t = stage("features", t)
    cut = pipeline.run_split(made.table, made.feature_columns, settings)
    configs = list(settings.sweep.models)
    t = stage("split", t)
    results = []
    per_config = []
    for spec in configs:
        started = time.perf_counter()
        results.append(pipeline.run_train([spec], cut.data, cut.folds, settings))
        per_config.append(time.perf_counter() - started)
    t = stage("train", t)
    evaluation = pipeline.run_evaluate(results, cut.data, settings, ingested.provenance)
    to_card_components(evaluation.card_items)
    t = stage("evaluate", t)
    prediction = pipeline.run_predict(evaluation.model, evaluation.best, cut.data, settings, run_id)
    pipeline.write_lake(prediction.predictions, "predictions", settings, run_id)
    pipeline.register_catalog(settings)
    t = stage("predict", t)
    registration = pipeline.run_register(
        prediction.bundle, evaluation.metrics, evaluation.gate, evaluation.curve, cut.data, settings,
        ingested.provenance, pathspec=f"SpyFlow/{run_id}",
    )  # fmt: skip
    t = stage("register", t)
    print(pipeline.summary_line(evaluation.gate.to_dict(), evaluation.metrics, registration))
    stage("end", t)
    import gzip
    import pickle

    started = time.perf_counter()
    blob = pickle.dumps(features, protocol=4)
    packed = gzip.compress(blob, compresslevel=3)
    pickle_s = time.perf_counter() - started
    started = time.perf_counter()
    pickle.loads(gzip.decompress(packed))
    unpickle_s = time.perf_counter() - started
    payload = {
        "artifact": {"bytes": len(blob), "gz_bytes": len(packed), "dump_s": pickle_s, "load_s": unpickle_s},
        "times": times,
        "per_config": per_config,
        "n_configs": len(configs),
        "chosen": evaluation.best["config_id"],
        "feature_rows": len(features),
    }
    Path(out_path).write_text(json.dumps(payload))


def run_inprocess(sweep: Path, tmp: Path) -> dict[str, Any]:
    out = tmp / "inprocess.json"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child-inprocess", str(out), str(sweep), str(tmp / "inprocess")],
        env=metaflow_env(tmp / "inprocess"), capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"in-process run failed:\n{proc.stderr[-3000:]}")
    payload = json.loads(out.read_text())
    payload["wall"] = wall
    return payload


# ---------------------------------------------------------------------------------------------
# the flow
# ---------------------------------------------------------------------------------------------
def parse_log(text: str) -> dict[tuple[str, str], dict[str, datetime]]:
    """(step, task id) -> {"launched": ..., "finished": ...} from the runtime's log lines."""
    tasks: dict[tuple[str, str], dict[str, datetime]] = {}
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m:
            when = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
            key = "launched" if m.group(4) == "Task is starting" else "finished"
            tasks.setdefault((m.group(2), m.group(3)), {})[key] = when
    return tasks


def client_times(root: Path, run_id: str) -> dict[tuple[str, str], dict[str, datetime]]:
    """(step, task id) -> created_at / finished_at from the Metaflow Client (in a child process, so
    this process never imports metaflow with another datastore root)."""
    code = (
        "import json, sys\n"
        "from metaflow import Run, namespace\n"
        "namespace(None)\n"
        "run = Run(f'SpyFlow/{sys.argv[1]}')\n"
        "out = []\n"
        "for step in run:\n"
        "    for task in step:\n"
        "        out.append([step.id, task.id, task.created_at.isoformat(), task.finished_at.isoformat()])\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, run_id],
        env=metaflow_env(root),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        (s, t): {"created": datetime.fromisoformat(c), "done": datetime.fromisoformat(f)}
        for s, t, c, f in rows
    }


def run_label(workers: int, per_task: int) -> str:
    return f"w{workers}" if per_task == 1 else f"w{workers}c{per_task}"


def run_flow(workers: int, per_task: int, sweep: Path, tmp: Path) -> dict[str, Any]:
    label = run_label(workers, per_task)
    root = tmp / f"flow-{label}"
    root.mkdir(parents=True)
    run_id_file = root / "run_id"
    cmd = [
        sys.executable, str(FLOW_FILE), "--config", "sweep", str(sweep), "run", "--max-workers", str(workers),
        "--configs-per-task", str(per_task),
        "--output-dir", str(root / "out"), "--lake-root", str(root / "lake"),
        "--registry-location", str(root / "registry"), "--run-id-file", str(run_id_file),
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=metaflow_env(root), capture_output=True, text=True, cwd=root, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"flow run ({flow_args(workers, per_task)}) failed:\n{proc.stderr[-3000:]}")
    run_id = run_id_file.read_text().strip()
    launched = parse_log(proc.stdout + proc.stderr)
    client = client_times(root, run_id)
    per_step: dict[str, dict[str, float]] = {}
    for step in STEPS:
        keys = [k for k in client if k[0] == step]
        spans = [launched.get(k, {}) for k in keys]
        first = min((s["launched"] for s in spans if "launched" in s), default=None)
        last = max((s["finished"] for s in spans if "finished" in s), default=None)
        task_sum = sum((client[k]["done"] - client[k]["created"]).total_seconds() for k in keys)
        per_step[step] = {
            "tasks": len(keys),
            "span": (last - first).total_seconds() if first and last else float("nan"),
            "task_sum": task_sum,
        }
    return {
        "workers": workers,
        "per_task": per_task,
        "label": label,
        "args": flow_args(workers, per_task),
        "wall": wall,
        "run_id": run_id,
        "steps": per_step,
    }


def flow_args(workers: int, per_task: int) -> str:
    return f"--max-workers {workers}" + (f" --configs-per-task {per_task}" if per_task != 1 else "")


IMPORTS = {
    "python -c pass (bare interpreter)": "pass",
    "metaflow + pandas + spylib.stages.training (start, ingest, features, split, end)": (
        "import metaflow, pandas, spylib.stages.training"
    ),
    "... + scikit-learn + spylib.research.evaluate (train)": (
        "import metaflow, pandas, spylib.stages.training, sklearn.ensemble, spylib.research.evaluate"
    ),
    "... + pyarrow + spylib.research.report (evaluate, predict)": (
        "import metaflow, pandas, spylib.stages.training, sklearn.ensemble, spylib.research.evaluate, pyarrow, spylib.research.report"
    ),
}


def import_cost(code: str) -> float:
    """Wall time of a fresh interpreter running ``code`` (median of 5), as a task's process would."""
    times = []
    env = metaflow_env(Path(tempfile.gettempdir()))
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO)
        times.append(time.perf_counter() - started)
    return sorted(times)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sweep (2 configs), --max-workers 2 only")
    parser.add_argument(
        "--workers", default=None, help="comma-separated --max-workers values (default 1,2,4)"
    )
    parser.add_argument(
        "--packed",
        default=None,
        help="comma-separated WORKERS:CONFIGS_PER_TASK extra flow runs with --configs-per-task "
        "(default 2:6; '' for none)",
    )
    parser.add_argument("--child-inprocess", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_inprocess:
        child_inprocess(*args.child_inprocess)
        return
    sweep = SMALL_SWEEP if args.quick else DEFAULT_SWEEP
    workers = [int(w) for w in (args.workers or ("2" if args.quick else "1,2,4")).split(",")]
    packed_arg = args.packed if args.packed is not None else ("" if args.quick else "2:6")
    runs = [(w, 1) for w in workers] + [
        (int(p.split(":")[0]), int(p.split(":")[1])) for p in packed_arg.split(",") if p.strip()
    ]
    print(
        machine_header("bench_flow: flow overhead (issue 8, item 2)", {"sweep": str(sweep.relative_to(REPO))})
    )
    with tempfile.TemporaryDirectory(prefix="spyflow-bench-") as tmp_name:
        tmp = Path(tmp_name)
        inproc = run_inprocess(sweep, tmp)
        n_configs, chosen = inproc["n_configs"], inproc["chosen"]
        print(f"... single process: {inproc['wall']:.1f} s ({n_configs} configs, chose {chosen})", flush=True)
        flows = []
        for w, k in runs:
            flows.append(run_flow(w, k, sweep, tmp))
            print(f"... flow {flows[-1]['args']}: {flows[-1]['wall']:.1f} s", flush=True)
        startup = {name: import_cost(code) for name, code in IMPORTS.items()}

    print("\n## End to end (wall time of the command, interpreter start-up and imports included)\n")
    rows = [
        {
            "run": "single process (plain loop)",
            "train tasks": 0,
            "wall s": inproc["wall"],
            "flow / single": 1.0,
        }
    ]
    for f in flows:
        rows.append(
            {
                "run": f"flow {f['args']}",
                "train tasks": f["steps"]["train"]["tasks"],
                "wall s": f["wall"],
                "flow / single": f["wall"] / inproc["wall"],
            }
        )
    print(format_table(rows, floatfmt="{:.3g}"))

    print("\n## By step (seconds; wN = --max-workers N, cK = --configs-per-task K)\n")
    step_rows = []
    for step in STEPS:
        row: dict[str, Any] = {"step": step, "in-process s": inproc["times"].get(step, 0.0)}
        for f in flows:
            s = f["steps"][step]
            lab = f["label"]
            row[f"{lab} tasks"] = s["tasks"]
            row[f"{lab} span s"] = s["span"]
            row[f"{lab} task s"] = s["task_sum"]
        step_rows.append(row)
    total: dict[str, Any] = {"step": "sum of steps", "in-process s": sum(inproc["times"][s] for s in STEPS)}
    for f in flows:
        lab = f["label"]
        total[f"{lab} tasks"] = sum(s["tasks"] for s in f["steps"].values())
        total[f"{lab} span s"] = sum(s["span"] for s in f["steps"].values())
        total[f"{lab} task s"] = sum(s["task_sum"] for s in f["steps"].values())
    step_rows.append(total)
    print(format_table(step_rows, floatfmt="{:.3g}"))
    pc = inproc["per_config"]
    print(
        f"\nsingle process: imports {inproc['times']['imports']:.2f} s; train per configuration: mean "
        f"{sum(pc) / len(pc):.2f} s, min {min(pc):.2f} s, max {max(pc):.2f} s, sum {sum(pc):.1f} s over "
        f"{len(pc)} configurations"
    )
    for f in flows:
        tr = f["steps"]["train"]
        print(
            f"flow {f['args']}: {tr['tasks']} train tasks, mean {tr['task_sum'] / tr['tasks']:.2f} s each "
            f"(sum {tr['task_sum']:.1f} s vs {sum(pc):.1f} s in-process); one empty task (end) "
            f"{f['steps']['end']['task_sum']:.2f} s registered, {f['steps']['end']['span']:.2f} s launched "
            f"to finished; wall minus the sum of step spans "
            f"{f['wall'] - sum(s['span'] for s in f['steps'].values()):.1f} s (flow launch, scheduling, exit)"
        )
    print("\n## A fresh interpreter's start-up and imports (median of 5)\n")
    print(format_table([{"imports": k, "s": v} for k, v in startup.items()], floatfmt="{:.3g}"))
    a = inproc["artifact"]
    print(
        f"\nfeature table artifact: {a['bytes'] / 1e6:.1f} MB pickled ({a['gz_bytes'] / 1e6:.1f} MB gzipped); "
        f"dump+gzip {a['dump_s']:.2f} s, gunzip+load {a['load_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
