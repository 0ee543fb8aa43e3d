"""Expected errors reach the console as one line; bugs keep their traceback."""

from __future__ import annotations

import pytest
from metaflow.exception import MetaflowException

from spylib.core.errors import ConfigError
from spylib.stages.errors import one_line_errors


class Steps:
    @one_line_errors
    def expected(self) -> None:
        raise ConfigError("cannot write to /x: Permission denied", source="--lake-root")

    @one_line_errors
    def bug(self, inputs: list[int]) -> None:
        raise KeyError(inputs[0])


def test_an_expected_error_becomes_one_metaflow_line() -> None:
    with pytest.raises(MetaflowException) as info:
        Steps().expected()
    assert (
        str(info.value)
        == "spylib.core.errors.ConfigError: --lake-root: cannot write to /x: Permission denied"
    )
    assert info.value.__cause__ is None  # `from None`: no chained traceback


def test_a_bug_keeps_its_own_exception() -> None:
    with pytest.raises(KeyError):
        Steps().bug([3])
