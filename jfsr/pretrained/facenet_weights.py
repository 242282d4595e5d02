"""FaceNet's Keras file (``facenet_keras.h5``, Keras 2 HDF5) -> Flax variables, with h5py alone.

The file holds the Keras model graph as JSON (``model_config``) and each layer's
weights under ``model_weights/<layer>/<layer>/<name>:0``. The conversion renames
them onto :class:`jfsr.models.facenet.InceptionResnetV1` and refuses a file whose
layers, shapes or residual scales differ from that network's.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jfsr.models import facenet
from jfsr.pretrained import cache


def read_h5(path: str | Path) -> tuple[dict, dict]:
  """``({layer: {weight: array}}, {layer: keras layer config})`` of a Keras 2 HDF5 model."""
  import h5py
  with h5py.File(path, 'r') as f:
    if 'model_config' not in f.attrs or 'model_weights' not in f:
      raise ValueError(f'{path}: not a Keras HDF5 model file (no model_config / model_weights)')
    config = json.loads(f.attrs['model_config'])
    group = f['model_weights']
    weights = {}
    for layer in (n.decode() if isinstance(n, bytes) else n for n in group.attrs['layer_names']):
      names = [n.decode() if isinstance(n, bytes) else n
               for n in group[layer].attrs.get('weight_names', [])]
      if names:
        weights[layer] = {n.rsplit('/', 1)[-1].split(':')[0]: np.asarray(group[layer][n])
                          for n in names}
  layers = {layer['name']: layer for layer in config['config']['layers']}
  return weights, layers


def _width_divisor(weights: dict) -> int:
  first = weights.get('Conv2d_1a_3x3', {}).get('kernel')
  if first is None or first.shape[-1] == 0 or 32 % first.shape[-1]:
    raise ValueError('no Conv2d_1a_3x3 kernel of 32 / k filters: not the FaceNet '
                     'Inception-ResNet-v1 of facenet_keras.h5')
  return 32 // first.shape[-1]


def convert(weights: dict, layers: dict) -> tuple[int, dict]:
  """Keras layers -> ``(width_divisor, {'params': ...})``; checks every name, shape and scale."""
  divisor = _width_divisor(weights)
  params = {}
  for name, tensors in weights.items():
    if name.endswith('_BatchNorm'):
      stats = {'beta': tensors['beta'], 'mean': tensors['moving_mean'],
               'var': tensors['moving_variance']}
      if name == 'Bottleneck_BatchNorm':
        params.update({f'{name}_{k}': v for k, v in stats.items()})
      else:
        params.setdefault(name[:-len('_BatchNorm')], {}).update(stats)
    elif name == 'Bottleneck':
      params[name] = tensors['kernel']
    elif set(tensors) == {'kernel', 'bias'}:
      params[name] = dict(tensors)
    else:
      params.setdefault(name, {})['kernel'] = tensors['kernel']
  model = facenet.InceptionResnetV1(width_divisor=divisor)
  expected = jax.eval_shape(model.init, jax.random.key(0),
                            jnp.zeros((1, facenet.INPUT_SIZE, facenet.INPUT_SIZE, 3)))['params']
  flat = dict(jax.tree_util.tree_flatten_with_path(params)[0])
  want = dict(jax.tree_util.tree_flatten_with_path(expected)[0])
  if flat.keys() != want.keys():
    unknown = sorted(jax.tree_util.keystr(k) for k in flat.keys() - want.keys())[:5]
    absent = sorted(jax.tree_util.keystr(k) for k in want.keys() - flat.keys())[:5]
    raise ValueError(f'not the FaceNet Inception-ResNet-v1: unexpected weights {unknown}, '
                     f'missing {absent}')
  for key, value in flat.items():
    if value.shape != want[key].shape:
      raise ValueError(f'{jax.tree_util.keystr(key)}: shape {value.shape} in the file, '
                       f'{want[key].shape} expected')
  for name, layer in layers.items():
    if layer['class_name'] == 'Lambda' and name.endswith('_ScaleSum'):
      scale = layer['config']['arguments']['scale']
      block = name[:-len('_ScaleSum')]
      if not np.isclose(scale, facenet.residual_scale(block)):
        raise ValueError(f'{name}: residual scale {scale}, {facenet.residual_scale(block)} '
                         'expected')
  return divisor, {'params': jax.tree.map(lambda v: np.asarray(v, np.float32), params)}


def load_facenet(path: str | Path | None = None
                 ) -> tuple[facenet.InceptionResnetV1, dict]:
  """The network and its variables from ``path`` (default: the cached ``facenet`` file)."""
  divisor, variables = convert(*read_h5(path or cache.locate('facenet')))
  return facenet.InceptionResnetV1(width_divisor=divisor), variables
