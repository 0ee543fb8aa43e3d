"""A real moto server on 127.0.0.1 for emulator tests (talk to it over HTTP with real boto3 clients).

Usage::

    from tests.helpers.moto_server import aws_env, running_moto_server

    with running_moto_server() as server:
        monkeypatch.setenv(...)  # or: env = aws_env(server.endpoint) for a subprocess / Runner
        boto3.client("s3", endpoint_url=server.endpoint)

The server listens on a port the OS picks (port 0), so there is no race for a "free" port.
Note: moto keeps its state per process; ``stop()`` resets it so the next server starts empty.
"""

from __future__ import annotations

import contextlib
import logging
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from moto.server import ThreadedMotoServer

DEFAULT_REGION = "us-east-1"


@dataclass
class MotoServer:
    """A started moto server: ``endpoint`` is ``http://127.0.0.1:PORT``."""

    server: ThreadedMotoServer
    endpoint: str

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        """Reset the emulated state and stop the server thread."""
        with contextlib.suppress(OSError):
            self.reset()
        self.server.stop()


def start_moto_server() -> MotoServer:
    """Start ``ThreadedMotoServer`` on 127.0.0.1 and an OS-chosen port; call ``.stop()`` when done."""
    # werkzeug logs one line per request to stderr; keep test output readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return MotoServer(server=server, endpoint=f"http://{host}:{port}")


@contextlib.contextmanager
def running_moto_server() -> Iterator[MotoServer]:
    """Context manager (and pytest fixture building block): a moto server, stopped on exit."""
    server = start_moto_server()
    try:
        yield server
    finally:
        server.stop()


def aws_env(endpoint: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """Environment variables that point boto3 (and Metaflow's S3 client) at ``endpoint`` with dummy creds."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        # Metaflow's S3 datastore does not read AWS_ENDPOINT_URL; it has its own setting.
        "METAFLOW_S3_ENDPOINT_URL": endpoint,
    }
