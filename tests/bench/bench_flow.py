"""the flow's own overhead, and whether the foreach pays for it.

Times ``python flows/spy_flow.py run`` (default sweep: every configuration fitted on every
walk-forward block; default data) end to end, in a subprocess with an isolated Metaflow datastore and
temporary output directories, against the same ``spylib.stages`` calls made in one plain
Python process (also a subprocess, timed end to end, so both include interpreter start-up and
imports; the ``foreach`` is a plain loop there, one configuration after another on one core). Both
get the flow's own defaults (``benchcommon.settings_kwargs``): open_to_open, the lake on.

The flow runs, ``--runs K[:W],...`` (default ``0,1``): ``--configs-per-task K`` (0 = the flow's
default: locally one train task whose process pool spreads the configurations over the cores; K > 0:
one task per K configurations, each pooled) with ``--max-workers W`` (omitted: Metaflow's default, 16).
The first flow run's wall time over the mean single-process wall time is printed as ``ratio`` beside
the load average (the budget: at most 0.8 on a quiet 2-core machine; a loaded machine's ratio says
nothing, since the loop and the flow do not meet the same load).

Where the time goes, per step:

* ``in-process s``: the stage's calls in the single process;
* ``span s``: from the runtime launching the step's first task to its last task finishing (the run's
  log lines: they include each task's process start-up);
* ``task s``: the sum over the step's tasks of ``finished_at - created_at`` (Metaflow Client);
* ``tasks``: how many tasks ran the step. The ``end`` step does almost nothing, so its span is the
  fixed cost of one task; the ``train`` tasks print each configuration's own seconds, summed in
  ``fit s`` (the same work as the loop's, slower when the tasks share the cores with other work).

The script also measures three of those costs directly: a fresh interpreter importing what each
kind of task imports; pickling + gzip (what the local datastore does) of the training data artifact;
and the machine's parallel capacity now (the same tree fits in 1 process, then 2 at once: on a shared
machine a second task may find no free core; ``--capacity-only`` runs just that).

Run: ``python tests/bench/bench_flow.py`` (2 single-process runs + 2 flow runs; ~7 minutes on a
loaded 2-core machine). ``--quick``: the small test sweep (2 configurations), default packing only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchcommon import (
    DEFAULT_SWEEP,
    FLOW_FILE,
    REPO,
    SMALL_SWEEP,
    format_table,
    machine_header,
    settings_kwargs,
)

STEPS = ("start", "ingest", "features", "split", "train", "evaluate", "predict", "register", "end")
LOG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) \[[^/]+/(\w+)/(\d+) \(pid \d+\)\] "
    r"(Task is starting|Task finished successfully)"
)
# A train task's line per configuration (spylib.stages.training.train.run_train).
CONFIG_LINE = re.compile(
    r"/train/(\d+) \(pid \d+\)\] configuration (.+?) \((\d+) of \d+\): \d+ fits, "
    r"out-of-fold AUC [-\d.na]+, ([\d.]+) s"
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


def timed_run(cmd: list[str], **kwargs: Any) -> tuple[subprocess.CompletedProcess[str], dict[str, float]]:
    """Run ``cmd`` to completion: its wall time, the CPU seconds (user + system) of it and of every
    descendant it waited for (a flow's tasks roll up into the runtime), and the 1-minute load average
    before and after (the machine is shared: read a ratio with the load beside it)."""
    before, load_before = resource.getrusage(resource.RUSAGE_CHILDREN), os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, {"wall": wall, "cpu": cpu, "load_before": load_before, "load_after": os.getloadavg()[0]}


# ---------------------------------------------------------------------------------------------
# the single process (runs in a child: `bench_flow.py --child-inprocess OUT KWARGS_JSON`)
# ---------------------------------------------------------------------------------------------
def child_inprocess(out_path: str, kwargs_path: str) -> None:
    """The flow's calls, step by step, in this process; per-stage times to ``out_path``."""
    # One core, as the loop's definition says: evaluate would otherwise start its side work (the fitted
    # baselines, the importance refit) on a second core (spylib.stages.training.evaluate.OtherCore).
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    from spylib.stages.cards import to_card_components
    from spylib.stages.settings import build_training_settings, check_run_io
    from spylib.stages.training import summary
    from spylib.stages.training.evaluate import run_evaluate
    from spylib.stages.training.features import run_features
    from spylib.stages.training.ingest import run_ingest
    from spylib.stages.training.predict import run_predict
    from spylib.stages.training.publish import run_end
    from spylib.stages.training.register import EvaluationVerdict, run_register
    from spylib.stages.training.split import run_split
    from spylib.stages.training.train import run_train

    times["imports"] = time.perf_counter() - t0
    parameters = json.loads(Path(kwargs_path).read_text())
    run_id = "bench-inprocess"

    def stage(name: str, started: float) -> float:
        now = time.perf_counter()
        times[name] = now - started
        return now

    t = time.perf_counter()
    settings = build_training_settings(**parameters)
    check_run_io(settings)
    t = stage("start", t)
    ingested = run_ingest(settings, run_id)
    t = stage("ingest", t)
    made = run_features(ingested.prices, settings, run_id, ingested.lake_files)
    t = stage("features", t)
    split = run_split(made.feature_table, made.feature_columns, made.data_quality, settings.plan)
    data, configs = split.training_data, split.configs
    t = stage("split", t)
    results = []
    per_config = []
    for spec in configs:  # the foreach, one configuration after another
        started = time.perf_counter()
        results.append(run_train([spec], data, settings.plan, settings.cost_bps).results)
        per_config.append(time.perf_counter() - started)
    t = stage("train", t)
    evaluation = run_evaluate(results, data, settings, ingested.data_provenance, made.data_quality)
    to_card_components(evaluation.card_items)
    t = stage("evaluate", t)
    prediction = run_predict(
        evaluation.model, evaluation.strategy, evaluation.track, data, settings, run_id, made.lake_files
    )
    t = stage("predict", t)
    verdict = EvaluationVerdict(evaluation.evidence, evaluation.gate_decision, evaluation.track)
    registered = run_register(
        prediction.bundle, verdict, data, settings, ingested.data_provenance, pathspec=f"SpyFlow/{run_id}"
    )
    t = stage("register", t)
    run_end(settings.outputs, run_id, prediction.glue_catalog)
    where = summary.RunOutputs(
        "flows/spy_flow.py", run_id, "0", prediction.prediction_files, settings.outputs.lake_root,
        registered.registration,
    )  # fmt: skip
    print(summary.run_summary(evaluation.gate_decision, evaluation.evidence, evaluation.baselines, where))
    stage("end", t)
    import gzip
    import pickle

    started = time.perf_counter()
    blob = pickle.dumps(data, protocol=4)
    packed = gzip.compress(blob, compresslevel=3)
    pickle_s = time.perf_counter() - started
    started = time.perf_counter()
    pickle.loads(gzip.decompress(packed))
    unpickle_s = time.perf_counter() - started
    one_result = pickle.dumps(results[0], protocol=4)
    payload = {
        "artifact": {"bytes": len(blob), "gz_bytes": len(packed), "dump_s": pickle_s, "load_s": unpickle_s},
        "result_bytes": len(one_result),
        "times": times,
        "per_config": per_config,
        "families": [spec.family for spec in configs],
        "n_configs": len(configs),
        "n_blocks": len(data.splits.blocks),
        "chosen": evaluation.best["config_id"],
        "feature_rows": len(data.features),
        "gate": evaluation.gate_decision.status,
    }
    Path(out_path).write_text(json.dumps(payload))


def run_inprocess(kwargs: dict[str, Any], tmp: Path) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    out, kwargs_file = tmp / "inprocess.json", tmp / "inprocess-kwargs.json"
    kwargs_file.write_text(json.dumps(kwargs))
    proc, timing = timed_run(
        [sys.executable, __file__, "--child-inprocess", str(out), str(kwargs_file)],
        env=metaflow_env(tmp / "inprocess"), cwd=REPO,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"in-process run failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(out.read_text()), **timing}


# ---------------------------------------------------------------------------------------------
# the flow
# ---------------------------------------------------------------------------------------------
def parse_log(text: str) -> dict[tuple[str, str], dict[str, float]]:
    """(step, task id) -> {"launched": epoch s, "finished": epoch s} from the runtime's log lines."""
    tasks: dict[tuple[str, str], dict[str, float]] = {}
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m:
            when = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            key = "launched" if m.group(4) == "Task is starting" else "finished"
            tasks.setdefault((m.group(2), m.group(3)), {})[key] = when
    return tasks


def client_times(root: Path, run_id: str) -> dict[tuple[str, str], dict[str, float]]:
    """(step, task id) -> epoch seconds from the Metaflow Client: ``created`` (the runtime registers
    the task when it launches it), ``attempt`` (the task's process registers its attempt once it has
    started and imported the flow file), ``ok`` (the step's body has run and its artifacts are
    stored). Read in a child process, so this process never imports metaflow with another datastore
    root."""
    code = (
        "import json, sys\n"
        "from metaflow import Run, namespace\n"
        "namespace(None)\n"
        "run = Run(f'SpyFlow/{sys.argv[1]}')\n"
        "out = []\n"
        "for step in run:\n"
        "    for task in step:\n"
        "        meta = {m.type: m.created_at / 1000 for m in task.metadata}\n"
        "        out.append([step.id, task.id, task.created_at.timestamp(), meta.get('attempt'),\n"
        "                    meta.get('internal_attempt_status'), task.finished_at.timestamp()])\n"
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
    return {(s, t): {"created": c, "attempt": a or c, "ok": ok or f, "done": f} for s, t, c, a, ok, f in rows}


def parse_runs(text: str) -> list[tuple[int, int | None]]:
    """``"0,1:2"`` -> [(0, None), (1, 2)]: (configs per task, --max-workers or None for the default)."""
    runs: list[tuple[int, int | None]] = []
    for item in text.split(","):
        if item.strip():
            k, _, w = item.strip().partition(":")
            runs.append((int(k), int(w) if w else None))
    return runs


def flow_args(per_task: int, workers: int | None) -> str:
    return f"--configs-per-task {per_task}" + (f" --max-workers {workers}" if workers else "")


def run_flow(per_task: int, workers: int | None, sweep: Path, tmp: Path, source: str) -> dict[str, Any]:
    label = f"c{per_task}" + (f"w{workers}" if workers else "")
    root = tmp / f"flow-{label}"
    root.mkdir(parents=True)
    run_id_file = root / "run_id"
    cmd = [
        sys.executable, str(FLOW_FILE), "--config", "sweep", str(sweep), "run",
        "--configs-per-task", str(per_task), *(["--max-workers", str(workers)] if workers else []),
        "--output-dir", str(root / "out"), "--lake-root", str(root / "lake"),
        "--registry-location", str(root / "registry"), "--run-id-file", str(run_id_file),
        "--source", source,
    ]  # fmt: skip
    proc, timing = timed_run(cmd, env=metaflow_env(root), cwd=root)
    if proc.returncode != 0:
        raise SystemExit(f"flow run ({flow_args(per_task, workers)}) failed:\n{proc.stderr[-3000:]}")
    run_id = run_id_file.read_text().strip()
    log = proc.stdout + proc.stderr
    launched = parse_log(log)
    client = client_times(root, run_id)
    per_step: dict[str, dict[str, float]] = {}
    for step in STEPS:
        keys = [k for k in client if k[0] == step]
        spans = [launched.get(k, {}) for k in keys]
        first = min((s["launched"] for s in spans if "launched" in s), default=None)
        last = max((s["finished"] for s in spans if "finished" in s), default=None)
        per_step[step] = {
            "tasks": len(keys),
            "span": last - first if first and last else float("nan"),
            # launched -> attempt registered: process start-up and the flow file's imports
            "startup": sum(client[k]["attempt"] - client[k]["created"] for k in keys) / max(len(keys), 1),
            # attempt -> attempt_ok: the step's body, its lazy imports, artifact loads and stores
            "body": sum(client[k]["ok"] - client[k]["attempt"] for k in keys),
        }
    fits = {int(m.group(3)): float(m.group(4)) for m in CONFIG_LINE.finditer(log)}
    per_task_fits: dict[str, float] = {}
    for m in CONFIG_LINE.finditer(log):
        per_task_fits[m.group(1)] = per_task_fits.get(m.group(1), 0.0) + float(m.group(4))
    return {
        "per_task": per_task,
        "workers": workers,
        "label": label,
        "args": flow_args(per_task, workers),
        **timing,
        "run_id": run_id,
        "steps": per_step,
        "fits": fits,
        "per_task_fits": per_task_fits,
    }


# ---------------------------------------------------------------------------------------------
# how much a second process gets on this machine now (runs in children: `--child-work OUT`)
# ---------------------------------------------------------------------------------------------
def child_work(out_path: str) -> None:
    """A fixed CPU-bound piece of train-like work (tree fits, one thread); its wall seconds to
    ``out_path`` (the imports and the data are made before the clock starts)."""
    import numpy as np
    from sklearn.ensemble import ExtraTreesClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 30))
    y = (x[:, 0] + rng.normal(size=5000) > 0).astype(int)
    started = time.perf_counter()
    for seed in range(3):
        ExtraTreesClassifier(n_estimators=400, max_depth=8, n_jobs=1, random_state=seed).fit(x, y)
    Path(out_path).write_text(str(time.perf_counter() - started))


def parallel_capacity(tmp: Path) -> dict[str, float]:
    """The same work in 1 process, then in 2 at once: ``speedup = 2 * t1 / t2`` (2.0 when a second
    core is free, 1.0 when the second process only takes time from the first)."""
    tmp.mkdir(parents=True, exist_ok=True)

    def run(copies: int) -> float:
        outs = [tmp / f"work-{copies}-{i}" for i in range(copies)]
        procs = [subprocess.Popen([sys.executable, __file__, "--child-work", str(o)]) for o in outs]
        for proc in procs:
            proc.wait()
        return max(float(o.read_text()) for o in outs)

    load = os.getloadavg()[0]
    one = run(1)
    two = run(2)
    return {"one": one, "two": two, "speedup": 2 * one / two, "load": load}


# What each kind of task imports: the flow file's module-level imports, then what a stage imports
# inside (spylib.stages imports the modelling and report modules lazily).
FLOW_IMPORTS = (
    "import metaflow, spylib.stages.settings, spylib.evaluation.gate, spylib.stages, spylib.stages.cards"
)
IMPORTS = {
    "python -c pass (bare interpreter)": "pass",
    "the flow file's imports (every task: start, ingest, features, split, register, end)": FLOW_IMPORTS,
    "... + spylib.modelling.scoring (scikit-learn: train)": f"{FLOW_IMPORTS}, spylib.modelling.scoring",
    "... + verdict, holdout, baselines, report, matplotlib (evaluate)": (
        f"{FLOW_IMPORTS}, spylib.modelling.scoring, spylib.evaluation.evidence, spylib.evaluation.holdout, "
        "spylib.evaluation.baselines, spylib.reporting.evaluation_card, matplotlib.pyplot"
    ),
}


def import_cost(code: str, repeat: int = 3) -> float:
    """Wall time of a fresh interpreter running ``code`` (median of ``repeat``), as a task's process would."""
    times = []
    env = metaflow_env(Path(tempfile.gettempdir()))
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="the small test sweep (2 configurations), default packing only"
    )
    parser.add_argument(
        "--runs",
        default=None,
        help="comma-separated flow runs K[:W]: --configs-per-task K (0 = the default: one pooled train "
        "task locally) and --max-workers W (omitted: Metaflow's default); default '0,1' ('0' with --quick)",
    )
    parser.add_argument(
        "--baseline-runs",
        type=int,
        choices=(1, 2),
        default=2,
        help="single-process runs: 1 (before the flows) or 2 (before and after them; the ratios use "
        "their mean, so a load that drifts during the benchmark biases neither side); default 2",
    )
    parser.add_argument(
        "--source",
        default="embedded",
        help="the flow's --source for both sides, e.g. 'synthetic:edge=0,years=33' (a history the length of "
        "SPY's since 1993); default: the embedded data",
    )
    parser.add_argument(
        "--capacity-only",
        action="store_true",
        help="only the parallel-capacity check (the same work in 1 process, then 2 at once; ~20 s)",
    )
    parser.add_argument("--child-inprocess", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_inprocess:
        child_inprocess(*args.child_inprocess)
        return
    if args.child_work:
        child_work(args.child_work)
        return
    if args.capacity_only:
        print(machine_header("bench_flow: parallel capacity of this machine now"))
        with tempfile.TemporaryDirectory(prefix="spyflow-bench-") as tmp_name:
            print_capacity(parallel_capacity(Path(tmp_name)))
        return
    sweep = SMALL_SWEEP if args.quick else DEFAULT_SWEEP
    runs = parse_runs(args.runs if args.runs is not None else ("0" if args.quick else "0,1"))
    print(
        machine_header(
            "bench_flow: the flow against the single-process loop",
            {"sweep": str(sweep.relative_to(REPO)), "source": args.source},
        )
    )

    def loop(i: int) -> dict[str, Any]:
        root = tmp / f"inprocess-{i}"
        kwargs = settings_kwargs(root, sweep=sweep, lake_root=str(root / "lake"), source=args.source)
        out = run_inprocess(kwargs, root)
        print(
            f"... single process #{i}: {out['wall']:.1f} s ({out['n_configs']} configurations x "
            f"{out['n_blocks']} blocks, chose {out['chosen']}, gate {out['gate']}; load "
            f"{out['load_before']:.1f} -> {out['load_after']:.1f})",
            flush=True,
        )
        return out

    with tempfile.TemporaryDirectory(prefix="spyflow-bench-") as tmp_name:
        tmp = Path(tmp_name)
        loops = [loop(1)]
        flows = []
        for k, w in runs:
            flows.append(run_flow(k, w, sweep, tmp, args.source))
            f = flows[-1]
            print(
                f"... flow {f['args']}: {f['wall']:.1f} s (load {f['load_before']:.1f} -> "
                f"{f['load_after']:.1f})",
                flush=True,
            )
        if args.baseline_runs == 2:
            loops.append(loop(2))
        startup = {name: import_cost(code) for name, code in IMPORTS.items()}
        capacity = parallel_capacity(tmp / "capacity")
    report(loops, flows, startup)
    print_capacity(capacity)


def print_capacity(c: dict[str, float]) -> None:
    print("\n## Parallel capacity now (the same tree fits in 1 process, then in 2 at once)\n")
    print(
        format_table(
            [
                {
                    "1 process s": c["one"],
                    "2 at once s (slower)": c["two"],
                    "speedup of 2 (2.0 = a free second core)": c["speedup"],
                    "load before": c["load"],
                }
            ],
            floatfmt="{:.3g}",
        )
    )


def fit_spread(per_task: dict[str, float]) -> str:
    if not per_task:
        return "n/a"
    values = sorted(per_task.values())
    if len(values) <= 4:
        return ", ".join(f"{v:.1f}" for v in values) + " s"
    return f"min {values[0]:.1f} s, max {values[-1]:.1f} s"


def report(loops: list[dict[str, Any]], flows: list[dict[str, Any]], startup: dict[str, float]) -> None:
    inproc = loops[0]
    pc = inproc["per_config"]
    base_wall = sum(x["wall"] for x in loops) / len(loops)
    base_cpu = sum(x["cpu"] for x in loops) / len(loops)
    print(
        "\n## End to end (wall time of the command, interpreter start-up and imports included; ratios "
        f"against the mean of the {len(loops)} single-process run(s); load = 1-minute load average "
        "before -> after the run, on 2 cores)\n"
    )
    rows: list[dict[str, Any]] = []
    for i, x in enumerate(loops, 1):
        rows.append(
            {
                "run": f"single process #{i} (plain loop, 1 core)",
                "train tasks": 0,
                "wall s": x["wall"],
                "wall / loop": x["wall"] / base_wall,
                "CPU s": x["cpu"],
                "CPU / loop": x["cpu"] / base_cpu,
                "fit s (sum over configs)": sum(x["per_config"]),
                "load": f"{x['load_before']:.1f} -> {x['load_after']:.1f}",
            }
        )
    for f in flows:
        rows.append(
            {
                "run": f"flow {f['args']}",
                "train tasks": f["steps"]["train"]["tasks"],
                "wall s": f["wall"],
                "wall / loop": f["wall"] / base_wall,
                "CPU s": f["cpu"],
                "CPU / loop": f["cpu"] / base_cpu,
                "fit s (sum over configs)": sum(f["fits"].values()),
                "load": f"{f['load_before']:.1f} -> {f['load_after']:.1f}",
            }
        )
    print(format_table(rows, floatfmt="{:.3g}"))
    if flows:
        first = flows[0]
        loads = [x["load_before"] for x in loops] + [first["load_before"], first["load_after"]]
        print(
            f"\nratio: flow {first['args']} {first['wall']:.1f} s / single process {base_wall:.1f} s = "
            f"{first['wall'] / base_wall:.2f} (budget 0.8 on a quiet machine); load average "
            f"{min(loads):.1f} .. {max(loads):.1f} on {os.cpu_count()} cores"
            + ("" if max(loads) < 2 else ": the machine is loaded, re-measure on a quiet one")
        )

    print(
        "\n## By step (seconds; cK = --configs-per-task K, wW = --max-workers W; span = first launch to "
        "last finish; start = launch to attempt registered, mean per task; body = attempt to attempt_ok, "
        "summed over the step's tasks)\n"
    )
    step_rows = []
    for step in STEPS:
        row: dict[str, Any] = {"step": step, "in-process s": inproc["times"].get(step, 0.0)}
        for f in flows:
            s = f["steps"][step]
            lab = f["label"]
            row[f"{lab} tasks"] = s["tasks"]
            row[f"{lab} span"] = s["span"]
            row[f"{lab} start"] = s["startup"]
            row[f"{lab} body"] = s["body"]
        step_rows.append(row)
    total: dict[str, Any] = {"step": "sum of steps", "in-process s": sum(inproc["times"][s] for s in STEPS)}
    for f in flows:
        lab, steps = f["label"], f["steps"].values()
        total[f"{lab} tasks"] = sum(s["tasks"] for s in steps)
        total[f"{lab} span"] = sum(s["span"] for s in steps)
        total[f"{lab} start"] = sum(s["startup"] * s["tasks"] for s in steps)
        total[f"{lab} body"] = sum(s["body"] for s in steps)
    step_rows.append(total)
    print(format_table(step_rows, floatfmt="{:.3g}"))
    print(
        "(sum of steps: start is the total over every task; in-process 'imports' "
        f"{inproc['times']['imports']:.2f} s and interpreter start-up are outside the steps)"
    )

    print(
        f"\nsingle process: imports {inproc['times']['imports']:.2f} s; train per configuration: mean "
        f"{sum(pc) / len(pc):.2f} s, min {min(pc):.2f} s, max {max(pc):.2f} s, sum {sum(pc):.1f} s over "
        f"{len(pc)} configurations ({inproc['n_blocks']} fits each)"
    )
    by_family: dict[str, list[float]] = {}
    for family, sec in zip(inproc["families"], pc, strict=True):
        by_family.setdefault(family, []).append(sec)
    print(
        "single process, train seconds by family: "
        + "; ".join(f"{fam} {len(t)} x {sum(t) / len(t):.2f} s" for fam, t in by_family.items())
    )
    for f in flows:
        tr, steps = f["steps"]["train"], f["steps"]
        spans = sum(s["span"] for s in steps.values())
        print(
            f"flow {f['args']}: {tr['tasks']} train task(s), {tr['body'] / tr['tasks']:.2f} s body each "
            f"(mean), {tr['startup']:.2f} s start-up each; configurations fitted in "
            f"{sum(f['fits'].values()):.1f} s (sum of the tasks' own per-configuration seconds; "
            f"{sum(pc):.1f} s in the loop; per task: {fit_spread(f['per_task_fits'])}); wall minus the sum of step spans {f['wall'] - spans:.1f} s "
            "(flow launch and validation, scheduling between steps, exit)"
        )
    print("\n## A fresh interpreter's start-up and imports (median of 3)\n")
    print(format_table([{"imports": k, "s": v} for k, v in startup.items()], floatfmt="{:.3g}"))
    a = inproc["artifact"]
    print(
        f"\ntraining_data artifact (what every train task loads): {a['bytes'] / 1e6:.1f} MB pickled "
        f"({a['gz_bytes'] / 1e6:.1f} MB gzipped); dump+gzip {a['dump_s']:.2f} s, gunzip+load "
        f"{a['load_s']:.2f} s; one configuration's result {inproc['result_bytes'] / 1e6:.1f} MB pickled"
    )


if __name__ == "__main__":
    main()
