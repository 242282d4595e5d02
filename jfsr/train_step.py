"""The data-parallel GAN train step: D update, then G update, as one pure function.

The step runs under ``jax.shard_map`` over a one-axis ``('data',)`` mesh: every
device holds a replica of the state and a slice of the global batch. BatchNorm
statistics are averaged over the axis (``BatchNorm(axis_name=...)``), dropout and
noise are drawn per global example index, and each loss is ``pmean``-ed before it
is differentiated. Under shard_map's varying-value checks the gradient of a
replicated parameter is then already the all-device sum of per-device
contributions, so gradients are *not* averaged again (docs/design.md, "Data parallelism").
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jfsr import config_loading, losses, models
from jfsr.models.vgg import FEATURE_SCALE
from jfsr.train_state import NetworkState, TrainState, make_optimizer

AXIS = 'data'
Batch = dict[str, jax.Array]


def make_mesh(devices=None) -> Mesh:
  """A one-axis ``('data',)`` mesh over ``devices`` (default: every device of every process)."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def _update(optimizer: optax.GradientTransformation, net: NetworkState, grads,
            batch_stats) -> NetworkState:
  updates, opt_state = optimizer.update(grads, net.opt_state, net.params)
  return NetworkState(params=optax.apply_updates(net.params, updates),
                      batch_stats=batch_stats, opt_state=opt_state)


def _apply_d(module, net_params, batch_stats, inputs):
  """A discriminator in training mode (batch statistics); returns (scores, new stats)."""
  scores, mutated = module.apply({'params': net_params, 'batch_stats': batch_stats}, inputs,
                                 train=True, mutable=['batch_stats'])
  return scores.astype(jnp.float32), mutated['batch_stats']


def activation_dtype(config: ml_collections.ConfigDict):
  """The networks' compute dtype for this backend, or None for plain fp32 (no casts)."""
  dtype = config_loading.compute_dtype(config, jax.default_backend())
  return None if dtype == jnp.float32 else dtype


def average_decay(ema_decay: float, step: jax.Array) -> jax.Array:
  """The moving average's decay at ``step``: ``ema_decay``, warmed up as
  ``min(ema_decay, (1 + step) / (10 + step))`` so that an average started with a fresh
  generator forgets its random weights within the first steps (at decay 0.998 the warm-up
  ends at step 4,490; until then the average spans about the last tenth of the run)."""
  return jnp.minimum(ema_decay, (1.0 + step) / (10.0 + step))


@dataclasses.dataclass(frozen=True)
class StepParts:
  """What a step's two updates share: the config, the optimizer, the discriminator module,
  which discriminators take part and what each scores, the device mean and the dtype."""
  config: ml_collections.ConfigDict
  optimizer: optax.GradientTransformation
  discriminator: Any
  d_names: tuple[str, ...]
  mask: jax.Array
  mean: Callable[[jax.Array], jax.Array]
  dtype: Any

  def d_input(self, name: str, image: jax.Array, upx: jax.Array) -> jax.Array:
    """The global D scores (upx, image) pairs; the local D the image inside the face mask."""
    return jnp.concatenate([upx, image], -1) if name == 'global_d' else self.mask * image


def local_train_step(state: TrainState, batch: Batch, vgg_params: Any, *,
                     config: ml_collections.ConfigDict, use_local_d: bool,
                     axis_name: str | None = AXIS) -> tuple[TrainState, dict[str, jax.Array]]:
  """One step on this device's slice of the batch (call inside shard_map, or alone): the
  generator's forward pass, the discriminators' update (:func:`discriminator_update`),
  then the generator's against them (:func:`generator_update`).

  ``batch`` holds ``lr`` (n, s, s, c_in), ``hr``, ``hr_blur`` (n, S, S, 3) in [-1, 1]
  and ``mask`` (n, S, S, 1) in [0, 1].
  """
  # Mixed precision: activations in `dtype`, parameters, optimizer state and every
  # loss in fp32 (network outputs, scores and VGG features are cast back up).
  dtype = activation_dtype(config)
  generator = models.build_generator(config, axis_name, dtype)
  on = {'global_d': state.global_d is not None,
        'local_d': use_local_d and state.local_d is not None}
  parts = StepParts(config, make_optimizer(config),
                    models.build_discriminator(config, axis_name, dtype),
                    tuple(name for name in ('global_d', 'local_d') if on[name]), batch['mask'],
                    (lambda x: jax.lax.pmean(x, axis_name)) if axis_name else (lambda x: x),
                    dtype)
  dropout_rng, noise_rng = jax.random.split(jax.random.fold_in(state.rng, state.step))

  # Generator forward once; its pullback serves the G update after the D update.
  def g_forward(params):
    outputs, mutated = generator.apply(
        {'params': params, 'batch_stats': state.generator.batch_stats}, batch['lr'], train=True,
        rngs={'dropout': dropout_rng, 'noise': noise_rng}, mutable=['batch_stats'])
    return jax.tree.map(lambda x: x.astype(jnp.float32), outputs), mutated['batch_stats']

  outputs, g_pullback, g_batch_stats = jax.vjp(g_forward, state.generator.params, has_aux=True)
  new_state, metrics = discriminator_update(parts, state, jax.lax.stop_gradient(outputs['upx']),
                                            jax.lax.stop_gradient(outputs['out_sharp']),
                                            batch['hr'])
  new_state, g_metrics = generator_update(parts, state, new_state, outputs, g_pullback,
                                          g_batch_stats, batch, vgg_params)
  metrics.update(g_metrics)
  return state.replace(step=state.step + 1, **new_state), metrics


