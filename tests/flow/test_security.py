"""Security: no credential, token or environment dump in anything a run stores; models are loaded only
after their sha256 is checked (the image running as a non-root user is ``tests/unit/test_security.py``).

The flow ran with fake credentials (and an environment canary) set; every stored byte is scanned for
them: each task's artifacts (pickled), metadata and logs through the Client, the card, every file of
the Metaflow datastore (gzip members decompressed), the registry (tarball members included), the lake
and the predictions files (Parquet decoded).
"""

from __future__ import annotations

import gzip
import io
import pickle
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import joblib
import pyarrow.parquet as pq
import pytest

from spylib.core.errors import IntegrityError
from spylib.registry import LocalRegistry, sha256_file
from tests.helpers.cards import card_payloads
from tests.helpers.flowrun import FAKE_SECRETS, TwinRuns, data_of, task_of

SECRETS = tuple(FAKE_SECRETS.values())


def leaks(data: bytes | str) -> list[str]:
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    return [s for s in SECRETS if s.encode() in raw]


def file_bytes(path: Path) -> Iterator[tuple[str, bytes]]:
    """A stored file's bytes as a reader would see them: gzip/tar members and Parquet tables decoded."""
    raw = path.read_bytes()
    yield str(path), raw
    if raw[:2] == b"\x1f\x8b":
        try:
            inner = gzip.decompress(raw)
        except (OSError, EOFError):
            return
        yield f"{path}!gunzip", inner
        if tarfile.is_tarfile(io.BytesIO(inner)):
            with tarfile.open(fileobj=io.BytesIO(inner)) as tar:
                for member in tar.getmembers():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        yield f"{path}!{member.name}", handle.read()
    if path.suffix == ".html":  # a Metaflow card: its content is a base64 JSON payload
        for payload in card_payloads(raw.decode("utf-8", "replace")):
            yield f"{path}!payload", payload.encode()
    if raw[:4] == b"PAR1":
        yield f"{path}!parquet", pq.read_table(path).to_pandas().to_csv().encode()


def scan_tree(root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        for name, data in file_bytes(path):
            if hits := leaks(data):
                found[name] = hits
    return found


def test_no_secret_in_artifacts_logs_cards_metadata_registry_or_lake(
    session_root: Path, twin_runs: TwinRuns
) -> None:
    twins = twin_runs
    run = twins.first
    found: dict[str, list[str]] = {}
    n_artifacts = 0
    for step in run:
        for task in step:
            for artifact in task:
                n_artifacts += 1
                if hits := leaks(pickle.dumps(artifact.data)) + leaks(repr(artifact.data)):
                    found[artifact.pathspec] = hits
            for name, text in (
                ("stdout", task.stdout),
                ("stderr", task.stderr),
                ("metadata", repr(task.metadata)),
            ):
                if hits := leaks(text):
                    found[f"{task.pathspec}:{name}"] = hits
    assert n_artifacts > 40  # the scan saw the run's artifacts, not an empty run
    evaluate = task_of(run, "evaluate")
    pattern = f"**/{run.id}/steps/evaluate/tasks/{evaluate.id}/cards/*.html"
    cards = sorted(session_root.glob(pattern))  # the card is stored inside the session's datastore root
    assert cards, f"no card matching {pattern}"
    for card in cards:
        content = "\n".join([card.read_text(), *card_payloads(card.read_text())])
        if hits := leaks(content):
            found[str(card)] = hits
    verdict = f"{data_of(run).gate['status']}:"  # the card's banner
    assert any(verdict in "".join(card_payloads(card.read_text())) for card in cards)
    # Every file the runs stored: datastore (artifacts, logs, cards, metadata), registry, lake, outputs.
    found.update(scan_tree(session_root))
    found.update(scan_tree(twins.first_dir))
    assert (twins.first_dir / "registry").is_dir()
    assert (twins.first_dir / "lake").is_dir()
    assert not found, f"secrets stored in: {found}"


def test_tampered_registered_model_is_refused_before_unpickling(tmp_path: Path, twin_runs: TwinRuns) -> None:
    twins = twin_runs
    registration = data_of(twins.first).registration
    root = tmp_path / "registry"
    shutil.copytree(twins.first_dir / "registry", root)  # the shared run's registry stays untouched
    registry = LocalRegistry(root)
    registry.set_status(registration["group"], registration["version"], "Approved")
    loaded = registry.latest_approved(registration["group"])
    assert loaded is not None
    assert loaded.registration.model_sha256 == registration["model_sha256"]

    model = root / registration["group"] / "versions" / str(registration["version"]) / "model.joblib"
    bundle = joblib.load(model)
    bundle["threshold"] = 0.0  # a plausible edit: trade every day
    joblib.dump(bundle, model)
    actual = sha256_file(model)
    with pytest.raises(IntegrityError) as info:
        registry.latest_approved(registration["group"])
    assert str(info.value) == (
        f"{model}: sha256 mismatch, expected {registration['model_sha256']}, actual {actual}; "
        "refusing to load it"
    )
