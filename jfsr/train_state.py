"""Training state as a plain pytree: one (params, batch_stats, optimizer state) per network,
and optionally an exponential moving average of the generator's weights."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jfsr import models

NETWORKS = ('generator', 'global_d', 'local_d')


@flax.struct.dataclass
class NetworkState:
  params: Any
  batch_stats: Any
  opt_state: Any

  @property
  def variables(self) -> dict:
    """``{'params', 'batch_stats'}``: what ``module.apply`` takes."""
    return {'params': self.params, 'batch_stats': self.batch_stats}


@flax.struct.dataclass
class TrainState:
  """Everything a step reads and writes. Disabled discriminators are ``None``."""
  step: jax.Array
  rng: jax.Array  # raw uint32 key data; the step folds in the step number
  generator: NetworkState
  global_d: NetworkState | None
  local_d: NetworkState | None
  # ``train.ema_decay > 0``: the average of the generator's ``{'params', 'batch_stats'}``
  # over its steps, which evaluation, samples and packing use; else ``None``.
  generator_ema: Any = None


def generator_variables(state: TrainState) -> dict:
  """The generator weights a run evaluates and ships: the moving average where it keeps one."""
  if state.generator_ema is not None:
    return state.generator_ema
  return state.generator.variables


def fresh_average(state: TrainState) -> TrainState:
  """``state`` with a moving average that starts at the current generator (own buffers, so
  that a step donating the state does not see one buffer twice)."""
  return state.replace(generator_ema=jax.tree.map(jnp.copy, state.generator.variables))


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """One instance serves every network; each network keeps its own state."""
  o = config.optimizer
  if o.name == 'adam':
    return optax.adam(o.learning_rate, b1=o.b1, b2=o.b2)
  if o.name == 'sgd':
    return optax.sgd(o.learning_rate)
  raise ValueError(f"optimizer.name must be 'adam' or 'sgd', got {o.name!r}")


def create_train_state(config: ml_collections.ConfigDict, rng: jax.Array) -> TrainState:
  """Initial state from a raw key (``jax.random.PRNGKey``); pure, so ``eval_shape`` works."""
  init_rng, train_rng = jax.random.split(rng)
  variables = models.init_variables(config, init_rng)
  optimizer = make_optimizer(config)

  def network(name):
    if name not in variables:
      return None
    params = variables[name]['params']
    return NetworkState(params=params, batch_stats=variables[name].get('batch_stats', {}),
                        opt_state=optimizer.init(params))

  state = TrainState(step=jnp.zeros((), jnp.int32), rng=train_rng,
                     **{name: network(name) for name in NETWORKS})
  return fresh_average(state) if config.train.ema_decay > 0 else state
