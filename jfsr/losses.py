"""The losses of the reference implementation (docs/design.md, "Losses and optimisation"), as pure functions.

Images are NHWC in [-1, 1]; masks are NHWC with one channel in [0, 1]. Every term
is a mean over the (local) batch; the train step averages them over devices.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp


def lsgan(scores: jax.Array, target: float) -> jax.Array:
  """Least-squares GAN loss: mean squared distance of patch scores to 1 (real) or 0 (fake)."""
  return jnp.mean(jnp.square(scores.astype(jnp.float32) - target))


def l1(a: jax.Array, b: jax.Array) -> jax.Array:
  return jnp.mean(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32)))


def perceptual(features_out: Mapping[str, jax.Array], features_target: Mapping[str, jax.Array],
               taps: Sequence[str], weights: Sequence[float]) -> jax.Array:
  """pix2pixHD's VGG loss: weighted L1 between feature maps; the target side is constant."""
  total = jnp.zeros((), jnp.float32)
  for tap, weight in zip(taps, weights):
    total += weight * l1(features_out[tap], jax.lax.stop_gradient(features_target[tap]))
  return total


def discriminator_loss(global_real: jax.Array | None, global_fake: jax.Array | None,
                       local_real: jax.Array | None, local_fake: jax.Array | None,
                       ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """0.25 x the four LSGAN terms; a switched-off discriminator passes None."""
  terms = {}
  if global_real is not None:
    terms['d_global_real'] = lsgan(global_real, 1.0)
    terms['d_global_fake'] = lsgan(global_fake, 0.0)
  if local_real is not None:
    terms['d_local_real'] = lsgan(local_real, 1.0)
    terms['d_local_fake'] = lsgan(local_fake, 0.0)
  total = 0.25 * sum(terms.values()) if terms else jnp.zeros((), jnp.float32)
  return total, terms


# The perceptual loss's tap weights: pix2pixHD's for the authors' relu taps; the paper's eq.
# 5 sums its pool taps unweighted.
TAP_WEIGHTS = {
    'relu': (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0),
    'pool': (1.0, 1.0, 1.0, 1.0, 1.0),
}


@dataclasses.dataclass(frozen=True)
class GeneratorLossWeights:
  """lambda1 on the three L1 terms, lambda2 on the perceptual loss, the global adversarial
  term's weight (the paper: 1, like the local one's) and the perceptual taps' weights."""
  lambda_l1: float
  lambda_perceptual: float
  lambda_global_adv: float = 1.0
  tap_weights: tuple[float, ...] = TAP_WEIGHTS['relu']

  @classmethod
  def from_config(cls, config) -> 'GeneratorLossWeights':
    return cls(config.loss.lambda_l1, config.loss.lambda_perceptual,
               config.loss.lambda_global_adv, TAP_WEIGHTS[config.perceptual.taps])


def generator_loss(outputs: Mapping[str, jax.Array], batch: Mapping[str, jax.Array],
                   global_fake: jax.Array | None, local_fake: jax.Array | None,
                   vgg_features: Callable[[jax.Array], Mapping[str, jax.Array]] | None,
                   taps: Sequence[str], weights: GeneratorLossWeights,
                   ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Adversarial terms + lambda1 x (three L1 terms) + lambda2 x perceptual loss (``weights``);
  the global adversarial term's value is reported whatever its weight."""
  mask = batch['mask']
  sharp, hr = outputs['out_sharp'], batch['hr']
  terms = {
      'l1_blur': l1(outputs['out_blur'], batch['hr_blur']),
      'l1_sharp': l1(sharp, hr),
      'l1_face': l1(mask * sharp, mask * hr),
  }
  total = weights.lambda_l1 * (terms['l1_blur'] + terms['l1_sharp'] + terms['l1_face'])
  if global_fake is not None:
    terms['g_global_adv'] = lsgan(global_fake, 1.0)
    total += weights.lambda_global_adv * terms['g_global_adv']
  if local_fake is not None:
    terms['g_local_adv'] = lsgan(local_fake, 1.0)
    total += terms['g_local_adv']
  if vgg_features is not None and weights.lambda_perceptual:
    # Two passes rather than one over both halves: only the output's pass needs a
    # backward pass, which costs about twice its forward.
    target_features = jax.lax.stop_gradient(vgg_features(hr))
    terms['perceptual'] = perceptual(vgg_features(sharp), target_features, taps,
                                     weights.tap_weights)
    total += weights.lambda_perceptual * terms['perceptual']
  return total, terms