def discriminator_update(parts: StepParts, state: TrainState, upx: jax.Array, fake: jax.Array,
                         hr: jax.Array) -> tuple[dict, dict[str, jax.Array]]:
  """The discriminators' states after their step, and its metrics (device means; none
  without discriminators). As in the authors' step, each D scores the fake pair first, then
  the real one, in training mode, its running statistics moving with each call."""
  if not parts.d_names:
    return {}, {}

  def d_loss_fn(d_params):
    scores, stats = {}, {}
    for name in parts.d_names:
      prefix = name.removesuffix('_d')
      stats[name] = getattr(state, name).batch_stats
      for kind, image in (('fake', fake), ('real', hr)):
        scores[f'{prefix}_{kind}'], stats[name] = _apply_d(
            parts.discriminator, d_params[name], stats[name], parts.d_input(name, image, upx))
    total, terms = losses.discriminator_loss(
        scores.get('global_real'), scores.get('global_fake'),
        scores.get('local_real'), scores.get('local_fake'))
    terms.update({f'score_{k}': jnp.mean(v) for k, v in scores.items()})
    return parts.mean(total), (terms, stats)

  d_params = {n: getattr(state, n).params for n in parts.d_names}
  (d_loss, (terms, stats)), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(d_params)
  new_state = {n: _update(parts.optimizer, getattr(state, n), grads[n], stats[n])
               for n in parts.d_names}
  # The terms are per-device means; the total was averaged before differentiating.
  return new_state, {**{k: parts.mean(v) for k, v in terms.items()}, 'd_loss': d_loss}


def generator_update(parts: StepParts, state: TrainState, new_state: dict, outputs: dict,
                     g_pullback, g_batch_stats, batch: Batch, vgg_params: Any
                     ) -> tuple[dict, dict[str, jax.Array]]:
  """``new_state`` with the generator (and its moving average) after its step against the
  freshly updated discriminators, and the step's metrics. The discriminators' calls here
  run in training mode too and, as in the authors' step, move their running statistics
  once more."""
  config = parts.config
  vgg = models.build_vgg(config, config_loading.perceptual_dtype(config, jax.default_backend()))
  vgg_features = None
  if config.loss.lambda_perceptual:
    scale = FEATURE_SCALE[vgg.preprocessing]
    vgg_features = lambda x: {k: v.astype(jnp.float32) / scale
                              for k, v in vgg.apply(vgg_params, x).items()}

  def g_loss_fn(outputs):
    fake_scores, d_stats = {}, {}
    for name in parts.d_names:
      net = new_state[name]
      fake_scores[name], d_stats[name] = _apply_d(
          parts.discriminator, net.params, net.batch_stats,
          parts.d_input(name, outputs['out_sharp'], outputs['upx']))
    total, terms = losses.generator_loss(
        outputs, batch, fake_scores.get('global_d'), fake_scores.get('local_d'), vgg_features,
        vgg.taps, losses.GeneratorLossWeights.from_config(config))
    return parts.mean(total), (terms, d_stats)

  (g_loss, (terms, d_stats)), output_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(outputs)
  (g_grads,) = g_pullback(output_grads)
  new_state = dict(new_state)
  new_state['generator'] = _update(parts.optimizer, state.generator, g_grads, g_batch_stats)
  if state.generator_ema is not None:
    new_state['generator_ema'] = optax.incremental_update(
        new_state['generator'].variables, state.generator_ema,
        step_size=1 - average_decay(config.train.ema_decay, state.step))
  for name, stats in d_stats.items():
    new_state[name] = new_state[name].replace(batch_stats=stats)
  return new_state, {**{k: parts.mean(v) for k, v in terms.items()}, 'g_loss': g_loss}


def make_train_step(config: ml_collections.ConfigDict, mesh: Mesh, use_local_d: bool
                    ) -> Callable[[TrainState, Batch, Any], tuple[TrainState, dict]]:
  """The jit-compiled, state-donating step over ``mesh``.

  Call it with the state and VGG parameters replicated (``replicated(mesh)``) and
  the batch split along its first axis (``batch_sharding(mesh)``).
  """
  body = functools.partial(local_train_step, config=config, use_local_d=use_local_d,
                           axis_name=AXIS)
  sharded = jax.shard_map(body, mesh=mesh, in_specs=(P(), P(AXIS), P()), out_specs=(P(), P()))
  return jax.jit(sharded, donate_argnums=(0,))
