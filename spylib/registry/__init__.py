"""Model registry: register gated model bundles; find the latest approved one; load it after a sha256 check.

Open one with :func:`open_registry` and use the :class:`ModelRegistry` protocol; the format, the two
targets and the layout are described in ``README.md`` in this folder.
"""

from __future__ import annotations

from spylib.core.jsonio import to_json_safe
from spylib.registry import inference
from spylib.registry.backends import open_registry
from spylib.registry.bundle import (
    build_model_tarball,
    check_group_name,
    inference_source,
    load_bundle,
    serialize_bundle,
    sha256_bytes,
    sha256_file,
)
from spylib.registry.images import resolve_region, sklearn_image_uri
from spylib.registry.local import LocalRegistry
from spylib.registry.protocol import (
    APPROVAL_STATUSES,
    ApprovalStatus,
    ModelRegistry,
    RegisteredModel,
    Registration,
    RegistrationRequest,
)
from spylib.registry.sagemaker import SageMakerRegistry, to_metadata_value

# Re-exported so callers score a loaded bundle with exactly the code that runs in the endpoint.
predict_frame = inference.predict_frame

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
    "check_group_name",
    "inference",
    "inference_source",
    "load_bundle",
    "open_registry",
    "predict_frame",
    "resolve_region",
    "serialize_bundle",
    "sha256_bytes",
    "sha256_file",
    "sklearn_image_uri",
    "to_json_safe",
    "to_metadata_value",
]
