"""Model registry: register gated model bundles; find the latest approved one; load it after a sha256 check.

Two targets share one protocol (:class:`ModelRegistry`):

- ``local`` (:class:`LocalRegistry`): a directory laid out like the SageMaker Model Registry::

      {root}/{group}/group.json
      {root}/{group}/.lock                      # fcntl.flock: one writer per group at a time
      {root}/{group}/versions/{n}/model.joblib  # the model bundle (joblib pickle)
      {root}/{group}/versions/{n}/model.tar.gz  # model.joblib + code/inference.py (deployable as is)
      {root}/{group}/versions/{n}/manifest.json # version, status, sha256s, metrics, provenance
      {root}/{group}/versions/{n}/<extra files> # e.g. reference_profile.json for monitoring

  A version is built in a temp dir inside ``{root}/{group}/`` and ``os.rename``-d into place, so a
  failure leaves no half version. ``model_uri`` is the path of ``model.joblib``.
- ``sagemaker`` (:class:`SageMakerRegistry`): boto3 only. ``model.tar.gz`` and ``metrics.json`` go to
  ``{s3_prefix}/{group}/{run key}/``; the model package ``{group}/{n}`` points at them and carries the
  provenance in ``CustomerMetadataProperties``. ``model_uri`` is the S3 URI of ``model.tar.gz``.
  ``metrics.json`` is our own flat JSON (the local ``manifest.json`` without version/status), not the
  SageMaker ModelQuality ``binary_classification_metrics`` schema.

The model bundle is a plain dict that unpickles with scikit-learn alone::

    {"format_version": 1, "estimator": <fitted estimator with predict_proba>, "feature_columns": [...],
     "threshold": float, "filter_columns": [...], "label_convention": "close_to_close"|"open_to_open",
     "symbol": str}

Signal rule (see :func:`spylib.registry.inference.predict_frame`): signal = 1 when
``predict_proba(X[feature_columns])[:, 1] >= threshold`` and every filter column == 1, else 0.

Idempotency key: ``run_pathspec``. Registering a run that is already registered returns the existing
:class:`Registration` with ``created=False``. Floats that are nan/inf in metrics are written as null.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import gzip
import hashlib
import io
import json
import math
import os
import re
import shutil
import tarfile
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import joblib
import numpy as np

from spylib.core.errors import ConfigError, IntegrityError
from spylib.registry import inference as sagemaker_inference

# Re-exported so callers score a loaded bundle with exactly the code that runs in the endpoint.
predict_frame = sagemaker_inference.predict_frame

ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]
APPROVAL_STATUSES: tuple[str, ...] = ("Approved", "Rejected", "PendingManualApproval")
LABEL_CONVENTIONS: tuple[str, ...] = ("close_to_close", "open_to_open")
BUNDLE_FORMAT_VERSION = sagemaker_inference.BUNDLE_FORMAT_VERSION
MANIFEST_FORMAT_VERSION = 1
MODEL_FILE = "model.joblib"
TARBALL_FILE = "model.tar.gz"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.json"
GROUP_FILE = "group.json"
INFERENCE_ENTRY = "code/inference.py"
RESERVED_FILE_NAMES = frozenset({MODEL_FILE, TARBALL_FILE, MANIFEST_FILE, METRICS_FILE, GROUP_FILE})
# SageMaker's EntityName pattern: model package group names must match it; the local registry uses
# the same rule so a group name works on both targets (and can never escape the root directory).
GROUP_NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
EXTRA_FILE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# AWS limits for CustomerMetadataProperties: keys 1-128 chars, values 1-256 chars, both restricted to
# letters, numbers, space separators and ``_.:/=+-@`` (checked against botocore's service model).
METADATA_VALUE_MAX = 256
METADATA_ALLOWED_PUNCTUATION = frozenset("_.:/=+-@")
TEMP_DIR_PREFIX = ".tmp-version-"

# Public ECR accounts of the SageMaker scikit-learn images (repository ``sagemaker-scikit-learn``),
# copied from the sagemaker SDK's ``image_uri_config/sklearn.json`` ("inference" scope; identical for
# 0.23-1, 1.0-1 and 1.2-1). Used only when the optional ``sagemaker`` package is not installed.
SKLEARN_IMAGE_ACCOUNTS: dict[str, str] = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}


@dataclass(frozen=True)
class RegistrationRequest:
    """What to register. ``run_pathspec`` (e.g. ``"SpyFlow/1700000000123456"``) is the idempotency key."""

    group: str
    bundle: dict[str, Any]
    approval_status: ApprovalStatus
    metrics: dict[str, Any]
    gate_reasons: list[str]
    run_pathspec: str
    data_fingerprint: str
    code_version: str
    extra_files: dict[str, bytes] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Registration:
    """One registered version. ``location``: version directory or model package ARN."""

    target: str
    group: str
    version: int
    status: str
    model_sha256: str
    location: str
    model_uri: str
    created: bool


@dataclass(frozen=True)
class RegisteredModel:
    """A registered version with its metadata and its bundle (loaded only after the sha256 check)."""

    registration: Registration
    metadata: dict[str, Any]
    bundle: dict[str, Any]


class ModelRegistry(Protocol):
    """What the flows use; both targets implement it."""

    def register(self, request: RegistrationRequest) -> Registration: ...

    def latest_approved(self, group: str) -> RegisteredModel | None: ...

    def list_versions(self, group: str) -> list[Registration]: ...


# --------------------------------------------------------------------------------------------------
# Helpers shared by both targets
# --------------------------------------------------------------------------------------------------


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


def to_json_safe(value: Any) -> Any:
    """Convert numpy scalars/arrays to Python and nan/inf floats to None, recursively."""
    if isinstance(value, Mapping):
        return {str(k): to_json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dump_json(document: Mapping[str, Any]) -> bytes:
    """Strict JSON bytes (nan/inf already mapped to null; anything non-serializable raises)."""
    return json.dumps(to_json_safe(document), indent=2, sort_keys=True, allow_nan=False).encode("utf-8")


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
    """Raise ConfigError naming the key when ``bundle`` is not a valid format-1 model bundle."""
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


def check_request(request: RegistrationRequest) -> None:
    """Validate everything about a request before any file or object is written."""
    check_group_name(request.group)
    check_bundle(request.bundle)
    source = f"registration request for run {request.run_pathspec!r}"
    if request.approval_status not in APPROVAL_STATUSES:
        raise ConfigError(
            f"must be one of {APPROVAL_STATUSES}, got {request.approval_status!r}",
            source=source,
            key="approval_status",
        )
    if not request.run_pathspec.strip():
        raise ConfigError("must not be empty (it is the idempotency key)", source=source, key="run_pathspec")
    for name in request.extra_files:
        if not EXTRA_FILE_PATTERN.fullmatch(name) or name in RESERVED_FILE_NAMES:
            raise ConfigError(
                f"invalid extra file name {name!r}: use a plain file name, "
                f"not one of {sorted(RESERVED_FILE_NAMES)}",
                source=source,
                key="extra_files",
            )
    try:
        dump_json({"metrics": request.metrics, "gate_reasons": request.gate_reasons})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"not JSON-serializable: {exc}", source=source, key="metrics") from exc


def serialize_bundle(bundle: dict[str, Any]) -> bytes:
    """The bytes of ``model.joblib`` for ``bundle`` (joblib pickle, uncompressed)."""
    buffer = io.BytesIO()
    joblib.dump(bundle, buffer)
    return buffer.getvalue()


def inference_source() -> bytes:
    """The bytes of ``spylib/sagemaker_inference.py``, shipped as ``code/inference.py``."""
    return Path(sagemaker_inference.__file__).read_bytes()


def build_model_tarball(model_bytes: bytes) -> bytes:
    """``model.tar.gz`` with ``model.joblib`` and ``code/inference.py``; byte-for-byte reproducible."""
    buffer = io.BytesIO()
    # mtime=0 everywhere so the same model always gives the same tarball (and sha256).
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, data in ((MODEL_FILE, model_bytes), (INFERENCE_ENTRY, inference_source())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


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


def sklearn_image_uri(region: str, framework_version: str = "1.2-1") -> str:
    """SageMaker scikit-learn inference image URI for ``region``.

    Uses the optional ``sagemaker`` package's bundled table when it is installed (v3:
    ``sagemaker.core.image_uris``; v2: ``sagemaker.image_uris``), otherwise :data:`SKLEARN_IMAGE_ACCOUNTS`.
    Note the image's scikit-learn version (1.2 for ``1.2-1``) must be able to unpickle the estimator.
    """
    retrieve = find_sdk_image_retriever()
    if retrieve is not None:
        with contextlib.suppress(Exception):  # an SDK without this region/version: use the table
            return str(retrieve("sklearn", region=region, version=framework_version, image_scope="inference"))
    account = SKLEARN_IMAGE_ACCOUNTS.get(region)
    if account is None:
        raise ConfigError(
            f"no SageMaker scikit-learn image known for region {region!r}; pass image_uri explicitly",
            source="sklearn_image_uri",
            key="region",
        )
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/sagemaker-scikit-learn:{framework_version}-cpu-py3"


def find_sdk_image_retriever() -> Any | None:
    """``image_uris.retrieve`` from the sagemaker SDK (v3 layout first, then v2), or None."""
    for module_name in ("sagemaker.core.image_uris", "sagemaker.image_uris"):
        try:
            module = __import__(module_name, fromlist=["retrieve"])
        except Exception:  # not installed, or an SDK that fails to import without credentials
            continue
        retrieve = getattr(module, "retrieve", None)
        if callable(retrieve):
            return retrieve
    return None


def build_manifest(request: RegistrationRequest, model_sha256: str, tarball_sha256: str) -> dict[str, Any]:
    """The provenance document (``manifest.json`` locally, ``metrics.json`` in S3), minus version/status."""
    import sklearn  # imported here: only needed to record the version the estimator was pickled with

    bundle = request.bundle
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
        "sklearn_version": sklearn.__version__,
    }


# --------------------------------------------------------------------------------------------------
# Local registry
# --------------------------------------------------------------------------------------------------


class LocalRegistry:
    """A directory registry with SageMaker-like groups and versions (see the module docstring)."""

    target = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    # ---- paths ----
    def group_dir(self, group: str) -> Path:
        """``{root}/{group}`` (the name is validated, so it cannot escape ``root``)."""
        check_group_name(group)
        return self.root / group

    def version_dir(self, group: str, version: int) -> Path:
        """``{root}/{group}/versions/{version}``."""
        return self.group_dir(group) / "versions" / str(version)

    # ---- public API ----
    def register(self, request: RegistrationRequest) -> Registration:
        """Register ``request`` as the next version of its group, atomically and under the group lock.

        Returns the existing registration (``created=False``) if ``run_pathspec`` is already registered.
        """
        check_request(request)
        group_dir = self.ensure_group_dir(request.group)
        with self.locked_group(group_dir):
            self.remove_stale_temp_dirs(group_dir)
            self.ensure_group_file(group_dir, request.group)
            existing = self.find_run(request.group, request.run_pathspec)
            if existing is not None:
                return existing
            version = max(self.version_numbers(request.group), default=0) + 1
            versions_dir = group_dir / "versions"
            temp_dir = Path(tempfile.mkdtemp(prefix=TEMP_DIR_PREFIX, dir=group_dir))
            try:
                manifest = self.write_version_files(temp_dir, request, version)
                versions_dir.mkdir(exist_ok=True)
                # rename is atomic on one filesystem: readers see the whole version or none of it.
                os.rename(temp_dir, versions_dir / str(version))
            except BaseException:
                shutil.rmtree(temp_dir, ignore_errors=True)
                raise
        return self.registration_from_manifest(versions_dir / str(version), manifest, created=True)

    def latest_approved(self, group: str) -> RegisteredModel | None:
        """The highest Approved version, its manifest, and its bundle (sha256-checked); None if none."""
        approved = [r for r in self.list_versions(group) if r.status == "Approved"]
        if not approved:
            return None
        registration = max(approved, key=lambda r: r.version)
        version_dir = Path(registration.location)
        manifest = self.read_manifest(version_dir)
        bundle = load_bundle(version_dir / MODEL_FILE, registration.model_sha256)
        return RegisteredModel(registration=registration, metadata=manifest, bundle=bundle)

    def list_versions(self, group: str) -> list[Registration]:
        """All versions of ``group`` in version order (empty if the group does not exist)."""
        registrations = []
        for version in sorted(self.version_numbers(group)):
            version_dir = self.version_dir(group, version)
            registrations.append(
                self.registration_from_manifest(version_dir, self.read_manifest(version_dir), created=False)
            )
        return registrations

    def set_status(self, group: str, version: int, status: ApprovalStatus) -> Registration:
        """Approve or reject an existing version (rewrites its manifest atomically, under the lock)."""
        if status not in APPROVAL_STATUSES:
            raise ConfigError(
                f"must be one of {APPROVAL_STATUSES}, got {status!r}", source="set_status", key="status"
            )
        version_dir = self.version_dir(group, version)
        with self.locked_group(self.group_dir(group)):
            manifest = self.read_manifest(version_dir)
            manifest["status"] = status
            manifest["status_updated"] = utc_now()
            write_atomically(version_dir / MANIFEST_FILE, dump_json(manifest))
        return self.registration_from_manifest(version_dir, manifest, created=False)

    # ---- internals ----
    def ensure_group_dir(self, group: str) -> Path:
        """Create ``{root}/{group}``; a root that cannot be written raises ConfigError naming the path."""
        group_dir = self.group_dir(group)
        try:
            group_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=group_dir, prefix=".write-probe-"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"the registry directory {group_dir} is not writable ({exc.strerror or exc})",
                source=str(self.root),
                key="registry root",
            ) from exc
        return group_dir

    @staticmethod
    @contextlib.contextmanager
    def locked_group(group_dir: Path) -> Iterator[None]:
        """Hold an exclusive ``flock`` on ``{group_dir}/.lock`` (blocks until the other writer is done)."""
        with (group_dir / ".lock").open("a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @staticmethod
    def remove_stale_temp_dirs(group_dir: Path) -> None:
        """Delete temp dirs left by a writer that was killed (safe: we hold the lock, nobody else writes)."""
        for stale in group_dir.glob(f"{TEMP_DIR_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)

    @staticmethod
    def ensure_group_file(group_dir: Path, group: str) -> None:
        """Write ``group.json`` the first time a group is used."""
        path = group_dir / GROUP_FILE
        if not path.exists():
            write_atomically(path, dump_json({"group": group, "created": utc_now()}))

    def version_numbers(self, group: str) -> list[int]:
        """Version numbers present under ``{root}/{group}/versions``."""
        versions_dir = self.group_dir(group) / "versions"
        if not versions_dir.is_dir():
            return []
        return [int(p.name) for p in versions_dir.iterdir() if p.is_dir() and p.name.isdigit()]

    def find_run(self, group: str, run_pathspec: str) -> Registration | None:
        """The registration of ``run_pathspec`` in ``group``, if any (created=False)."""
        for registration in self.list_versions(group):
            manifest = self.read_manifest(Path(registration.location))
            if manifest.get("run_pathspec") == run_pathspec:
                return registration
        return None

    @staticmethod
    def write_version_files(directory: Path, request: RegistrationRequest, version: int) -> dict[str, Any]:
        """Write model.joblib, model.tar.gz, the extra files and manifest.json (last) into ``directory``."""
        model_path = directory / MODEL_FILE
        with model_path.open("wb") as handle:
            joblib.dump(request.bundle, handle)
        model_bytes = model_path.read_bytes()
        tarball = build_model_tarball(model_bytes)
        (directory / TARBALL_FILE).write_bytes(tarball)
        for name, data in request.extra_files.items():
            (directory / name).write_bytes(data)
        manifest = build_manifest(request, sha256_bytes(model_bytes), sha256_bytes(tarball))
        manifest.update({"version": version, "status": request.approval_status})
        (directory / MANIFEST_FILE).write_bytes(dump_json(manifest))
        return manifest

    @staticmethod
    def read_manifest(version_dir: Path) -> dict[str, Any]:
        """Parse ``manifest.json``; IntegrityError naming the file if it is missing or not JSON."""
        path = version_dir / MANIFEST_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"{path}: unreadable manifest ({exc})") from exc
        if not isinstance(document, dict):
            raise IntegrityError(f"{path}: the manifest is not a JSON object")
        return document

    def registration_from_manifest(
        self, version_dir: Path, manifest: dict[str, Any], *, created: bool
    ) -> Registration:
        """Build a Registration from a version directory and its manifest."""
        try:
            return Registration(
                target=self.target,
                group=str(manifest["group"]),
                version=int(manifest["version"]),
                status=str(manifest["status"]),
                model_sha256=str(manifest["model_sha256"]),
                location=str(version_dir),
                model_uri=str(version_dir / MODEL_FILE),
                created=created,
            )
        except KeyError as exc:
            raise IntegrityError(f"{version_dir / MANIFEST_FILE}: key {exc} is missing") from exc


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


# --------------------------------------------------------------------------------------------------
# SageMaker registry
# --------------------------------------------------------------------------------------------------


def parse_s3_uri(uri: str, *, key: str = "s3_prefix") -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix")``; ConfigError when malformed."""
    match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(.*))?", uri)
    if match is None:
        raise ConfigError(f"expected s3://bucket[/prefix], got {uri!r}", source="SageMaker registry", key=key)
    return match.group(1), (match.group(2) or "").strip("/")


