"""Data parallelism: the sharded step on 4 devices equals a plain one-device step.

The reference is ``local_train_step`` called without shard_map or collectives
(plain ``jax.grad`` over the whole batch), so a wrong reduction (gradients
averaged twice, or summed N times) or per-device BatchNorm statistics would show.
Plain SGD is used because Adam's normalisation hides a scaled gradient.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jfsr import config_loading, host_cpu, train_step
from jfsr.data import pipeline
from jfsr.train_state import create_train_state
from jfsr.pretrained import vgg_weights
from tree_checks import assert_same_state

def _config(smoke_config, variant_tweak=None):
  config = smoke_config
  # PyTorch's default draws (model.init='pytorch') leave the smoke upsampler's output
  # ~100x smaller than its input, so enc2's BatchNorm normalises a tiny spread and
  # amplifies float rounding (how the batch is split changes the summation order) to
  # ~1e-4 in two SGD steps. pix2pix's draws keep the network well conditioned, so the
  # comparison below sees the reduction structure, which is what it tests.
  config.model.init = 'pix2pix'
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
  assert_same_state(ref_metrics, metrics)
  assert_same_state(reference, sharded)
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


def test_bfloat16_computes_in_bf16_and_keeps_fp32_state(smoke_config, monkeypatch):
  # As on a GPU: a CPU with matrix units would keep the VGG's narrow layers in float32
  # (tests/test_matrix_units.py), so this run pretends the CPU has none.
  monkeypatch.setattr(host_cpu, 'has_matrix_units', lambda: False)
  config = _config(smoke_config)
  batches = _batches(config, 1)
  vgg = vgg_weights.perceptual_params(config)
  config.train.compute_dtype = 'float32'
  fp32_state, fp32_metrics = _run_sharded(config, batches, vgg, jax.devices()[:2])
  config.train.compute_dtype = 'bfloat16'
  assert train_step.activation_dtype(config) == jnp.bfloat16
  bf16_state, bf16_metrics = _run_sharded(config, batches, vgg, jax.devices()[:2])

  # Parameters, statistics and optimizer state stay fp32 ...
  for leaf in jax.tree.leaves(bf16_state):
    assert leaf.dtype in (jnp.float32, jnp.int32, jnp.uint32), leaf.dtype
  # ... while the step's convolutions and matmuls really run in bf16 (so the two runs are not
  # the same computation), which the compiled step's own program shows.
  def lowered_text(compute_dtype):
    config.train.compute_dtype = compute_dtype
    mesh = train_step.make_mesh(jax.devices()[:2])
    step = train_step.make_train_step(config, mesh, use_local_d=True)
    state = jax.device_put(create_train_state(config, jax.random.PRNGKey(0)),
                           train_step.replicated(mesh))
    return step.lower(state, jax.device_put(batches[0], train_step.batch_sharding(mesh)),
                      jax.device_put(vgg, train_step.replicated(mesh))).as_text()
  heavy_ops = re.compile(r'stablehlo\.(convolution|dot_general)[^\n]*-> tensor<[^>]*x(bf16|f32)>')
  bf16_ops = [m.group(2) for m in heavy_ops.finditer(lowered_text('bfloat16'))]
  fp32_ops = [m.group(2) for m in heavy_ops.finditer(lowered_text('float32'))]
  assert bf16_ops and bf16_ops.count('bf16') > 0.9 * len(bf16_ops), bf16_ops
  assert fp32_ops and set(fp32_ops) == {'f32'}
  assert not np.array_equal(np.asarray(bf16_state.generator.params['sharp_out']['kernel']),
                            np.asarray(fp32_state.generator.params['sharp_out']['kernel']))
  # ... and the losses agree with fp32 to bf16 precision.
  for term in ('g_loss', 'd_loss', 'l1_sharp', 'perceptual'):
    np.testing.assert_allclose(float(bf16_metrics[term]), float(fp32_metrics[term]), rtol=2e-2,
                               err_msg=term)


def test_auto_compute_dtype_is_fp32_on_cpu_only(smoke_config):
  assert config_loading.compute_dtype(smoke_config, 'cpu') == jnp.float32
  assert config_loading.compute_dtype(smoke_config, 'gpu') == jnp.bfloat16
  assert config_loading.compute_dtype(smoke_config, 'tpu') == jnp.bfloat16


def test_moving_average_follows_the_generator_and_changes_no_training(smoke_config):
  """``train.ema_decay``: after each sharded step the average is d * average + (1 - d) * the
  generator just trained, d = min(decay, (1 + step) / (10 + step)) the warmed-up decay
  (recomputed here in numpy from the step-by-step generators; 0.2 lies between the
  warm-up's 0.1, 0.18 at steps 0, 1 and 0.25 at step 2, so both sides of the min are taken), and every network
  trains exactly as in a run without it."""
  decay = 0.2
  config = _config(smoke_config)
  batches = _batches(config, 3)
  vgg = vgg_weights.perceptual_params(config)
  mesh = train_step.make_mesh(jax.devices()[:2])
  put = lambda x: jax.device_put(x, train_step.replicated(mesh))

  def run(ema_decay):
    config.train.ema_decay = ema_decay
    state = put(create_train_state(config, jax.random.PRNGKey(0)))
    step = train_step.make_train_step(config, mesh, use_local_d=True)
    generators = [jax.device_get({'params': state.generator.params,
                                  'batch_stats': state.generator.batch_stats})]
    for batch in batches:
      state, _ = step(state, jax.device_put(batch, train_step.batch_sharding(mesh)), put(vgg))
      generators.append(jax.device_get({'params': state.generator.params,
                                        'batch_stats': state.generator.batch_stats}))
    return jax.device_get(state), generators

  plain, _ = run(0.0)
  averaged, generators = run(decay)
  assert plain.generator_ema is None
  expected = jax.tree.map(np.asarray, generators[0])  # the average starts at the initial weights
  for step, trained in enumerate(generators[1:]):
    d = min(decay, (1 + step) / (10 + step))
    expected = jax.tree.map(lambda avg, new: d * avg + (1 - d) * new, expected, trained)
  flat_expected, tree_expected = jax.tree.flatten(expected)
  flat_ema, tree_ema = jax.tree.flatten(averaged.generator_ema)
  assert tree_expected == tree_ema
  for want, got in zip(flat_expected, flat_ema):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
  # ...and it is not simply the last generator.
  assert not np.allclose(flat_ema[0], jax.tree.leaves(generators[-1])[0])
  for name in ('generator', 'global_d', 'local_d'):
    for a, b in zip(jax.tree.leaves(getattr(plain, name)), jax.tree.leaves(getattr(averaged, name))):
      np.testing.assert_array_equal(a, b)
