"""The ``local`` registry target: a directory laid out like the SageMaker Model Registry.

One writer per group at a time (``flock``); a version is built in a temp dir and renamed into place,
so a failure leaves no half version. The layout is drawn in ``README.md`` in this folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from spylib.core.errors import ConfigError, IntegrityError
from spylib.core.jsonio import dump_json
from spylib.registry.bundle import (
    GROUP_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    TARBALL_FILE,
    build_manifest,
    build_model_tarball,
    check_extra_file_name,
    check_group_name,
    check_request,
    load_bundle,
    request_content_key,
    serialize_bundle,
    sha256_bytes,
    utc_now,
    verify_extra_file,
)
from spylib.registry.protocol import (
    ApprovalStatus,
    RegisteredModel,
    Registration,
    RegistrationRequest,
    check_status,
)
from spylib.storage.files import atomic_write_bytes

TEMP_DIR_PREFIX = ".tmp-version-"


class LocalRegistry:
    """A directory registry with SageMaker-like groups and versions (see ``README.md``)."""

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

    # ---- public API (the ModelRegistry protocol) ----
    def register(self, request: RegistrationRequest) -> Registration:
        """Register ``request`` as the next version of its group, atomically and under the group lock.

        Returns the existing registration (``created=False``) if ``run_pathspec`` is already registered,
        or if the group already holds the same content (same model bytes, strategy and provenance:
        :func:`~spylib.registry.provenance.content_key`). The check and the write happen under the
        group's lock, so two processes registering the same content at once make one version.
        """
        check_request(request)
        model_bytes = serialize_bundle(request.bundle)  # records the versions it was pickled with
        key = request_content_key(request, model_bytes)
        group_dir = self.ensure_group_dir(request.group)
        with self.locked_group(group_dir):
            self.remove_stale_temp_dirs(group_dir)
            self.ensure_group_file(group_dir, request.group)
            existing = self.find_existing(request.group, request.run_pathspec, key)
            if existing is not None:
                return existing
            version = max(self.version_numbers(request.group), default=0) + 1
            versions_dir = group_dir / "versions"
            temp_dir = Path(tempfile.mkdtemp(prefix=TEMP_DIR_PREFIX, dir=group_dir))
            try:
                manifest = self.write_version_files(temp_dir, request, version, model_bytes)
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

    def set_status(self, group: str, version: int, status: ApprovalStatus, reason: str = "") -> Registration:
        """Approve or reject an existing version (rewrites its manifest atomically, under the lock)."""
        check_status(status, source="set_status")
        version_dir = self.version_dir(group, version)
        if version not in self.version_numbers(group):
            raise ConfigError(
                f"model version {group}/{version} does not exist in {self.root}",
                source="set_status",
                key="version",
            )
        with self.locked_group(self.group_dir(group)):
            manifest = self.read_manifest(version_dir)
            manifest["status"] = status
            manifest["status_updated"] = utc_now()
            manifest["status_reason"] = reason
            atomic_write_bytes(version_dir / MANIFEST_FILE, dump_json(manifest))
        return self.registration_from_manifest(version_dir, manifest, created=False)

    def read_metadata(self, registration: Registration) -> dict[str, Any]:
        """The version's ``manifest.json`` (the bundle is not read)."""
        return self.read_manifest(Path(registration.location))

    def extra_file_uri(self, model: RegisteredModel, name: str) -> str:
        """``{root}/{group}/versions/{n}/{name}``, beside ``model.joblib``."""
        check_extra_file_name(name, source="extra_file_uri")
        return str(Path(model.registration.location) / name)

    def read_extra_file(self, model: RegisteredModel, name: str) -> bytes:
        """Extra file ``name`` beside ``model.joblib``, checked against the manifest's sha256."""
        path = Path(self.extra_file_uri(model, name))
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IntegrityError(f"{path}: cannot read the file ({exc})") from exc
        return verify_extra_file(data, name, model.metadata, uri=str(path))

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
            atomic_write_bytes(path, dump_json({"group": group, "created": utc_now()}))

    def version_numbers(self, group: str) -> list[int]:
        """Version numbers present under ``{root}/{group}/versions``."""
        versions_dir = self.group_dir(group) / "versions"
        if not versions_dir.is_dir():
            return []
        return [int(p.name) for p in versions_dir.iterdir() if p.is_dir() and p.name.isdigit()]

    def find_run(self, group: str, run_pathspec: str) -> Registration | None:
        """The registration of ``run_pathspec`` in ``group``, if any (created=False)."""
        return self.find_existing(group, run_pathspec, None)

    def find_existing(self, group: str, run_pathspec: str, key: str | None) -> Registration | None:
        """The version of ``group`` registered by ``run_pathspec`` or holding content ``key``, if any
        (the lowest such version; created=False)."""
        for registration in self.list_versions(group):
            manifest = self.read_manifest(Path(registration.location))
            if manifest.get("run_pathspec") == run_pathspec or (
                key is not None and manifest.get("content_key") == key
            ):
                return registration
        return None

    @staticmethod
    def write_version_files(
        directory: Path, request: RegistrationRequest, version: int, model_bytes: bytes
    ) -> dict[str, Any]:
        """Write model.joblib, model.tar.gz, the extra files and manifest.json (last) into ``directory``.

        Plain writes: ``directory`` is the private temp dir that becomes the version in one rename.
        """
        (directory / MODEL_FILE).write_bytes(model_bytes)
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
