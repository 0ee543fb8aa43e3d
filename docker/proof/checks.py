"""What the proof asserts about the runs, through Metaflow's Client and moto's APIs: every task ran
in a Batch container with the ``resources`` Config's cpu and memory, artifacts and the card read
back, the lake reached S3 and the model the (emulated) SageMaker registry; and that a run whose
``evaluate`` container is killed from outside fails there and resumes with the ``train`` tasks cloned."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import Any

from .aws import Moto
from .engine import Engine
from .flows import FlowRunner
from .session import Session
from .settings import BUCKET, DOCKER_CLI, MODEL_GROUP
from .shell import ProofFailure, log_line, tail_text


def task_cards(task: Any) -> list[Any]:
    """The cards of one task (none is not an error here)."""
    from metaflow.cards import get_cards
    from metaflow.plugins.cards.exception import CardNotPresentException

    try:
        return list(get_cards(task))
    except CardNotPresentException:
        return []


class Checks:
    """The proof's runs on Batch and what must hold about each (recorded in the session's report)."""

    def __init__(self, session: Session, engine: Engine, moto: Moto, flows: FlowRunner) -> None:
        self.session = session
        self.engine = engine
        self.moto = moto
        self.flows = flows
        self.opts = session.opts
        self.check = session.check

    def plain_run(self) -> str:
        """The flow on Batch, which must exit 0; returns its run id."""
        code, run_id = self.flows.run_on_batch("plain")
        self.session.report["plain_run"] = run_id
        if code != 0 or run_id is None:
            log = tail_text(self.session.logs / "flow-plain.log", 60)
            raise ProofFailure(f"the flow failed (exit {code}); log:\n{log}")
        return run_id

    def step_resources(self, step_name: str) -> dict[str, int] | None:
        path = self.opts.resources_config or self.opts.flow.parent / "config" / "resources.json"
        if not path.exists():
            return None
        spec = json.loads(path.read_text()).get(step_name)
        return {"cpu": int(spec["cpu"]), "memory": int(spec["memory"])} if spec else None

    def check_plain_run(self, run_id: str) -> None:
        mf = self.flows.client()
        run = mf.Run(f"{self.flows.name}/{run_id}")
        self.check("the run succeeded", run.successful, run.pathspec)
        steps = {s.id: list(s) for s in run}
        foreach = self.opts.foreach_step
        fanned = steps.get(foreach, [])
        self.check(f"the `{foreach}` foreach fanned out", len(fanned) >= 2, f"{len(fanned)} tasks")
        # Every task of every step ran in a Batch container: its metadata carries the job id.
        job_of: dict[str, str] = {}
        for tasks in steps.values():
            for task in tasks:
                job_id = task.metadata_dict.get("aws-batch-job-id")
                self.check(f"{task.pathspec} ran on Batch", bool(job_id), f"job {job_id}")
                job_of[task.pathspec] = str(job_id)
        jobs = self.moto.batch_jobs(sorted(set(job_of.values())))
        wanted = self.step_resources(foreach)
        for task in fanned:
            job = jobs.get(job_of[task.pathspec], {})
            container = job.get("container", {})
            got = {"cpu": container.get("vcpus"), "memory": container.get("memory")}
            self.check(
                f"{task.pathspec}: Batch job SUCCEEDED with the Config's resources",
                job.get("status") == "SUCCEEDED" and (wanted is None or got == wanted),
                f"status {job.get('status')}, asked {got}, Config {wanted}",
            )
        # Artifacts read back (every artifact of every task is loaded from the S3 datastore).
        n_artifacts = 0
        for tasks in steps.values():
            for task in tasks:
                for artifact in task.artifacts:
                    _ = artifact.data
                    n_artifacts += 1
        self.check(
            "every artifact reads back through the Client", n_artifacts > 0, f"{n_artifacts} artifacts"
        )
        cards = [(task.pathspec, c) for tasks in steps.values() for task in tasks for c in task_cards(task)]
        self.check(
            "the card reads back through the Client",
            bool(cards) and all(len(c.get()) > 1000 for _, c in cards),
            ", ".join(f"{p} ({c.id or c.type})" for p, c in cards),
        )
        self.session.report["cards"] = [p for p, _ in cards]
        if self.flows.name == "SpyFlow":
            self.check_spyflow_outputs(run)

    def check_spyflow_outputs(self, run: Any) -> None:
        data = run["end"].task.data
        self.check(
            "the gate decided",
            data.gate["status"] in ("Approved", "Rejected", "PendingManualApproval"),
            str(data.gate["status"]),
        )
        self.check("predictions are an artifact", len(data.predictions) > 0, f"{len(data.predictions)} rows")
        registration = data.registration
        if "--lake-root s3://" in self.opts.run_args:
            listed = self.moto.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="lake/")
            keys = [o["Key"] for o in listed.get("Contents", [])]
            self.check(
                "the containers wrote the Parquet lake to S3",
                any(k.endswith(".parquet") for k in keys),
                f"{len(keys)} objects under s3://{BUCKET}/lake/",
            )
        if "--registry sagemaker" in self.opts.run_args:
            sm = self.moto.client("sagemaker")
            packages = sm.list_model_packages(ModelPackageGroupName=MODEL_GROUP)["ModelPackageSummaryList"]
            arns = [p["ModelPackageArn"] for p in packages]
            self.check(
                "the model reached the SageMaker Model Registry from a container",
                any(str(registration.get("version")) in a for a in arns) and bool(arns),
                f"registration {registration.get('version')}, packages {arns}",
            )

    def run_with_failure_then_resume(self) -> None:
        fail_step, foreach, name = self.opts.fail_step, self.opts.foreach_step, self.flows.name
        watcher = KillOnStart(self.session, self.engine, f"-{name}-", f"-{fail_step}-")
        watcher.start()
        try:
            code, failed_id = self.flows.run_on_batch("failing")
        finally:
            watcher.stop()
        self.session.report["failing_run"] = failed_id
        self.check(
            f"the `{fail_step}` container was killed from outside",
            bool(watcher.killed),
            ", ".join(watcher.killed),
        )
        self.check("the run with the fault failed", code != 0 and failed_id is not None, f"exit {code}")
        mf = self.flows.client()
        failed = mf.Run(f"{name}/{failed_id}")
        fail_tasks = list(failed[fail_step]) if fail_step in [s.id for s in failed] else []
        self.check(
            f"it failed in `{fail_step}`",
            not failed.successful and any(not t.successful for t in fail_tasks),
            failed.pathspec,
        )
        with self.session.phase("resume run"):
            code, resumed_id = self.flows.resume_on_batch(str(failed_id))
        self.session.report["resumed_run"] = resumed_id
        self.check("resume exited 0", code == 0 and resumed_id is not None, f"exit {code}")
        resumed = mf.Run(f"{name}/{resumed_id}")
        self.check("the resumed run succeeded", resumed.successful, resumed.pathspec)
        origin_prefix = f"{name}/{failed_id}/{foreach}/"
        trains = list(resumed[foreach])
        origins = [t.origin_pathspec for t in trains]
        self.check(
            f"every `{foreach}` task was cloned from the failed run",
            len(trains) >= 2 and all(o and o.startswith(origin_prefix) for o in origins),
            ", ".join(str(o) for o in origins),
        )
        redo = resumed[fail_step].task
        job = redo.metadata_dict.get("aws-batch-job-id")
        self.check(
            f"`{fail_step}` ran again, on Batch",
            redo.origin_pathspec is None and bool(job),
            f"{redo.pathspec}, job {job}",
        )


class KillOnStart:
    """Kills every container of one step the moment the engine starts it (a fault from outside).

    Batch job names are ``{user}-{flow}-{run}-{step}-{task}-{attempt}`` and moto names each
    container after its job, so the step is recognisable in the engine's start events.
    """

    def __init__(self, session: Session, engine: Engine, *needles: str) -> None:
        self.session = session
        self.engine = engine
        self.needles = needles
        self.killed: list[str] = []
        self.proc: subprocess.Popen[Any] | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.proc = self.session.procs.start(
            "docker events",
            [
                DOCKER_CLI,
                "events",
                "--filter",
                "type=container",
                "--filter",
                "event=start",
                "--format",
                "{{.ID}} {{.Actor.Attributes.name}}",
            ],
            env=self.engine.env(),
            log=self.session.logs / "docker-events.log",
            stdout=subprocess.PIPE,
        )
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()
        time.sleep(1.0)  # let the client subscribe before the run starts

    def watch(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            container_id, _, name = raw.decode(errors="replace").strip().partition(" ")
            if all(n.lower() in name.lower() for n in self.needles):
                self.engine.docker("kill", container_id, check=False, timeout=60)
                self.killed.append(name)
                log_line(f"killed container {name}")

    def stop(self) -> None:
        if self.proc is not None:
            self.session.procs.stop(self.proc)
        if self.thread is not None:
            self.thread.join(timeout=10)
