"""The emulated AWS account: a moto server whose AWS Batch runs each job as a container in the
proof's engine, and the resources a real account needs (see the README's "AWS Batch" section):
the S3 bucket, IAM roles and instance profile, a VPC with a subnet and security group, a MANAGED
compute environment and a job queue."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from .engine import Engine
from .session import Session
from .settings import (
    BUCKET,
    COMPUTE_ENV,
    DUMMY_KEY,
    INSTANCE_ROLE,
    JOB_QUEUE,
    JOB_ROLE,
    REGION,
    SERVICE_ROLE,
)
from .shell import http_ok, wait_for


class Moto:
    """A moto server on 127.0.0.1 (its port is chosen first: the test layer bakes the endpoint in)."""

    def __init__(self, session: Session, port: int) -> None:
        self.session = session
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.job_role_arn = ""

    def start(self, engine: Engine) -> None:
        env = dict(os.environ)
        env.update(
            DOCKER_HOST=f"unix://{engine.sock}",
            MOTO_DOCKER_NETWORK_MODE="host",  # the job containers reach moto (S3) on 127.0.0.1
            MOTO_PORT=str(self.port),
            AWS_ACCESS_KEY_ID=DUMMY_KEY,
            AWS_SECRET_ACCESS_KEY=DUMMY_KEY,
            AWS_DEFAULT_REGION=REGION,
        )
        self.session.procs.start(
            "moto server",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            log=self.session.logs / "moto.log",
        )
        wait_for("the moto server", lambda: http_ok(f"{self.endpoint}/moto-api/"), timeout=60)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=DUMMY_KEY,
            aws_secret_access_key=DUMMY_KEY,
        )

    def create_resources(self) -> None:
        """The same resources a real account needs, created in moto; keeps the job role's ARN."""
        self.client("s3").create_bucket(Bucket=BUCKET)
        iam = self.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "{}"}, "Action": "sts:AssumeRole"}],
        }

        def create_role(name: str, service: str) -> str:
            doc = json.loads(json.dumps(trust).replace('"{}"', json.dumps(service)))
            return str(
                iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]
            )

        self.job_role_arn = create_role(JOB_ROLE, "ecs-tasks.amazonaws.com")
        service_role_arn = create_role(SERVICE_ROLE, "batch.amazonaws.com")
        create_role(INSTANCE_ROLE, "ec2.amazonaws.com")
        profile = iam.create_instance_profile(InstanceProfileName=INSTANCE_ROLE)["InstanceProfile"]["Arn"]
        iam.add_role_to_instance_profile(InstanceProfileName=INSTANCE_ROLE, RoleName=INSTANCE_ROLE)
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="spyflow-batch", Description="spy-flow Batch", VpcId=vpc)
        batch = self.client("batch")
        # MANAGED, as in a real account: Metaflow reads computeResources.type of the queue's environment.
        ce = batch.create_compute_environment(
            computeEnvironmentName=COMPUTE_ENV,
            type="MANAGED",
            state="ENABLED",
            computeResources={
                "type": "EC2",
                "minvCpus": 0,
                "maxvCpus": 16,
                "desiredvCpus": 0,
                "instanceTypes": ["optimal"],
                "subnets": [subnet],
                "securityGroupIds": [group["GroupId"]],
                "instanceRole": profile,
            },
            serviceRole=service_role_arn,
        )
        batch.create_job_queue(
            jobQueueName=JOB_QUEUE,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}],
        )

    def batch_jobs(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        """``describe_jobs`` for any number of ids (100 per call), by job id."""
        batch = self.client("batch")
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(job_ids), 100):
            for job in batch.describe_jobs(jobs=job_ids[i : i + 100])["jobs"]:
                out[job["jobId"]] = job
        return out
