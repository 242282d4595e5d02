"""Training the aligner (:mod:`jfsr.aligner`; the command is ``python -m jfsr.aligner``).

:func:`train` renders the examples once (``DIR/examples.npz``, read back on a rerun; a
workdir holds one config, ``DIR/config.json``), trains with AdamW on a cosine schedule,
keeps orbax checkpoints of the parameters and optimizer state (a killed run resumes from
the last one; each step's batch is drawn from ``(seed, step)``, so the resumed run is
the one that would have run), and writes ``DIR/aligner.npz``: the parameters with the
config, the steps and the held-out error (root-mean-square distance of the template's
points and the input's corners from where the true alignment puts them, in model-input
pixels, before and after one correction).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
from absl import logging

from jfsr.errors import UsageError

_TRUTHS: list = []


def pictures(config, split: str) -> list[np.ndarray]:
  """The aligned pictures of ``split``: 'train' (the layout's training split and the extra
  folder from ``extra_first_index``) or 'held_out' (the extra folder before it)."""
  from jfsr.data import sources
  from jfsr.data.synthetic import SyntheticFaces
  d = config.data
  if d.source == 'synthetic':
    start = 0 if split == 'train' else d.num_train
    count = d.num_train if split == 'train' else max(4, d.num_train // 4)
    source = SyntheticFaces(count, d.hr_size, config.seed, offset=start)
    return [source[i]['hr'] for i in range(len(source))]
  if split == 'held_out':
    folder = sources.FaceFolder(d.extra_root, d.hr_size, 0, d.extra_first_index, 'raise')
    return [folder[i]['hr'] for i in range(len(folder))]
  layout = sources.CelebAMaskHQ(d.root, range(d.num_train), d.hr_size, ('skin',), 'skip')
  folder = sources.FaceFolder(d.extra_root, d.hr_size, d.extra_first_index, None, 'skip')
  return ([layout[i]['hr'] for i in range(len(layout))]
          + [folder[i]['hr'] for i in range(len(folder))])


def check_data(config) -> None:
  """A clear error for a config that names no data to train on."""
  d = config.data
  if d.source != 'synthetic' and (not d.root or not d.extra_root):
    raise UsageError('the aligner trains on --config.data.root (a CelebAMask-HQ layout) and '
                     '--config.data.extra_root (a folder of aligned faces, its first '
                     'extra_first_index held out); give both')


def _keep_truths(truths):
  _TRUTHS[:] = truths


def _render(job):
  from jfsr.aligner import samples
  indices, spec, seed = job
  return samples.examples(_TRUTHS, indices, spec, seed)


def render(truths, count: int, spec, seed: int, workers: int, what: str
           ) -> tuple[np.ndarray, np.ndarray]:
  """``count`` frames' examples, rendered by ``workers`` processes (0: this one)."""
  chunks = [(range(start, min(count, start + 500)), spec, seed)
            for start in range(0, count, 500)]
  results = []
  started = time.time()
  if workers:
    context = multiprocessing.get_context('spawn')
    with context.Pool(workers, initializer=_keep_truths, initargs=(truths,)) as pool:
      for done, result in enumerate(pool.imap(_render, chunks), 1):
        results.append(result)
        logging.info('%s: %d of %d frames rendered (%.0f s)', what,
                     min(count, done * 500), count, time.time() - started)
  else:
    _keep_truths(truths)
    results = [_render(chunk) for chunk in chunks]
  return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])


def examples(config, workdir: Path):
  """The training and held-out examples, rendered or read back from ``workdir``."""
  from jfsr.aligner import samples
  path = workdir / 'examples.npz'
  names = ('train_crops', 'train_targets', 'held_crops', 'held_targets')
  if path.is_file():
    try:
      with np.load(path, allow_pickle=False) as saved:
        logging.info('examples read back from %s', path)
        return {name: saved[name] for name in names}
    except (OSError, ValueError, KeyError) as error:
      raise UsageError(f'{path} cannot be read ({error}); delete it to render the examples '
                       'again') from None
  spec = samples.SampleSpec.from_config(config)
  workers = config.train.workers
  train = render(pictures(config, 'train'), config.data.frames, spec, config.seed, workers,
                 'training')
  held = render(pictures(config, 'held_out'), config.data.held_out_frames, spec,
                config.seed + 1, workers, 'held out')
  arrays = dict(zip(names, (*train, *held)))
  partial = path.with_suffix('.partial.npz')
  np.savez(partial, **arrays)
  partial.replace(path)
  return arrays


