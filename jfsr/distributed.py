"""Multi-process start-up: join JAX's distributed runtime, and agree on the config.

One process runs per host (a TPU VM worker, a GPU node, or here, a CPU process
with a few simulated devices). Every process runs the same program: the mesh
spans all global devices, each process feeds its own share of every global
batch (``jfsr.data.pipeline``), orbax writes checkpoints collectively, and only
process 0 writes logs and images.
"""

from __future__ import annotations

import hashlib
import json
import os

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from jfsr.errors import ConfigError

# Environment variables that mark a multi-process launch that JAX detects on its own.
_CLUSTER_MARKERS = ('SLURM_NTASKS', 'OMPI_COMM_WORLD_SIZE')


def initialize(mode: str, coordinator_address: str | None = None,
               num_processes: int | None = None, process_id: int | None = None) -> None:
  """Joins the distributed runtime when the run is multi-process.

  Args:
    mode: ``'off'`` (one process), ``'on'`` (always join; with no address JAX
      detects the cluster itself: TPU VM workers, SLURM, Open MPI, Kubernetes) or
      ``'auto'`` (join when an address is given or a SLURM/Open MPI launch of
      more than one task is detected).
    coordinator_address: ``host:port`` of process 0, or None to detect it.
    num_processes, process_id: this launch's size and this process's rank; None
      to detect them.
  """
  if mode not in ('auto', 'on', 'off'):
    raise ConfigError(f"--distributed must be 'auto', 'on' or 'off', got {mode!r}")
  explicit = coordinator_address or num_processes is not None or process_id is not None
  if mode == 'off':
    if explicit:
      raise ConfigError('--distributed=off contradicts --coordinator_address/--num_processes/'
                        '--process_id; drop one or the other')
    return
  if mode == 'auto' and not explicit and not any(
      int(os.environ.get(name, '1')) > 1 for name in _CLUSTER_MARKERS):
    return
  if coordinator_address and (num_processes is None or process_id is None):
    raise ConfigError('--coordinator_address needs --num_processes and --process_id as well')
  jax.distributed.initialize(coordinator_address=coordinator_address or None,
                             num_processes=num_processes, process_id=process_id)
  logging.info('process %d of %d joined; %d local of %d global devices', jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())


def config_digest(config: ml_collections.ConfigDict) -> np.ndarray:
  """SHA-256 of the config's canonical JSON, as 8 uint32 words."""
  text = json.dumps(config.to_dict(), sort_keys=True, default=str)
  return np.frombuffer(hashlib.sha256(text.encode()).digest(), dtype=np.uint32)


def check_same_config(config: ml_collections.ConfigDict) -> None:
  """Stops every process with one clear error when the processes' configs differ.

  A launch that passes another override to one worker would otherwise train a
  model no single config describes (or hang in a collective of another shape).
  """
  if jax.process_count() == 1:
    return
  digests = np.asarray(multihost_utils.process_allgather(config_digest(config)))
  differing = [i for i in range(len(digests)) if not np.array_equal(digests[i], digests[0])]
  if differing:
    raise ConfigError(
        f'the processes were started with different configs: process(es) '
        f'{", ".join(map(str, differing))} differ from process 0 (this is process '
        f'{jax.process_index()}); start every process with the same --config and overrides')
