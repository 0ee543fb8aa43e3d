# The AWS Batch proof (docker/batch_proof.py): every step of SpyFlow on emulated AWS Batch, in a
# Docker engine the script installs and starts itself (root, Debian, overlayfs). It prints a timing
# per phase and, when this machine cannot start a Docker engine, why, exiting 77: CI then records a
# skip, not a failure. `timeout` sends SIGTERM, on which the script still stops all it started.
echo "== AWS Batch proof (docker/batch_proof.py)"
proof_status=0
timeout --kill-after=60 1500 python docker/batch_proof.py || proof_status=$?
case "$proof_status" in
  0) echo "AWS Batch proof: passed" ;;
  77) echo "AWS Batch proof: SKIPPED (the reason is printed above)" ;;
  *)
    echo "AWS Batch proof: FAILED (exit $proof_status); logs in docker/.work/proof/logs/"
    exit 1
    ;;
esac
