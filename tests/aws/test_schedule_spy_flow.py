"""SpyFlow's weekly retraining, compiled and created as a Step Functions state machine on a real moto
server, with its EventBridge schedule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3

from tests.helpers.moto_server import running_moto_server
from tests.helpers.paths import FLOW_FILE
from tests.helpers.step_functions import deployment_env


def test_retraining_schedule_is_created_against_moto(tmp_path: Path) -> None:
    with running_moto_server() as server:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )

        def client(service: str) -> Any:  # boto3 clients are built at run time: untyped
            return session.client(service, endpoint_url=server.endpoint)

        env = deployment_env(server.endpoint, client, tmp_path)
        command = [sys.executable, str(FLOW_FILE), "--no-pylint", "step-functions", "create"]
        compiled = subprocess.run(
            [*command, "--only-json"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert compiled.returncode == 0, compiled.stderr[-3000:]
        definition = json.loads(compiled.stdout[compiled.stdout.index("{") :])
        assert definition["StartAt"] == "start"
        steps = {"start", "ingest", "features", "split", "evaluate", "predict", "register", "end"}
        assert steps <= set(definition["States"])
        deployed = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert deployed.returncode == 0, deployed.stderr[-3000:]
        machines = client("stepfunctions").list_state_machines()["stateMachines"]
        assert [m["name"] for m in machines] == ["SpyFlow"]
        rules = client("events").list_rules()["Rules"]
        assert [r["ScheduleExpression"] for r in rules] == ["cron(0 6 ? * SAT *)"]