def run_key(run_pathspec: str) -> str:
    """An S3-safe, unique folder name for a run: ``SpyFlow/17000`` -> ``SpyFlow-17000-<8 hex>``."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", run_pathspec).strip("-")[:80]
    return f"{readable}-{sha256_bytes(run_pathspec.encode('utf-8'))[:8]}"


def to_metadata_value(text: str) -> str:
    """Make ``text`` a legal CustomerMetadataProperties value: disallowed characters become spaces,
    whitespace is collapsed, the result is cut to 256 chars (ending in ``...``) and never empty."""
    cleaned = "".join(
        ch if unicodedata.category(ch)[0] in "LN" or ch == " " or ch in METADATA_ALLOWED_PUNCTUATION else " "
        for ch in text
    )
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > METADATA_VALUE_MAX:
        cleaned = cleaned[: METADATA_VALUE_MAX - 3].rstrip() + "..."
    return cleaned or "none"


def to_description(text: str) -> str:
    """A legal ModelPackageDescription: control characters (newlines, tabs) become spaces, <= 1024 chars."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    return cleaned[:1024]


def build_customer_metadata(request: RegistrationRequest, manifest: dict[str, Any]) -> dict[str, str]:
    """CustomerMetadataProperties: provenance and the model sha256 the loader checks (values <= 256)."""
    metadata = {
        "run_pathspec": request.run_pathspec,
        "data_fingerprint": request.data_fingerprint,
        "code_version": request.code_version,
        "model_sha256": manifest["model_sha256"],
        "tarball_sha256": manifest["tarball_sha256"],
        "gate_reasons": " / ".join(request.gate_reasons),
        "threshold": repr(float(request.bundle["threshold"])),
        "symbol": request.bundle["symbol"],
        "label_convention": request.bundle["label_convention"],
        "feature_count": str(len(request.bundle["feature_columns"])),
        "sklearn_version": manifest["sklearn_version"],
    }
    features = " ".join(request.bundle["feature_columns"])
    if len(features) <= METADATA_VALUE_MAX:  # omitted when too long: the bundle has the full list
        metadata["feature_columns"] = features
    safe = {key: to_metadata_value(value) for key, value in metadata.items()}
    for key in ("run_pathspec", "model_sha256"):
        if safe[key] != metadata[key]:
            # These two are compared exactly later, so they must survive unchanged.
            raise ConfigError(
                f"{metadata[key]!r} cannot be stored as SageMaker metadata (only letters, digits, spaces, "
                "_.:/=+-@ and at most 256 characters)",
                source="registration request",
                key=key,
            )
    return safe


