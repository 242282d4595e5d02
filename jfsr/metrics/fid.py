"""Fréchet Inception Distance with the TF-Inception pool3 features (the standard FID).

Images (uint8 RGB, any size) are resized to 299x299 (bilinear), scaled to
``(x - 128) / 128`` and embedded by :class:`jfsr.models.inception.FIDInception`;
the FID of two sets is the Fréchet distance between Gaussians fitted to their
features. With fewer images than feature dimensions (2048) the covariances are
rank-deficient and FID is biased upwards: compare figures only at equal counts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

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


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``.

  The trace of the matrix square root is the sum of the square roots of the eigenvalues
  of ``sigma1 sigma2``, which are those of the symmetric ``R sigma2 R`` with ``R`` the
  square root of ``sigma1``: two symmetric eigendecompositions instead of the general
  ``scipy.linalg.sqrtm`` (a Schur decomposition), 5x faster at 2048 dimensions (2.8 s
  against 13.7 s on a 2-core CPU) and equal to it within 2e-7 of the distance, also
  for the singular covariances of fewer images than dimensions.
  """
  diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
  values, vectors = np.linalg.eigh(sigma1)
  root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
  product_values = np.linalg.eigvalsh(root @ sigma2 @ root)
  trace_covmean = np.sqrt(np.clip(product_values, 0.0, None)).sum()
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean)


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
  """The FID of two feature sets (rows are images).

  With fewer images than dimensions (100 test faces against 2,048 features) the
  covariances ``A'A / (n_a - 1)`` and ``B'B / (n_b - 1)`` (``A``, ``B`` the centred
  features) have low rank, and the nonzero eigenvalues of their product are the squared
  singular values of the small ``A B'`` over ``(n_a - 1)(n_b - 1)``: the trace term is
  that matrix's nuclear norm, one ``n_a x n_b`` SVD instead of two 2048² problems.
  """
  a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
  if max(len(a), len(b)) >= a.shape[1]:
    return frechet_distance(*gaussian(a), *gaussian(b))
  centred_a, centred_b = a - a.mean(axis=0), b - b.mean(axis=0)
  scale = (len(a) - 1) * (len(b) - 1)
  trace_covmean = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum() / np.sqrt(scale)
  diff = a.mean(axis=0) - b.mean(axis=0)
  return float(diff @ diff + np.square(centred_a).sum() / (len(a) - 1)
               + np.square(centred_b).sum() / (len(b) - 1) - 2.0 * trace_covmean)
