#!/usr/bin/env bash
# Train and evaluate jfsr on a GPU node: one process drives all of the node's GPUs.
# Several nodes: start this on each with JFSR_NUM_NODES, JFSR_NODE_RANK and JFSR_COORDINATOR.
#
#   launch/gpu_node.sh [--dry-run] COMMAND [-- MAIN_FLAGS...]
#
# COMMAND: setup | train | eval
# Settings (environment variables):
#   JFSR_WORKDIR       train, eval: where checkpoints and logs go (shared by all nodes)
#   JFSR_CONFIG        train (default configs/celebahq.py; eval reads the run's saved config)
#   JFSR_CUDA          setup: jax's CUDA extra, cuda12 or cuda13 (default cuda12)
#   JFSR_NUM_NODES     train: how many nodes (default 1)
#   JFSR_NODE_RANK     train, more than one node: this node's rank, 0 .. JFSR_NUM_NODES-1
#   JFSR_COORDINATOR   train, more than one node: host:port of rank 0, reachable by all
# MAIN_FLAGS go to python -m jfsr.main (train) or jfsr.evaluate (eval), e.g. -- --config.train.batch_size=128
# --dry-run prints the exact commands and runs none.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=launch/common.sh
source "$here/common.sh"

JAX_VERSION=0.10.2  # the version pyproject.toml pins
root="$(cd "$here/.." && pwd)"

parse_args "$@"

config="${JFSR_CONFIG:-configs/celebahq.py}"
python="$root/.venv/bin/python"

case "$command" in
  setup)
    cuda="${JFSR_CUDA:-cuda12}"
    [[ "$cuda" == cuda12 || "$cuda" == cuda13 ]] || die "JFSR_CUDA=$cuda: cuda12 or cuda13"
    run python3 -m venv "$root/.venv"
    run "$root/.venv/bin/pip" install -q -e "$root" "jax[$cuda]==$JAX_VERSION"
    run "$python" -m jfsr.pretrained fetch vgg19
    run "$python" -m jfsr.pretrained fetch fid_inception
    ;;
  train)
    require JFSR_WORKDIR
    nodes="${JFSR_NUM_NODES:-1}"
    [[ "$nodes" =~ ^[1-9][0-9]*$ ]] || die "JFSR_NUM_NODES=$nodes: a positive integer"
    distributed=(--distributed=off)
    if (( nodes > 1 )); then
      require JFSR_NODE_RANK JFSR_COORDINATOR
      if ! [[ "$JFSR_NODE_RANK" =~ ^[0-9]+$ ]] || (( JFSR_NODE_RANK >= nodes )); then
        die "JFSR_NODE_RANK=$JFSR_NODE_RANK: 0 .. $((nodes - 1))"
      fi
      distributed=(--coordinator_address="$JFSR_COORDINATOR" --num_processes="$nodes"
                   --process_id="$JFSR_NODE_RANK")
    fi
    run "$python" -m jfsr.main --config="$config" --workdir="$JFSR_WORKDIR" \
      "${distributed[@]}" "${main_flags[@]}"
    ;;
  eval)
    require JFSR_WORKDIR
    run "$python" -m jfsr.evaluate --workdir="$JFSR_WORKDIR" "${main_flags[@]}"
    ;;
  *)
    die "unknown COMMAND $command: setup, train or eval"
    ;;
esac
