"""The local AWS Batch proof, as a package (``docker/batch_proof.py`` is its entry point).

Not importable from the repository root as ``docker.proof``: ``docker/`` stays a plain directory
so it never shadows the ``docker`` SDK that moto imports. Its modules import each other relatively, so
the package loads under any name: ``batch_proof.py`` imports it as ``proof`` (a script's own directory
is on ``sys.path``), the tests load it by file location (``tests/helpers/docker_proof.py``).

* ``settings``  paths, names, the proof's sweep, the command line;
* ``shell``     commands, the processes started (stopped by id), ``Skip``/``ProofFailure``;
* ``session``   the shared state: options, logs, report, timed phases and recorded checks;
* ``engine``    the private dockerd, its prerequisites, the debootstrap base image, cleanup;
* ``images``    wheelhouse, base tag, the Batch image, the emulator-only test layer;
* ``aws``       the moto server and the Batch, IAM, VPC and S3 resources in it;
* ``flows``     running the flow on Batch and the Client configured like it;
* ``checks``    what must hold about the runs (plain, killed ``evaluate``, resume);
* ``main``      ``run()``: the phases in order; ``main()``: exit status, signals, cleanup, report.
"""
