"""Which registry backend a target names: `local` (a directory) or `sagemaker` (an s3:// prefix for
the model artifacts and the SageMaker Model Registry). Kept apart from the protocol so that the
protocol module imports no backend."""

from __future__ import annotations

from spylib.core.errors import ConfigError
from spylib.registry.protocol import ModelRegistry
from spylib.storage.s3 import is_s3_uri


def open_registry(target: str, location: str, *, image_uri: str | None = None) -> ModelRegistry:
    """``open_registry("local", "data/registry")`` or ``open_registry("sagemaker", "s3://bucket/prefix")``."""
    # Imported here: both backends import this module for the request and result types.
    if target == "local":
        from spylib.registry.local import LocalRegistry

        if is_s3_uri(location):
            raise ConfigError(
                f"the local registry needs a directory, got {location!r}",
                source="open_registry",
                key="location",
            )
        return LocalRegistry(location)
    if target == "sagemaker":
        from spylib.registry.sagemaker import SageMakerRegistry

        return SageMakerRegistry(location, image_uri=image_uri)
    raise ConfigError(
        f"unknown registry target {target!r}: use 'local' or 'sagemaker'",
        source="open_registry",
        key="target",
    )
