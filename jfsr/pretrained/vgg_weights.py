"""Converts reference VGG weights into :class:`jfsr.models.vgg.VGG` parameters."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from jfsr.models.vgg import VGG_BLOCKS, conv_names
from jfsr.pretrained.torch_state_dict import load_state_dict


def torchvision_feature_indices(arch: str) -> list[int]:
  """Indices of the convolutions inside torchvision's ``vgg.features`` Sequential."""
  indices, position = [], 0
  for count in VGG_BLOCKS[arch]:
    for _ in range(count):
      indices.append(position)
      position += 2  # conv, ReLU
    position += 1  # max pool
  return indices


def from_torchvision(state_dict: dict[str, np.ndarray], arch: str) -> dict:
  """``features.N.weight`` (out, in, kh, kw) -> flax ``{'params': {convB_I: {kernel, bias}}}``."""
  params = {}
  for name, index in zip(conv_names(arch), torchvision_feature_indices(arch)):
    try:
      weight = state_dict[f'features.{index}.weight']
      bias = state_dict[f'features.{index}.bias']
    except KeyError as missing:
      raise ValueError(f'not a torchvision {arch} state dict: no {missing.args[0]}') from None
    params[name] = {'kernel': np.ascontiguousarray(weight.transpose(2, 3, 1, 0)),
                    'bias': np.asarray(bias)}
  return {'params': params}


def load_torchvision(path: str | Path, arch: str = 'vgg19') -> dict:
  return from_torchvision(load_state_dict(path), arch)


_KERAS_ONNX_NAME = re.compile(r'block(\d)_conv(\d)(?:_\d+)?/(convolution/ReadVariableOp|Squeeze):0$')


def from_keras_onnx(initializers: dict[str, np.ndarray]) -> dict:
  """Keras' VGG16 conv base exported to ONNX (tf2onnx: kernels OIHW, biases ``Squeeze``)."""
  params: dict[str, dict[str, np.ndarray]] = {}
  for name, value in initializers.items():
    match = _KERAS_ONNX_NAME.search(name)
    if not match:
      continue
    block, index, kind = match.groups()
    entry = params.setdefault(f'conv{block}_{index}', {})
    if kind == 'Squeeze':
      entry['bias'] = np.asarray(value)
    else:
      entry['kernel'] = np.ascontiguousarray(np.asarray(value).transpose(2, 3, 1, 0))
  expected = conv_names('vgg16')
  incomplete = [n for n in expected if set(params.get(n, {})) != {'kernel', 'bias'}]
  if incomplete:
    raise ValueError(f'the ONNX file lacks the Keras VGG16 layers {incomplete}')
  return {'params': {n: params[n] for n in expected}}


def load_keras_onnx(path: str | Path) -> dict:
  import onnx  # Only needed for this format.
  from onnx import numpy_helper
  model = onnx.load(str(path))
  return from_keras_onnx({t.name: numpy_helper.to_array(t) for t in model.graph.initializer})


def perceptual_params(config) -> dict:
  """VGG variables for the perceptual loss, as the config asks.

  ``perceptual.weights='pretrained'`` reads the cached reference file (VGG-19:
  torchvision; VGG-16: Keras ImageNet) and raises ``MissingWeightsError`` with
  the fetch command if it is absent. ``'random'`` initialises the network with
  seeded random weights: only for plumbing tests, never for a real run. Layers
  deeper than the last tap are dropped.
  """
  import jax
  from absl import logging

  from jfsr import models
  from jfsr.pretrained import cache

  vgg = models.build_vgg(config)
  size = config.data.hr_size
  init = lambda: vgg.init(jax.random.key(config.seed + 7), jax.numpy.zeros((1, size, size, 3)))
  if config.perceptual.weights == 'random':
    logging.warning('perceptual loss uses a randomly initialised %s (perceptual.weights=random): '
                    'fine for plumbing tests, meaningless for training', config.perceptual.network)
    return jax.device_get(init())
  if config.perceptual.network == 'vgg19':
    variables = load_torchvision(cache.locate('vgg19'), 'vgg19')
  else:
    variables = load_keras_onnx(cache.locate('vgg16'))
  needed = jax.eval_shape(init)['params']
  params = {}
  for name, shapes in needed.items():
    for leaf in ('kernel', 'bias'):
      if variables['params'][name][leaf].shape != shapes[leaf].shape:
        raise ValueError(f'{name}.{leaf}: weights have shape {variables["params"][name][leaf].shape}, '
                         f'the network wants {shapes[leaf].shape}')
    params[name] = variables['params'][name]
  return {'params': params}
