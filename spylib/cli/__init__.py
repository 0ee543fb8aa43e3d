"""``spy-flow``: the command line for everyday tasks.

=============  ===========================================================================
``versions``   every version of a model group: status, time, sha256, headline metrics
``show``       one version in full: provenance, the gate's reasons, every metric
``approve``    approve a version (local and SageMaker alike), ``--reason`` recorded
``reject``     reject a version
``latest``     the model PredictFlow uses (sha256 checked) and its latest prediction
``runs``       a flow's latest runs: state, source, sweep, verdict, net Sharpe, card commands
``compare``    two runs or two versions: data, configurations, code and seed, then the results
``sql``        SQL over the Parquet lake with DuckDB
``ddl``        the Athena DDL of the lake's tables
=============  ===========================================================================

An expected error (a :class:`~spylib.core.errors.SpyFlowError`: unknown version, bad location...)
prints one line on stderr and exits with 2, never a traceback; an AWS error (botocore) prints one line
and exits with 1. The commands live in :mod:`spylib.cli.models`, :mod:`spylib.cli.lake` and
:mod:`spylib.cli.runs`, :mod:`spylib.cli.compare`; the table formatting in :mod:`spylib.cli.table`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from spylib.cli import compare, lake, models, runs
from spylib.core.errors import SpyFlowError

PROG = "spy-flow"
EXIT_EXPECTED_ERROR = 2
EXIT_AWS_ERROR = 1


def version_string() -> str:
    """The package version and, in a git checkout, its commit (``0.1.0+gabc1234``)."""
    from spylib.core.runtime import code_version

    return code_version()


def build_parser() -> argparse.ArgumentParser:
    """The ``spy-flow`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Everyday tasks of spy-flow: the model registry, the flows' runs, the Parquet lake.",
        epilog="`spy-flow COMMAND --help` describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {version_string()}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    models.add_parsers(commands)
    runs.add_parsers(commands)
    compare.add_parsers(commands)
    lake.add_parsers(commands)
    return parser


def is_aws_error(exc: BaseException) -> bool:
    """A botocore error (no credentials, access denied, endpoint unreachable...), without importing boto."""
    return type(exc).__module__.split(".")[0] == "botocore"


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an error's message (DuckDB's add a caret diagram below it)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``spy-flow``; returns the exit status (argparse's own, 0 or 2, for help and usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, the message already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_EXPECTED_ERROR
    try:
        status: int = args.handler(args)
    except SpyFlowError as exc:
        print(f"{PROG} {args.command}: error: {first_line(exc)}", file=sys.stderr)
        return EXIT_EXPECTED_ERROR
    except BrokenPipeError:  # e.g. `spy-flow versions | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if not is_aws_error(exc):
            raise
        print(f"{PROG} {args.command}: AWS error: {first_line(exc)}", file=sys.stderr)
        return EXIT_AWS_ERROR
    return status
