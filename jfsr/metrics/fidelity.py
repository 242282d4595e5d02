"""PSNR and SSIM, batched in JAX: the standard definitions and the paper's protocol.

Standard (what face-restoration papers report, and what scikit-image computes with
``peak_signal_noise_ratio(data_range=255)`` and ``structural_similarity(
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)``):
uint8-range RGB, a fixed range of 255, SSIM over an 11x11 Gaussian window
(sigma 1.5), the mean over channels. Optionally on the luma (Y) channel only and
with a border cropped.

The paper's protocol (Yun et al. 2020, docs/design.md, "The paper's numbers"), kept separately named so its
figures can sit beside Table 1: RGB in [0, 1], ``data_range = pred.max() -
pred.min()`` per image, SSIM over a 7x7 uniform window with the sample covariance
(scikit-image's defaults then).

Every function takes batches ``(n, h, w, c)`` and returns one value per image.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

K1, K2 = 0.01, 0.03


def gaussian_window(sigma: float = 1.5, truncate: float = 3.5) -> np.ndarray:
  """scipy's ``gaussian_filter`` taps: radius ``int(truncate * sigma + 0.5)``, normalised."""
  radius = int(truncate * sigma + 0.5)
  x = np.arange(-radius, radius + 1, dtype=np.float64)
  taps = np.exp(-0.5 * (x / sigma) ** 2)
  return taps / taps.sum()


def uniform_window(size: int = 7) -> np.ndarray:
  return np.full(size, 1.0 / size)


def _filter_valid(x: jax.Array, taps: np.ndarray) -> jax.Array:
  """Separable filtering of (n, h, w, c) maps, keeping only windows inside the image.

  scikit-image filters with reflected borders and then drops a border of the
  window's radius before averaging, so its mean only ever sees these windows.
  """
  n, h, w, c = x.shape
  k = jnp.asarray(taps, x.dtype)
  planes = x.transpose(0, 3, 1, 2).reshape(n * c, 1, h, w)
  dims = ('NCHW', 'OIHW', 'NCHW')
  out = jax.lax.conv_general_dilated(planes, k.reshape(1, 1, -1, 1), (1, 1), 'VALID',
                                     dimension_numbers=dims,
                                     precision=jax.lax.Precision.HIGHEST)
  out = jax.lax.conv_general_dilated(out, k.reshape(1, 1, 1, -1), (1, 1), 'VALID',
                                     dimension_numbers=dims,
                                     precision=jax.lax.Precision.HIGHEST)
  return out.reshape(n, c, *out.shape[2:]).transpose(0, 2, 3, 1)


def ssim(target: jax.Array, pred: jax.Array, data_range, taps: np.ndarray,
         sample_covariance: bool) -> jax.Array:
  """Mean SSIM per image (mean over the valid windows and the channels).

  ``data_range`` is a scalar or one value per image.
  """
  x = jnp.asarray(target, jnp.float32)
  y = jnp.asarray(pred, jnp.float32)
  data_range = jnp.broadcast_to(jnp.asarray(data_range, jnp.float32), (x.shape[0],))
  # Second moments around a per-image constant: algebraically the same, but fp32
  # does not lose the variance to cancellation against the squared mean.
  centre = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  x, y = x - centre, y - centre
  mu_x, mu_y = _filter_valid(x, taps), _filter_valid(y, taps)
  window = len(taps) ** 2
  norm = window / (window - 1) if sample_covariance else 1.0
  var_x = norm * (_filter_valid(x * x, taps) - mu_x * mu_x)
  var_y = norm * (_filter_valid(y * y, taps) - mu_y * mu_y)
  cov = norm * (_filter_valid(x * y, taps) - mu_x * mu_y)
  # The means enter the luminance term unshifted.
  shift = centre
  mx, my = mu_x + shift, mu_y + shift
  c1 = ((K1 * data_range) ** 2)[:, None, None, None]
  c2 = ((K2 * data_range) ** 2)[:, None, None, None]
  s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (var_x + var_y + c2))
  return jnp.mean(s, axis=(1, 2, 3))


def psnr(target: jax.Array, pred: jax.Array, data_range) -> jax.Array:
  """PSNR per image in dB (``inf`` for identical images)."""
  x = jnp.asarray(target, jnp.float32)
  y = jnp.asarray(pred, jnp.float32)
  mse = jnp.mean((x - y) ** 2, axis=(1, 2, 3))
  return 10.0 * jnp.log10(jnp.asarray(data_range, jnp.float32) ** 2 / mse)


def luma(rgb_255: jax.Array) -> jax.Array:
  """ITU-R BT.601 Y of uint8-range RGB, in [16, 235] (what SR papers' "Y channel" means)."""
  weights = jnp.asarray([65.481, 128.553, 24.966], jnp.float32) / 255.0
  return (16.0 + jnp.tensordot(jnp.asarray(rgb_255, jnp.float32), weights, axes=1))[..., None]


def standard_metrics(target_uint8, pred_uint8, y_channel: bool = False,
                     crop_border: int = 0) -> dict[str, jax.Array]:
  """``psnr`` and ``ssim`` per image, the standard way (range 255, Gaussian 11x11)."""
  x = jnp.asarray(target_uint8, jnp.float32)
  y = jnp.asarray(pred_uint8, jnp.float32)
  if y_channel:
    x, y = luma(x), luma(y)
  if crop_border:
    b = crop_border
    x, y = x[:, b:-b, b:-b], y[:, b:-b, b:-b]
  return {'psnr': psnr(x, y, 255.0),
          'ssim': ssim(x, y, 255.0, gaussian_window(), sample_covariance=False)}


def paper_metrics(target_uint8, pred_uint8) -> dict[str, jax.Array]:
  """The paper's ``psnr`` and ``ssim``: [0, 1] RGB, range = pred.max() - pred.min(), 7x7 box."""
  x = jnp.asarray(target_uint8, jnp.float32) / 255.0
  y = jnp.asarray(pred_uint8, jnp.float32) / 255.0
  data_range = jnp.max(y, axis=(1, 2, 3)) - jnp.min(y, axis=(1, 2, 3))
  return {'psnr': psnr(x, y, data_range),
          'ssim': ssim(x, y, data_range, uniform_window(7), sample_covariance=True)}
