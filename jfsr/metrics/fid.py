"""Fréchet Inception Distance with the TF-Inception pool3 features (the standard FID).

Images (uint8 RGB, any size) are resized to 299x299 (bilinear), scaled to
``(x - 128) / 128`` and embedded by :class:`jfsr.models.inception.FIDInception`;
the FID of two sets is the Fréchet distance between Gaussians fitted to their
features. With fewer images than feature dimensions (2048) the covariances are
rank-deficient and FID is biased upwards: compare figures only at equal counts.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

INPUT_SIZE = 299


def embed(inception, variables, images_uint8: jax.Array) -> jax.Array:
  """(n, h, w, 3) uint8-range images -> (n, 2048) pool3 features."""
  x = jnp.asarray(images_uint8, jnp.float32)
  if x.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
    x = jax.image.resize(x, (x.shape[0], INPUT_SIZE, INPUT_SIZE, x.shape[-1]), 'bilinear')
  return inception.apply(variables, (x - 128.0) / 128.0)


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and (unbiased) covariance, in float64."""
  features = np.asarray(features, np.float64)
  return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
  """``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``."""
  diff = mu1 - mu2
  with warnings.catch_warnings():  # fewer samples than dimensions: singular, as documented above
    warnings.simplefilter('ignore', scipy.linalg.LinAlgWarning)
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
  if not np.isfinite(covmean).all():  # singular product: regularise both
    offset = np.eye(len(mu1)) * eps
    covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  covmean = np.real(covmean)
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
  return frechet_distance(*gaussian(features_a), *gaussian(features_b))
