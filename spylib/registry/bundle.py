"""The registered artifact format, shared by both targets: what is checked, written and hashed.

A version is ``model.joblib`` (the bundle, with the versions of Python, scikit-learn, numpy and joblib
that pickled it under ``pickled_with``), ``model.tar.gz`` (``model.joblib`` + ``code/inference.py``
+ ``code/rule.py``, byte-for-byte reproducible), a provenance manifest with the sha256 of each and the same versions, and
extra files. Loading hashes the bytes first and unpickles them only on a match (see ``README.md`` in
this folder); a bundle without ``pickled_with`` (registered before it existed) loads as before.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import re
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import joblib

from spylib.core.errors import ConfigError, IntegrityError
from spylib.core.jsonio import dump_json
from spylib.modelling import rule as trade_rule
from spylib.modelling.strategy import ModelBundle, Strategy, as_bundle
from spylib.registry import inference as sagemaker_inference
from spylib.registry.protocol import RegistrationRequest, check_status
from spylib.registry.provenance import check_control_group, content_key

LABEL_CONVENTIONS: tuple[str, ...] = ("close_to_close", "open_to_open")
BUNDLE_FORMAT_VERSION = sagemaker_inference.BUNDLE_FORMAT_VERSION
PICKLED_WITH = sagemaker_inference.PICKLED_WITH
MANIFEST_FORMAT_VERSION = 1
MODEL_FILE = "model.joblib"
TARBALL_FILE = "model.tar.gz"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.json"
GROUP_FILE = "group.json"
INFERENCE_ENTRY = "code/inference.py"
RULE_ENTRY = "code/rule.py"
RESERVED_FILE_NAMES = frozenset({MODEL_FILE, TARBALL_FILE, MANIFEST_FILE, METRICS_FILE, GROUP_FILE})
# SageMaker's EntityName pattern: model package group names must match it; the local registry uses
# the same rule so a group name works on both targets (and can never escape the root directory).
GROUP_NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
EXTRA_FILE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


# --- hashes and time ------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def utc_now() -> str:
    """Current UTC time as ISO-8601 with a ``Z`` suffix."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- validation before anything is written --------------------------------------------------------
def check_group_name(group: str) -> None:
    """Raise ConfigError unless ``group`` is a valid SageMaker model package group name."""
    if not GROUP_NAME_PATTERN.fullmatch(group):
        raise ConfigError(
            f"invalid model package group name {group!r}: 1-63 letters, digits and hyphens, "
            "starting and ending with a letter or digit",
            source="registration request",
            key="group",
        )


def check_bundle(bundle: Any, *, source: str = "registration request") -> None:
    """Raise ConfigError naming the key when ``bundle`` is not a valid format-1 model bundle (the
    typed :class:`ModelBundle` or its payload dict; a ``strategy`` key must parse)."""
    if isinstance(bundle, ModelBundle):
        bundle = bundle.to_payload()
    if not isinstance(bundle, dict):
        raise ConfigError(f"the model bundle must be a dict, got {type(bundle).__name__}", source=source)
    if bundle.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise ConfigError(
            f"expected {BUNDLE_FORMAT_VERSION}, got {bundle.get('format_version')!r}",
            source=source,
            key="bundle.format_version",
        )
    if not hasattr(bundle.get("estimator"), "predict_proba"):
        raise ConfigError("the estimator has no predict_proba", source=source, key="bundle.estimator")
    for key in ("feature_columns", "filter_columns"):
        columns = bundle.get(key)
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise ConfigError("must be a list of column names", source=source, key=f"bundle.{key}")
    if not bundle["feature_columns"]:
        raise ConfigError("must name at least one column", source=source, key="bundle.feature_columns")
    threshold = bundle.get("threshold")
    if not isinstance(threshold, int | float) or not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(
            f"must be a number in [0, 1], got {threshold!r}", source=source, key="bundle.threshold"
        )
    if bundle.get("label_convention") not in LABEL_CONVENTIONS:
        raise ConfigError(
            f"must be one of {LABEL_CONVENTIONS}, got {bundle.get('label_convention')!r}",
            source=source,
            key="bundle.label_convention",
        )
    if not isinstance(bundle.get("symbol"), str) or not bundle["symbol"]:
        raise ConfigError("must be a non-empty string", source=source, key="bundle.symbol")
    if "strategy" in bundle:
        Strategy.from_dict(bundle["strategy"], source=f"{source}, bundle.strategy")


