"""The training loop: set up, restore, step, log, save. Read top to bottom.

``train_and_evaluate(config, workdir)`` trains until ``train.num_steps`` (or
``train.num_epochs``) and resumes by itself from the latest checkpoint in
``workdir/checkpoints``: the state, the RNG and the data iterator are saved
together, so a killed run continues exactly where its last checkpoint left it.
"""

from __future__ import annotations

import functools
import math
import os
import signal
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from etils import epath

from jfsr import (checkpointing, config_loading, distributed, evaluate, files, gan_balance, grids,
                  host_memory, inference, models, train_step)
from jfsr.data import pipeline
from jfsr.models import growth
from jfsr.errors import NonFiniteLossError, WorkdirError
from jfsr.pretrained import vgg_weights
from jfsr.train_state import TrainState, create_train_state, fresh_average, generator_variables

NUM_SAMPLE_IMAGES = 8


def prepare_workdir(workdir: str) -> epath.Path:
  """Creates ``workdir`` and any missing parents: a local folder or a bucket path such as
  ``gs://bucket/run`` (multi-host runs share one). A local path that is a file, or that
  runs through one, or a folder that cannot be written, is refused with one line."""
  if '://' in workdir:
    path = epath.Path(workdir)
    if jax.process_index() == 0:
      path.mkdir(parents=True, exist_ok=True)
    return path
  path = Path(workdir).expanduser().absolute()
  blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
  if blocking is not None:
    where = '' if blocking == path else f' ({blocking} is a file)'
    raise WorkdirError(f'--workdir {workdir} is not a directory{where}; choose another --workdir')
  try:
    path.mkdir(parents=True, exist_ok=True)
  except OSError as error:
    raise WorkdirError(f'--workdir {workdir} cannot be created: {error.strerror}') from None
  if not os.access(path, os.W_OK | os.X_OK):
    raise WorkdirError(f'--workdir {workdir} is not writable; choose another --workdir')
  return epath.Path(path)


def check_finite(step: int, metrics: dict[str, float]) -> None:
  bad = [name for name, value in metrics.items() if not math.isfinite(value)]
  if bad:
    raise NonFiniteLossError(
        f'step {step}: non-finite {", ".join(f"{n}={metrics[n]}" for n in bad)}; training stopped '
        'before saving this state (the last checkpoint is intact); lower optimizer.learning_rate '
        'or the loss weights')


def summarize(interval: list[dict[str, float]]) -> dict[str, float]:
  """Mean of each metric over the steps of a logging interval that report it.

  Steps report different terms when the local discriminator joins mid-interval.
  """
  names = {name for metrics in interval for name in metrics}
  return {name: float(np.mean([m[name] for m in interval if name in m])) for name in names}


def make_sampler(config: ml_collections.ConfigDict):
  """The jitted eval-mode generator: ``(variables, lr, rng) -> outputs``."""
  return jax.jit(inference.make_sampler(config))


def sample_grid(config, sample, state: TrainState, batch, sharding) -> np.ndarray:
  """LR | bicubic | blurred-HR prediction | output | target, one row per example.

  ``sharding`` is the replicated sharding of the state: every process passes the
  same ``batch`` and gets the whole grid back.
  """
  lr_global = jax.make_array_from_process_local_data(sharding, np.asarray(batch['lr']))
  outputs = jax.device_get(sample(generator_variables(state), lr_global, jax.random.key(0)))
  size = config.data.hr_size
  lr = grids.to_uint8(batch['lr'])
  bicubic = jax.image.resize(jnp.asarray(batch['lr']), (lr.shape[0], size, size, lr.shape[-1]),
                             'bicubic')
  columns = [grids.upscale_nearest(lr, size), grids.to_uint8(bicubic),
             grids.to_uint8(outputs['out_blur']), grids.to_uint8(outputs['out_sharp']),
             grids.to_uint8(batch['hr'])]
  return grids.grid(columns)


