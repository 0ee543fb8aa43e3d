"""Local model registry and the SageMaker inference handlers (no AWS needed)."""

from __future__ import annotations

import importlib.util
import io
import json
import multiprocessing
import re
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from spylib import registry
from spylib.core.errors import ConfigError, IntegrityError
from spylib.registry import (
    LocalRegistry,
    RegistrationRequest,
    build_model_tarball,
    images,
    load_bundle,
    open_registry,
    sklearn_image_uri,
)
from tests.helpers.registry_requests import make_bundle, make_provenance, make_request


def test_versions_layout_and_manifest(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path)
    first = reg.register(make_request("SpyFlow/1", extra_files={"reference_profile.json": b'{"a": 1}'}))
    second = reg.register(make_request("SpyFlow/2", status="Rejected"))
    assert (first.version, second.version) == (1, 2)
    assert first.created
    assert second.created
    assert (tmp_path / "spy-direction" / "group.json").is_file()
    version_dir = tmp_path / "spy-direction" / "versions" / "1"
    assert first.location == str(version_dir)
    assert sorted(p.name for p in version_dir.iterdir()) == [
        "manifest.json",
        "model.joblib",
        "model.tar.gz",
        "reference_profile.json",
    ]
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert manifest["version"] == 1
    assert manifest["status"] == "Approved"
    assert (
        manifest["model_sha256"] == first.model_sha256 == registry.sha256_file(version_dir / "model.joblib")
    )
    assert manifest["metrics"] == {"sharpe": 0.8, "dsr": None, "hit_rate": 0.54}  # nan -> null
    assert manifest["run_pathspec"] == "SpyFlow/1"
    assert manifest["extra_files"] == {"reference_profile.json": registry.sha256_bytes(b'{"a": 1}')}
    assert [r.version for r in reg.list_versions("spy-direction")] == [1, 2]
    assert [r.status for r in reg.list_versions("spy-direction")] == ["Approved", "Rejected"]
    # no temp dirs or probes left behind
    assert sorted(p.name for p in (tmp_path / "spy-direction").iterdir()) == [
        ".lock",
        "group.json",
        "versions",
    ]


def test_same_run_is_not_registered_twice(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path)
    first = reg.register(make_request("SpyFlow/7"))
    again = reg.register(make_request("SpyFlow/7", bundle=make_bundle(seed=5)))
    assert again.created is False
    assert again.version == first.version == 1
    assert again.model_sha256 == first.model_sha256
    assert len(reg.list_versions("spy-direction")) == 1


def test_latest_approved_skips_rejected_and_pending(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path)
    assert reg.latest_approved("spy-direction") is None
    reg.register(make_request("SpyFlow/1", bundle=make_bundle(seed=1, threshold=0.51)))
    reg.register(make_request("SpyFlow/2", status="Approved", bundle=make_bundle(seed=2, threshold=0.52)))
    reg.register(make_request("SpyFlow/3", status="Rejected", bundle=make_bundle(seed=3, threshold=0.53)))
    reg.register(make_request("SpyFlow/4", status="PendingManualApproval"))
    latest = reg.latest_approved("spy-direction")
    assert latest is not None
    assert latest.registration.version == 2
    assert latest.bundle["threshold"] == 0.52
    assert latest.metadata["run_pathspec"] == "SpyFlow/2"
    frame = pd.DataFrame({"ret_1d": [3.0, -3.0, 3.0], "rsi_14": [0.0, 0.0, 0.0], "trend_ok": [1, 1, 0]})
    assert registry.predict_frame(latest.bundle, frame)["signal"].tolist() == [1, 0, 0]
    # approving version 4 later makes it the latest
    updated = reg.set_status("spy-direction", 4, "Approved")
    assert updated.status == "Approved"
    latest = reg.latest_approved("spy-direction")
    assert latest is not None
    assert latest.registration.version == 4


def test_tampered_model_is_refused_naming_both_hashes(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path)
    registration = reg.register(make_request("SpyFlow/1"))
    model_path = Path(registration.model_uri)
    joblib.dump(make_bundle(seed=9, threshold=0.9), model_path)
    actual = registry.sha256_file(model_path)
    with pytest.raises(IntegrityError) as info:
        reg.latest_approved("spy-direction")
    message = str(info.value)
    assert str(model_path) in message
    assert registration.model_sha256 in message
    assert actual in message


