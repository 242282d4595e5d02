"""Image grids for TensorBoard and the samples folder."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def to_uint8(images):
  """[-1, 1] float -> uint8 RGB (one channel is repeated), rounding to nearest.

  Stays on the device for JAX arrays (also inside ``jit``), on the host for numpy.
  """
  xp = jnp if isinstance(images, jax.Array) else np
  images = xp.asarray(images, xp.float32)
  if images.shape[-1] == 1:
    images = xp.repeat(images, 3, axis=-1)
  return xp.clip(xp.floor((images + 1.0) * 127.5 + 0.5), 0, 255).astype(xp.uint8)


def upscale_nearest(images: np.ndarray, size: int) -> np.ndarray:
  factor = size // images.shape[1]
  return images.repeat(factor, axis=1).repeat(factor, axis=2)


def grid(columns: list[np.ndarray], pad: int = 2) -> np.ndarray:
  """Rows are examples, columns the given (n, S, S, 3) uint8 stacks."""
  n, size = columns[0].shape[:2]
  out = np.full((n * (size + pad) + pad, len(columns) * (size + pad) + pad, 3), 255, np.uint8)
  for c, column in enumerate(columns):
    for r in range(n):
      y, x = pad + r * (size + pad), pad + c * (size + pad)
      out[y:y + size, x:x + size] = column[r]
  return out
