"""The ``sagemaker`` registry target: model packages in the SageMaker Model Registry, artifacts in S3.

boto3 only. ``model.tar.gz``, ``metrics.json`` and the extra files go to ``{s3_prefix}/{group}/{run
key}/``; the package ``{group}/{n}`` points at them and carries the provenance (and the model sha256
the loader checks) in ``CustomerMetadataProperties``; its InferenceSpecification names the image that
serves it (:func:`inference_image`: the project's own image by default, a SageMaker scikit-learn image
only when its scikit-learn is the training's). Details in ``README.md`` in this folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import time
import unicodedata
from typing import Any

from spylib.core.errors import ConfigError, IntegrityError
from spylib.core.jsonio import dump_json
from spylib.registry.bundle import (
    METRICS_FILE,
    MODEL_FILE,
    PICKLED_WITH,
    TARBALL_FILE,
    build_manifest,
    build_model_tarball,
    check_extra_file_name,
    check_group_name,
    check_request,
    load_bundle_bytes,
    read_tar_member,
    request_content_key,
    runtime_versions,
    serialize_bundle,
    sha256_bytes,
    verify_extra_file,
)
from spylib.registry.images import (
    inference_image,
    inference_specification,
    resolve_region,
)
from spylib.registry.protocol import (
    ApprovalStatus,
    RegisteredModel,
    Registration,
    RegistrationRequest,
    check_status,
)
from spylib.registry.provenance import provenance_metadata, strategy_metadata
from spylib.storage.s3 import read_s3_bytes, s3_endpoint, split_s3_uri

# S3 bucket naming rule (3-63 lowercase letters, digits, dots, hyphens): a bad prefix fails at once.
BUCKET_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
# AWS limits for CustomerMetadataProperties: keys 1-128 chars, values 1-256 chars, both restricted to
# letters, numbers, space separators and ``_.:/=+-@`` (checked against botocore's service model).
METADATA_VALUE_MAX = 256
METADATA_ALLOWED_PUNCTUATION = frozenset("_.:/=+-@")
# How long a registration waits for a concurrent run of the same content to create its package.
CLAIM_WAIT_SECONDS = 120.0
CLAIM_POLL_SECONDS = 0.5


class SageMakerRegistry:
    """Model packages in the SageMaker Model Registry, artifacts in S3 (boto3 only).

    The SageMaker endpoint comes from boto3's own configuration (``AWS_ENDPOINT_URL``,
    ``AWS_ENDPOINT_URL_SAGEMAKER``), the S3 one from spy-flow's one rule
    (:func:`spylib.storage.s3.s3_endpoint`), which is how tests point them at moto.
    SageMaker has no lock: a registration looks for a package of the same run or content first, then
    claims the content in S3 with a conditional put (:meth:`claim_content`), so of two concurrent
    runs of identical content one creates the package and the other returns it.
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
        self.bucket, self.prefix = registry_prefix(s3_prefix)
        self.region = region or resolve_region(sagemaker_client)
        # None: chosen at registration (see inference_image), when the training's scikit-learn is known.
        self.image_uri = image_uri or None
        if sagemaker_client is None or s3_client is None:
            import boto3  # imported lazily: the local registry never needs it

            session = boto3.session.Session(region_name=self.region)
            sagemaker_client = sagemaker_client or session.client("sagemaker")
            s3_client = s3_client or session.client("s3", endpoint_url=s3_endpoint())
        self.sagemaker = sagemaker_client
        self.s3 = s3_client

    # ---- public API (the ModelRegistry protocol) ----
    def register(self, request: RegistrationRequest) -> Registration:
        """Upload and verify the artifacts, then create the model package ``{group}/{n}``.

        If package creation fails the uploaded objects are deleted, so no package ever points at
        missing objects and no orphan objects stay behind. The package's image is
        :func:`inference_image` (refused, before anything is written, when its scikit-learn is not the
        one the bundle is pickled with).
        """
        check_request(request)
        image = inference_image(self.image_uri, self.region, runtime_versions()["scikit-learn"])
        self.ensure_group(request.group)
        model_bytes = serialize_bundle(request.bundle)
        key = request_content_key(request, model_bytes)
        existing = self.find_existing(request.group, request.run_pathspec, key)
        if existing is not None:
            return existing
        if key is not None:
            claim = self.claim_content(request.group, key, request.run_pathspec)
            if claim is not None:  # another run of the same content registered it meanwhile
                return claim
        try:
            return self.create_version(request, model_bytes, image)
        except BaseException:
            if key is not None:
                self.delete_objects([self.claim_key(request.group, key)])
            raise

    def create_version(self, request: RegistrationRequest, model_bytes: bytes, image: str) -> Registration:
        """Upload the artifacts and create the package (the objects are removed if that fails)."""
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
                    or f"spy-flow model for {request.payload['symbol']} from {request.run_pathspec}"
                ),
                InferenceSpecification=inference_specification(
                    image, self.s3_uri(f"{base_key}/{TARBALL_FILE}")
                ),
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
        return RegisteredModel(
            registration=registration, metadata=self.package_metadata(description), bundle=bundle
        )

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

    def set_status(self, group: str, version: int, status: ApprovalStatus, reason: str = "") -> Registration:
        """Approve or reject ``{group}/{version}``; ``reason`` becomes the package's ApprovalDescription.
        Sends the existing CustomerMetadataProperties back: moto wipes them (and the status) on
        update_model_package when they are left out."""
        check_status(status, source="set_status")
        for registration in self.list_versions(group):
            if registration.version == version:
                current = self.sagemaker.describe_model_package(ModelPackageName=registration.location)
                self.sagemaker.update_model_package(
                    ModelPackageArn=registration.location,
                    ModelApprovalStatus=status,
                    ApprovalDescription=to_description(reason),
                    CustomerMetadataProperties=dict(current.get("CustomerMetadataProperties") or {}),
                )
                updated = self.sagemaker.describe_model_package(ModelPackageName=registration.location)
                return self.registration_from_description(updated, created=False)
        raise ConfigError(
            f"model package {group}/{version} does not exist", source="set_status", key="version"
        )

    def read_metadata(self, registration: Registration) -> dict[str, Any]:
        """The package's metrics.json plus its version, status and metadata (the bundle is not read)."""
        description = self.sagemaker.describe_model_package(ModelPackageName=registration.location)
        return self.package_metadata(description)

    def extra_file_uri(self, model: RegisteredModel, name: str) -> str:
        """``s3://{bucket}/{prefix}/{group}/{run key}/{name}``, beside ``model.tar.gz``."""
        check_extra_file_name(name, source="extra_file_uri")
        return model.registration.model_uri.rsplit("/", 1)[0] + "/" + name

    def read_extra_file(self, model: RegisteredModel, name: str) -> bytes:
        """Extra file ``name`` beside ``model.tar.gz`` in S3, checked against the manifest's sha256."""
        uri = self.extra_file_uri(model, name)
        return verify_extra_file(self.get_object_bytes(uri), name, model.metadata, uri=uri)

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

    def claim_key(self, group: str, key: str) -> str:
        """``{prefix}/{group}/claims/{content key}.json``: who registers that content."""
        return "/".join(p for p in (self.prefix, group, "claims", f"{key}.json") if p)

    def claim_content(self, group: str, key: str, run_pathspec: str) -> Registration | None:
        """Claim content ``key`` for ``run_pathspec`` with a conditional put (``If-None-Match: *``:
        exactly one of several concurrent writers succeeds). None when the claim is ours (a new claim,
        or our own from an attempt that crashed): go on and create the package. When another run holds
        it, wait for its package and return it; ConfigError if none appears in
        ``CLAIM_WAIT_SECONDS`` (that run crashed: its claim names the object to delete)."""
        from botocore.exceptions import ClientError

        claim = self.claim_key(group, key)
        body = dump_json({"run_pathspec": run_pathspec, "claimed": dt.datetime.now(dt.UTC).isoformat()})
        try:
            self.s3.put_object(Bucket=self.bucket, Key=claim, Body=body, IfNoneMatch="*")
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
                raise
        holder = json.loads(self.get_object_bytes(self.s3_uri(claim))).get("run_pathspec")
        if holder == run_pathspec:
            return None
        deadline = time.monotonic() + CLAIM_WAIT_SECONDS
        while time.monotonic() < deadline:
            found = self.find_existing(group, run_pathspec, key)
            if found is not None:
                return found
            if not self.object_exists(claim):  # the holder failed and withdrew its claim: try again
                return self.claim_content(group, key, run_pathspec)
            time.sleep(CLAIM_POLL_SECONDS)
        raise ConfigError(
            f"run {holder} claimed this content ({key}) but registered no package in {CLAIM_WAIT_SECONDS} s; "
            f"if it crashed, delete {self.s3_uri(claim)} and register again",
            source="SageMaker registry",
            key="content_key",
        )

    def object_exists(self, key: str) -> bool:
        """Whether ``s3://{bucket}/{key}`` exists (a 404 is False; any other error is raised)."""
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def find_run(self, group: str, run_pathspec: str) -> Registration | None:
        """The package of ``group`` whose metadata names ``run_pathspec`` (created=False), if any."""
        return self.find_existing(group, run_pathspec, None)

    def find_existing(self, group: str, run_pathspec: str, key: str | None) -> Registration | None:
        """The lowest package of ``group`` whose metadata names ``run_pathspec`` or content ``key``
        (created=False), if any."""
        found: list[Registration] = []
        for summary in self.list_package_summaries(group):
            description = self.sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            metadata = description.get("CustomerMetadataProperties") or {}
            if metadata.get("run_pathspec") == run_pathspec or (
                key is not None and metadata.get("content_key") == key
            ):
                found.append(self.registration_from_description(description, created=False))
        return min(found, key=lambda r: r.version) if found else None

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
        try:
            return read_s3_bytes(uri, self.s3)
        except ConfigError:  # not an s3:// URI: say so, not "cannot read"
            raise
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

    def package_metadata(self, description: dict[str, Any]) -> dict[str, Any]:
        """A version's metadata: its metrics.json, then what the package itself records (version,
        status, the reviewer's reason, the last change's time, ARN, CustomerMetadataProperties)."""
        metadata = self.read_metrics_document(description)
        modified = description.get("LastModifiedTime")
        metadata.update(
            {
                "version": int(description["ModelPackageVersion"]),
                "status": str(description.get("ModelApprovalStatus")),
                "status_reason": str(description.get("ApprovalDescription") or ""),
                "last_modified": modified.isoformat() if isinstance(modified, dt.datetime) else modified,
                "model_package_arn": str(description["ModelPackageArn"]),
                "customer_metadata": dict(description.get("CustomerMetadataProperties") or {}),
            }
        )
        return metadata

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


