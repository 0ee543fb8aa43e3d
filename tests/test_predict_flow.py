"""PredictFlow end to end: twice on one day, once on the next; and the Step Functions deployment on moto."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, flow_env

PREDICT_FLOW = REPO / "flows" / "predict_flow.py"
DAY, NEXT_DAY = "2018-12-27", "2018-12-28"


def register_approved_model(root: Path) -> None:
    """A real model on the embedded data, registered for review and then approved, as a human would."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from spylib.monitoring import reference_profile
    from spylib.registry import LocalRegistry, RegistrationRequest
    from spylib.research.data import ingest
    from spylib.research.features import build_features, feature_columns
    from spylib.research.models import bundle_signal, make_bundle

    market = ingest("embedded", "SPY", "QQQ")
    features = build_features(market.prices, "SPY", "QQQ")
    columns = feature_columns()
    dev = features[(features["date"] >= date(2004, 1, 1)) & (features["date"] < date(2013, 1, 1))]
    test = features[(features["date"] >= date(2013, 6, 1)) & (features["date"] < date(2015, 1, 1))]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    model.fit(dev[columns], dev["target_up"].astype(int))
    bundle = make_bundle(model, columns, 0.5, [], "close_to_close", "SPY")
    probability, signal = bundle_signal(bundle, test)
    profile = reference_profile(dev, columns, test_probability=probability, test_signal=signal,
                                test_metrics={"hit_rate": 0.55, "auc": 0.52, "net_sharpe": 0.5})  # fmt: skip
    registry = LocalRegistry(root)
    registry.register(RegistrationRequest(
        group="spy-direction", bundle=bundle, approval_status="PendingManualApproval",
        metrics={"cost_bps": 1.0}, gate_reasons=[], run_pathspec="SpyFlow/test", data_fingerprint="test",
        code_version="test", extra_files={"reference_profile.json": json.dumps(profile).encode()},
    ))  # fmt: skip
    registry.set_status("spy-direction", 1, "Approved")


def run_predict_flow(tmp: Path, as_of: str, **params: object):
    from metaflow import Runner

    with Runner(str(PREDICT_FLOW), show_output=False, env=flow_env(), pylint=False).run(
        max_workers=1, as_of=as_of, output_dir=str(tmp / "out"), lake_root=str(tmp / "lake"),
        registry_location=str(tmp / "registry"), **params,
    ) as running:  # fmt: skip
        assert running.status == "successful", running.stderr
        return running.run


def card_data(html: str) -> str:
    """The JSON a Metaflow card embeds (base64 in ``window.__MF_DATA__[...]``), as text."""
    blobs = re.findall(r'window\.__MF_DATA__\["[^"]+"\] = "([^"]+)"', html)
    return "\n".join(base64.b64decode(b).decode() for b in blobs)


def daily_rows(lake: Path) -> pd.DataFrame:
    from spylib.storage.lake import read_table

    return read_table("predictions", str(lake), [("segment", "=", "daily")])


@pytest.mark.flow
def test_predict_flow_twice_on_one_day_then_the_next_day(tmp_path: Path, session_root: Path) -> None:
    register_approved_model(tmp_path / "registry")

    first = run_predict_flow(tmp_path, DAY)
    after_first = daily_rows(tmp_path / "lake")
    assert after_first["date"].dt.date.astype(str).tolist() == [DAY]
    assert pd.isna(after_first["target_up"].iloc[0])
    p_first = float(first["predict"].task["prediction"].data["probability"].iloc[0])
    assert after_first["probability"].iloc[0] == p_first
    assert after_first["model_version"].iloc[0] == "spy-direction/v1"
    assert after_first["run_id"].iloc[0] == first.id

    second = run_predict_flow(tmp_path, DAY)
    assert second["predict"].task["lake_files"].data == []  # nothing new to write
    pd.testing.assert_frame_equal(daily_rows(tmp_path / "lake"), after_first)  # no duplicate row

    third = run_predict_flow(tmp_path, NEXT_DAY, replay_days=30)
    table = daily_rows(tmp_path / "lake")
    assert table["date"].dt.date.astype(str).tolist() == [DAY, NEXT_DAY]
    # the day's outcome is filled from the next close; its first probability is kept
    assert table["target_up"].iloc[0] in (0, 1) and pd.notna(table["fwd_return"].iloc[0])
    assert (table["target_up"].iloc[0] == 1) == (table["fwd_return"].iloc[0] > 0)
    assert table["probability"].iloc[0] == p_first and table["run_id"].iloc[0] == first.id
    assert pd.isna(table["target_up"].iloc[1]) and table["run_id"].iloc[1] == third.id

    monitor = third["monitor"].task
    monitoring = monitor["monitoring"].data
    assert monitoring["status"] in ("ok", "warn", "alert")
    assert monitor["monitoring_status"].data == monitoring["status"]
    names = {c["name"] for c in monitoring["checks"]}
    assert (
        "drift:rsi_14" in names and "performance:hit_rate_60" in names and "health:predict:seconds" in names
    )
    # pipeline health read back from this run and the two earlier ones
    stats, history = monitor["step_stats"].data, monitor["step_history"].data
    assert set(stats["step"]) == {"start", "ingest", "predict"} and (stats["seconds"] > 0).all()
    assert {first.id, second.id} <= set(history["run_id"]) and (history["peak_rss_mb"] > 0).all()
    assert monitor["monitored_predictions"].data["segment"].tolist() == ["replay"] * 30 + ["daily"] * 2
    # the PNGs and monitoring.json beside the predictions
    out = tmp_path / "out" / "predictions" / f"run_id={third.id}"
    for name in ("drift", "performance", "probability", "step_durations"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "monitoring.json").read_text())["status"] == monitoring["status"]
    assert pd.read_csv(out / "predictions.csv")["date"].tolist() == [DAY, NEXT_DAY]
    # The card is written into the session datastore (the card client looks elsewhere when the
    # datastore root is moved, as the tests do): read the HTML file and decode its embedded data.
    pattern = f"**/{third.id}/steps/monitor/tasks/{monitor.id}/cards/*-monitoring-*.html"
    cards = list(session_root.glob(pattern))
    assert len(cards) == 1
    text = card_data(cards[0].read_text())
    assert "Daily inference and monitoring" in text and "Drift per feature (PSI)" in text
    assert text.count("data:image/png;base64") >= 4  # the four figures
    assert "MONITORING" in third["end"].task["message"].data


# --- Step Functions deployment, compiled and created on moto ----------------------------------
def create_job_queue(client) -> str:
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


@pytest.mark.emulator
def test_step_functions_deployment_compiles_against_moto(tmp_path: Path) -> None:
    import boto3
    from moto_server import aws_env, running_moto_server

    with running_moto_server() as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("METAFLOW_")}
        env.update(aws_env(server.endpoint))
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="us-east-1")  # fmt: skip

        def client(service: str):
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