def start_generator_from(name_or_path: str, state: TrainState, sharding) -> TrainState:
  """``state`` with the generator's parameters and BatchNorm statistics of a shipped model
  (and its moving average, where the run keeps one, starting there too). A model for half
  this config's sizes (one U-Net level fewer) is grown into it (``jfsr.models.growth``)."""
  from jfsr.pretrained import generators
  _, variables, meta = generators.load(name_or_path)
  ours = jax.device_get(state.generator.variables)
  how = ''
  try:
    if growth.num_levels(variables) + 1 == growth.num_levels(ours):
      variables = growth.grow_one_level(variables, ours)
      how = f', grown from {growth.num_levels(ours) - 1} U-Net levels to {growth.num_levels(ours)}'
  except ValueError as error:
    raise WorkdirError(f'model.generator_init={name_or_path}: {error}') from None
  if jax.tree.map(np.shape, ours) != jax.tree.map(np.shape, variables):
    raise WorkdirError(f'model.generator_init={name_or_path}: its generator (trained as variant '
                       f'{meta["config"].get("variant")}, model {meta["config"].get("model")}) does '
                       'not have the shapes of this config\'s; match data sizes and model widths')
  variables = jax.device_put(variables, sharding)
  logging.info('generator from %s (its step %d%s); discriminators and optimizers fresh',
               name_or_path, meta['step'], how)
  state = state.replace(generator=state.generator.replace(
      params=variables['params'], batch_stats=variables['batch_stats']))
  return fresh_average(state) if state.generator_ema is not None else state


class StopRequest:
  """SIGTERM (``launch/``'s stop, a cloud's preemption notice, ``kill``) and SIGINT (Ctrl-C)
  as a request to save and stop after the current step, instead of dying with the steps
  since the last checkpoint. A second SIGINT stops at once (KeyboardInterrupt), for when
  the save itself is not wanted.

  ``agreed(step)`` is true on every process once any process has received it, so that all
  of them save the same step and stop together. With several processes that takes a
  blocking all-gather, which would hold every step's dispatch back, so they compare notes
  every :attr:`check_every` steps only (all on the same steps); one process reads its own
  flag at every step.
  """

  check_every = 10

  def __init__(self):
    self.received: int | None = None
    self._previous = {signum: signal.signal(signum, self._handle)
                      for signum in (signal.SIGTERM, signal.SIGINT)}

  def _handle(self, signum, frame) -> None:
    del frame
    if signum == signal.SIGINT and self.received == signal.SIGINT:
      raise KeyboardInterrupt
    if self.received is None and signum == signal.SIGINT:
      logging.warning('Ctrl-C: saving a checkpoint at the end of this step, then stopping; '
                      'Ctrl-C again stops at once without it')
    self.received = signum

  @property
  def name(self) -> str:
    return signal.Signals(self.received).name if self.received else ''

  def agreed(self, step: int) -> bool:
    flag = self.received is not None
    if jax.process_count() > 1:
      if step % self.check_every:
        return False
      from jax.experimental import multihost_utils
      flag = bool(np.max(multihost_utils.process_allgather(np.int32(flag))))
    return flag

  def restore(self) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)


def set_aside_broken(mngr, error) -> None:
  """Moves a checkpoint that cannot be read aside (kept), saying so."""
  kept = checkpointing.set_aside(mngr, error.step)
  logging.warning('%s. It is kept as %s', error, kept)


def readable_latest(mngr, config: ml_collections.ConfigDict, workdir
                    ) -> tuple[int | None, dict | None]:
  """``(step, saved config)`` of the newest checkpoint whose config reads and fits this run
  (older ones when newer ones are broken, which are set aside), or ``(None, None)``."""
  while (latest := mngr.latest_step()) is not None:
    try:
      return latest, checkpointing.check_compatible(mngr, latest, config, workdir)
    except checkpointing.BrokenCheckpointError as error:
      set_aside_broken(mngr, error)
  return None, None


