"""The AWS tier's emulator: one real moto server per test module, and this process's boto3 pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.moto_server import MotoServer, aws_env, running_moto_server


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    """A moto server on 127.0.0.1 for this module's tests; stopping it resets moto's state."""
    with running_moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def moto_env(moto_server: MotoServer) -> Iterator[dict[str, str]]:
    """For the module: boto3 (and Metaflow's S3 client) in this process talk to ``moto_server`` with dummy
    credentials; the returned variables are the same settings for a subprocess."""
    env = aws_env(moto_server.endpoint)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_GLUE", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        yield env
