#!/usr/bin/env bash
# Train and evaluate jfsr on a Cloud TPU VM or pod slice (one process per TPU host).
#
#   launch/tpu_vm.sh [--dry-run] COMMAND [-- MAIN_FLAGS...]
#
# COMMAND: create | setup | train | logs | stop | eval | delete
# Settings (environment variables):
#   JFSR_PROJECT, JFSR_ZONE, JFSR_TPU_NAME   always
#   JFSR_TPU_TYPE                            create (e.g. v4-8, v4-32, v5litepod-16)
#   JFSR_TPU_RUNTIME                         create (default: chosen from JFSR_TPU_TYPE)
#   JFSR_WORKDIR                             train, eval: a gs:// path every host reaches
#   JFSR_CONFIG                              train (default configs/celebahq.py; eval reads the saved one)
# MAIN_FLAGS go to python -m jfsr.main on every host, e.g. -- --config.data.source=tfds
# --dry-run prints the exact gcloud commands and runs none.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=launch/common.sh
source "$here/common.sh"

JAX_VERSION=0.10.2  # the version pyproject.toml pins
LIBTPU_INDEX=https://storage.googleapis.com/jax-releases/libtpu_releases.html
# shellcheck disable=SC2088  # the TPU hosts expand these
REMOTE_DIR='~/jfsr'
# shellcheck disable=SC2088
LOG='~/jfsr-train.log'

default_runtime() {
  case "$1" in
    v5litepod-*) echo v2-alpha-tpuv5-lite ;;
    v5p-*) echo v2-alpha-tpuv5 ;;
    v6e-*) echo v2-alpha-tpuv6e ;;
    *) echo tpu-ubuntu2204-base ;;
  esac
}

parse_args "$@"

require JFSR_PROJECT JFSR_ZONE JFSR_TPU_NAME
where=(--project="$JFSR_PROJECT" --zone="$JFSR_ZONE")
config="${JFSR_CONFIG:-configs/celebahq.py}"

ssh_all() { run gcloud compute tpus tpu-vm ssh "$JFSR_TPU_NAME" "${where[@]}" --worker=all --command="$1"; }
ssh_chief() { run gcloud compute tpus tpu-vm ssh "$JFSR_TPU_NAME" "${where[@]}" --worker=0 --command="$1"; }

need_gs_workdir() {
  require JFSR_WORKDIR
  [[ "$JFSR_WORKDIR" == gs://* ]] || die "JFSR_WORKDIR=$JFSR_WORKDIR: the hosts of a TPU slice share nothing but a bucket; use a gs:// path"
}

case "$command" in
  create)
    require JFSR_TPU_TYPE
    run gcloud compute tpus tpu-vm create "$JFSR_TPU_NAME" "${where[@]}" \
      --accelerator-type="$JFSR_TPU_TYPE" \
      --version="${JFSR_TPU_RUNTIME:-$(default_runtime "$JFSR_TPU_TYPE")}"
    ;;
  setup)
    # The committed tree (git archive HEAD) goes to every host, then a venv with jax[tpu]
    # and the pretrained weights (VGG-19 for training, FID Inception for evaluation).
    archive="${TMPDIR:-/tmp}/jfsr-src.tar.gz"
    run git -C "$here/.." archive --format=tar.gz -o "$archive" HEAD
    run gcloud compute tpus tpu-vm scp "$archive" "$JFSR_TPU_NAME:~/jfsr-src.tar.gz" "${where[@]}" --worker=all
    ssh_all "mkdir -p $REMOTE_DIR && tar -xzf ~/jfsr-src.tar.gz -C $REMOTE_DIR && cd $REMOTE_DIR && python3 -m venv .venv && .venv/bin/pip install -q -e . 'jax[tpu]==$JAX_VERSION' -f $LIBTPU_INDEX && .venv/bin/python -m jfsr.pretrained fetch vgg19 && .venv/bin/python -m jfsr.pretrained fetch fid_inception"
    ;;
  train)
    need_gs_workdir
    flags=$(quote_args --config="$config" --workdir="$JFSR_WORKDIR" --distributed=on "${main_flags[@]}")
    ssh_all "cd $REMOTE_DIR && setsid nohup .venv/bin/python -m jfsr.main $flags > $LOG 2>&1 < /dev/null &"
    ;;
  logs)
    ssh_chief "tail -n 200 -F $LOG"
    ;;
  stop)
    ssh_all "pkill -TERM -f 'jfsr.main' || true"
    ;;
  eval)
    need_gs_workdir
    flags=$(quote_args --workdir="$JFSR_WORKDIR" "${main_flags[@]}")
    ssh_chief "cd $REMOTE_DIR && .venv/bin/python -m jfsr.evaluate $flags"
    ;;
  delete)
    run gcloud compute tpus tpu-vm delete "$JFSR_TPU_NAME" "${where[@]}" --quiet
    ;;
  *)
    die "unknown COMMAND $command: create, setup, train, logs, stop, eval or delete"
    ;;
esac