def check_extra_file_name(name: str, *, source: str) -> None:
    """Raise ConfigError unless ``name`` is a plain file name that is not one of the reserved ones."""
    if not EXTRA_FILE_PATTERN.fullmatch(name) or name in RESERVED_FILE_NAMES:
        raise ConfigError(
            f"invalid extra file name {name!r}: use a plain file name, not one of {sorted(RESERVED_FILE_NAMES)}",
            source=source,
            key="extra_files",
        )


def check_request(request: RegistrationRequest) -> None:
    """Validate everything about a request before any file or object is written."""
    check_group_name(request.group)
    check_bundle(request.bundle)
    source = f"registration request for run {request.run_pathspec!r}"
    check_control_group(request.group, request.provenance, source=source)
    check_status(request.approval_status, source=source, key="approval_status")
    if not request.run_pathspec.strip():
        raise ConfigError("must not be empty (it is the idempotency key)", source=source, key="run_pathspec")
    for name in request.extra_files:
        check_extra_file_name(name, source=source)
    try:
        dump_json({"metrics": request.metrics, "gate_reasons": request.gate_reasons})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"not JSON-serializable: {exc}", source=source, key="metrics") from exc


# --- writing ---------------------------------------------------------------------------------------
def serialize_bundle(bundle: ModelBundle | dict[str, Any]) -> bytes:
    """The bytes of ``model.joblib`` for ``bundle`` (joblib pickle, uncompressed), with the versions of
    Python, scikit-learn, numpy and joblib doing the pickling recorded under ``pickled_with`` (replacing
    any older record: a re-registered bundle is pickled again, here)."""
    payload = bundle.to_payload() if isinstance(bundle, ModelBundle) else bundle
    buffer = io.BytesIO()
    joblib.dump({**payload, PICKLED_WITH: runtime_versions()}, buffer)
    return buffer.getvalue()


def runtime_versions() -> dict[str, str]:
    """``{"python", "scikit-learn", "numpy", "joblib"}`` -> the versions in this process."""
    return sagemaker_inference.runtime_versions()


def inference_source() -> bytes:
    """The bytes of ``spylib/registry/inference.py``, shipped as ``code/inference.py``."""
    return Path(sagemaker_inference.__file__).read_bytes()


def rule_source() -> bytes:
    """The bytes of ``spylib/modelling/rule.py`` (the trade rule), shipped as ``code/rule.py``."""
    return Path(trade_rule.__file__).read_bytes()


