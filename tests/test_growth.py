"""Growing a generator by one U-Net level (how cpu-x32 starts from cpu-x16)."""

import jax
import numpy as np
import pytest

from jfsr.models import growth
from jfsr.models.generator import Generator


def init(output_size, seed, ngf=4):
  model = Generator(output_size=output_size, ngf=ngf, upsampler_features=4)
  lr = np.zeros((1, output_size // 8, output_size // 8, 3), np.float32)
  return model, jax.device_get(model.init(jax.random.key(seed), lr, train=False))


def perturbed_statistics(variables, seed):
  """Variables whose BatchNorm statistics are not the initial zeros and ones, so that
  inference-mode outputs depend on them."""
  rng = np.random.default_rng(seed)
  stats = {layer: {'mean': rng.uniform(-0.3, 0.3, s['mean'].shape).astype(np.float32),
                   'var': rng.uniform(0.5, 1.5, s['var'].shape).astype(np.float32)}
           for layer, s in variables['batch_stats'].items()}
  return {'params': variables['params'], 'batch_stats': stats}


def test_the_new_level_adds_nothing_until_trained():
  _, small = init(32, seed=0)
  small = perturbed_statistics(small, 1)
  model, fresh_a = init(64, seed=1)
  _, fresh_b = init(64, seed=2)
  grown_a = growth.grow_one_level(small, perturbed_statistics(fresh_a, 3))
  grown_b = growth.grow_one_level(small, perturbed_statistics(fresh_b, 4))
  lr = jax.random.uniform(jax.random.key(5), (2, 8, 8, 3), minval=-1, maxval=1)
  out_a = model.apply(grown_a, lr, train=False)
  out_b = model.apply(grown_b, lr, train=False)
  # Two different fresh innermost levels, the same outputs: only the old layers count.
  for key in ('out_sharp', 'out_blur', 'upx'):
    np.testing.assert_array_equal(out_a[key], out_b[key])
  # ...and the new level does count once its joining weights are not zero.
  kernel = np.array(grown_a['params']['sharp_dec2']['kernel'])
  kernel[:, :, :32] = 0.05
  changed = {**grown_a, 'params': {**grown_a['params'], 'sharp_dec2': {
      **grown_a['params']['sharp_dec2'], 'kernel': kernel}}}
  assert np.abs(model.apply(changed, lr, train=False)['out_sharp'] - out_a['out_sharp']).max() > 1e-3


def test_each_layer_lands_where_its_level_is():
  _, small = init(32, seed=0)
  _, fresh = init(64, seed=1)
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
  _, small = init(32, seed=0)
  with pytest.raises(ValueError, match='widths differ'):
    growth.grow_one_level(small, init(64, seed=1, ngf=8)[1])
  with pytest.raises(ValueError, match='grows into one of 6, not 7'):
    growth.grow_one_level(small, init(128, seed=1)[1])
