"""Building blocks shared by the generator and the discriminators.

Everything here works on NHWC arrays. The convolution parameters keep the
layouts a PyTorch port needs (``(kh, kw, in, out)``, with the PyTorch meaning of
each axis), so that reference weights can be loaded by a plain transpose.
"""

from __future__ import annotations

import functools
from typing import Callable, Literal, get_args

import flax.linen as nn
import jax
import jax.numpy as jnp

# How parameters start (``model.init``):
#   'pytorch' (default): what the authors' notebook gets, since it sets no initialisation
#     of its own: PyTorch's defaults. Conv and transposed-conv weights are kaiming-uniform
#     with a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases U(-b, b) with the
#     same bound, BatchNorm scale 1 and bias 0. PyTorch takes a weight's fan-in from its
#     dimension 1 times the kernel area: in_channels * k * k for ``Conv2d`` (weight
#     (out, in, k, k)), but out_channels * k * k for ``ConvTranspose2d`` (weight (in, out, k, k)).
#   'pix2pix': pix2pix's ``init_weights('normal', 0.02)``: weights N(0, 0.02), biases 0,
#     BatchNorm scale N(1, 0.02); the bias-free upsampling CNN He-initialised (see Upsampler).
InitScheme = Literal['pytorch', 'pix2pix']
INIT_SCHEMES: tuple[str, ...] = get_args(InitScheme)

conv_init = nn.initializers.normal(stddev=0.02)


def bn_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _uniform(bound: float) -> Callable:
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def pytorch_bound(fan_in: int) -> float:
  """The bound of PyTorch's default weight and bias draws: ``1 / sqrt(fan_in)``."""
  return 1.0 / float(fan_in) ** 0.5


def weight_and_bias_init(scheme: InitScheme, fan_in: int) -> tuple[Callable, Callable]:
  """Initialisers of a convolution's kernel and bias; ``fan_in`` counted PyTorch's way."""
  if scheme == 'pytorch':
    return _uniform(pytorch_bound(fan_in)), _uniform(pytorch_bound(fan_in))
  if scheme == 'pix2pix':
    return conv_init, nn.initializers.zeros
  raise ValueError(f'model.init must be one of {INIT_SCHEMES}, got {scheme!r}')


def depth_to_space(x: jax.Array, factor: int) -> jax.Array:
  """PyTorch ``PixelShuffle`` on NHWC: channel ``c * f * f + i * f + j`` -> pixel offset (i, j)."""
  n, h, w, c = x.shape
  out_c = c // (factor * factor)
  x = x.reshape(n, h, w, out_c, factor, factor)
  x = x.transpose(0, 1, 4, 2, 5, 3)
  return x.reshape(n, h * factor, w * factor, out_c)


_DIMENSIONS = ('NHWC', 'HWIO', 'NHWC')


def xla_conv(x, kernel, stride: int, padding: int):
  """XLA's own NHWC/HWIO convolution with symmetric padding (no backend-specific routing)."""
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((padding, padding),) * 2,
                                      dimension_numbers=_DIMENSIONS)


def _tap_inputs(x, kh: int, kw: int, stride: int, padding: int) -> list[jax.Array]:
  """For each kernel tap (row-major), the ``(n, ho, wo, c)`` input pixels it multiplies."""
  cin = x.shape[-1]
  padded = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  ho = (padded.shape[1] - kh) // stride + 1
  wo = (padded.shape[2] - kw) // stride + 1
  return [jax.lax.slice(padded, (0, ky, kx, 0),
                        (padded.shape[0], ky + stride * (ho - 1) + 1,
                         kx + stride * (wo - 1) + 1, cin),
                        (1, stride, stride, 1))
          for ky in range(kh) for kx in range(kw)]


def _conv_im2col(x, kernel, stride: int, padding: int):
  """The convolution as one matrix product over explicitly gathered patches."""
  kh, kw, cin, cout = kernel.shape
  patches = jnp.concatenate(_tap_inputs(x, kh, kw, stride, padding), axis=-1)
  return jnp.einsum('nhwk,ko->nhwo', patches, kernel.reshape(kh * kw * cin, cout))