def build_model_tarball(model_bytes: bytes) -> bytes:
    """``model.tar.gz`` with ``model.joblib``, ``code/inference.py`` and ``code/rule.py`` (the trade
    rule inference.py applies); byte-for-byte reproducible."""
    buffer = io.BytesIO()
    # mtime=0 everywhere so the same model always gives the same tarball (and sha256).
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, data in (
            (MODEL_FILE, model_bytes),
            (INFERENCE_ENTRY, inference_source()),
            (RULE_ENTRY, rule_source()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build_manifest(request: RegistrationRequest, model_sha256: str, tarball_sha256: str) -> dict[str, Any]:
    """The provenance document (``manifest.json`` locally, ``metrics.json`` in S3), minus version/status.
    ``pickled_with`` is the record :func:`serialize_bundle` put in ``model.joblib`` (this process's);
    ``sklearn_version`` repeats its scikit-learn (the key older readers know). ``strategy`` and
    ``provenance`` are their JSON forms; ``content_key`` is set when the provenance is known."""
    bundle = request.payload
    versions = runtime_versions()
    strategy = as_bundle(bundle).strategy.to_dict()
    provenance = request.provenance
    return {
        "manifest_format_version": MANIFEST_FORMAT_VERSION,
        "group": request.group,
        "model_file": MODEL_FILE,
        "model_sha256": model_sha256,
        "tarball_file": TARBALL_FILE,
        "tarball_sha256": tarball_sha256,
        "metrics": request.metrics,
        "gate_reasons": list(request.gate_reasons),
        "requested_status": request.approval_status,
        "run_pathspec": request.run_pathspec,
        "data_fingerprint": request.data_fingerprint,
        "code_version": request.code_version,
        "description": request.description,
        "created": utc_now(),
        "extra_files": {name: sha256_bytes(data) for name, data in sorted(request.extra_files.items())},
        "symbol": bundle["symbol"],
        "label_convention": bundle["label_convention"],
        "threshold": float(bundle["threshold"]),
        "feature_columns": list(bundle["feature_columns"]),
        "filter_columns": list(bundle["filter_columns"]),
        "sklearn_version": versions["scikit-learn"],
        PICKLED_WITH: versions,
        "strategy": strategy,
        "provenance": provenance.to_dict() if provenance is not None else None,
        "content_key": content_key(model_sha256, strategy, provenance) if provenance is not None else None,
    }


def request_content_key(request: RegistrationRequest, model_bytes: bytes) -> str | None:
    """The request's content key (model bytes + strategy + provenance), or None without provenance
    (a request without provenance is keyed by its run only)."""
    if request.provenance is None:
        return None
    strategy = as_bundle(request.payload).strategy.to_dict()
    return content_key(sha256_bytes(model_bytes), strategy, request.provenance)


# --- reading, with the integrity checks --------------------------------------------------------------
def read_tar_member(tarball: bytes, member: str, *, source: str) -> bytes:
    """Read one member of a ``.tar.gz`` in memory (never extracts to disk, so no path traversal)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
            handle = tar.extractfile(member)
            if handle is None:
                raise IntegrityError(f"{source}: member {member!r} is not a regular file")
            return handle.read()
    except KeyError as exc:
        raise IntegrityError(f"{source}: member {member!r} is missing") from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise IntegrityError(f"{source}: not a readable .tar.gz ({exc})") from exc


def load_bundle_bytes(data: bytes, expected_sha256: str, *, source: str) -> dict[str, Any]:
    """Unpickle ``data`` only if its sha256 equals ``expected_sha256``; IntegrityError otherwise."""
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        raise IntegrityError(
            f"{source}: sha256 mismatch, expected {expected_sha256}, actual {actual}; refusing to load it"
        )
    bundle = joblib.load(io.BytesIO(data))
    try:
        sagemaker_inference.check_bundle(bundle, source=source)
    except ValueError as exc:
        raise IntegrityError(str(exc)) from exc
    return cast(dict[str, Any], bundle)


def load_bundle(path: Path, expected_sha256: str) -> dict[str, Any]:
    """Load a model bundle after checking its sha256 (the bytes are hashed, then unpickled from memory,
    so the file cannot change between the check and the load). Raises IntegrityError naming the file,
    the expected and the actual sha256; never unpickles a mismatching file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IntegrityError(f"{path}: cannot read the model file ({exc})") from exc
    return load_bundle_bytes(data, expected_sha256, source=str(path))


def verify_extra_file(data: bytes, name: str, metadata: Mapping[str, Any], *, uri: str) -> bytes:
    """``data`` (extra file ``name`` read from ``uri``) if its sha256 is the one the version's
    manifest records; IntegrityError naming ``uri`` otherwise."""
    expected = (metadata.get("extra_files") or {}).get(name)
    if expected is None:
        raise IntegrityError(f"{uri}: the version's manifest records no sha256 for {name}")
    actual = sha256_bytes(data)
    if actual != expected:
        raise IntegrityError(f"{uri}: sha256 {actual} does not match the manifest's {expected}")
    return data
