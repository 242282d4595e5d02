"""One orbax checkpoint per save: the train state, the data iterator and the config; and
reading a run's checkpoints back (which steps it holds, its config, its networks)."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import grain
import jax
from absl import logging
import ml_collections
import orbax.checkpoint as ocp
from etils import epath
from jax.sharding import NamedSharding

from jfsr import config_loading, models
from jfsr.errors import JfsrError, WorkdirError


class CheckpointSaveError(JfsrError):
  """A checkpoint could not be written (disk full, folder gone, ...)."""


class BrokenCheckpointError(WorkdirError):
  """A checkpoint on disk cannot be read: a file of it is truncated, zeroed or missing."""
  exit_at_once = True

  def __init__(self, message: str, step: int):
    super().__init__(message)
    self.step = step


def _without_closed_loop_noise(hook):
  """``hook`` (``sys.unraisablehook``) silent about 'Event loop is closed': when a checkpoint
  read fails, TensorStore's callbacks still try to reach orbax's finished event loop, and
  each would print that traceback."""
  def quiet(unraisable):
    value = unraisable.exc_value
    if isinstance(value, RuntimeError) and 'Event loop is closed' in str(value):
      return
    hook(unraisable)
  return quiet


@contextlib.contextmanager
def reading(mngr: ocp.CheckpointManager, step: int, part: str):
  """Turns any failure to read ``part`` of checkpoint ``step`` into one
  :class:`BrokenCheckpointError` line (TensorStore's and orbax's errors run to many)."""
  import sys
  previous = sys.unraisablehook
  sys.unraisablehook = _without_closed_loop_noise(previous)
  try:
    yield
    sys.unraisablehook = previous  # after a failure the noise outlives the read: kept quiet
  except JfsrError:
    raise
  except Exception as error:  # orbax, TensorStore, JSON and OS errors alike
    reason = ' '.join(str(error).split())
    reason = reason if len(reason) < 160 else reason[:157] + '...'
    older = sorted(s for s in mngr.all_steps() if s < step)[-3:]
    hint = (f'older checkpoints: {", ".join(map(str, older))} (training with the same '
            '--workdir sets this one aside and resumes from the newest that reads)' if older
            else 'there is no older checkpoint')
    raise BrokenCheckpointError(f'the checkpoint of step {step} in {mngr.directory} cannot be '
                                f'read: its {part} is damaged or missing ({reason}); {hint}',
                                step) from None


def set_aside(mngr: ocp.CheckpointManager, step: int) -> epath.Path:
  """Renames checkpoint ``step`` to ``STEP.broken`` (kept, never deleted; no longer a step
  of the run) and returns the new path."""
  source = epath.Path(mngr.directory) / str(step)
  target = source.parent / f'{step}.broken'
  index = 1
  while target.exists():
    index += 1
    target = source.parent / f'{step}.broken{index}'
  source.rename(target)
  mngr.reload()
  return target


def manager(workdir: str | epath.Path, max_to_keep: int | None,
            create: bool = True) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=create)
  # Handlers registered up front let the manager read an item's metadata before restoring it.
  handlers = {'state': ocp.PyTreeCheckpointHandler(),
              'data': grain.checkpoint.CheckpointHandler(),
              'config': ocp.JsonCheckpointHandler()}
  return ocp.CheckpointManager(epath.Path(workdir) / 'checkpoints', options=options,
                               item_handlers=handlers)


def remove_unfinished(workdir: str | epath.Path) -> list[epath.Path]:
  """Removes the temporary folders of checkpoint saves that never finished (a run killed
  while saving) from ``workdir/checkpoints``; returns them."""
  folder = epath.Path(workdir) / 'checkpoints'
  stale = sorted(folder.glob('*.orbax-checkpoint-tmp*')) if folder.is_dir() else []
  for path in stale:
    path.rmtree() if path.is_dir() else path.unlink()
  return stale


def check_saved(mngr: ocp.CheckpointManager, step: int | None, wait: bool = False) -> None:
  """Raises :class:`CheckpointSaveError` (one line) if a save running in the background
  failed; ``wait`` first waits for the running save to finish."""
  try:
    if wait:
      mngr.wait_until_finished()
    mngr.check_for_errors()
  except Exception as error:  # orbax and TensorStore raise many kinds
    reason = getattr(error, 'strerror', None) or ' '.join(str(error).split())[:300]
    raise CheckpointSaveError(
        f'saving the checkpoint of step {step} in {mngr.directory} failed ({reason}); '
        'training stopped. The checkpoints saved before it are kept: make room (or mend the '
        'folder) and run the same command to resume from the latest of them') from None


def save(mngr: ocp.CheckpointManager, step: int, state, data_iterator,
         config: ml_collections.ConfigDict) -> None:
  mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.PyTreeSave(state),
      data=grain.checkpoint.CheckpointSave(data_iterator),
      config=ocp.args.JsonSave(config.to_dict())))


def saved_config_dict(mngr: ocp.CheckpointManager, step: int) -> dict:
  """The config saved with checkpoint ``step``, as the JSON dict it was written as."""
  with reading(mngr, step, 'config'):
    saved = mngr.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))['config']
    if not isinstance(saved, dict):
      raise ValueError('not a config record')
    return saved


def check_compatible(mngr: ocp.CheckpointManager, step: int,
                     config: ml_collections.ConfigDict, workdir) -> dict:
  """Stops with a one-line error if the saved state cannot hold this config's networks;
  returns the config saved with checkpoint ``step`` (a dict)."""
  saved = saved_config_dict(mngr, step)
  ours = config_loading.state_signature(config.to_dict())
  theirs = config_loading.state_signature(saved)
  differences = [f'{k}: {theirs[k]!r} saved, {ours[k]!r} now' for k in ours if ours[k] != theirs[k]]
  if differences:
    raise WorkdirError(f'--workdir {workdir} holds checkpoints of another model '
                       f'({"; ".join(differences)}); use a fresh --workdir, or the saved config')
  return saved


def keeps_average(config_dict: dict) -> bool:
  """Whether a (saved) config's run keeps a moving average of its generator (older runs,
  saved before ``train.ema_decay`` existed, keep none)."""
  return config_dict.get('train', {}).get('ema_decay', 0) > 0


def restore(mngr: ocp.CheckpointManager, step: int, abstract_state, data_iterator,
            sharding: NamedSharding):
  """Restores the state (placed with ``sharding``) and rewinds ``data_iterator``.

  Returns ``(state, iterator_restored)``. grain's saved iterator state depends on
  the number of worker processes; when it does not fit this run's iterator (the
  run resumed with another ``data.num_workers``), the state is still restored
  and ``iterator_restored`` is False: the caller repositions the data by step.
  """
  target = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
                        abstract_state)
  # A state saved before a field existed lacks it: restore the fields it has, by name.
  with reading(mngr, step, 'state'):
    on_disk = mngr.item_metadata(step)['state']
  fields = {f.name: getattr(target, f.name) for f in dataclasses.fields(target)}
  absent = {name for name in fields if name not in on_disk}
  if any(fields[name] is not None for name in absent):
    raise WorkdirError(f'the checkpoint of step {step} in {mngr.directory} has no '
                       f'{", ".join(sorted(absent))}, which this run needs')
  present = {name: value for name, value in fields.items() if name not in absent}
  with reading(mngr, step, 'state'):
    restored = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
        item=present, restore_args=ocp.checkpoint_utils.construct_restore_args(present))))['state']
  state = target.replace(**restored)
  try:
    mngr.restore(step, args=ocp.args.Composite(
        data=grain.checkpoint.CheckpointRestore(data_iterator)))
  except Exception as error:  # another worker count's state, or a damaged file
    logging.warning('the saved data-iterator state does not fit this run or cannot be read '
                    '(%s; another data.num_workers, or a damaged file); repositioning the data '
                    'by step instead', ' '.join(str(error).split())[:200])
    return state, False
  return state, True


def reads_average(config: ml_collections.ConfigDict, workdir, step: int) -> bool:
  """Whether checkpoint ``step`` of ``workdir`` gives its generator as the moving average:
  when its run kept one, unless ``config.train.ema_decay`` (the reader's) is 0."""
  if config.train.ema_decay == 0:
    return False
  return keeps_average(saved_config_dict(manager(workdir, max_to_keep=None, create=False), step))


def split_checkpoint_path(path: str | Path) -> tuple[Path, int | None]:
  """``WORKDIR`` or ``WORKDIR/checkpoints/STEP`` -> ``(WORKDIR, STEP or None)``."""
  path = Path(path).expanduser()
  if path.name.isdigit() and path.parent.name == 'checkpoints':
    return path.parent.parent, int(path.name)
  if path.name == 'checkpoints':
    return path.parent, None
  return path, None


def resolve_steps(workdir, steps: list[int] | None = None) -> list[int]:
  """``steps`` (default: the latest) after checking that ``workdir`` holds each checkpoint."""
  workdir = epath.Path(workdir)
  available = []
  if (workdir / 'checkpoints').is_dir():
    available = list(manager(workdir, max_to_keep=None, create=False).all_steps())
  if not available:
    raise WorkdirError(f'{workdir} holds no checkpoint (looked in {workdir / "checkpoints"}); '
                       'pass the --workdir of a training run (or one of its checkpoints/<step>)')
  steps = steps or [max(available)]
  missing = [s for s in steps if s not in available]
  if missing:
    raise WorkdirError(f'no checkpoint of step(s) {missing} in {workdir}; it holds {available}')
  return steps


def restore_networks(config: ml_collections.ConfigDict, workdir, step: int, sharding,
                     networks: tuple[str, ...] = ('generator',)) -> dict:
  """``{network: {'params', 'batch_stats'}}`` of checkpoint ``step``, placed with ``sharding``.

  A partial restore: optimizer states (and networks not asked for) stay on disk.
  Checkpoints written on any number of devices restore here. A network the run
  did not train (a discriminator switched off) is left out. The generator is the
  run's moving average where it kept one, unless ``config.train.ema_decay`` is 0
  (``--config.train.ema_decay=0`` picks the trained generator itself).
  """
  mngr = manager(workdir, max_to_keep=None, create=False)
  saved = check_compatible(mngr, step, config, workdir)
  shapes = jax.eval_shape(lambda: models.init_variables(config, jax.random.key(0)))
  stored_as = {name: name for name in networks if name in shapes}
  if 'generator' in stored_as and config.train.ema_decay > 0 and keeps_average(saved):
    stored_as['generator'] = 'generator_ema'
  target = {stored_as[name]: {'params': shapes[name]['params'],
                              'batch_stats': shapes[name]['batch_stats']}
            for name in stored_as}
  restore_args = jax.tree.map(
      lambda s: ocp.ArrayRestoreArgs(sharding=sharding, global_shape=s.shape, dtype=s.dtype),
      target)
  with reading(mngr, step, 'state'):
    restored = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
        item=target, restore_args=restore_args, partial_restore=True)))
  return {name: restored['state'][stored_as[name]] for name in stored_as}


def restore_generator(config: ml_collections.ConfigDict, workdir, step: int, sharding) -> dict:
  """The generator's ``{'params', 'batch_stats'}`` of checkpoint ``step``: the moving
  average where the run kept one (see :func:`restore_networks`)."""
  return restore_networks(config, workdir, step, sharding)['generator']


def saved_config(workdir, step: int | None = None) -> ml_collections.ConfigDict:
  """The config a run saved with its checkpoint ``step`` (default: the latest)."""
  (step,) = resolve_steps(workdir, [step] if step else None)
  mngr = manager(workdir, max_to_keep=None, create=False)
  saved = saved_config_dict(mngr, step)
  return config_loading.saved_config(saved, f'{workdir} checkpoint {step}')