class SageMakerRegistry:
    """Model packages in the SageMaker Model Registry, artifacts in S3 (boto3 only).

    The endpoint comes from boto3's own configuration (``AWS_ENDPOINT_URL``,
    ``AWS_ENDPOINT_URL_SAGEMAKER``, ``AWS_ENDPOINT_URL_S3``), which is how tests point it at moto.
    Concurrent registrations of the same run from two processes are not serialized (SageMaker has no
    lock); the flow registers once per run.
    """

    target = "sagemaker"

    def __init__(
        self,
        s3_prefix: str,
        region: str | None = None,
        image_uri: str | None = None,
        sagemaker_client: Any = None,
        s3_client: Any = None,
    ) -> None:
        self.bucket, self.prefix = parse_s3_uri(s3_prefix)
        self.region = region or resolve_region(sagemaker_client)
        self.image_uri = image_uri or sklearn_image_uri(self.region)
        if sagemaker_client is None or s3_client is None:
            import boto3  # imported lazily: the local registry never needs it

            session = boto3.session.Session(region_name=self.region)
            sagemaker_client = sagemaker_client or session.client("sagemaker")
            s3_client = s3_client or session.client("s3")
        self.sagemaker = sagemaker_client
        self.s3 = s3_client

    # ---- public API ----
    def register(self, request: RegistrationRequest) -> Registration:
        """Upload and verify the artifacts, then create the model package ``{group}/{n}``.

        If package creation fails the uploaded objects are deleted, so no package ever points at
        missing objects and no orphan objects stay behind.
        """
        check_request(request)
        self.ensure_group(request.group)
        existing = self.find_run(request.group, request.run_pathspec)
        if existing is not None:
            return existing
        model_bytes = serialize_bundle(request.bundle)
        tarball = build_model_tarball(model_bytes)
        manifest = build_manifest(request, sha256_bytes(model_bytes), sha256_bytes(tarball))
        customer_metadata = build_customer_metadata(request, manifest)
        base_key = "/".join(p for p in (self.prefix, request.group, run_key(request.run_pathspec)) if p)
        objects = {TARBALL_FILE: tarball, METRICS_FILE: dump_json(manifest)}
        objects.update(request.extra_files)
        uploaded: list[str] = []
        try:
            for name, data in objects.items():
                key = f"{base_key}/{name}"
                uploaded.append(key)
                self.put_verified(key, data)
            response = self.sagemaker.create_model_package(
                ModelPackageGroupName=request.group,
                ModelPackageDescription=to_description(
                    request.description
                    or f"spy-flow model for {request.bundle['symbol']} from {request.run_pathspec}"
                ),
                InferenceSpecification={
                    "Containers": [
                        {
                            "Image": self.image_uri,
                            "ModelDataUrl": self.s3_uri(f"{base_key}/{TARBALL_FILE}"),
                            # The scikit-learn container imports code/inference.py from the model dir.
                            "Environment": {
                                "SAGEMAKER_PROGRAM": "inference.py",
                                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                            },
                        }
                    ],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv", "application/json"],
                },
                ModelMetrics={
                    "ModelQuality": {
                        "Statistics": {
                            "ContentType": "application/json",
                            "S3Uri": self.s3_uri(f"{base_key}/{METRICS_FILE}"),
                        }
                    }
                },
                CustomerMetadataProperties=customer_metadata,
                # Always sent: moto stores None when omitted (AWS would default to PendingManualApproval).
                ModelApprovalStatus=request.approval_status,
            )
        except BaseException:
            self.delete_objects(uploaded)
            raise
        description = self.sagemaker.describe_model_package(ModelPackageName=response["ModelPackageArn"])
        return self.registration_from_description(description, created=True)

    def latest_approved(self, group: str) -> RegisteredModel | None:
        """The newest Approved package of ``group`` with its bundle (sha256 checked against the package's
        metadata before unpickling); None when there is none."""
        check_group_name(group)
        summaries = self.list_package_summaries(
            group, ModelApprovalStatus="Approved", SortBy="CreationTime", SortOrder="Descending"
        )
        if not summaries:
            return None
        # CreationTime can tie within a second; the version number is the unambiguous order.
        newest = max(summaries, key=lambda s: int(s.get("ModelPackageVersion", 0)))
        description = self.sagemaker.describe_model_package(ModelPackageName=newest["ModelPackageArn"])
        registration = self.registration_from_description(description, created=False)
        tarball = self.get_object_bytes(registration.model_uri)
        model_bytes = read_tar_member(tarball, MODEL_FILE, source=registration.model_uri)
        bundle = load_bundle_bytes(
            model_bytes, registration.model_sha256, source=f"{registration.model_uri}!{MODEL_FILE}"
        )
        metadata = self.read_metrics_document(description)
        metadata.update(
            {
                "version": registration.version,
                "status": registration.status,
                "model_package_arn": registration.location,
                "customer_metadata": dict(description.get("CustomerMetadataProperties") or {}),
            }
        )
        return RegisteredModel(registration=registration, metadata=metadata, bundle=bundle)

    def list_versions(self, group: str) -> list[Registration]:
        """All packages of ``group`` in version order (empty if the group does not exist)."""
        check_group_name(group)
        registrations = [
            self.registration_from_description(
                self.sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"]), created=False
            )
            for s in self.list_package_summaries(group)
        ]
        return sorted(registrations, key=lambda r: r.version)

    def set_status(self, group: str, version: int, status: ApprovalStatus) -> Registration:
        """Approve or reject ``{group}/{version}``. Sends the existing CustomerMetadataProperties back:
        moto wipes them (and the status) on update_model_package when they are left out."""
        if status not in APPROVAL_STATUSES:
            raise ConfigError(
                f"must be one of {APPROVAL_STATUSES}, got {status!r}", source="set_status", key="status"
            )
        for registration in self.list_versions(group):
            if registration.version == version:
                current = self.sagemaker.describe_model_package(ModelPackageName=registration.location)
                self.sagemaker.update_model_package(
                    ModelPackageArn=registration.location,
                    ModelApprovalStatus=status,
                    CustomerMetadataProperties=dict(current.get("CustomerMetadataProperties") or {}),
                )
                updated = self.sagemaker.describe_model_package(ModelPackageName=registration.location)
                return self.registration_from_description(updated, created=False)
        raise ConfigError(
            f"model package {group}/{version} does not exist", source="set_status", key="version"
        )

    # ---- internals ----
    def s3_uri(self, key: str) -> str:
        """``s3://{bucket}/{key}``."""
        return f"s3://{self.bucket}/{key}"

    def ensure_group(self, group: str) -> None:
        """Create the model package group unless it exists (a concurrent creator is tolerated)."""
        from botocore.exceptions import ClientError

        try:
            self.sagemaker.describe_model_package_group(ModelPackageGroupName=group)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("ValidationException", "ResourceNotFound"):
                raise
        try:
            self.sagemaker.create_model_package_group(
                ModelPackageGroupName=group,
                ModelPackageGroupDescription="spy-flow next-day direction models",
            )
        except ClientError:
            # Someone else created it between our describe and create; anything else re-raises here.
            self.sagemaker.describe_model_package_group(ModelPackageGroupName=group)

    def list_package_summaries(self, group: str, **filters: str) -> list[dict[str, Any]]:
        """All ModelPackageSummaryList entries of ``group`` (follows NextToken)."""
        summaries: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"ModelPackageGroupName": group, "MaxResults": 100, **filters}
        while True:
            page = self.sagemaker.list_model_packages(**kwargs)
            summaries.extend(page.get("ModelPackageSummaryList", []))
            token = page.get("NextToken")
            if not token:
                return summaries
            kwargs["NextToken"] = token

    def find_run(self, group: str, run_pathspec: str) -> Registration | None:
        """The package of ``group`` whose metadata names ``run_pathspec`` (created=False), if any."""
        for summary in self.list_package_summaries(group):
            description = self.sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            if (description.get("CustomerMetadataProperties") or {}).get("run_pathspec") == run_pathspec:
                return self.registration_from_description(description, created=False)
        return None

    def put_verified(self, key: str, data: bytes) -> None:
        """Upload ``data`` with its sha256 as object metadata, then head_object and compare size and hash."""
        digest = sha256_bytes(data)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata={"sha256": digest})
        head = self.s3.head_object(Bucket=self.bucket, Key=key)
        if (
            int(head.get("ContentLength", -1)) != len(data)
            or head.get("Metadata", {}).get("sha256") != digest
        ):
            raise IntegrityError(
                f"{self.s3_uri(key)}: upload not verified (size {head.get('ContentLength')} vs {len(data)}, "
                f"sha256 {head.get('Metadata', {}).get('sha256')} vs {digest})"
            )

    def delete_objects(self, keys: list[str]) -> None:
        """Best-effort delete of ``keys`` (missing ones are fine): cleanup after a failed registration."""
        for key in keys:
            with contextlib.suppress(Exception):
                self.s3.delete_object(Bucket=self.bucket, Key=key)

    def get_object_bytes(self, uri: str) -> bytes:
        """The body of an S3 object; IntegrityError naming the URI when it cannot be read."""
        bucket, key = parse_s3_uri(uri, key="ModelDataUrl")
        try:
            return cast(bytes, self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:
            raise IntegrityError(f"{uri}: cannot read the object ({exc})") from exc

    def read_metrics_document(self, description: dict[str, Any]) -> dict[str, Any]:
        """The package's metrics.json (our provenance document) as a dict; {} when it has none."""
        uri = description.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
        if not uri:
            return {}
        try:
            document = json.loads(self.get_object_bytes(uri))
        except ValueError as exc:
            raise IntegrityError(f"{uri}: not valid JSON ({exc})") from exc
        return document if isinstance(document, dict) else {}

    def registration_from_description(self, description: dict[str, Any], *, created: bool) -> Registration:
        """Build a Registration from a describe_model_package response."""
        arn = str(description["ModelPackageArn"])
        metadata = description.get("CustomerMetadataProperties") or {}
        containers = description.get("InferenceSpecification", {}).get("Containers", [])
        if "model_sha256" not in metadata or not containers:
            raise IntegrityError(f"{arn}: not a spy-flow package (no model_sha256 metadata or no container)")
        return Registration(
            target=self.target,
            group=str(description["ModelPackageGroupName"]),
            version=int(description["ModelPackageVersion"]),
            status=str(description.get("ModelApprovalStatus")),
            model_sha256=str(metadata["model_sha256"]),
            location=arn,
            model_uri=str(containers[0]["ModelDataUrl"]),
            created=created,
        )


def resolve_region(client: Any = None) -> str:
    """The region of an injected client, else boto3's (AWS_REGION/AWS_DEFAULT_REGION/profile)."""
    region = getattr(getattr(client, "meta", None), "region_name", None)
    if not region:
        import boto3

        region = boto3.session.Session().region_name
    if not region:
        raise ConfigError(
            "no AWS region: pass region= or set AWS_REGION / AWS_DEFAULT_REGION",
            source="SageMaker registry",
            key="region",
        )
    return str(region)


def open_registry(target: str, location: str, *, image_uri: str | None = None) -> ModelRegistry:
    """``open_registry("local", "data/registry")`` or ``open_registry("sagemaker", "s3://bucket/prefix")``."""
    if target == "local":
        if location.startswith("s3://"):
            raise ConfigError(
                f"the local registry needs a directory, got {location!r}",
                source="open_registry",
                key="location",
            )
        return LocalRegistry(location)
    if target == "sagemaker":
        return SageMakerRegistry(location, image_uri=image_uri)
    raise ConfigError(
        f"unknown registry target {target!r}: use 'local' or 'sagemaker'",
        source="open_registry",
        key="target",
    )


__all__ = [
    "APPROVAL_STATUSES",
    "ApprovalStatus",
    "LocalRegistry",
    "ModelRegistry",
    "RegisteredModel",
    "Registration",
    "RegistrationRequest",
    "SageMakerRegistry",
    "build_model_tarball",
    "load_bundle",
    "open_registry",
    "predict_frame",
    "sklearn_image_uri",
]
