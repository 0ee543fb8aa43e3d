"""What every step of a flow carries, applied once by a Metaflow ``FlowMutator`` instead of pasted on
each step: expected errors as one line (:func:`spylib.stages.errors.one_line_errors`'s rule), the
``resources`` Config's cpu and memory on the steps it names (read by ``--with batch``), and for
PredictFlow the measured duration and peak memory of every step (the artifact ``step_resources``).

The only module of ``spylib`` that imports Metaflow at import time: the flows import it, the stages
and the tests of the library do not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from metaflow import FlowMutator, user_step_decorator

from spylib.core.errors import SpyFlowError
from spylib.stages.errors import one_line_error


@user_step_decorator
def one_line_step_errors(step_name: str, flow: Any, inputs: Any = None) -> Iterator[None]:
    """A step's expected errors (:class:`~spylib.core.errors.SpyFlowError`) as one Metaflow line; a
    bug keeps its traceback."""
    try:
        yield
    except SpyFlowError as exc:
        raise one_line_error(exc) from None


@user_step_decorator
def measured_step(step_name: str, flow: Any, inputs: Any = None) -> Iterator[None]:
    """The step's wall time and the task's peak memory, stored as the artifact ``step_resources``
    (PredictFlow's pipeline-health checks read it back)."""
    from spylib.monitoring import measure_resources

    with measure_resources() as measured:
        yield
    flow.step_resources = measured


class StepDecorators(FlowMutator):
    """Apply to every step ``@one_line_step_errors``; with ``resources_config=NAME``, ``@resources`` from the
    Config NAME on each step it names; with ``measure=True``, ``@measured_step``."""

    def init(self, *args: Any, **kwargs: Any) -> None:
        self.resources_config: str | None = kwargs.get("resources_config")
        self.measure: bool = bool(kwargs.get("measure", False))

    def pre_mutate(self, mutable_flow: Any) -> None:
        configs = dict(mutable_flow.configs)
        resources = configs.get(self.resources_config) or {} if self.resources_config else {}
        for name, step in mutable_flow.steps:
            if self.measure:
                step.add_decorator(measured_step)
            step.add_decorator(one_line_step_errors)
            if name in resources:
                spec = resources[name]
                step.add_decorator("resources", deco_kwargs={"cpu": spec["cpu"], "memory": spec["memory"]})


# Step decorators that run a task on its own machine (``--with batch``, ``--with kubernetes`` or
# written on the step), and the environment variables such a task sees.
REMOTE_DECORATORS = frozenset({"batch", "kubernetes"})
REMOTE_ENVIRONMENT = ("AWS_BATCH_JOB_ID", "METAFLOW_KUBERNETES_WORKLOAD")


def runs_remotely(flow: Any, step_name: str, environ: Any = None) -> bool:
    """Whether ``step_name``'s tasks run on remote compute, each on its own machine: the step carries
    ``@batch`` or ``@kubernetes`` (``--with batch`` attaches it to every step, in the launching process
    and in the task's), or this task itself runs in a Batch job or a Kubernetes pod (a deployed flow)."""
    env = os.environ if environ is None else environ
    step = getattr(type(flow), step_name, None)
    names = {getattr(deco, "name", "") for deco in getattr(step, "decorators", ())}
    return bool(names & REMOTE_DECORATORS) or any(env.get(key) for key in REMOTE_ENVIRONMENT)
