"""bfloat16 3x3 convolutions for CPUs with matrix units (Intel AMX).

On such a CPU XLA:CPU runs bfloat16 *matrix products* on the matrix units, 600-1,600
GFLOP/s on 2 cores against 170-390 for float32, but not its bfloat16 *convolutions*
(0.8x float32's speed). So a 3x3, stride-1, 'same' convolution is written here as three
matrix products, one per kernel row, over the input's three column shifts, accumulated in
float32, and its input gradient as the same convolution of the output gradient with the
kernel turned 180° (JAX's own transpose of this form scatters into the shifted copies and
ran 2-6x slower). Measured per layer of VGG-19 at batch 8 on a 2-core CPU with AMX
(docs/benchmarks.md): 1.5-3.1x faster forward and 1.3-2.4x faster input gradient than
XLA's float32 convolution from 128 inputs and 256 outputs up (``suits``); about even at
128 -> 128 and slower below, where the column copies cost more than the products save.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jfsr import host_cpu
from jfsr.models.layers import column_shifts, kernel_grad_by_rows, summed_like

# The layers this form is faster for (see the module docstring).
MIN_IN = 128
MIN_OUT = 256


def in_use() -> bool:
  """Whether computations placed on the default backend run on such a CPU."""
  return jax.default_backend() == 'cpu' and host_cpu.has_matrix_units()


def suits(kernel_shape) -> bool:
  """Whether a 3x3 layer of this shape runs faster as bfloat16 products on matrix units."""
  kh, kw, cin, cout = kernel_shape
  return (kh, kw) == (3, 3) and cin >= MIN_IN and cout >= MIN_OUT


def _by_rows(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The 3x3 'same' convolution as one product per kernel row, in float32."""
  _, h, w, cin = x.shape
  columns = column_shifts(x, 3, 1, 1, w)
  rows = kernel.astype(x.dtype).reshape(3, 3 * cin, -1)
  return sum(jnp.einsum('nhwk,ko->nhwo', columns[:, dy:dy + h], rows[dy],
                        preferred_element_type=jnp.float32) for dy in range(3))


@jax.custom_vjp
def conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``conv(x, kernel)``, 3x3, stride 1, padding 1, NHWC/HWIO, computed in ``x.dtype``
  (bfloat16 for the matrix units) with float32 accumulation; the result in float32."""
  return _by_rows(x, kernel)


def _conv3x3_fwd(x, kernel):
  return _by_rows(x, kernel), (x, kernel)


def _conv3x3_bwd(residuals, grad):
  x, kernel = residuals
  turned = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)
  grad_x = _by_rows(grad.astype(x.dtype), turned).astype(x.dtype)
  grad_kernel = kernel_grad_by_rows(x, grad.astype(x.dtype), kernel.shape, 1, 1)
  return grad_x, summed_like(grad_kernel, kernel)


conv3x3.defvjp(_conv3x3_fwd, _conv3x3_bwd)
