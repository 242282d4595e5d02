"""MTCNN's three networks (Zhang et al. 2016) in Flax: P-Net, R-Net and O-Net.

Layer names follow ``facenet-pytorch==2.6.0``'s ``pnet.pt`` / ``rnet.pt`` /
``onet.pt`` (``conv1``, ``prelu1``, ``dense4`` ...), whose weights
:func:`jfsr.pretrained.mtcnn_weights.load_mtcnn` converts. Inputs are NHWC RGB
scaled as ``(x - 127.5) / 128``. The detection cascade that runs them is
``jfsr.faces.mtcnn``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class PReLU(nn.Module):
  """``max(0, x) + a * min(0, x)`` with one slope ``a`` per channel (torch's ``weight``)."""

  @nn.compact
  def __call__(self, x):
    slope = self.param('weight', nn.initializers.constant(0.25), (x.shape[-1],))
    return jnp.maximum(x, 0) + slope * jnp.minimum(x, 0)


def _conv(features: int, kernel: int, name: str, padded: bool = False):
  """An unpadded ('VALID') convolution. ``padded``: computed 'SAME' and cut to its 'VALID'
  part (3x3 kernels): the same numbers, but for some shapes XLA:CPU runs the padded one
  2-5x faster (P-Net's conv3, 16 -> 32 channels: P-Net 0.18 -> 0.09 s on a 960x720 level;
  R-Net's and O-Net's conv2: 1.4x and 2.3x; on a 2-core CPU)."""
  conv = nn.Conv(features, (kernel, kernel), padding='SAME' if padded else 'VALID', name=name,
                 precision=jax.lax.Precision.HIGHEST)
  if not padded:
    return conv
  border = kernel // 2
  return lambda x: conv(x)[:, border:-border, border:-border]


def _dense(features: int, name: str) -> nn.Dense:
  return nn.Dense(features, name=name, precision=jax.lax.Precision.HIGHEST)


def max_pool_ceil(x: jax.Array, size: int, stride: int) -> jax.Array:
  """Max pooling with torch's ``ceil_mode=True``: a last, partial window at the bottom and
  right edges where the stride does not divide evenly."""
  pads = []
  for n in x.shape[1:3]:
    out = -(-(n - size) // stride) + 1
    pads.append((0, max(0, (out - 1) * stride + size - n)))
  return nn.max_pool(x, (size, size), (stride, stride), tuple(pads))


def _flatten_like_torch(x: jax.Array) -> jax.Array:
  """facenet-pytorch flattens its NCHW maps as (N, W, H, C): the dense layers expect that order."""
  return x.transpose(0, 2, 1, 3).reshape(x.shape[0], -1)


class PNet(nn.Module):
  """Proposal network, fully convolutional: ``(n, h, w, 3)`` -> face probability
  ``(n, h', w')`` and box offsets ``(n, h', w', 4)`` on a stride-2 grid of 12x12 cells."""

  @nn.compact
  def __call__(self, x):
    x = PReLU(name='prelu1')(_conv(10, 3, 'conv1')(x))
    x = max_pool_ceil(x, 2, 2)
    x = PReLU(name='prelu2')(_conv(16, 3, 'conv2')(x))
    x = PReLU(name='prelu3')(_conv(32, 3, 'conv3', padded=True)(x))
    probability = jax.nn.softmax(_conv(2, 1, 'conv4_1')(x), axis=-1)[..., 1]
    return probability, _conv(4, 1, 'conv4_2')(x)


class RNet(nn.Module):
  """Refinement network: ``(n, 24, 24, 3)`` crops -> probability ``(n,)``, offsets ``(n, 4)``."""

  @nn.compact
  def __call__(self, x):
    x = max_pool_ceil(PReLU(name='prelu1')(_conv(28, 3, 'conv1')(x)), 3, 2)
    x = max_pool_ceil(PReLU(name='prelu2')(_conv(48, 3, 'conv2', padded=True)(x)), 3, 2)
    x = PReLU(name='prelu3')(_conv(64, 2, 'conv3')(x))
    x = PReLU(name='prelu4')(_dense(128, 'dense4')(_flatten_like_torch(x)))
    probability = jax.nn.softmax(_dense(2, 'dense5_1')(x), axis=-1)[:, 1]
    return probability, _dense(4, 'dense5_2')(x)


class ONet(nn.Module):
  """Output network: ``(n, 48, 48, 3)`` crops -> probability ``(n,)``, offsets ``(n, 4)``
  and five landmarks ``(n, 10)`` (x0..x4, y0..y4 as fractions of the box)."""

  @nn.compact
  def __call__(self, x):
    x = max_pool_ceil(PReLU(name='prelu1')(_conv(32, 3, 'conv1')(x)), 3, 2)
    x = max_pool_ceil(PReLU(name='prelu2')(_conv(64, 3, 'conv2', padded=True)(x)), 3, 2)
    x = max_pool_ceil(PReLU(name='prelu3')(_conv(64, 3, 'conv3')(x)), 2, 2)
    x = PReLU(name='prelu4')(_conv(128, 2, 'conv4')(x))
    x = PReLU(name='prelu5')(_dense(256, 'dense5')(_flatten_like_torch(x)))
    probability = jax.nn.softmax(_dense(2, 'dense6_1')(x), axis=-1)[:, 1]
    return probability, _dense(4, 'dense6_2')(x), _dense(10, 'dense6_3')(x)


NETWORKS = {'pnet': PNet, 'rnet': RNet, 'onet': ONet}
