"""The pix2pix PatchGAN discriminator (70x70 receptive field at the default depth)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jfsr.models.layers import InitScheme, batch_norm, conv


class PatchDiscriminator(nn.Module):
  """Scores overlapping patches; no sigmoid (the LSGAN loss reads raw scores).

  ``num_layers`` strided blocks follow the first conv, then one stride-1 block and
  the one-channel output conv: ``num_layers + 2`` convolutions in all (3 -> the
  reference's five, 5 -> the seven of the paper's text).
  """
  features: int = 64
  num_layers: int = 3
  axis_name: str | None = None
  param_init: InitScheme = 'pytorch'
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = nn.leaky_relu(conv(self.features, 4, 2, 1, dtype=self.dtype, init=self.param_init)(x), 0.2)
    for i in range(1, self.num_layers + 1):
      stride = 2 if i < self.num_layers else 1
      width = self.features * min(2 ** i, 8)
      x = conv(width, 4, stride, 1, dtype=self.dtype, init=self.param_init)(x)
      x = batch_norm(train, self.axis_name, self.dtype, init=self.param_init)(x)
      x = nn.leaky_relu(x, 0.2)
    return conv(1, 4, 1, 1, dtype=self.dtype, init=self.param_init)(x)
