"""One orbax checkpoint per save: the train state, the data iterator and the config."""

from __future__ import annotations

import grain
import jax
from absl import logging
import ml_collections
import orbax.checkpoint as ocp
from etils import epath
from jax.sharding import NamedSharding

from jfsr import config_loading
from jfsr.errors import WorkdirError


def manager(workdir: str | epath.Path, max_to_keep: int | None,
            create: bool = True) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=create)
  return ocp.CheckpointManager(epath.Path(workdir) / 'checkpoints', options=options,
                               item_names=('state', 'data', 'config'))


def save(mngr: ocp.CheckpointManager, step: int, state, data_iterator,
         config: ml_collections.ConfigDict) -> None:
  mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      data=grain.checkpoint.CheckpointSave(data_iterator),
      config=ocp.args.JsonSave(config.to_dict())))


def check_compatible(mngr: ocp.CheckpointManager, step: int,
                     config: ml_collections.ConfigDict, workdir) -> None:
  """Stops with a one-line error if the saved state cannot hold this config's networks."""
  saved = mngr.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))['config']
  ours = config_loading.state_signature(config.to_dict())
  theirs = config_loading.state_signature(saved)
  differences = [f'{k}: {theirs[k]!r} saved, {ours[k]!r} now' for k in ours if ours[k] != theirs[k]]
  if differences:
    raise WorkdirError(f'--workdir {workdir} holds checkpoints of another model '
                       f'({"; ".join(differences)}); use a fresh --workdir, or the saved config')


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
  state = mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(target)))['state']
  try:
    mngr.restore(step, args=ocp.args.Composite(
        data=grain.checkpoint.CheckpointRestore(data_iterator)))
  except (KeyError, ValueError, TypeError) as error:
    logging.warning('the saved data-iterator state does not fit this run (%r, likely another '
                    'data.num_workers); repositioning the data by step instead', error)
    return state, False
  return state, True
