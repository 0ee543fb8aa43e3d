"""PredictFlow's Step Functions deployment, compiled and created on a real moto server (the flow's
runs are ``tests/flow/test_predict_flow.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3

from tests.helpers.moto_server import running_moto_server
from tests.helpers.paths import PREDICT_FLOW
from tests.helpers.step_functions import deployment_env


def test_step_functions_deployment_compiles_against_moto(tmp_path: Path) -> None:
    with running_moto_server() as server:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="us-east-1")  # fmt: skip

        def client(service: str) -> Any:  # boto3 clients are built at run time: untyped
            return session.client(service, endpoint_url=server.endpoint)

        env = deployment_env(server.endpoint, client, tmp_path)
        env["SPYFLOW_FAIL_ON_ALERT"] = "true"
        command = [sys.executable, str(PREDICT_FLOW), "--no-pylint", "step-functions", "create"]
        created = subprocess.run([*command, "--only-json"], env=env, cwd=tmp_path, capture_output=True,
                                 text=True, timeout=300)  # fmt: skip
        assert created.returncode == 0, created.stderr[-3000:]
        definition = json.loads(created.stdout[created.stdout.index("{") :])
        states = definition["States"]
        assert {"start", "ingest", "predict", "monitor", "end"} <= set(states)
        assert definition["StartAt"] == "start"
        deployed = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert deployed.returncode == 0, deployed.stderr[-3000:]
        sfn = client("stepfunctions")
        machines = sfn.list_state_machines()["stateMachines"]
        assert [m["name"] for m in machines] == ["PredictFlow"]
        stored = json.loads(
            sfn.describe_state_machine(stateMachineArn=machines[0]["stateMachineArn"])["definition"]
        )
        assert set(stored["States"]) == set(states)
        # the schedule and the deploy-time parameter default baked into the start step's environment
        events = client("events")
        rules = events.list_rules()["Rules"]
        assert [r["ScheduleExpression"] for r in rules] == ["cron(30 22 ? * MON-FRI *)"]
        environment = states["start"]["Parameters"]["ContainerOverrides"]["Environment"]
        defaults = json.loads(
            next(e["Value"] for e in environment if e["Name"] == "METAFLOW_DEFAULT_PARAMETERS")
        )
        assert defaults["fail-on-alert"] in (True, "True", "true")
