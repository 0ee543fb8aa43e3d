"""Model registry: register gated model bundles; find the latest approved one; load it after a sha256 check.

Open one with :func:`open_registry` and use the :class:`ModelRegistry` protocol; the format, the two
targets and the layout are described in ``README.md`` in this folder.

The names below are loaded on first use (PEP 562): the flow file imports ``spylib.registry.images``
for a Parameter's default in every task, and the package's own imports (joblib, pandas, the inference
code) would otherwise cost each task's start-up, and the card's, a third of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

    predict_frame = inference.predict_frame

# name -> the module it comes from ("" = the submodule of that name)
_LAZY: dict[str, str] = {
    "to_json_safe": "spylib.core.jsonio",
    "inference": "",
    "open_registry": "spylib.registry.backends",
    "build_model_tarball": "spylib.registry.bundle",
    "check_group_name": "spylib.registry.bundle",
    "inference_source": "spylib.registry.bundle",
    "load_bundle": "spylib.registry.bundle",
    "serialize_bundle": "spylib.registry.bundle",
    "sha256_bytes": "spylib.registry.bundle",
    "sha256_file": "spylib.registry.bundle",
    "resolve_region": "spylib.registry.images",
    "sklearn_image_uri": "spylib.registry.images",
    "LocalRegistry": "spylib.registry.local",
    "APPROVAL_STATUSES": "spylib.registry.protocol",
    "ApprovalStatus": "spylib.registry.protocol",
    "ModelRegistry": "spylib.registry.protocol",
    "RegisteredModel": "spylib.registry.protocol",
    "Registration": "spylib.registry.protocol",
    "RegistrationRequest": "spylib.registry.protocol",
    "SageMakerRegistry": "spylib.registry.sagemaker",
    "to_metadata_value": "spylib.registry.sagemaker",
}


def __getattr__(name: str) -> Any:
    if name == "predict_frame":  # re-exported so callers score a loaded bundle with the endpoint's code
        return importlib.import_module("spylib.registry.inference").predict_frame
    if name not in _LAZY:
        raise AttributeError(f"module 'spylib.registry' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name] or f"spylib.registry.{name}")
    return module if not _LAZY[name] else getattr(module, name)


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
