"""A training run's generator as a shipped-model file: the step's weights (the moving
average where the run keeps one), float16, with where it started from, its evaluation and
how far float16 storage moves its outputs (``python -m jfsr.pretrained pack``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from jfsr import checkpointing, files, inference
from jfsr.pretrained import generators


@dataclasses.dataclass(frozen=True)
class Packed:
  """What :func:`pack_checkpoint` wrote: the file, its SHA-256, the step, which generator
  (``'average'`` or ``'trained'``) and the metadata stored with it."""
  path: Path
  sha256: str
  step: int
  generator: str
  info: dict


def float16_error(config, variables: dict, count: int = 8) -> dict[str, float]:
  """How far the generator's outputs move when its parameters are stored as float16 (as
  :func:`jfsr.pretrained.generators.pack` stores them), in 0-255 levels: the largest and
  the mean absolute difference from float32's over the golden gradient and ``count - 1``
  fixed smooth random inputs."""
  import jax
  from PIL import Image
  lr = config.data.lr_size
  rng = np.random.default_rng(0)
  inputs = [generators.golden_input(lr)] + [
      np.asarray(Image.fromarray(rng.integers(0, 256, (lr // 4, lr // 4, 3), np.uint8)).resize(
          (lr, lr), Image.Resampling.BICUBIC)) for _ in range(count - 1)]
  lr_batch = np.stack(inputs).astype(np.float32) / 127.5 - 1.0
  if config.data.grayscale_input:
    lr_batch = lr_batch.mean(-1, keepdims=True)
  as_stored = {'params': jax.tree.map(lambda x: np.asarray(x, np.float16).astype(np.float32),
                                      variables['params']),
               'batch_stats': variables['batch_stats']}
  sample = jax.jit(inference.make_sampler(config))
  outputs = [np.asarray(sample(v, lr_batch)['out_sharp']) for v in (variables, as_stored)]
  difference = np.abs(outputs[0] - outputs[1]) * 127.5
  return {'max': float(difference.max()), 'mean': float(difference.mean()), 'inputs': count}


def pack_checkpoint(checkpoint: str, name: str, description: str = '', trained: bool = False,
                    output: str | None = None, overwrite: bool = False) -> Packed:
  """Writes ``checkpoint``'s generator (a run's workdir, its latest step, or one
  ``checkpoints/<step>`` folder) as ``output`` (default: the package's ``models/NAME.npz``),
  never over a file that is there unless ``overwrite``. The moving average where the run
  keeps one, unless ``trained``."""
  import jax
  path = files.check_new(Path(output) if output else generators.MODELS_DIR / f'{name}.npz',
                         overwrite, '--output')
  config, variables, step = inference.load_generator(
      checkpoint=checkpoint, device=jax.devices('cpu')[0], average=not trained)
  variables = jax.device_get(variables)
  workdir = checkpointing.split_checkpoint_path(checkpoint)[0]
  packed = 'average' if checkpointing.keeps_average(config.to_dict()) else 'trained'
  info = {'name': name, 'description': description, 'generator': packed}
  if config.model.generator_init:
    info['started_from'] = generators.lineage(config.model.generator_init)
    info['steps_in_all'] = info['started_from']['steps_in_all'] + step
  metrics = workdir / 'eval' / str(step) / 'metrics.json'
  if metrics.is_file():
    evaluation = json.loads(metrics.read_text())
    if evaluation.get('generator', 'trained') == packed:  # the step's scores are of this one
      info['evaluation'] = evaluation
  info['float16_error'] = float16_error(config, variables)
  sha256 = generators.pack(variables, config.to_dict(), step, path, overwrite=overwrite, **info)
  return Packed(path, sha256, step, packed, info)