KernelGradMethod = Literal['xla', 'rows', 'im2col']


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_own_kernel_grad(x, kernel, stride: int, padding: int, method: KernelGradMethod):
  """An XLA convolution whose kernel gradient is computed by ``method`` (see conv2d)."""
  return xla_conv(x, kernel, stride, padding)


def _conv_own_kernel_grad_fwd(x, kernel, stride, padding, method):
  return xla_conv(x, kernel, stride, padding), (x, kernel)


def _varying_axes(value) -> frozenset:
  """The shard_map axes along which ``value`` differs between devices (none outside one)."""
  manual = getattr(jax.typeof(value), 'manual_axis_type', None)
  return manual.varying if manual is not None else frozenset()


def column_shifts(x, kw: int, stride: int, padding: int, wo: int) -> jax.Array:
  """The padded input's ``kw`` column shifts side by side, ``(n, h + 2·padding, wo, kw·c)``:
  shift ``kx`` holds the (strided) columns that kernel column ``kx`` reads for each of the
  ``wo`` output columns, so a kernel row's taps are one matmul over a row window of it."""
  n, _, _, cin = x.shape
  padded = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  rows = padded.shape[1]
  return jnp.concatenate(
      [jax.lax.slice(padded, (0, 0, kx, 0), (n, rows, kx + stride * (wo - 1) + 1, cin),
                     (1, 1, stride, 1)) for kx in range(kw)], axis=-1)


def kernel_grad_by_rows(x, grad, kernel_shape, stride: int, padding: int):
  """``dW[ky, :]`` for one kernel row at a time, as one ``(out, pixels) @ (pixels, kw·in)``
  matmul: the ``kw`` column shifts of the input are gathered once, and each kernel row
  reads its (strided) row window of them."""
  kh, kw, cin, cout = kernel_shape
  n, ho, wo, _ = grad.shape
  columns = column_shifts(x, kw, stride, padding, wo)
  grad_t = grad.reshape(-1, cout).T
  per_row = [grad_t @ jax.lax.slice(columns, (0, ky, 0, 0),
                                    (n, ky + stride * (ho - 1) + 1, wo, kw * cin),
                                    (1, stride, 1, 1)).reshape(-1, kw * cin)
             for ky in range(kh)]
  return jnp.stack(per_row).reshape(kh, cout, kw, cin).transpose(0, 2, 3, 1)


def _kernel_grad_by_im2col(x, grad, kernel_shape, stride: int, padding: int):
  """``dW = patchesᵀ @ grad``: one matmul over the gathered input patches."""
  kh, kw, cin, cout = kernel_shape
  patches = jnp.concatenate(_tap_inputs(x, kh, kw, stride, padding), axis=-1)
  return (patches.reshape(-1, kh * kw * cin).T @ grad.reshape(-1, cout)).reshape(kernel_shape)


_KERNEL_GRADS = {'rows': kernel_grad_by_rows, 'im2col': _kernel_grad_by_im2col}


def _conv_own_kernel_grad_bwd(stride, padding, method, residuals, grad):
  x, kernel = residuals
  _, input_pullback = jax.vjp(lambda x_: xla_conv(x_, kernel, stride, padding), x)
  (grad_x,) = input_pullback(grad)
  grad_kernel = _KERNEL_GRADS[method](x, grad, kernel.shape, stride, padding)
  return grad_x, summed_like(grad_kernel, kernel)


def summed_like(grad_kernel: jax.Array, kernel: jax.Array) -> jax.Array:
  """A hand-written kernel gradient as JAX's own transpose of the convolution gives it:
  inside shard_map a replicated kernel's gradient sums every device's part."""
  summed_over = tuple(sorted(_varying_axes(grad_kernel) - _varying_axes(kernel)))
  if summed_over:
    grad_kernel = jax.lax.psum(grad_kernel, summed_over)
  return grad_kernel.astype(kernel.dtype)


_conv_own_kernel_grad.defvjp(_conv_own_kernel_grad_fwd, _conv_own_kernel_grad_bwd)

