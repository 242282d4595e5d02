"""A trained generator at inference: loading one, and running it in eval mode.

Training's sample grids, evaluation, restoration, export and packing all go through here:
:func:`load_generator` takes a training run (orbax checkpoints) or a packed model (a NAME
shipped with the package, or an ``.npz`` path), and :func:`make_sampler` runs the network
as at test time (BatchNorm's running statistics, no dropout; the noise variant's noise
from a given key).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import jax
import ml_collections

from jfsr import checkpointing, models
from jfsr.errors import UsageError
from jfsr.pretrained import generators

FIXED_NOISE = 0  # the noise key of evaluation and restoration: one input, one output


def make_sampler(config: ml_collections.ConfigDict) -> Callable:
  """``(variables, lr, noise_key=None) -> outputs`` of the generator in eval mode (not
  jitted: callers jit it with what they add). Without a key the noise variant draws its
  noise from :data:`FIXED_NOISE`, so that a face restores the same way every time."""
  generator = models.build_generator(config)

  def sample(variables, lr, noise_key=None):
    key = jax.random.key(FIXED_NOISE) if noise_key is None else noise_key
    return generator.apply(variables, lr, train=False, rngs={'noise': key})
  return sample


def pick_device(name: str) -> jax.Device:
  """The first device of a kind ('cpu', 'gpu', 'tpu'), or JAX's default for 'auto'."""
  if name == 'auto':
    return jax.devices()[0]
  try:
    return jax.devices(name)[0]
  except RuntimeError as error:
    raise UsageError(f'--device {name}: no such device here ({error})') from None


def load_generator(checkpoint: str | Path | None = None, model: str | None = None,
                   device: jax.Device | None = None, average: bool = True
                   ) -> tuple[ml_collections.ConfigDict, dict, int]:
  """``(config, generator variables, step)`` from exactly one of a training run
  (``checkpoint``: its workdir, latest step, or ``WORKDIR/checkpoints/STEP``) and a
  shipped model (``model``: NAME or packed ``.npz``), placed on ``device`` (default:
  the first). What ``jfsr.restore``, ``jfsr.export`` and ``jfsr.pretrained pack`` load.
  A run's generator is its moving average where it kept one, unless ``average`` is False
  (the returned config then says ``train.ema_decay = 0``)."""
  if bool(checkpoint) == bool(model):
    raise UsageError('give exactly one of --checkpoint (a training run) and --model (a shipped '
                    'model: python -m jfsr.pretrained list)')
  device = device or jax.devices()[0]
  if model:
    config, variables, meta = generators.load(model)
    return config, jax.device_put(variables, device), meta['step']
  workdir, path_step = checkpointing.split_checkpoint_path(checkpoint)
  (step,) = checkpointing.resolve_steps(workdir, [path_step] if path_step else None)
  config = checkpointing.saved_config(workdir, step)
  if not average:
    config.train.ema_decay = 0.0
  variables = checkpointing.restore_generator(config, workdir, step,
                                              jax.sharding.SingleDeviceSharding(device))
  return config, variables, step
