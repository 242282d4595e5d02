"""The joint super-resolution and deblurring generator of Yun, Jo and Park (2020).

A five-layer upsampling CNN lifts the small blurred face to the output size; a
pix2pix U-Net encoder reads that image once and two decoders share it: one
predicts the blurred high-resolution face (from the fourth encoder level), the
other the sharp face (the full U-Net), and the blur decoder's 128² features are
added to the sharp decoder's before the last layer.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jfsr.models.layers import (ConvTranspose4x4, ConvTransposeImpl, ExampleDropout, InitScheme,
                                add_noise, batch_norm, conv, depth_to_space, he_init)


class Upsampler(nn.Module):
  """Five convolutions with three depth-to-space steps: 8x upsampling (``upx``).

  With ``param_init='pix2pix'`` the convolutions are He-initialised: pix2pix's N(0, 0.02)
  would shrink the signal about 500x over these five unnormalised layers, leaving
  the encoder's first BatchNorm to normalise activations whose variance is far
  below its epsilon (measured: 1e-9). ``'pytorch'`` (the authors' code) keeps
  PyTorch's default draws, which shrink it too, though less (each layer's
  weights have variance 1 / (3 fan_in)).
  """
  features: int = 64
  out_channels: int = 3
  num_doublings: int = 3
  param_init: InitScheme = 'pytorch'
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel_init = he_init if self.param_init == 'pix2pix' else None
    layer = lambda features, size: conv(features, size, use_bias=False, dtype=self.dtype,
                                        init=self.param_init, kernel_init=kernel_init)
    x = nn.leaky_relu(layer(self.features, 9)(x), 0.2)
    for _ in range(self.num_doublings):
      x = nn.leaky_relu(depth_to_space(layer(self.features * 4, 3)(x), 2), 0.2)
    return layer(self.out_channels, 3)(x)


def encoder_widths(ngf: int, num_levels: int) -> list[int]:
  """pix2pix U-Net widths: ngf, 2ngf, 4ngf, then 8ngf for every deeper level."""
  return [ngf * min(2 ** i, 8) for i in range(num_levels)]


class Generator(nn.Module):
  """Maps a blurred low-resolution face in [-1, 1] to sharp and blurred HR faces.

  Attributes:
    output_size: side of the output image (256 for 32->256, 128 for 16->128).
    ngf: U-Net base width (64 in the reference).
    upsampler_features: width of the five-layer upsampling CNN (64).
    out_channels: output colour channels (3; also for grayscale input).
    use_upsampler: False gives the paper's "Model 1" ablation: the U-Net reads a
      bicubic upsampling of the input instead of the learned upsampler.
    dropout_rate: dropout on the three innermost sharp-decoder blocks (0.5).
    noise_std: > 0 gives the "w/N" variant (noise N(1, std) on every activation).
    convt_impl: how the transposed convolutions run (see ``conv_transpose_4x4_s2``).
    axis_name: mesh axis for cross-device BatchNorm statistics, or None.
    param_init: how parameters start: 'pytorch' (the authors' code) or 'pix2pix'
      (see ``jfsr.models.layers``).
  """
  output_size: int = 256
  ngf: int = 64
  upsampler_features: int = 64
  out_channels: int = 3
  use_upsampler: bool = True
  dropout_rate: float = 0.5
  noise_std: float = 0.0
  convt_impl: ConvTransposeImpl = 'auto'
  axis_name: str | None = None
  param_init: InitScheme = 'pytorch'
  dtype: jnp.dtype | None = None

  def _noise(self, x, train):
    return add_noise(self, x, self.noise_std, self.axis_name if train else None)

  @nn.compact
  def __call__(self, lr: jax.Array, train: bool) -> dict[str, jax.Array]:
    """Returns ``{'upx', 'out_sharp', 'out_blur'}``, each ``(n, S, S, out_channels)``."""
    n, h, w, c = lr.shape
    factor = self.output_size // h
    if h != w or factor * h != self.output_size or factor & (factor - 1):
      raise ValueError(f'input {h}x{w} cannot be upsampled by a power of two to {self.output_size}')
    num_levels = int(math.log2(self.output_size))
    if num_levels < 5:
      raise ValueError(f'output_size must be at least 32, got {self.output_size}')

    x = self._noise(lr, train)
    if self.use_upsampler:
      upx = Upsampler(self.upsampler_features, self.out_channels, int(math.log2(factor)),
                      param_init=self.param_init, dtype=self.dtype, name='upsampler')(x)
    else:
      upx = jax.image.resize(x, (n, self.output_size, self.output_size, c), 'bicubic')
      if c != self.out_channels:
        upx = jnp.repeat(upx, self.out_channels // c, axis=-1)

    norm = lambda name: batch_norm(train, self.axis_name, self.dtype, name, self.param_init)
    convt = lambda f, name: ConvTranspose4x4(f, self.convt_impl, self.dtype, self.param_init, name=name)
    widths = encoder_widths(self.ngf, num_levels)

    # Shared encoder c1..cL: c1 is a bare conv; deeper levels are LReLU -> conv -> BN.
    skips = []
    h_ = self._noise(upx, train)
    for level, width in enumerate(widths, start=1):
      if level > 1:
        h_ = nn.leaky_relu(h_, 0.2)
      h_ = conv(width, 4, 2, 1, dtype=self.dtype, name=f'enc{level}', init=self.param_init)(h_)
      if level > 1:
        h_ = norm(f'enc{level}_bn')(h_)
      h_ = self._noise(h_, train)
      skips.append(h_)

    # Blur decoder from c4: three up-blocks with skips c3, c2, then (after the
    # 128² features are formed) the c1 skip and the output layer.
    b = skips[3]
    for i, skip_level in enumerate((3, 2, 1)):
      b = convt(widths[skip_level - 1], f'blur_dec{i + 1}')(nn.relu(b))
      b = self._noise(norm(f'blur_dec{i + 1}_bn')(b), train)
      if skip_level > 1:
        b = jnp.concatenate([b, skips[skip_level - 1]], axis=-1)
    blur_features = b  # d1_0: (n, S/2, S/2, ngf)
    b = jnp.concatenate([blur_features, skips[0]], axis=-1)
    out_blur = jnp.tanh(convt(self.out_channels, 'blur_out')(nn.relu(b)))

    # Sharp decoder: the full U-Net from the innermost level back to S/2.
    s = skips[-1]
    for i, level in enumerate(range(num_levels - 1, 0, -1)):
      s = convt(widths[level - 1], f'sharp_dec{i + 1}')(nn.relu(s))
      s = norm(f'sharp_dec{i + 1}_bn')(s)
      if i < 3:
        s = ExampleDropout(self.dropout_rate, self.axis_name if train else None,
                           name=f'sharp_dec{i + 1}_dropout')(s, train)
      s = self._noise(s, train)
      if level > 1:
        s = jnp.concatenate([s, skips[level - 1]], axis=-1)
    s = jnp.concatenate([s + blur_features, skips[0]], axis=-1)
    out_sharp = jnp.tanh(convt(self.out_channels, 'sharp_out')(nn.relu(s)))

    return {'upx': upx, 'out_sharp': out_sharp, 'out_blur': out_blur}