def test_load_bundle_never_unpickles_before_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(make_bundle(), path)
    calls: list[Any] = []
    monkeypatch.setattr(joblib, "load", lambda *a, **k: calls.append(a))
    with pytest.raises(IntegrityError, match=r"expected 0{64}"):
        load_bundle(path, "0" * 64)
    assert calls == []


def test_failed_write_leaves_no_half_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = LocalRegistry(tmp_path)
    reg.register(make_request("SpyFlow/1"))
    # 1. A bundle that cannot be pickled: joblib fails part-way through model.joblib.
    bad = make_bundle()
    bad["estimator"].unpicklable_ = lambda: None
    with pytest.raises(Exception, match=r"pickle|lambda"):
        reg.register(make_request("SpyFlow/2", bundle=bad))
    # 2. A failure after model.joblib and the tarball are written (while writing an extra file).
    real_write_bytes = Path.write_bytes

    def failing_write_bytes(self: Path, data: Any) -> int:
        if self.name == "reference_profile.json":
            raise OSError("disk full (injected)")
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write_bytes)
    with pytest.raises(OSError, match="injected"):
        reg.register(make_request("SpyFlow/3", extra_files={"reference_profile.json": b"{}"}))
    monkeypatch.undo()
    group_dir = tmp_path / "spy-direction"
    assert [p.name for p in (group_dir / "versions").iterdir()] == ["1"]
    assert not list(group_dir.glob(".tmp-*"))
    # the next registration gets version 2, not 3
    assert reg.register(make_request("SpyFlow/4")).version == 2


def test_stale_temp_dir_from_a_killed_writer_is_cleaned(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path)
    reg.register(make_request("SpyFlow/1"))
    stale = tmp_path / "spy-direction" / ".tmp-version-dead"
    stale.mkdir()
    (stale / "model.joblib").write_bytes(b"half")
    assert reg.register(make_request("SpyFlow/2")).version == 2
    assert not stale.exists()


def test_unwritable_root_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")  # root cannot bypass this one: a file where a directory must go
    reg = LocalRegistry(blocker / "registry")
    with pytest.raises(ConfigError, match=r"not-a-dir/registry/spy-direction is not writable"):
        reg.register(make_request())


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"group": "bad/name"}, "group"),
        ({"group": "../escape"}, "group"),
        ({"approval_status": "Maybe"}, "approval_status"),
        ({"extra_files": {"manifest.json": b""}}, "extra_files"),
        ({"extra_files": {"../x": b""}}, "extra_files"),
        ({"metrics": {"when": object()}}, "metrics"),
    ],
)
def test_invalid_requests_are_refused_before_writing(
    tmp_path: Path, change: dict[str, Any], key: str
) -> None:
    fields = {**make_request().__dict__, **change}
    with pytest.raises(ConfigError, match=f"'{key}'"):
        LocalRegistry(tmp_path).register(RegistrationRequest(**fields))
    assert not any(tmp_path.rglob("model.joblib"))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("threshold", 1.5),
        ("label_convention", "close_to_open"),
        ("feature_columns", []),
        ("format_version", 2),
    ],
)
def test_invalid_bundles_are_refused(tmp_path: Path, key: str, value: Any) -> None:
    bundle = {**make_bundle(), key: value}
    with pytest.raises(ConfigError, match=f"bundle.{key}"):
        LocalRegistry(tmp_path).register(make_request(bundle=bundle))


def test_open_registry_targets(tmp_path: Path) -> None:
    assert isinstance(open_registry("local", str(tmp_path)), LocalRegistry)
    with pytest.raises(ConfigError, match="'target'"):
        open_registry("mlflow", str(tmp_path))
    with pytest.raises(ConfigError, match="s3://bucket"):
        open_registry("sagemaker", "bucket-without-scheme")


def test_sklearn_image_uri_table() -> None:
    assert sklearn_image_uri("us-east-1") == (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    )
    assert sklearn_image_uri("cn-north-1").endswith(".amazonaws.com.cn/sagemaker-scikit-learn:1.2-1-cpu-py3")
    with pytest.raises(ConfigError, match="mars-1"):
        sklearn_image_uri("mars-1")


def test_metadata_values_are_legal_for_aws() -> None:
    value = registry.to_metadata_value("dsr < 0.95 (0.41); turnover > 2, [x]" * 20)
    assert len(value) <= 256
    assert value.endswith("...")
    assert not set(value) & set("<>();,[]")
    assert registry.to_metadata_value("") == "none"


# ---- concurrency: two real processes ------------------------------------------------------------