def check_workdir(config, workdir: Path) -> None:
  """``workdir`` made for ``config``, or a clear error where another config began it (its
  examples and checkpoints belong to that one)."""
  path = workdir / 'config.json'
  given = json.dumps(config.to_dict(), sort_keys=True, indent=1)
  if path.is_file() and path.read_text() != given:
    raise UsageError(f'{workdir} was begun with another config ({path}); give a new --workdir '
                     'or the same config')
  workdir.mkdir(parents=True, exist_ok=True)
  path.write_text(given)


def rms_error(predicted: np.ndarray, target: np.ndarray) -> float:
  """Root-mean-square distance of the moved points (model-input pixels)."""
  from jfsr.aligner import model
  return float(np.sqrt(model.point_loss(predicted, target)))


def train(config, workdir: str) -> dict:
  """Trains as the module says; returns the held-out figures."""
  import jax
  import jax.numpy as jnp
  import optax
  import orbax.checkpoint as ocp
  from jfsr.aligner import model

  check_data(config)
  workdir = Path(workdir).expanduser().resolve()
  check_workdir(config, workdir)
  data = examples(config, workdir)
  crops, targets = data['train_crops'], data['train_targets']
  logging.info('%d training examples, %d held out', len(crops), len(data['held_crops']))
  network = model.AlignerNet(tuple(config.model.widths), config.model.hidden)
  t = config.train
  schedule = optax.warmup_cosine_decay_schedule(0.0, t.learning_rate, min(200, t.num_steps // 10),
                                                t.num_steps)
  optimizer = optax.adamw(schedule, weight_decay=t.weight_decay)
  params = network.init(jax.random.key(config.seed),
                        jnp.zeros((1, model.CROP, model.CROP, 3)))['params']
  state = {'params': params, 'opt_state': optimizer.init(params)}

  def loss_fn(params, batch_crops, batch_targets):
    predicted = network.apply({'params': params}, batch_crops.astype(jnp.float32) / 255.0)
    return model.point_loss(predicted, batch_targets)

  @jax.jit
  def step_fn(state, batch_crops, batch_targets):
    loss, grads = jax.value_and_grad(loss_fn)(state['params'], batch_crops, batch_targets)
    updates, opt_state = optimizer.update(grads, state['opt_state'], state['params'])
    return {'params': optax.apply_updates(state['params'], updates),
            'opt_state': opt_state}, loss

  predict = jax.jit(lambda params, x: network.apply({'params': params},
                                                     x.astype(jnp.float32) / 255.0))

  def held_out_error(params) -> float:
    held, truth = data['held_crops'], data['held_targets']
    out = np.concatenate([np.asarray(predict(params, held[i:i + 256]))
                          for i in range(0, len(held), 256)])
    return rms_error(out, truth)

  manager = ocp.CheckpointManager(workdir / 'checkpoints',
                                  options=ocp.CheckpointManagerOptions(max_to_keep=2))
  first = 0
  if manager.latest_step() is not None:
    first = manager.latest_step()
    state = manager.restore(first, args=ocp.args.StandardRestore(state))
    logging.info('resumed from step %d', first)
  started, losses = time.time(), []
  for step in range(first, t.num_steps):
    pick = np.random.default_rng([config.seed, step]).integers(0, len(crops), t.batch_size)
    state, loss = step_fn(state, crops[pick], targets[pick])
    losses.append(float(loss))
    done = step + 1
    if done % t.log_every_steps == 0 or done == t.num_steps:
      logging.info('step %d/%d: training RMS %.3f px, held out %.3f px (%.2f s/step)', done,
                   t.num_steps, np.sqrt(np.mean(losses)), held_out_error(state['params']),
                   (time.time() - started) / len(losses))
      started, losses = time.time(), []
    if done % t.checkpoint_every_steps == 0 or done == t.num_steps:
      manager.save(done, args=ocp.args.StandardSave(state))
  manager.wait_until_finished()
  figures = {'held_out_rms_px_before': rms_error(np.zeros_like(data['held_targets']),
                                                 data['held_targets']),
             'held_out_rms_px_after': held_out_error(state['params']),
             'held_out_examples': int(len(data['held_crops']))}
  meta = {'config': config.to_dict(), 'steps': t.num_steps, 'held_out': figures}
  sha = model.save({'params': jax.device_get(state['params'])}, meta, workdir / 'aligner.npz')
  logging.info('wrote %s (SHA-256 %s): held-out RMS %.3f -> %.3f px', workdir / 'aligner.npz',
               sha, figures['held_out_rms_px_before'], figures['held_out_rms_px_after'])
  return figures
