"""What a model registry is to its callers: the request, the results, the :class:`ModelRegistry` protocol.

Both targets (:mod:`spylib.registry.local`, :mod:`spylib.registry.sagemaker`) implement the whole
protocol, so a caller opens one with :func:`open_registry` and never asks which one it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from spylib.core.errors import ConfigError
from spylib.modelling.strategy import ModelBundle, Strategy, as_bundle
from spylib.registry.provenance import Provenance

ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]


APPROVAL_STATUSES: tuple[str, ...] = ("Approved", "Rejected", "PendingManualApproval")


@dataclass(frozen=True)
class RegistrationRequest:
    """What to register. ``run_pathspec`` (e.g. ``"SpyFlow/1700000000123456"``, the *origin* run of a
    resumed run) is the idempotency key; with ``provenance``, so is the content (see
    :func:`spylib.registry.provenance.content_key`). ``bundle``: the typed :class:`ModelBundle` (or
    its payload dict)."""

    group: str
    bundle: ModelBundle | dict[str, Any]
    approval_status: ApprovalStatus
    metrics: dict[str, Any]
    gate_reasons: list[str]
    run_pathspec: str
    data_fingerprint: str
    code_version: str
    extra_files: dict[str, bytes] = field(default_factory=dict)
    description: str = ""
    provenance: Provenance | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """The bundle as the plain dict that is pickled (see :meth:`ModelBundle.to_payload`)."""
        return self.bundle.to_payload() if isinstance(self.bundle, ModelBundle) else dict(self.bundle)


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
    """A registered version with its metadata and its bundle (loaded only after the sha256 check).

    ``metadata`` is the version's provenance document (the manifest); its ``extra_files`` maps each
    extra file name to the sha256 :meth:`ModelRegistry.read_extra_file` checks.
    """

    registration: Registration
    metadata: dict[str, Any]
    bundle: dict[str, Any]

    @property
    def model_bundle(self) -> ModelBundle:
        """The bundle, typed."""
        return as_bundle(self.bundle)

    @property
    def strategy(self) -> Strategy:
        """The registered strategy (what every consumer applies)."""
        return self.model_bundle.strategy

    @property
    def provenance(self) -> Provenance | None:
        """What trained the version; None for a version registered before provenance was recorded."""
        raw = self.metadata.get("provenance")
        return Provenance.from_dict(raw) if isinstance(raw, dict) else None


class ModelRegistry(Protocol):
    """Everything the flows and the library ask of a registry; both targets implement all of it."""

    target: str
    """``"local"`` or ``"sagemaker"`` (also recorded in every :class:`Registration`)."""

    def register(self, request: RegistrationRequest) -> Registration:
        """Register ``request`` as the next version of its group (idempotent per ``run_pathspec``)."""
        ...

    def latest_approved(self, group: str) -> RegisteredModel | None:
        """The newest Approved version with its bundle (sha256 checked before unpickling); None if none."""
        ...

    def list_versions(self, group: str) -> list[Registration]:
        """All versions of ``group`` in version order (empty if the group does not exist)."""
        ...

    def set_status(self, group: str, version: int, status: ApprovalStatus, reason: str = "") -> Registration:
        """Approve or reject ``{group}/{version}`` (the human review step); ``reason`` is recorded with
        the new status (metadata ``status_reason``). ConfigError if the version does not exist."""
        ...

    def read_metadata(self, registration: Registration) -> dict[str, Any]:
        """The metadata of a listed version (what :attr:`RegisteredModel.metadata` holds), without
        loading its bundle: for a table of versions or a review of one."""
        ...

    def extra_file_uri(self, model: RegisteredModel, name: str) -> str:
        """Where extra file ``name`` of ``model``'s version is stored (a path or an ``s3://`` URI)."""
        ...

    def read_extra_file(self, model: RegisteredModel, name: str) -> bytes:
        """The bytes of extra file ``name`` of ``model``'s version (e.g. ``reference_profile.json``),
        refused with IntegrityError unless they match the sha256 recorded at registration."""
        ...


def check_status(status: str, *, source: str, key: str = "status") -> None:
    """Raise ConfigError naming ``key`` unless ``status`` is one of :data:`APPROVAL_STATUSES`."""
    if status not in APPROVAL_STATUSES:
        raise ConfigError(f"must be one of {APPROVAL_STATUSES}, got {status!r}", source=source, key=key)