def log_setup(config: ml_collections.ConfigDict, writer) -> None:
  """The networks' sizes, the host allocator, the devices and the activations' dtype."""
  counts = models.parameter_counts(config)
  logging.info('parameters: %s', ', '.join(f'{k} {v:,}' for k, v in counts.items()))
  logging.info('host allocator: %s', host_memory.decision())
  backend = jax.default_backend()
  logging.info('devices: %d x %s over %d process(es); activations in %s, the perceptual '
               'network\'s in %s', jax.device_count(), jax.devices()[0].device_kind,
               jax.process_count(), config_loading.compute_dtype(config, backend).name,
               config_loading.perceptual_dtype(config, backend).name)
  writer.write_hparams({f'parameters/{k}': v for k, v in counts.items()})


def initial_state(config: ml_collections.ConfigDict, workdir, mngr, latest: int | None,
                  saved_config: dict | None, train_iter, replicated):
  """``(state, train_iter)`` to train on: fresh (or from ``model.generator_init``) when no
  checkpoint can be read, else the ``latest`` one restored with its data iterator (a broken
  checkpoint is set aside and the one before it tried), its generator's moving average
  kept, started or dropped as this config says."""
  key = jax.random.PRNGKey(config.seed)
  init_state = functools.partial(create_train_state, config)
  abstract_state = jax.eval_shape(init_state, key)
  if latest is None:
    state = jax.jit(init_state, out_shardings=replicated)(key)
    if config.model.generator_init:
      state = start_generator_from(config.model.generator_init, state, replicated)
    logging.info('starting from %s in %s', config.model.generator_init or 'scratch', workdir)
    return state, train_iter
  # Restored as saved, with or without an average; then this config's choice.
  while True:
    saved_average = checkpointing.keeps_average(saved_config)
    restoring = (jax.eval_shape(fresh_average, abstract_state) if saved_average
                 else abstract_state.replace(generator_ema=None))
    try:
      state, iterator_restored = checkpointing.restore(mngr, latest, restoring, train_iter,
                                                       replicated)
      break
    except checkpointing.BrokenCheckpointError as error:
      set_aside_broken(mngr, error)
      latest, saved_config = readable_latest(mngr, config, workdir)
      if latest is None:
        raise WorkdirError(f'no checkpoint in {workdir} can be read ({error}); move '
                           'checkpoints/ aside to start afresh') from None
  if config.train.ema_decay > 0 and not saved_average:
    state = fresh_average(state)
    logging.info('the generator\'s moving average (train.ema_decay=%g) starts at the restored '
                 'generator of step %d', config.train.ema_decay, latest)
  elif saved_average and config.train.ema_decay == 0:
    state = state.replace(generator_ema=None)
    logging.warning('train.ema_decay=0: the saved moving average of the generator is dropped; '
                    'from now on the run evaluates and saves the trained generator itself')
  if not iterator_restored:
    train_iter = iter(pipeline.make_train_dataset(
        config, jax.process_index(), jax.process_count(), start_batch=latest))
  logging.info('resumed from the checkpoint of step %d', latest)
  return state, train_iter


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> TrainState:
  """Trains the model of ``config``, writing checkpoints and logs under ``workdir``."""
  # --- Setup: refusals first, before anything is written or heavy is loaded --
  workdir, mngr, latest, saved_config = open_run(config, workdir)
  # Imported once the run goes ahead: clu's writers pull in TensorFlow (~4 s).
  from clu import periodic_actions

  is_chief = jax.process_index() == 0
  mesh = train_step.make_mesh()
  replicated = train_step.replicated(mesh)
  batch_sharding = train_step.batch_sharding(mesh)
  writer = evaluate.tensorboard_writer(workdir)

  log_setup(config, writer)

  vgg_params = jax.device_put(vgg_weights.perceptual_params(config), replicated)
  train_iter = iter(pipeline.make_train_dataset(config, jax.process_index(), jax.process_count()))
  eval_batch = pipeline.make_eval_batch(config, NUM_SAMPLE_IMAGES)
  sample = make_sampler(config)

  # --- Initial state, or resume ----------------------------------------------
  state, train_iter = initial_state(config, workdir, mngr, latest, saved_config, train_iter,
                                    replicated)

  evaluator = evaluate.Evaluator(config, replicated) if config.eval.every_steps else None
  num_steps = config_loading.total_steps(config)
  local_d_start = config.loss.local_d_start_epoch * config_loading.steps_per_epoch(config)
  steps = {use: train_step.make_train_step(config, mesh, use) for use in (False, True)}
  report_progress = periodic_actions.ReportProgress(num_train_steps=num_steps, writer=writer)

  # --- Loop (metrics read one step late: MetricsQueue) -----------------------
  first_step = int(jax.device_get(state.step))
  metrics_queue = MetricsQueue()
  images_per_step = config.train.batch_size
  # Throughput counts the steps alone: the time each interval spent on samples,
  # evaluations and checkpoints (``periodic_s``) is taken out, and ``data_wait_s`` is how
  # long the host waited for batches. The ETA counts everything, over the whole run so far.
  run_start = interval_start = time.perf_counter()
  periodic_s = data_wait_s = 0.0

  stop = StopRequest()
  margin_watch = gan_balance.MarginWatch()
  margin_reader = gan_balance.MarginReader(workdir)
  for step in range(first_step + 1, num_steps + 1):
    before_batch = time.perf_counter()
    local_batch = next(train_iter)
    data_wait_s += time.perf_counter() - before_batch
    batch = jax.make_array_from_process_local_data(batch_sharding, local_batch)
    use_local_d = config.model.use_local_d and step > local_d_start
    state, metrics = steps[use_local_d](state, batch, vgg_params)
    metrics_queue.push(step, metrics)
    report_progress(step)

    if step % config.train.log_every_steps == 0 or step == num_steps:
      now = time.perf_counter()
      summary = interval_summary(metrics_queue.take_interval(), images_per_step,
                                 now - interval_start - periodic_s, data_wait_s,
                                 config.optimizer.learning_rate)
      writer.write_scalars(step, summary)
      log_progress(step, num_steps, summary, (now - run_start) / (step - first_step))
      checkpointing.check_saved(mngr, mngr.latest_step())  # a save failed in the background?
      for message in margin_watch.update(step, summary):
        logging.info('GAN balance: %s', message)
      interval_start, periodic_s, data_wait_s = now, 0.0, 0.0

    last = step == num_steps
    sampling = step % config.train.image_every_steps == 0 or last
    evaluating = evaluator is not None and (step % config.eval.every_steps == 0 or last)
    saving = step % config.train.checkpoint_every_steps == 0 or last
    if sampling or evaluating or saving:
      metrics_queue.drain()  # the step finishes on the steps' clock, not the periodic work's
    periodic_start = time.perf_counter()
    if sampling:
      write_samples(sample_grid(config, sample, state, eval_batch, replicated), step, workdir,
                    writer, is_chief)

    if evaluating:
      results, grid = evaluator.run(generator_variables(state))
      evaluate.report(writer, workdir, step, results, grid, config,
                      'trained' if state.generator_ema is None else 'average', margin_reader)

    stopping = stop.agreed(step)
    if saving or stopping:
      metrics_queue.drain()
      checkpointing.check_saved(mngr, mngr.latest_step())  # the previous save, in the background
      checkpointing.save(mngr, step, state, train_iter, config)
    periodic_s += time.perf_counter() - periodic_start
    if stopping:
      checkpointing.check_saved(mngr, step, wait=True)
      logging.warning('%s received: saved the checkpoint of step %d in %s and stopped; the '
                      'same command resumes from it', stop.name, step, workdir)
      break

  stop.restore()
  close_run(mngr, writer)
  if stop.received == signal.SIGINT:
    raise SystemExit(130)  # as a shell reports a command that Ctrl-C stopped
  if is_chief and stop.received is None:
    logging.info('%s', finished_message(workdir, num_steps, evaluator is not None))
  return state


