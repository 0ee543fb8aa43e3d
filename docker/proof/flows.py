"""Running the flow on the emulated Batch: its environment (the README's Batch settings, pointed at
moto and the proof's image), the ``run``/``resume`` command lines, and Metaflow's Client configured
the same way. Without moto (``--serving-only``): the flow on this machine, local datastore and registry."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from .aws import Moto
from .session import Session
from .settings import (
    BUCKET,
    DUMMY_KEY,
    INFERENCE_IMAGE,
    JOB_QUEUE,
    LOCAL_RUN_ARGS,
    MODEL_GROUP,
    PROOF_SWEEP,
    REGION,
    REPO,
    TEST_IMAGE,
)
from .shell import ProofFailure, log_line, tail_text


def flow_class_name(flow_file: Path) -> str:
    match = re.search(r"^class\s+(\w+)\(\s*FlowSpec\s*\)", flow_file.read_text(), flags=re.MULTILINE)
    if not match:
        raise ProofFailure(f"{flow_file}: no `class Name(FlowSpec)` found")
    return match.group(1)


class FlowRunner:
    """Runs the flow CLI as a child process and reads its runs back through the Client
    (on the emulated Batch with ``moto``; on this machine, local datastore, without)."""

    def __init__(self, session: Session, moto: Moto | None) -> None:
        self.session = session
        self.moto = moto
        self.opts = session.opts
        self.name = flow_class_name(self.opts.flow)

    def env(self) -> dict[str, str]:
        """The flow's environment: the README's Batch settings, pointed at moto and this engine's image
        (without moto: Metaflow on this machine, its datastore in the workdir)."""
        work = self.session.work
        env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "AWS_"))}
        env.update(
            METAFLOW_USER="spyflow",
            METAFLOW_HOME=str(work / "metaflow-home"),  # no ~/.metaflowconfig leaks in
            METAFLOW_DEFAULT_METADATA="local",
            METAFLOW_DATASTORE_SYSROOT_LOCAL=str(work / "metaflow-local"),
            PYTHONPATH=str(self.import_dir()),
        )
        if self.moto is None:
            env.update(METAFLOW_DEFAULT_DATASTORE="local")
            return env
        endpoint = self.moto.endpoint
        env.update(
            METAFLOW_DEFAULT_DATASTORE="s3",
            METAFLOW_DATASTORE_SYSROOT_S3=f"s3://{BUCKET}/metaflow",
            METAFLOW_S3_ENDPOINT_URL=endpoint,
            METAFLOW_BATCH_JOB_QUEUE=JOB_QUEUE,
            METAFLOW_ECS_S3_ACCESS_IAM_ROLE=self.moto.job_role_arn,
            METAFLOW_BATCH_CONTAINER_IMAGE=TEST_IMAGE,
            AWS_ENDPOINT_URL_BATCH=endpoint,  # Metaflow's Batch client has no endpoint setting of its own
            AWS_ACCESS_KEY_ID=DUMMY_KEY,
            AWS_SECRET_ACCESS_KEY=DUMMY_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=os.devnull,  # never a real profile or credential from this machine
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        return env

    def import_dir(self) -> Path:
        """A directory holding only a link to spylib, for the flow's PYTHONPATH.

        Not the repository root: a ``spy_flow.egg-info`` left there by an editable install would
        be on sys.path, Metaflow would package its (missing) METADATA as the distribution's, and in
        the container every entry-point scan (scikit-learn's, through narwhals) would raise
        ``TypeError: expected string or bytes-like object, got 'NoneType'``.
        """
        path = self.session.work / "pythonpath"
        path.mkdir(parents=True, exist_ok=True)
        link, target = path / "spylib", REPO / "spylib"
        if link.is_symlink() and link.readlink() != target:
            link.unlink()  # a workdir shared with another checkout: link this one's spylib
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
        return path

    def run_args(self) -> list[str]:
        return shlex.split(
            self.opts.run_args.format(bucket=BUCKET, model_group=MODEL_GROUP, inference_image=INFERENCE_IMAGE)
        )

    def local_registry(self) -> Path:
        return self.session.work / "serving-local" / "registry"

    def run_locally(self, label: str) -> tuple[int, str | None]:
        """``run`` on this machine (``--serving-only``): local datastore, local registry in the workdir."""
        local = self.session.work / "serving-local"
        args = LOCAL_RUN_ARGS.format(registry=self.local_registry(), output=local / "output")
        return self.run(label, [*self.config_args(), "run", *shlex.split(args), "--model-group", MODEL_GROUP])

    def config_args(self) -> list[str]:
        sweep = self.session.work / "sweep-proof.json"
        sweep.write_text(json.dumps(PROOF_SWEEP, indent=2))
        args = ["--config", "sweep", str(sweep)]
        if self.opts.resources_config is not None:
            args += ["--config", "resources", str(self.opts.resources_config)]
        return args

    def run_on_batch(self, label: str) -> tuple[int, str | None]:
        """``--with batch run`` with the proof's sweep and parameters."""
        return self.run(label, [*self.config_args(), "--with", "batch", "run", *self.run_args()])

    def resume_on_batch(self, origin_run_id: str) -> tuple[int, str | None]:
        return self.run("resume", ["--with", "batch", "resume", "--origin-run-id", origin_run_id])

    def run(self, label: str, command: list[str]) -> tuple[int, str | None]:
        """Run the flow CLI (``run`` or ``resume``); returns its exit status and the run id."""
        work, logs, opts = self.session.work, self.session.logs, self.opts
        run_id_file = work / f"run-id-{label}"
        run_id_file.unlink(missing_ok=True)
        log = logs / f"flow-{label}.log"
        log.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            str(opts.flow),
            *command,
            "--run-id-file",
            str(run_id_file),
            "--max-workers",
            str(opts.max_workers),
        ]
        log_line(f"flow ({label}): {' '.join(cmd[1:])}")
        proc = self.session.procs.start(
            f"flow {label}", cmd, env=self.env(), cwd=work, log=log, grace_seconds=30
        )
        try:
            code = proc.wait(timeout=opts.run_timeout)
        except subprocess.TimeoutExpired:
            raise ProofFailure(
                f"flow ({label}) still running after {opts.run_timeout:.0f} s; log:\n{tail_text(log)}"
            ) from None
        finally:
            self.session.procs.stop(proc)
        run_id = run_id_file.read_text().strip() if run_id_file.exists() else None
        log_line(f"flow ({label}) exited {code}, run id {run_id}")
        return code, run_id

    def client(self) -> ModuleType:
        """Metaflow's Client, configured like the flow (Metaflow reads its settings at import), with
        the flow's spylib importable."""
        if "metaflow" not in sys.modules:
            os.environ.update(self.env())
            os.environ["METAFLOW_S3_RETRY_COUNT"] = "1"  # a dead endpoint fails fast
        if "spylib" not in sys.modules:
            # Artifacts unpickle with the spylib the flow ran, not whichever one is installed.
            sys.path.insert(0, str(self.import_dir()))
        import metaflow

        metaflow.namespace(None)
        return metaflow
