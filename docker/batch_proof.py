#!/usr/bin/env python3
"""The local AWS Batch proof: every step of SpyFlow runs in a container scheduled by AWS Batch.

No AWS account and no image registry are needed. As root on Debian (bookworm) this script

1. installs ``docker.io`` and ``debootstrap`` with apt (when missing);
2. starts its own Docker engine on a private socket, data root and exec root (overlay2, no
   iptables, no bridge: containers use the host's loopback);
3. builds the base image offline from Debian packages (debootstrap: Python 3.11, pip, CA certs) and
   tags it as ``docker/Dockerfile``'s base (``python:3.11-slim``), with a pip configuration that
   installs from a wheelhouse this script downloads on the host and serves on 127.0.0.1
   (the build has the host's network, and nothing inside it ever talks to PyPI);
4. builds the project image from ``docker/Dockerfile`` unchanged, and on top of it the
   emulator-only layer ``docker/test-layer.Dockerfile`` (what moto's Batch lacks; see that file);
5. starts a moto server whose AWS Batch runs each job as a container in that engine, and creates
   the IAM roles, network, managed compute environment, job queue and S3 bucket;
6. runs the flow with ``--with batch`` on the S3 datastore (a tiny sweep), and checks with the
   Client that it succeeded, that every ``train`` task ran in a Batch container (its metadata
   carries the Batch job id, and the job asked for the ``resources`` Config's cpu and memory),
   that the artifacts and the card read back, and that the model reached the (emulated) SageMaker
   Model Registry;
7. runs the flow again while killing the ``evaluate`` container from outside as soon as it starts
   (what a Spot reclaim or an OOM kill does), checks that the run failed in ``evaluate``, resumes it
   with ``resume --origin-run-id`` and checks that the resumed run succeeded with every ``train``
   task cloned from the failed run and ``evaluate`` run again on Batch;
8. stops everything it started, by process id, whatever happens (also on SIGINT/SIGTERM).

The code is the package ``docker/proof/`` (one module per part, see its ``__init__``; ``proof.main.run``
reads as the list above); this file is its entry point, for ``.ci/run`` and ``tests/``.

Usage (from anywhere; scratch goes to ``docker/.work/proof``, which git ignores)::

    python docker/batch_proof.py            # the proof; prints a timing per phase
    python docker/batch_proof.py --check    # only: can this machine start a Docker engine here?
    python docker/batch_proof.py --fresh    # forget the cached base image, wheelhouse and layers

Exit status: 0 proved, 1 failed (the failing check or phase is printed), 77 skipped: this machine
cannot start a Docker engine (not root, not Debian, no overlay filesystem, apt unavailable, or
dockerd refused to start); the reason is printed on the last line.
A JSON report (timings, image sizes, run ids, checks) is written to ``<workdir>/report.json``.
"""

from __future__ import annotations

import sys

# Run as a script, this file's directory is first on sys.path, so the package next to it imports as
# ``proof``. docker/ itself must never become an importable package (it would shadow the `docker` SDK
# that moto imports); the tests load the package by file location (tests/helpers/docker_proof.py).
from proof.main import main

if __name__ == "__main__":
    sys.exit(main())