def open_run(config: ml_collections.ConfigDict, workdir: str):
  """``(workdir, checkpoint manager, latest readable step or None, its saved config)``,
  after the checks that refuse a run before anything is written: the config, the same
  config on every process, the workdir; unfinished saves of a stopped run are removed."""
  config_loading.validate(config, jax.device_count())
  distributed.check_same_config(config)
  workdir = prepare_workdir(workdir)
  for stale in checkpointing.remove_unfinished(workdir):
    logging.warning('removed %s: an unfinished checkpoint save of a run that was stopped', stale)
  mngr = checkpointing.manager(workdir, config.train.max_checkpoints_to_keep)
  latest, saved_config = readable_latest(mngr, config, workdir)
  return workdir, mngr, latest, saved_config


def close_run(mngr, writer) -> None:
  """Waits for the last checkpoint save (a failed one is an error) and flushes the logs."""
  checkpointing.check_saved(mngr, mngr.latest_step(), wait=True)
  mngr.close()
  writer.flush()


def write_samples(grid: np.ndarray, step: int, workdir, writer, is_chief: bool) -> None:
  """The sample grid of ``step`` to TensorBoard and, on the chief, to ``samples/``."""
  writer.write_images(step, {'samples/lr_bicubic_blur_output_target': grid[None]})
  if is_chief:
    (workdir / 'samples').mkdir(exist_ok=True)
    files.write_data(workdir / 'samples' / f'step_{step:07d}.png', files.encoded(grid))


