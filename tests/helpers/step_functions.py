"""Deploying a flow to Step Functions on a real moto server: the AWS resources Metaflow needs and the
environment of the `step-functions create` subprocess."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers.moto_server import aws_env

Client = Callable[[str], Any]
BUCKET = "spyflow-test"
STATE_TABLE = "spyflow-sfn"


def create_job_queue(client: Client) -> str:
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
        computeEnvironmentName="spyflow",
        type="MANAGED",
        state="ENABLED",
        serviceRole=role,
        computeResources={
            "type": "EC2",
            "minvCpus": 0,
            "maxvCpus": 2,
            "instanceTypes": ["optimal"],
            "subnets": [subnet],
            "securityGroupIds": [group],
            "instanceRole": profile,
        },
    )["computeEnvironmentArn"]
    return str(
        batch.create_job_queue(
            jobQueueName="spyflow",
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
        )["jobQueueArn"]
    )


def deployment_env(endpoint: str, client: Client, tmp_path: Path) -> dict[str, str]:
    """Create the bucket, the Batch queue and Metaflow's Step Functions state table; return the
    environment of a `step-functions create` subprocess pointed at the emulator."""
    client("s3").create_bucket(Bucket=BUCKET)
    queue_arn = create_job_queue(client)
    client("dynamodb").create_table(
        TableName=STATE_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pathspec", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pathspec", "KeyType": "HASH"}],
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("METAFLOW_")}
    env.update(aws_env(endpoint))
    env.update(
        {
            "METAFLOW_USER": "spyflow-tests",
            "METAFLOW_DEFAULT_DATASTORE": "s3",
            "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{BUCKET}/metaflow",
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path),
            "METAFLOW_S3_RETRY_COUNT": "0",
            "METAFLOW_SFN_IAM_ROLE": "arn:aws:iam::123456789012:role/sfn",
            "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE": "arn:aws:iam::123456789012:role/events",
            "METAFLOW_SFN_DYNAMO_DB_TABLE": STATE_TABLE,
            "METAFLOW_BATCH_JOB_QUEUE": queue_arn,
            "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": "arn:aws:iam::123456789012:role/batch",
            "METAFLOW_BATCH_CONTAINER_IMAGE": "python:3.11-slim",
            "AWS_ENDPOINT_URL_SFN": endpoint,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        }
    )
    return env
