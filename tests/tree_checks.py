"""Comparing train states of runs that split the same work differently (devices, processes)."""

import jax
import numpy as np

_D_LAYERS = ('Conv_0', 'Conv_1', 'Conv_2', 'Conv_3')  # smoke: d_layers=2 -> 4 convs


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


def assert_same_state(a, b, rtol=2e-4, atol=1e-4):
  flat_a, tree_a = jax.tree.flatten_with_path(jax.device_get(a))
  flat_b, tree_b = jax.tree.flatten(jax.device_get(b))
  assert tree_a == tree_b
  for (path, x), y in zip(flat_a, flat_b):
    if _feeds_batch_norm(path):
      continue
    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=jax.tree_util.keystr(path))
