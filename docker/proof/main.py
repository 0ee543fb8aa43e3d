"""The proof as a sequence of timed phases (``run``: the Batch phases, then the serving phases on the
model they registered; ``--serving-only``: a local run's model), and the process around it
(``main``): the exit status (0 proved, 1 failed, 77 skipped), cleanup by process id whatever happens
(SIGTERM and SIGHUP included), the report in ``<workdir>/report.json`` and the one-line verdict."""

from __future__ import annotations

import contextlib
import json
import signal
import time
import traceback
from collections.abc import Sequence
from typing import Any

from .aws import Moto
from .checks import Checks
from .engine import Engine, install_packages, preflight, wipe_workdir
from .flows import FlowRunner
from .images import Images
from .serving import Model, Serving, run_serving
from .session import Session
from .settings import SKIPPED, parse_args
from .shell import ProofFailure, Skip, free_port, log_line


def run(session: Session, engine: Engine) -> None:
    """Every phase in order, each timed into ``report['phases']``; raises ``Skip`` or ``ProofFailure``."""
    opts, phase = session.opts, session.phase
    with phase("preflight"):
        preflight()
        if opts.fresh:
            wipe_workdir(session.work)
        session.work.mkdir(parents=True, exist_ok=True)
    with phase("install docker.io and debootstrap"):
        install_packages(session.logs)
    with phase("start the Docker engine"):
        engine.start()
    if opts.check_only:
        session.report["status"] = "engine-ok"
        return
    if not opts.flow.exists():
        raise ProofFailure(f"no flow at {opts.flow}")
    images = Images(session, engine)
    with phase("base image (debootstrap, import)"):
        engine.build_base_image()
    with phase("wheelhouse (pip download on the host)"):
        images.build_wheelhouse()
        images.serve_wheelhouse()
        images.tag_dockerfile_base()
    with phase("project image (docker/Dockerfile)"):
        images.build_project_image(opts.measure_compressed)
    model = local_model(session, engine) if opts.serving_only else batch_phases(session, engine, images)
    run_serving(session, engine, model)
    session.report["status"] = "proved"


def batch_phases(session: Session, engine: Engine, images: Images) -> Model:
    """The flow on the emulated Batch (plain, then killed and resumed); returns the model the plain
    run registered in (moto's) SageMaker Model Registry, for the serving phases."""
    phase = session.phase
    with phase("emulator layer (docker/test-layer.Dockerfile)"):
        moto = Moto(session, free_port())
        images.build_test_image(moto.endpoint)
    with phase("moto server and Batch resources"):
        moto.start(engine)
        moto.create_resources()
    flows = FlowRunner(session, moto)
    checks = Checks(session, engine, moto, flows)
    with phase("plain run on Batch"):
        run_id = checks.plain_run()
    with phase("checks of the plain run"):
        checks.check_plain_run(run_id)
    with phase("run with a killed evaluate, then resume"):
        checks.run_with_failure_then_resume()
    with phase("serving: the plain run's model package (moto's SageMaker and S3)"):
        return Serving(session, engine).model_from_sagemaker(moto, flows, run_id)


def local_model(session: Session, engine: Engine) -> Model:
    """``--serving-only``: the flow on this machine (local datastore and registry), its model."""
    flows = FlowRunner(session, None)
    with session.phase("serving: local run of the flow (local registry)"):
        code, run_id = flows.run_locally("local")
        if code != 0 or run_id is None:
            raise ProofFailure(
                f"the local run failed (exit {code}); log in {session.logs / 'flow-local.log'}"
            )
        session.report["local_run"] = run_id
        return Serving(session, engine).model_from_local_registry(flows, run_id)


def close(session: Session, engine: Engine) -> None:
    """Stop what was started: containers first (their engine must still answer), then every
    process newest first, then the engine's leftover mounts."""
    with contextlib.suppress(Exception):
        engine.kill_containers()
    session.procs.stop_all()
    engine.remove_exec_root()


def raise_on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    session = Session(parse_args(argv))
    engine = Engine(session)
    report = session.report
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, raise_on_signal)
    started = time.monotonic()
    code = 1
    try:
        run(session, engine)
        code = 0
    except Skip as exc:
        report.update(status="skipped", reason=str(exc))
        code = SKIPPED
    except ProofFailure as exc:
        report.update(status="failed", reason=str(exc))
    except KeyboardInterrupt as exc:
        report.update(status="interrupted", reason=str(exc) or "interrupted")
    except Exception:  # a bug or an unexpected API answer: still a failure, still cleaned up
        report.update(status="failed", reason=traceback.format_exc())
    finally:
        # Whatever happened: stop what was started (new signals must not cut the cleanup short).
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        close(session, engine)
        report["total_seconds"] = round(time.monotonic() - started, 1)
        if session.work.exists():
            (session.work / "report.json").write_text(json.dumps(report, indent=2))
    print_verdict(report, code)
    return code


def print_verdict(report: dict[str, Any], code: int) -> None:
    status = report["status"]
    log_line(f"total {report['total_seconds']} s")
    if code == SKIPPED:
        print(f"batch proof SKIPPED: {report['reason']}", flush=True)
    elif code != 0:
        print(f"batch proof {status.upper()}: {report.get('reason')}", flush=True)
    elif status == "engine-ok":
        print("batch proof: a Docker engine starts on this machine (--check only)", flush=True)
    else:
        print(f"batch proof {status.upper()}: {len(report['checks'])} checks held", flush=True)
