"""VGG-16 / VGG-19 feature extractors for the perceptual loss.

Layers are named ``conv{block}_{index}`` so that both reference weight sources
map onto them directly: torchvision's ``features.N.weight`` state dict (VGG-19,
the paper's network) and the Keras ImageNet VGG16 conv base (``blockB_convI``).
See :mod:`jfsr.pretrained` for reading those files.
"""

from __future__ import annotations

from typing import Literal, Sequence, get_args

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jfsr.models import matrix_units
from jfsr.models.layers import xla_conv

# Convolutions per block.
VGG_BLOCKS = {'vgg16': (2, 2, 3, 3, 3), 'vgg19': (2, 2, 4, 4, 4)}
VGG_WIDTHS = (64, 128, 256, 512, 512)

# torchvision normalises RGB in [0, 1]; Keras ("caffe" mode) subtracts BGR means in [0, 255].
# (numpy, not jnp: a module constant must not start JAX's backend at import, which
# would make jax.distributed.initialize() impossible afterwards.)
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], np.float32)
_CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68], np.float32)

Preprocessing = Literal['raw', 'torchvision', 'caffe', 'caffe_raw']

# How much larger a network's inputs (and so, roughly, its features) are than
# torchvision's for the same image: caffe inputs span 0..255, torchvision's
# about (x - mean) / 0.226. The perceptual loss divides by this so that
# lambda2 = 10, tuned for torchvision's VGG-19, means the same for Keras' VGG16.
CAFFE_UNIT = 255.0 * 0.226
FEATURE_SCALE = {'raw': 1.0, 'torchvision': 1.0, 'caffe': CAFFE_UNIT, 'caffe_raw': CAFFE_UNIT}


def conv_names(arch: str) -> list[str]:
  return [f'conv{b + 1}_{i + 1}' for b, n in enumerate(VGG_BLOCKS[arch]) for i in range(n)]


def preprocess(images: jax.Array, mode: Preprocessing) -> jax.Array:
  """Maps RGB images in [-1, 1] to the network's input.

  ``'raw'``: unchanged, as the authors feed torchvision's VGG-19 (about 2.2x smaller
  features than ``'torchvision'``, the ImageNet normalisation the weights were
  trained with). ``'caffe'``: Keras' BGR 0..255 minus the ImageNet mean.
  ``'caffe_raw'``: the raw image in Keras units, BGR times 255 x 0.226 (one
  torchvision standard deviation in Keras' scale), so that after
  :data:`FEATURE_SCALE` it stands to ``'caffe'`` as ``'raw'`` to ``'torchvision'``.
  """
  if mode == 'raw':
    return images
  if mode == 'caffe_raw':
    return images[..., ::-1] * CAFFE_UNIT
  x01 = (images + 1.0) * 0.5
  if mode == 'torchvision':
    return (x01 - _TORCH_MEAN) / _TORCH_STD
  if mode == 'caffe':
    return x01[..., ::-1] * 255.0 - _CAFFE_BGR_MEAN
  raise ValueError(f"VGG preprocessing must be one of {get_args(Preprocessing)}, got {mode!r}")


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 max pooling with stride 2 (odd edges dropped, like ``nn.max_pool``'s VALID).

  Written as a reshape and a max, whose gradient is an elementwise mask, rather
  than ``nn.max_pool``'s ``reduce_window``, whose gradient XLA:CPU expands into
  select-and-scatter over full-size int32 index maps (the VGG-19 part of the default
  train step went from 4.49 to 4.25 s at batch 8 on a 2-core CPU). The two
  differ only where a window holds equal maxima: this splits the gradient between
  them, ``reduce_window`` (and PyTorch) give it to one.
  """
  n, h, w, c = x.shape
  x = x[:, :h // 2 * 2, :w // 2 * 2]
  return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class Conv3x3(nn.Module):
  """``nn.Conv(features, (3, 3), padding=1)`` (same parameters), its bias added apart.

  With ``dtype`` bfloat16 on a CPU with matrix units, the layers they run faster
  (:func:`jfsr.models.matrix_units.suits`) take bfloat16 inputs and accumulate in float32
  there; every other layer is XLA's convolution in its input's dtype.

  On CPU an optimization barrier keeps the bias add (and the ReLU after it) out of
  XLA's convolution's YNNPACK fusion, where XLA materialises the broadcast bias and
  the ReLU's zeros as full-size arrays (0.6 s of a train step at batch 8, 256²);
  without them VGG-19's part of the step ran 1.03x faster on this project's
  2-core CPU (paired runs).
  """
  features: int
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    if self.dtype == jnp.bfloat16 and matrix_units.in_use() and matrix_units.suits(kernel.shape):
      return (matrix_units.conv3x3(x.astype(jnp.bfloat16), kernel) + bias).astype(self.dtype)
    y = xla_conv(x, kernel.astype(x.dtype), 1, 1)
    if jax.default_backend() == 'cpu':
      y = jax.lax.optimization_barrier(y)
    return y + bias.astype(y.dtype)


class VGG(nn.Module):
  """Returns the requested taps (``relu{b}_{i}``, ``conv{b}_{i}`` or ``pool{b}``).

  Only the layers up to the deepest requested tap are computed. ``width_divisor``
  shrinks every layer (tests and the smoke config only; pretrained weights need 1).
  """
  arch: Literal['vgg16', 'vgg19'] = 'vgg19'
  taps: Sequence[str] = ('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1')
  preprocessing: Preprocessing = 'torchvision'
  width_divisor: int = 1
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
    remaining = set(self.taps)
    unknown = remaining - set(self.all_taps())
    if unknown:
      raise ValueError(f'unknown VGG taps {sorted(unknown)}; choose from {self.all_taps()}')
    x = preprocess(images.astype(jnp.float32), self.preprocessing)
    if self.dtype is not None and not matrix_units.in_use():
      # With matrix units the early layers stay float32: XLA:CPU's bfloat16 convolution
      # is slower than its float32 one; each layer that suits them casts its own input.
      x = x.astype(self.dtype)
    features = {}

    def keep(name, value):
      if name in remaining:
        features[name] = value
        remaining.discard(name)

    for b, count in enumerate(VGG_BLOCKS[self.arch]):
      width = VGG_WIDTHS[b] // self.width_divisor
      for i in range(count):
        name = f'conv{b + 1}_{i + 1}'
        x = Conv3x3(width, dtype=self.dtype, name=name)(x)
        keep(name, x)
        x = nn.relu(x)
        keep(f'relu{b + 1}_{i + 1}', x)
        if not remaining:
          return features
      x = max_pool_2x2(x)
      keep(f'pool{b + 1}', x)
      if not remaining:
        return features
    return features

  def all_taps(self) -> list[str]:
    names = []
    for b, count in enumerate(VGG_BLOCKS[self.arch]):
      for i in range(count):
        names += [f'conv{b + 1}_{i + 1}', f'relu{b + 1}_{i + 1}']
      names.append(f'pool{b + 1}')
    return names