def registry_prefix(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix")``; ConfigError when malformed."""
    try:
        bucket, prefix = split_s3_uri(uri, source="SageMaker registry")
    except ConfigError:
        bucket, prefix = "", ""
    if not BUCKET_NAME_PATTERN.fullmatch(bucket):
        raise ConfigError(
            f"expected s3://bucket[/prefix], got {uri!r}", source="SageMaker registry", key="s3_prefix"
        )
    return bucket, prefix.strip("/")


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
    bundle = request.payload
    metadata = {
        "run_pathspec": request.run_pathspec,
        "data_fingerprint": request.data_fingerprint,
        "code_version": request.code_version,
        "model_sha256": manifest["model_sha256"],
        "tarball_sha256": manifest["tarball_sha256"],
        "gate_reasons": " / ".join(request.gate_reasons),
        "threshold": repr(float(bundle["threshold"])),
        "symbol": bundle["symbol"],
        "label_convention": bundle["label_convention"],
        "feature_count": str(len(bundle["feature_columns"])),
        "sklearn_version": manifest["sklearn_version"],
        "python_version": manifest[PICKLED_WITH]["python"],
        "numpy_version": manifest[PICKLED_WITH]["numpy"],
        "joblib_version": manifest[PICKLED_WITH]["joblib"],
    }
    features = " ".join(bundle["feature_columns"])
    if len(features) <= METADATA_VALUE_MAX:  # omitted when too long: the bundle has the full list
        metadata["feature_columns"] = features
    metadata.update(strategy_metadata(manifest["strategy"]))
    if manifest.get("provenance") is not None:
        metadata.update(provenance_metadata(manifest["provenance"], str(manifest["content_key"])))
    safe = {key: to_metadata_value(value) for key, value in metadata.items()}
    for key in ("run_pathspec", "model_sha256", "content_key"):
        if key not in metadata:
            continue
        if safe[key] != metadata[key]:
            # These are compared exactly later, so they must survive unchanged.
            raise ConfigError(
                f"{metadata[key]!r} cannot be stored as SageMaker metadata (only letters, digits, spaces, "
                "_.:/=+-@ and at most 256 characters)",
                source="registration request",
                key=key,
            )
    return safe
