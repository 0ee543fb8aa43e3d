"""S3 access for every module: ``s3://`` URI parsing and one client with one endpoint rule.

Endpoint rule (the same for the data source, the lake, the SQL engine and the registry's artifacts):
an explicit ``endpoint_url`` argument, else ``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL`` (boto3's
own variables), else ``METAFLOW_S3_ENDPOINT_URL`` (so a flow pointed at an S3 emulator for its
datastore reads and writes its data there too), else AWS itself.
"""

from __future__ import annotations

import os
from typing import Any

from spylib.core.errors import ConfigError

S3_SCHEME = "s3://"
ENDPOINT_VARIABLES: tuple[str, ...] = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "METAFLOW_S3_ENDPOINT_URL")


def is_s3_uri(uri: str) -> bool:
    return uri.startswith(S3_SCHEME)


def split_s3_uri(uri: str, *, source: str = "s3") -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``; anything else is a :class:`ConfigError`."""
    if not is_s3_uri(uri):
        raise ConfigError(f"not an s3:// URI: {uri}", source=source)
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ConfigError(f"no bucket in {uri}", source=source)
    return bucket, key


def join_s3_uri(bucket: str, key: str) -> str:
    return f"{S3_SCHEME}{bucket}/{key.lstrip('/')}"


def s3_endpoint(endpoint_url: str | None = None) -> str | None:
    """The endpoint every S3 client of spy-flow uses (see the module docstring); None = AWS."""
    if endpoint_url:
        return endpoint_url
    for name in ENDPOINT_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value
    return None


def s3_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client on :func:`s3_endpoint`'s endpoint."""
    import boto3  # local import: keeps the library light for local-only users

    return boto3.client("s3", endpoint_url=s3_endpoint(endpoint_url))


def read_s3_bytes(uri: str, client: Any | None = None) -> bytes:
    """The whole object at ``uri`` (errors are boto3's: callers say what the object was for)."""
    bucket, key = split_s3_uri(uri)
    body: bytes = (client or s3_client()).get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def write_s3_bytes(uri: str, data: bytes, client: Any | None = None) -> None:
    """One PutObject: S3 makes the object visible all at once (no multipart, no partial object)."""
    bucket, key = split_s3_uri(uri)
    (client or s3_client()).put_object(Bucket=bucket, Key=key, Body=data)