# On CPU, output maps of at most SMALL_MAP_PIXELS go through im2col. Otherwise the kernel
# gradient is taken by im2col when the layer is strided with at most IM2COL_GRAD_MAX_IN
# inputs, by rows when the map has at least LARGE_MAP_PIXELS and the layer at least
# ROWS_GRAD_MIN_IN inputs and ROWS_GRAD_MIN_OUT outputs, and by XLA otherwise (see conv2d).
SMALL_MAP_PIXELS = 64
LARGE_MAP_PIXELS = 24 * 24
ROWS_GRAD_MIN_IN = 16
ROWS_GRAD_MIN_OUT = 32
IM2COL_GRAD_MAX_IN = 8


def kernel_grad_method(kernel_shape, stride: int, out_pixels: int) -> KernelGradMethod:
  """How conv2d takes the kernel gradient of this layer on CPU (measured rules, see conv2d)."""
  _, _, cin, cout = kernel_shape
  if stride > 1 and cin <= IM2COL_GRAD_MAX_IN:
    return 'im2col'
  if out_pixels >= LARGE_MAP_PIXELS and cin >= ROWS_GRAD_MIN_IN and cout >= ROWS_GRAD_MIN_OUT:
    return 'rows'
  return 'xla'


def conv2d(x: jax.Array, kernel: jax.Array, stride: int = 1, padding: int = 0) -> jax.Array:
  """An NHWC/HWIO convolution, computed the way each backend does best (same values).

  XLA:CPU's convolutions are fast forward and for the input gradient, with one
  exception: over tiny maps (the U-Net's inner levels, 1² to 8²; one at 2² ran at
  0.5 GFLOP/s), where the whole convolution runs as im2col + one matmul instead.
  Its kernel gradients are slow: over maps of 24² or more it computes them as a
  convolution with a map-sized window (17-80 GFLOP/s; 1.1 s for the upsampler's
  64 -> 256 layer at 128², batch 8). Measured on this project's layers (2-core dev
  CPU, jemalloc), they are taken instead
  - by im2col when strided with <= 8 inputs (the discriminators' and the
    encoder's first layers): 45 -> 29 ms (6 -> 64 at 256², stride 2);
  - by rows (one matmul per kernel row over the input's gathered column shifts)
    with >= 16 inputs and >= 32 outputs: 1.1 s -> 235 ms for that layer, 19-36%
    faster than one matmul per tap on every such layer of the model, and about as
    fast as full im2col or faster, from kw rather than kh·kw shifted input copies;
  - by XLA otherwise: few outputs (64 -> 3 at 256²), few inputs at stride 1 (the
    upsampler's 9x9), or small maps, where it was the fastest.
  Every other backend uses XLA's convolution throughout.
  """
  if jax.default_backend() != 'cpu':
    return xla_conv(x, kernel, stride, padding)
  out_pixels = ((x.shape[1] + 2 * padding - kernel.shape[0]) // stride + 1) * (
      (x.shape[2] + 2 * padding - kernel.shape[1]) // stride + 1)
  if out_pixels <= SMALL_MAP_PIXELS:
    return _conv_im2col(x, kernel, stride, padding)
  method = kernel_grad_method(kernel.shape, stride, out_pixels)
  if method == 'xla':
    return xla_conv(x, kernel, stride, padding)
  return _conv_own_kernel_grad(x, kernel, stride, padding, method)


# ``ConvTranspose2d(k=4, s=2, p=1)``: output row ``2p + r`` sums input rows ``p + offset``
# times kernel row ``k`` over these ``(offset, k)`` pairs; the same holds for columns.
_PHASE_TAPS = (((-1, 3), (0, 1)), ((0, 2), (1, 0)))

ConvTransposeImpl = Literal['auto', 'gemm', 'phase', 'dilated']


def _phase_kernel(kernel_4x4: jax.Array) -> jax.Array:
  """Rewrites a stride-2 4x4 transposed-conv kernel as a 3x3 conv to 4x the channels.

  Phase ``(ry, rx)`` of the output reads a 2x2 window of input pixels
  (:data:`_PHASE_TAPS`); placing those taps in a 3x3 window (zeros elsewhere)
  gives one ordinary convolution whose ``(ry, rx, out)`` channels are then
  interleaved by :func:`_phase_to_space`. Exact, but 5 of every 9 taps are zero.

  Args:
    kernel_4x4: ``(4, 4, in, out)`` with PyTorch's ``weight[in, out, ky, kx]`` meaning.

  Returns:
    ``(3, 3, in, 4 * out)`` kernel whose output channel ``(ry * 2 + rx) * out + o``
    produces phase ``(ry, rx)``.
  """
  phases = []
  for ry in range(2):
    for rx in range(2):
      window = jnp.zeros((3, 3) + kernel_4x4.shape[2:], kernel_4x4.dtype)
      for oy, ky in _PHASE_TAPS[ry]:
        for ox, kx in _PHASE_TAPS[rx]:
          window = window.at[oy + 1, ox + 1].set(kernel_4x4[ky, kx])
      phases.append(window)
  return jnp.concatenate(phases, axis=-1)


def _phase_to_space(y: jax.Array, out_channels: int) -> jax.Array:
  """Interleaves ``(ry, rx, out)``-ordered channels into a 2x larger image."""
  n, h, w, _ = y.shape
  y = y.reshape(n, h, w, 2, 2, out_channels).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(n, 2 * h, 2 * w, out_channels)


def _conv_transpose_gemm(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """GEMM + col2im: one matmul gives every input pixel's 16 tap contributions, which
  are then added into place.

  Forward and backward execute exactly the model's multiply-adds as plain matmuls;
  the price is a tap tensor 4x the output's size. The col2im sees the padded output
  as 2x2 blocks: kernel row ``ky = 2a + s`` carries input row ``i`` to block row
  ``i + a``, sub-row ``s`` (the same for columns), so it is four shifted block
  additions, and autodiff's transpose of it four slices (the per-tap form, 16 pixel
  shifts, was up to 1.6x slower in training on a 2-core CPU).
  """
  n, h, w, cin = x.shape
  cout = kernel.shape[-1]
  # (ky, kx, in, out) -> (in, a, b, sy, sx, out), ky = 2a + sy, kx = 2b + sx.
  by_block = kernel.reshape(2, 2, 2, 2, cin, cout).transpose(4, 0, 2, 1, 3, 5)
  taps = (x.reshape(-1, cin) @ by_block.reshape(cin, 16 * cout)).reshape(n, h, w, 2, 2, 2, 2, cout)
  padded = 0
  for a in range(2):
    for b in range(2):
      block = taps[:, :, :, a, b].transpose(0, 1, 3, 2, 4, 5)  # (n, h, sy, w, sx, out)
      padded = padded + jnp.pad(block, ((0, 0), (a, 1 - a), (0, 0), (b, 1 - b), (0, 0), (0, 0)))
  return padded.reshape(n, 2 * h + 2, 2 * w + 2, cout)[:, 1:-1, 1:-1]


def resolve_convt_impl(impl: ConvTransposeImpl) -> str:
  """``'auto'``: GEMM + col2im on CPU (fastest there, exact FLOPs), the 3x3 phase
  convolution elsewhere (measured on GPU; cuDNN runs it well despite its zero taps)."""
  if impl == 'auto':
    return 'gemm' if jax.default_backend() == 'cpu' else 'phase'
  return impl


def conv_transpose_4x4_s2(x: jax.Array, kernel: jax.Array, bias: jax.Array | None,
                          impl: ConvTransposeImpl = 'auto') -> jax.Array:
  """Exactly PyTorch's ``ConvTranspose2d(kernel_size=4, stride=2, padding=1)`` on NHWC input.

  Three exact forms (same values up to float rounding):

  * ``'gemm'``: :func:`_conv_transpose_gemm`, matmuls of exactly the model's size
    (default on CPU, where it trains 1.5-2.4x faster per layer than ``'phase'``);
  * ``'phase'``: one 3x3 convolution to 4x the channels and a depth-to-space
    (default on GPU/TPU; 2.25x the model's FLOPs, but ordinary convolutions);
  * ``'dilated'``: the textbook input-dilated convolution with the flipped kernel,
    kept as the reference and for benchmarks (XLA:CPU's gradients of it are ~19x
    slower than ``'phase'``).
  """
  out_channels = kernel.shape[-1]
  impl = resolve_convt_impl(impl)
  if impl == 'gemm':
    y = _conv_transpose_gemm(x, kernel.astype(x.dtype))
  elif impl == 'phase':
    y = _phase_to_space(conv2d(x, _phase_kernel(kernel).astype(x.dtype), 1, 1), out_channels)
  elif impl == 'dilated':
    y = jax.lax.conv_general_dilated(
        x, kernel[::-1, ::-1].astype(x.dtype), window_strides=(1, 1),
        padding=((2, 2), (2, 2)), lhs_dilation=(2, 2), dimension_numbers=_DIMENSIONS)
  else:
    raise ValueError(f'conv_transpose impl must be one of {get_args(ConvTransposeImpl)}, '
                     f'got {impl!r}')
  if bias is not None:
    y = y + bias.astype(y.dtype)
  return y


class ConvTranspose4x4(nn.Module):
  """``ConvTranspose2d(in, features, 4, stride=2, padding=1)`` with PyTorch-layout parameters."""
  features: int
  impl: ConvTransposeImpl = 'auto'
  dtype: jnp.dtype | None = None
  param_init: InitScheme = 'pytorch'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    # PyTorch's fan-in of a transposed convolution: its *output* channels x 4 x 4.
    kernel_init, bias_init = weight_and_bias_init(self.param_init, self.features * 16)
    kernel = self.param('kernel', kernel_init, (4, 4, x.shape[-1], self.features))
    bias = self.param('bias', bias_init, (self.features,))
    if self.dtype is not None:
      x = x.astype(self.dtype)
    return conv_transpose_4x4_s2(x, kernel, bias, self.impl)


# He initialisation: keeps the signal's scale through a stack of (leaky) ReLU
# convolutions that has no normalisation (the pix2pix scheme's upsampling CNN).
he_init = nn.initializers.variance_scaling(2.0, 'fan_in', 'truncated_normal')


class Conv(nn.Module):
  """A square convolution with symmetric padding; parameters laid out as ``nn.Conv``'s.

  ``kernel_init`` overrides the scheme's kernel draw (the pix2pix scheme's He-initialised
  upsampler).
  """
  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0
  use_bias: bool = True
  param_init: InitScheme = 'pytorch'
  kernel_init: Callable | None = None
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel_init, bias_init = weight_and_bias_init(self.param_init, x.shape[-1] * k * k)
    kernel = self.param('kernel', self.kernel_init or kernel_init,
                        (k, k, x.shape[-1], self.features))
    if self.dtype is not None:
      x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    y = conv2d(x, kernel.astype(x.dtype), self.stride, self.padding)
    if self.use_bias:
      y = y + self.param('bias', bias_init, (self.features,)).astype(y.dtype)
    return y


def conv(features: int, kernel: int, stride: int = 1, padding: int | None = None,
         use_bias: bool = True, dtype=None, name: str | None = None,
         init: InitScheme = 'pytorch', kernel_init: Callable | None = None) -> Conv:
  """A PyTorch-style convolution (symmetric integer padding, ``init``'s parameter draws)."""
  pad = (kernel - 1) // 2 if padding is None else padding
  return Conv(features, kernel, stride, pad, use_bias, init, kernel_init, dtype, name=name)


class BatchNorm(nn.Module):
  """``torch.nn.BatchNorm2d`` on NHWC input, with flax's parameter and statistic names.

  Training normalises with the biased batch variance, as PyTorch and flax both do,
  but the running variance takes the *unbiased* one (times n / (n - 1), n the
  values per channel over the whole batch, all devices included), as PyTorch's
  does and ``flax.linen.BatchNorm``'s does not: at batch 16 the innermost 1x1
  encoder level would otherwise keep a running variance 1/16 lower than the
  reference's. ``axis_name`` averages the statistics over that mesh axis.
  Statistics and normalisation are computed in float32; the output is cast to
  ``dtype`` (default: the input's).
  """
  use_running_average: bool
  axis_name: str | None = None
  momentum: float = 0.9  # flax's convention: running = momentum * running + (1 - momentum) * batch
  epsilon: float = 1e-5
  scale_init: Callable = nn.initializers.ones
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    running_mean = self.variable('batch_stats', 'mean', jnp.zeros, (channels,), jnp.float32)
    running_var = self.variable('batch_stats', 'var', jnp.ones, (channels,), jnp.float32)
    scale = self.param('scale', self.scale_init, (channels,), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (channels,), jnp.float32)
    xf = x.astype(jnp.float32)
    if self.use_running_average:
      mean, var = running_mean.value, running_var.value
    else:
      # Two passes (the mean, then the mean squared deviation) rather than flax's
      # E[x²] - E[x]², which cancels catastrophically in float32 when a channel's mean
      # is large beside its spread, as under PyTorch's initialisation, where the
      # upsampler's small output leaves enc1's bias dominating.
      axes = tuple(range(x.ndim - 1))
      across = (lambda v: jax.lax.pmean(v, self.axis_name)) if self.axis_name else (lambda v: v)
      mean = across(xf.mean(axes))
      var = across(jnp.square(xf - mean).mean(axes))
      count = x.size // channels
      if self.axis_name is not None:
        count = count * jax.lax.psum(1, self.axis_name)
      if not self.is_initializing():
        unbiased = var * (count / jnp.maximum(count - 1, 1))
        running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
        running_var.value = self.momentum * running_var.value + (1 - self.momentum) * unbiased
    y = (xf - mean) * (jax.lax.rsqrt(var + self.epsilon) * scale) + bias
    return y.astype(self.dtype or x.dtype)


def batch_norm(train: bool, axis_name: str | None, dtype=None, name: str | None = None,
               init: InitScheme = 'pytorch') -> BatchNorm:
  """BatchNorm with PyTorch's defaults (momentum 0.1 -> flax 0.9, eps 1e-5).

  ``axis_name`` makes the batch statistics cross-device when the module runs
  inside ``shard_map`` over that mesh axis, so N devices normalise exactly like
  one device holding the whole batch.
  """
  scale_init = bn_scale_init if init == 'pix2pix' else nn.initializers.ones
  return BatchNorm(use_running_average=not train, axis_name=axis_name if train else None,
                   scale_init=scale_init, dtype=dtype, name=name)


def per_example_keys(module: nn.Module, collection: str, batch: int,
                     axis_name: str | None) -> jax.Array:
  """One key per example, indexed by the example's position in the *global* batch.

  Inside ``shard_map`` over ``axis_name`` each device holds ``batch`` consecutive
  examples; folding in the global index makes dropout masks and noise the same
  whether the batch sits on one device or is split over many.
  """
  key = module.make_rng(collection)
  first = jax.lax.axis_index(axis_name) * batch if axis_name else 0
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(first + jnp.arange(batch))


def add_noise(module: nn.Module, x: jax.Array, std: float, axis_name: str | None) -> jax.Array:
  """The "w/N" variant: additive noise drawn from N(1, std), at train and test time."""
  if std <= 0:
    return x
  keys = per_example_keys(module, 'noise', x.shape[0], axis_name)
  noise = jax.vmap(lambda k: jax.random.normal(k, x.shape[1:]))(keys)
  return x + (1.0 + std * noise).astype(x.dtype)


class ExampleDropout(nn.Module):
  """Inverted dropout whose mask depends only on each example's global index."""
  rate: float
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if not train or self.rate <= 0:
      return x
    keys = per_example_keys(self, 'dropout', x.shape[0], self.axis_name)
    keep = jax.vmap(lambda k: jax.random.bernoulli(k, 1.0 - self.rate, x.shape[1:]))(keys)
    return jnp.where(keep, x / (1.0 - self.rate), 0.0).astype(x.dtype)
