"""Expected errors reach the console as one line; bugs keep their traceback (the flows' mutator applies
``one_line_step_errors`` to every step; ``tests/flow`` sees it end to end)."""

from __future__ import annotations

from metaflow.exception import MetaflowException

from spylib.core.errors import ConfigError, DataValidationError
from spylib.stages.errors import one_line_error


def test_an_expected_error_becomes_one_metaflow_line() -> None:
    error = one_line_error(ConfigError("cannot write to /x: Permission denied", source="--lake-root"))
    assert isinstance(error, MetaflowException)
    assert str(error) == "spylib.core.errors.ConfigError: --lake-root: cannot write to /x: Permission denied"
    assert error.headline == "spy-flow stopped"


def test_the_line_names_the_error_class() -> None:
    error = one_line_error(DataValidationError("close is negative", source="prices.csv", row=3))
    assert str(error).startswith("spylib.core.errors.DataValidationError: ")
