"""PredictFlow's Step Functions deployment, compiled and created on a real moto server (the flow's
runs are ``tests/flow/test_predict_flow.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from tests.helpers.moto_server import aws_env, running_moto_server
from tests.helpers.paths import PREDICT_FLOW


def create_job_queue(client: Callable[[str], Any]) -> str:
    """A MANAGED EC2 compute environment and a job queue (Metaflow reads computeResources.type)."""
    iam = client("iam")
    role = iam.create_role(RoleName="batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="batch")["InstanceProfile"]["Arn"]
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="batch", Description="batch", VpcId=vpc)["GroupId"]
    batch = client("batch")
    environment = batch.create_compute_environment(
        computeEnvironmentName="spyflow", type="MANAGED", state="ENABLED", serviceRole=role,
        computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": 2, "instanceTypes": ["optimal"],
                          "subnets": [subnet], "securityGroupIds": [group], "instanceRole": profile},
    )["computeEnvironmentArn"]  # fmt: skip
    return str(batch.create_job_queue(
        jobQueueName="spyflow", state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
    )["jobQueueArn"])  # fmt: skip


def test_step_functions_deployment_compiles_against_moto(tmp_path: Path) -> None:
    with running_moto_server() as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("METAFLOW_")}
        env.update(aws_env(server.endpoint))
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="us-east-1")  # fmt: skip

        def client(service: str) -> Any:  # boto3 clients are built at run time: untyped
            return session.client(service, endpoint_url=server.endpoint)

        client("s3").create_bucket(Bucket="spyflow-test")
        queue_arn = create_job_queue(client)
        client("dynamodb").create_table(
            TableName="spyflow-sfn", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pathspec", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pathspec", "KeyType": "HASH"}],
        )  # fmt: skip
        env.update({
            "METAFLOW_USER": "spyflow-tests", "METAFLOW_DEFAULT_DATASTORE": "s3",
            "METAFLOW_DATASTORE_SYSROOT_S3": "s3://spyflow-test/metaflow",
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path), "METAFLOW_S3_RETRY_COUNT": "0",
            "METAFLOW_SFN_IAM_ROLE": "arn:aws:iam::123456789012:role/sfn",
            "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE": "arn:aws:iam::123456789012:role/events",
            "METAFLOW_SFN_DYNAMO_DB_TABLE": "spyflow-sfn",
            "METAFLOW_BATCH_JOB_QUEUE": queue_arn,
            "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": "arn:aws:iam::123456789012:role/batch",
            "METAFLOW_BATCH_CONTAINER_IMAGE": "python:3.11-slim",
            "AWS_ENDPOINT_URL_SFN": server.endpoint, "AWS_ENDPOINT_URL_EVENTBRIDGE": server.endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": server.endpoint, "SPYFLOW_FAIL_ON_ALERT": "true",
        })  # fmt: skip
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