# The unpatched writer, as each spawned process imports it: a worker of the shared pool registers more
# than once, so its slowed writer must wrap this one, not the previous task's slowed one.
REAL_WRITE_VERSION_FILES = LocalRegistry.write_version_files


def register_in_child(
    root: str, run: str, barrier: Any, hold_seconds: float, provenance: bool = False
) -> tuple[int, bool, float]:
    """Runs in a spawned process: wait at the barrier, then register (slowed down inside the lock)."""

    def slow_write(
        directory: Path, request: RegistrationRequest, version: int, model_bytes: bytes
    ) -> dict[str, Any]:
        time.sleep(hold_seconds)  # widen the critical section so the two writers surely overlap
        return REAL_WRITE_VERSION_FILES(directory, request, version, model_bytes)

    LocalRegistry.write_version_files = staticmethod(slow_write)  # type: ignore[method-assign]
    barrier.wait()
    start = time.monotonic()
    extra: dict[str, Any] = {"provenance": make_provenance()} if provenance else {}
    registration = LocalRegistry(root).register(make_request(run, **extra))
    return registration.version, registration.created, time.monotonic() - start


@dataclass(frozen=True)
class TwoProcesses:
    manager: Any
    pool: Any


@pytest.fixture(scope="module")
def two_processes() -> Iterator[TwoProcesses]:
    """Two spawned worker processes (and a manager for their barrier), started once for the module's
    concurrency tests: spawning and importing spylib in a fresh process is what costs seconds."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        yield TwoProcesses(manager, pool)


def run_two_registrations(
    processes: TwoProcesses, root: Path, runs: tuple[str, str], hold: float = 0.6, provenance: bool = False
) -> list[tuple[int, bool, float]]:
    """Both registrations at once, one per worker: each waits at the barrier until the other is there."""
    barrier = processes.manager.Barrier(2)
    results = [
        processes.pool.apply_async(register_in_child, (str(root), run, barrier, hold, provenance))
        for run in runs
    ]
    return [r.get(timeout=120) for r in results]


def test_two_processes_get_distinct_versions(two_processes: TwoProcesses, tmp_path: Path) -> None:
    hold = 0.6
    results = run_two_registrations(two_processes, tmp_path, ("SpyFlow/100", "SpyFlow/200"), hold)
    assert sorted(version for version, _, _ in results) == [1, 2]
    assert all(created for _, created, _ in results)
    # serialized by the lock: the second writer waited for the first one's critical section
    assert max(elapsed for _, _, elapsed in results) >= 2 * hold * 0.9
    reg = LocalRegistry(tmp_path)
    manifests = [
        json.loads(Path(r.location, "manifest.json").read_text()) for r in reg.list_versions("spy-direction")
    ]
    assert sorted(m["run_pathspec"] for m in manifests) == ["SpyFlow/100", "SpyFlow/200"]
    for r in reg.list_versions("spy-direction"):
        assert registry.sha256_file(Path(r.model_uri)) == r.model_sha256


def test_two_identical_runs_at_once_register_one_version(two_processes: TwoProcesses, tmp_path: Path) -> None:
    """Two runs (different ids) of identical content (same model bytes, strategy and provenance),
    registering at the same moment from two processes: one version, and both are told which."""
    results = run_two_registrations(
        two_processes, tmp_path, ("SpyFlow/400", "SpyFlow/500"), hold=0.3, provenance=True
    )
    assert sorted(created for _, created, _ in results) == [False, True]
    assert {version for version, _, _ in results} == {1}
    versions = LocalRegistry(tmp_path).list_versions("spy-direction")
    assert len(versions) == 1
    manifest = json.loads(Path(versions[0].location, "manifest.json").read_text())
    assert manifest["provenance"] == make_provenance().to_dict()
    assert manifest["strategy"]["threshold"] == 0.5
    assert len(manifest["content_key"]) == 64


def test_different_content_or_no_provenance_makes_a_new_version(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path)
    first = reg.register(make_request("SpyFlow/1", provenance=make_provenance()))
    assert reg.register(make_request("SpyFlow/2", provenance=make_provenance())).version == first.version
    assert reg.register(make_request("SpyFlow/3", provenance=make_provenance(seed=43))).version == 2
    assert (
        reg.register(
            make_request("SpyFlow/4", bundle=make_bundle(threshold=0.6), provenance=make_provenance())
        ).version
        == 3
    )
    assert reg.register(make_request("SpyFlow/5")).version == 4  # no provenance: keyed by its run only


def test_a_control_registers_only_in_a_control_group(tmp_path: Path) -> None:
    from spylib.registry.provenance import registration_group

    reg = LocalRegistry(tmp_path)
    synthetic = make_provenance(source_kind="synthetic", source="synthetic:edge=0.3")
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "a control model (trained on a synthetic market) registers only in a group ending in '-control'"
        ),
    ):
        reg.register(make_request("SpyFlow/1", provenance=synthetic))
    assert reg.list_versions("spy-direction") == []
    group = registration_group("spy-direction", synthetic)
    assert group == "spy-direction-control"
    assert registration_group("spy-direction", make_provenance(shuffle_labels=True)) == group
    assert registration_group("spy-direction", make_provenance()) == "spy-direction"
    assert reg.register(make_request("SpyFlow/1", group=group, provenance=synthetic)).group == group


def test_two_processes_same_run_register_once(two_processes: TwoProcesses, tmp_path: Path) -> None:
    results = run_two_registrations(two_processes, tmp_path, ("SpyFlow/300", "SpyFlow/300"), hold=0.2)
    assert sorted(created for _, created, _ in results) == [False, True]
    assert {version for version, _, _ in results} == {1}
    assert len(LocalRegistry(tmp_path).list_versions("spy-direction")) == 1


# ---- the inference handlers, run from the tarball -----------------------------------------------


def import_inference_from_tarball(tmp_path: Path, tarball: bytes) -> tuple[Any, Path]:
    model_dir = tmp_path / "model"
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["code/inference.py", "code/rule.py", "model.joblib"]
        tar.extractall(model_dir, filter="data")
    spec = importlib.util.spec_from_file_location("shipped_inference", model_dir / "code" / "inference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, model_dir


def test_inference_handlers_from_the_tarball(tmp_path: Path) -> None:
    bundle = make_bundle(threshold=0.6)
    tarball = build_model_tarball(registry.serialize_bundle(bundle))
    assert tarball == build_model_tarball(registry.serialize_bundle(bundle))  # reproducible bytes
    inference, model_dir = import_inference_from_tarball(tmp_path, tarball)
    model = inference.model_fn(str(model_dir))
    body = "rsi_14,ret_1d,trend_ok,extra\n0.0,3.0,1,x\n0.0,-3.0,1,y\n0.0,3.0,0,z\n"
    frame = inference.input_fn(body.encode(), "text/csv; charset=utf-8")
    prediction = inference.predict_fn(frame, model)
    expected = bundle["estimator"].predict_proba(
        pd.DataFrame({"ret_1d": [3.0, -3.0, 3.0], "rsi_14": [0.0] * 3})
    )
    np.testing.assert_allclose(prediction["probability"], expected[:, 1])
    assert prediction["signal"].tolist() == [1, 0, 0]  # high prob; low prob; filter off
    text, content_type = inference.output_fn(prediction, "text/csv")
    assert content_type == "text/csv"
    assert text.splitlines()[0] == "probability,signal,position"
    assert len(text.splitlines()) == 4
    # The trade rule comes from the tarball's code/rule.py, not from an installed spylib.
    assert Path(inference.trade_rule.__file__) == model_dir / "code" / "rule.py"
    assert prediction["position"].tolist() == [1.0, 0.0, 0.0]
    body_json, content_type = inference.output_fn(prediction, "application/json")
    assert content_type == "application/json"
    assert [row["signal"] for row in json.loads(body_json)] == [1, 0, 0]
    records = json.dumps([{"ret_1d": 3.0, "rsi_14": 0.0, "trend_ok": 1}])
    assert inference.predict_fn(inference.input_fn(records, "application/json"), model)[
        "signal"
    ].tolist() == [1]


def test_inference_handlers_refuse_bad_input(tmp_path: Path) -> None:
    inference, model_dir = import_inference_from_tarball(
        tmp_path, build_model_tarball(registry.serialize_bundle(make_bundle()))
    )
    model = inference.model_fn(str(model_dir))
    with pytest.raises(ValueError, match="unsupported content type"):
        inference.input_fn(b"x", "application/x-npy")
    with pytest.raises(ValueError, match="trend_ok"):
        inference.predict_fn(inference.input_fn("ret_1d,rsi_14\n1,2\n", "text/csv"), model)
    with pytest.raises(ValueError, match="row 1, column 'rsi_14'"):
        inference.predict_fn(inference.input_fn("ret_1d,rsi_14,trend_ok\n1,2,1\n1,,1\n", "text/csv"), model)
    with pytest.raises(ValueError, match="unsupported accept"):
        inference.output_fn(pd.DataFrame({"signal": [1]}), "application/x-parquet")


def test_shipped_inference_imports_nothing_from_spylib() -> None:
    source = registry.inference_source().decode()
    imports = {
        line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))
    }
    # The standard library, and what the SageMaker scikit-learn container has (threadpoolctl: scikit-learn's).
    assert imports - set(sys.stdlib_module_names) <= {"joblib", "numpy", "pandas", "threadpoolctl"}


# ---- what the registry records and which image may serve it --------------------------------------

PROJECT_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/spy-flow:0.1.0"


def test_the_bundle_and_manifest_record_the_versions_that_pickled_it(tmp_path: Path) -> None:
    versions = registry.inference.runtime_versions()
    assert set(versions) == {"python", "scikit-learn", "numpy", "joblib"}
    pickled = joblib.load(io.BytesIO(registry.serialize_bundle(make_bundle())))
    assert pickled["pickled_with"] == versions
    registration = LocalRegistry(tmp_path).register(make_request("SpyFlow/1"))
    manifest = json.loads(Path(registration.location, "manifest.json").read_text())
    assert manifest["pickled_with"] == versions
    assert manifest["sklearn_version"] == versions["scikit-learn"]


def test_a_bundle_without_the_version_record_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(make_bundle(threshold=0.55), path)  # as registered before the record existed
    bundle = load_bundle(path, registry.sha256_file(path))
    assert "pickled_with" not in bundle
    assert bundle["threshold"] == 0.55


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3", "1.2"),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2", "1.4"),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:0.23-1-cpu-py3", "0.23"),
        (PROJECT_IMAGE, None),
        ("spy-flow:proof", None),
    ],
)
def test_framework_sklearn_version_from_the_tag(image: str, version: str | None) -> None:
    assert images.framework_sklearn_version(image) == version


@pytest.mark.parametrize("tag", [":latest", "@sha256:" + "a" * 64])
def test_a_framework_image_without_a_version_tag_is_refused(tag: str) -> None:
    with pytest.raises(ConfigError, match="cannot tell which scikit-learn"):
        images.framework_sklearn_version(f"1.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn{tag}")


def test_inference_image_prefers_the_parameter_then_metaflows_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("METAFLOW_BATCH_CONTAINER_IMAGE", "111.dkr.ecr.us-east-1.amazonaws.com/spy-flow:batch")
    assert images.inference_image(PROJECT_IMAGE, "us-east-1", "1.9.1") == PROJECT_IMAGE
    assert images.inference_image(None, "us-east-1", "1.9.1").endswith("/spy-flow:batch")


def test_inference_image_refuses_a_framework_image_of_another_scikit_learn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    framework = sklearn_image_uri("eu-west-1")
    with pytest.raises(ConfigError) as info:
        images.inference_image(framework, "eu-west-1", "1.5.2")
    message = str(info.value)
    assert "has scikit-learn 1.2, but the model is pickled with scikit-learn 1.5.2" in message
    assert "--sagemaker-image-uri" in message
    assert images.inference_image(framework, "eu-west-1", "1.2.2") == framework
    monkeypatch.setattr(images, "metaflow_batch_image", lambda: "")
    with pytest.raises(ConfigError, match=r"the default SageMaker scikit-learn image .*1\.2.*1\.5\.2"):
        images.inference_image(None, "eu-west-1", "1.5.2")
    assert images.inference_image("", "eu-west-1", "1.2.0") == framework


def test_metaflow_batch_image_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METAFLOW_BATCH_CONTAINER_IMAGE", PROJECT_IMAGE)
    assert images.metaflow_batch_image() == PROJECT_IMAGE


def test_check_inference_image_uses_this_processs_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "metaflow_batch_image", lambda: "")
    here = registry.inference.runtime_versions()["scikit-learn"]
    assert images.check_inference_image(PROJECT_IMAGE, "us-east-1") == PROJECT_IMAGE
    if not here.startswith("1.2."):
        with pytest.raises(ConfigError, match=rf"pickled with scikit-learn {re.escape(here)}"):
            images.check_inference_image("", "us-east-1")
    # What a flow's Parameter default calls (with Metaflow's parameter context).
    monkeypatch.undo()
    monkeypatch.setenv("METAFLOW_BATCH_CONTAINER_IMAGE", PROJECT_IMAGE)
    assert images.metaflow_batch_image(object()) == PROJECT_IMAGE