class MetricsQueue:
  """A step's metrics, read one step late so that the host never waits for the step it has
  just dispatched; each read is checked (a non-finite loss stops the run before any state
  is saved) and kept for the logging interval."""

  def __init__(self):
    self.pending, self.interval = None, []

  def push(self, step: int, metrics: dict) -> None:
    self.drain()
    self.pending = (step, metrics)

  def drain(self) -> None:
    """Reads the pending step's metrics, if any."""
    if self.pending is None:
      return
    step, metrics = self.pending
    host = {k: float(v) for k, v in jax.device_get(metrics).items()}
    check_finite(step, host)
    self.interval.append(host)
    self.pending = None

  def take_interval(self) -> list[dict]:
    """Every step's metrics since the last call, the pending one included."""
    self.drain()
    interval, self.interval = self.interval, []
    return interval


def interval_summary(interval: list[dict], images_per_step: int, stepping_s: float,
                     data_wait_s: float, learning_rate: float) -> dict[str, float]:
  """A logging interval's mean metrics, images/s over the steps' own time, and the share
  of it spent waiting for data."""
  summary = summarize(interval)
  summary['images_per_sec'] = len(interval) * images_per_step / stepping_s
  summary['data_wait_share'] = data_wait_s / stepping_s
  summary['learning_rate'] = learning_rate
  return summary


def log_progress(step: int, num_steps: int, summary: dict, seconds_per_step: float) -> None:
  remaining_s = (num_steps - step) * seconds_per_step
  logging.info('step %d/%d: g_loss %.4f, d_loss %.4f, %.2f images/s (%.0f%% of the time '
               'waiting for data), ETA %dh%02dm', step, num_steps, summary['g_loss'],
               summary.get('d_loss', float('nan')), summary['images_per_sec'],
               100 * summary['data_wait_share'], remaining_s // 3600, remaining_s % 3600 // 60)


def finished_message(workdir, num_steps: int, evaluated: bool) -> str:
  """What a finished run leaves in its workdir, and the commands that use it."""
  made = [f'checkpoints/{num_steps} (the generator, discriminators, optimizers, data position)',
          'samples/ (LR | bicubic | blurred | output | target grids)',
          'TensorBoard events']
  if evaluated:
    made += [f'eval/{num_steps}/ (metrics against bicubic)', 'curves.png']
  return (f'done: {num_steps} steps in {workdir}: ' + ', '.join(made) + '. Next:\n'
          f'  python -m jfsr.evaluate --workdir {workdir}        # score it against bicubic\n'
          f'  python -m jfsr.restore --checkpoint {workdir} --input PHOTO --output OUT\n'
          f'  tensorboard --logdir {workdir}')
