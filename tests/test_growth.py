"""Growing a generator by one U-Net level (how cpu-x32 starts from cpu-x16)."""

import jax
import numpy as np
import pytest

from jfsr.models import growth
from jfsr.models.generator import Generator


def generator(output_size, ngf=4):
  return Generator(output_size=output_size, ngf=ngf, upsampler_features=4)


def random_variables(output_size, seed, ngf=4):
  """A generator's variables drawn at random (no init run: only their shapes are computed),
  BatchNorm statistics included, so that inference-mode outputs depend on every one."""
  lr = jax.ShapeDtypeStruct((1, output_size // 8, output_size // 8, 3), np.float32)
  shapes = jax.eval_shape(lambda x: generator(output_size, ngf).init(jax.random.key(0), x,
                                                                     train=False), lr)
  rng = np.random.default_rng(seed)
  params = jax.tree.map(lambda s: rng.normal(0, 0.2, s.shape).astype(np.float32),
                        shapes['params'])
  stats = {layer: {'mean': rng.uniform(-0.3, 0.3, s['mean'].shape).astype(np.float32),
                   'var': rng.uniform(0.5, 1.5, s['var'].shape).astype(np.float32)}
           for layer, s in shapes['batch_stats'].items()}
  return {'params': params, 'batch_stats': stats}


def test_the_new_level_adds_nothing_until_trained():
  small = random_variables(32, seed=0)
  grown_a = growth.grow_one_level(small, random_variables(64, seed=1))
  grown_b = growth.grow_one_level(small, random_variables(64, seed=2))
  apply = jax.jit(lambda v, x: generator(64).apply(v, x, train=False))
  lr = jax.random.uniform(jax.random.key(5), (2, 8, 8, 3), minval=-1, maxval=1)
  out_a, out_b = apply(grown_a, lr), apply(grown_b, lr)
  # Two different fresh innermost levels, the same outputs: only the old layers count.
  for key in ('out_sharp', 'out_blur', 'upx'):
    np.testing.assert_array_equal(out_a[key], out_b[key])
  # ...and the new level does count once its joining weights are not zero.
  kernel = np.array(grown_a['params']['sharp_dec2']['kernel'])
  kernel[:, :, :32] = 0.05
  changed = {**grown_a, 'params': {**grown_a['params'], 'sharp_dec2': {
      **grown_a['params']['sharp_dec2'], 'kernel': kernel}}}
  assert np.abs(apply(changed, lr)['out_sharp'] - out_a['out_sharp']).max() > 1e-3


def test_each_layer_lands_where_its_level_is():
  small, fresh = random_variables(32, seed=0), random_variables(64, seed=1)
  grown = growth.grow_one_level(small, fresh)
  assert growth.num_levels(small) == 5 and growth.num_levels(grown) == 6
  params, old = grown['params'], small['params']
  for name in ('enc1', 'enc5', 'enc5_bn', 'blur_dec1', 'blur_out', 'sharp_out'):
    jax.tree.map(np.testing.assert_array_equal, params[name], old[name])
  jax.tree.map(np.testing.assert_array_equal, params['upsampler'], old['upsampler'])
  for i in range(2, 5):  # the small model's sharp block i is the grown one's i + 1
    np.testing.assert_array_equal(params[f'sharp_dec{i + 1}']['kernel'],
                                  old[f'sharp_dec{i}']['kernel'])
    np.testing.assert_array_equal(grown['batch_stats'][f'sharp_dec{i + 1}_bn']['mean'],
                                  small['batch_stats'][f'sharp_dec{i}_bn']['mean'])
  joined = params['sharp_dec2']['kernel']  # (4, 4, 32 new + 32 old, 32)
  assert joined.shape == (4, 4, 64, 32)
  assert (joined[:, :, :32] == 0).all()
  np.testing.assert_array_equal(joined[:, :, 32:], old['sharp_dec1']['kernel'])
  for name in ('enc6', 'enc6_bn', 'sharp_dec1', 'sharp_dec1_bn'):  # the new level: fresh
    jax.tree.map(np.testing.assert_array_equal, params[name], fresh['params'][name])


def test_growing_refuses_other_widths_and_other_depths():
  small = random_variables(32, seed=0)
  with pytest.raises(ValueError, match='widths differ'):
    growth.grow_one_level(small, random_variables(64, seed=1, ngf=8))
  with pytest.raises(ValueError, match='grows into one of 6, not 7'):
    growth.grow_one_level(small, random_variables(128, seed=1))
