"""Training state as a plain pytree: one (params, batch_stats, optimizer state) per network."""

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


@flax.struct.dataclass
class TrainState:
  """Everything a step reads and writes. Disabled discriminators are ``None``."""
  step: jax.Array
  rng: jax.Array  # raw uint32 key data; the step folds in the step number
  generator: NetworkState
  global_d: NetworkState | None
  local_d: NetworkState | None


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

  return TrainState(step=jnp.zeros((), jnp.int32), rng=train_rng,
                    **{name: network(name) for name in NETWORKS})
