# Emulator-only layer on top of the project image, used by docker/batch_proof.py and nothing else.
# Never push this image: it exists only because moto's AWS Batch is not AWS.
#
#   docker build -f docker/test-layer.Dockerfile --build-arg BASE_IMAGE=spy-flow:proof \
#       --build-arg CE_NAME=... --build-arg JQ_NAME=... --build-arg AWS_ENDPOINT_URL=http://127.0.0.1:PORT \
#       -t spy-flow:batch-proof DIR_WITH_proof_local_metadata.py
ARG BASE_IMAGE=spy-flow:local
FROM ${BASE_IMAGE}

ARG CE_NAME=spyflow-proof-ce
ARG JQ_NAME=spyflow-proof-queue
ARG AWS_ENDPOINT_URL=http://127.0.0.1:5000

# Real Batch sets these in every job container; moto sets only AWS_BATCH_JOB_ID, and Metaflow's
# @batch decorator reads all of them (KeyError without). Constant values are enough here: the
# proof never retries an attempt.
ENV AWS_BATCH_JOB_ATTEMPT=1 \
    AWS_BATCH_CE_NAME=${CE_NAME} \
    AWS_BATCH_JQ_NAME=${JQ_NAME} \
    AWS_EXECUTION_ENV=AWS_ECS_EC2

# Real Batch hands the job role's credentials to the container; moto hands none, and its S3
# accepts any key. Dummy values, valid only against the local emulator.
ENV AWS_ACCESS_KEY_ID=spyflow-proof \
    AWS_SECRET_ACCESS_KEY=spyflow-proof

# Metaflow passes its own S3 endpoint into the job, but the steps' own boto3 clients (the SageMaker
# registry and its S3 uploads) would call the real AWS endpoints: point them all at moto.
ENV AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL}

# Metaflow's bootstrap pip-installs boto3 and requests unless told not to; the containers here
# cannot reach PyPI, and the image already has both.
ENV METAFLOW_SKIP_INSTALL_DEPENDENCIES=1

# No metadata service here (a real deployment has one): give each container's local metadata the
# records of its own run, so the card renderer finds its task. See docker/proof_local_metadata.py.
USER root
COPY proof_local_metadata.py /tmp/
RUN site="$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")" \
    && mv /tmp/proof_local_metadata.py "$site/" \
    && echo "import proof_local_metadata" > "$site/spyflow_proof_local_metadata.pth"
USER spyflow
