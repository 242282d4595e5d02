"""Data parallelism: the sharded step on 4 devices equals a plain one-device step.

The reference is ``local_train_step`` called without shard_map or collectives
(plain ``jax.grad`` over the whole batch), so a wrong reduction (gradients
averaged twice, or summed N times) or per-device BatchNorm statistics would show.
Plain SGD is used because Adam's normalisation hides a scaled gradient.
"""

import functools

import jax
import numpy as np
import pytest

from jfsr import train_step
from jfsr.data import pipeline
from jfsr.train_state import create_train_state
from jfsr.pretrained import vgg_weights

_D_LAYERS = ('Conv_0', 'Conv_1', 'Conv_2', 'Conv_3')  # smoke: d_layers=2 -> 4 convs


def _config(smoke_config, variant_tweak=None):
  config = smoke_config
  config.optimizer.name = 'sgd'
  config.optimizer.learning_rate = 0.05
  config.train.batch_size = 8
  if variant_tweak:
    variant_tweak(config)
  return config


def _batches(config, count):
  iterator = iter(pipeline.make_train_dataset(config))
  return [next(iterator) for _ in range(count)]


def _run_reference(config, batches, vgg):
  state = create_train_state(config, jax.random.PRNGKey(0))
  step = jax.jit(functools.partial(train_step.local_train_step, config=config, use_local_d=True,
                                   axis_name=None))
  for batch in batches:
    state, metrics = step(state, batch, vgg)
  return state, metrics


def _run_sharded(config, batches, vgg, devices):
  mesh = train_step.make_mesh(devices)
  state = jax.device_put(create_train_state(config, jax.random.PRNGKey(0)),
                         train_step.replicated(mesh))
  vgg = jax.device_put(vgg, train_step.replicated(mesh))
  step = train_step.make_train_step(config, mesh, use_local_d=True)
  for batch in batches:
    state, metrics = step(state, jax.device_put(batch, train_step.batch_sharding(mesh)), vgg)
  return state, metrics


def _feeds_batch_norm(path) -> bool:
  """Biases of convolutions followed by BatchNorm: zero gradient in exact arithmetic.

  Their computed updates are pure rounding noise, which differs with how the
  batch is split, so they are left out of the comparison.
  """
  keys = [str(getattr(k, 'key', getattr(k, 'name', ''))) for k in path]
  if len(keys) < 2 or keys[-1] != 'bias':
    return False
  layer = keys[-2]
  if layer.endswith('_bn'):
    return False
  if layer.startswith(('enc', 'blur_dec', 'sharp_dec')):
    return layer != 'enc1'
  if 'global_d' in keys or 'local_d' in keys:  # Conv_1 .. Conv_{L}: BN follows
    last = max(int(k[5:]) for k in _D_LAYERS)
    return layer.startswith('Conv_') and 0 < int(layer[5:]) < last
  return False


def _assert_same(a, b, rtol=2e-4, atol=1e-4):
  flat_a, tree_a = jax.tree.flatten_with_path(jax.device_get(a))
  flat_b, tree_b = jax.tree.flatten(jax.device_get(b))
  assert tree_a == tree_b
  for (path, x), y in zip(flat_a, flat_b):
    if _feeds_batch_norm(path):
      continue
    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=jax.tree_util.keystr(path))


@pytest.mark.parametrize('tweak', [None, lambda c: setattr(c.model, 'noise_std', 0.1)],
                         ids=['reference', 'noise'])
def test_four_devices_equal_one_device(smoke_config, tweak):
  assert jax.device_count() >= 4
  config = _config(smoke_config, tweak)
  batches = _batches(config, 2)
  vgg = vgg_weights.perceptual_params(config)
  initial = create_train_state(config, jax.random.PRNGKey(0))
  reference, ref_metrics = _run_reference(config, batches, vgg)
  sharded, metrics = _run_sharded(config, batches, vgg, jax.devices()[:4])
  _assert_same(ref_metrics, metrics)
  _assert_same(reference, sharded)
  # The test is only meaningful if the parameters actually moved.
  moved = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), initial.generator.params,
                       reference.generator.params)
  assert max(jax.tree.leaves(moved)) > 1e-3


def test_step_updates_every_network_and_counts_steps(smoke_config):
  config = _config(smoke_config)
  batches = _batches(config, 1)
  vgg = vgg_weights.perceptual_params(config)
  before = create_train_state(config, jax.random.PRNGKey(0))
  after, metrics = _run_sharded(config, batches, vgg, jax.devices()[:2])
  assert int(after.step) == 1
  for name in ('generator', 'global_d', 'local_d'):
    delta = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))),
                         getattr(before, name).params, getattr(after, name).params)
    assert max(jax.tree.leaves(delta)) > 0, name
  for term in ('g_loss', 'd_loss', 'l1_blur', 'l1_sharp', 'l1_face', 'perceptual',
               'g_global_adv', 'g_local_adv', 'd_local_real'):
    assert np.isfinite(float(metrics[term])), term
