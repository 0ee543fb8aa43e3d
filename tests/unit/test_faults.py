"""Faults while writing predictions: a full disk keeps the previous file byte for byte; a bad path is
a clear error (the flow-level faults are ``tests/flow/test_faults.py`` and ``tests/aws/test_faults.py``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from spylib.core.errors import SpyFlowError
from spylib.modelling.predictions import write_predictions
from tests.helpers.paths import REPO
from tests.helpers.synthetic import predictions_frame


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


DISK_FULL_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    sys.path.insert(0, sys.argv[3])
    from tests.helpers.synthetic import predictions_frame
    from spylib.core.errors import SpyFlowError
    from spylib.modelling.predictions import write_predictions

    frame = predictions_frame(3000, "run-2")  # built before the limit: only the write may fail
    # A full disk, simulated: files may not grow past 4 KiB. SIGXFSZ would kill the process, so it
    # is ignored and the write fails with EFBIG instead, the way ENOSPC fails it on a full disk.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    try:
        write_predictions(frame, sys.argv[1], sys.argv[2])
    except SpyFlowError as exc:
        print(exc)
        sys.exit(3)
    """
)


def test_disk_full_while_writing_predictions_keeps_the_previous_file(tmp_path: Path) -> None:
    files = write_predictions(predictions_frame(3000, "run-1"), tmp_path, "7")
    directory = Path(files["parquet"]).parent
    before = snapshot(directory)
    child = subprocess.run(
        [sys.executable, "-c", DISK_FULL_CHILD, str(tmp_path), "7", str(REPO)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 3, child.stderr
    assert child.stdout.strip() == f"cannot write predictions to {directory}: File too large"
    assert snapshot(directory) == before  # byte-identical, and no temporary file left behind
    assert pd.read_parquet(files["parquet"])["model_version"].eq("run-1").all()


def test_unwritable_predictions_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output directory should be")
    with pytest.raises(SpyFlowError) as info:
        write_predictions(predictions_frame(10, "run-1"), blocker, "7")
    assert str(info.value) == f"cannot write predictions to {blocker}/predictions/run_id=7: Not a directory"
    assert blocker.read_text() == "a file where the output directory should be"
