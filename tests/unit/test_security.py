"""Security without a run: the Batch image runs as a non-root user (what a run stores is scanned for
credentials in ``tests/flow/test_security.py``)."""

from __future__ import annotations

import re

import pytest

from tests.helpers.paths import REPO


def test_image_runs_as_a_non_root_user() -> None:
    dockerfile = REPO / "docker" / "Dockerfile"
    if not dockerfile.is_file():
        pytest.skip("docker/Dockerfile is absent")
    lines = [line.strip() for line in dockerfile.read_text().splitlines()]
    final_stage = lines[max(i for i, line in enumerate(lines) if line.upper().startswith("FROM ")) :]
    users = [line.split(None, 1)[1].strip() for line in final_stage if re.match(r"(?i)^USER\s+\S", line)]
    assert users, "the final stage of docker/Dockerfile has no USER line: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"the image's USER is {users[-1]}"
