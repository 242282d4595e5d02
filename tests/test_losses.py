"""Loss terms against hand-written numpy versions of docs/design.md ("Losses and optimisation")."""

import jax.numpy as jnp
import numpy as np

from jfsr import losses


def test_discriminator_loss_is_a_quarter_of_four_lsgan_terms():
  rng = np.random.default_rng(0)
  gr, gf, lr_, lf = (rng.normal(size=(2, 6, 6, 1)) for _ in range(4))
  total, terms = losses.discriminator_loss(*(jnp.asarray(a) for a in (gr, gf, lr_, lf)))
  expected = 0.25 * (np.mean((gr - 1) ** 2) + np.mean(gf ** 2) + np.mean((lr_ - 1) ** 2)
                     + np.mean(lf ** 2))
  np.testing.assert_allclose(total, expected, rtol=1e-6)
  assert set(terms) == {'d_global_real', 'd_global_fake', 'd_local_real', 'd_local_fake'}


def test_generator_loss_combines_adversarial_l1_and_perceptual_terms():
  rng = np.random.default_rng(1)
  shape = (2, 8, 8, 3)
  outputs = {k: rng.uniform(-1, 1, shape) for k in ('out_sharp', 'out_blur', 'upx')}
  batch = {'hr': rng.uniform(-1, 1, shape), 'hr_blur': rng.uniform(-1, 1, shape),
           'mask': (rng.uniform(size=(2, 8, 8, 1)) > 0.5).astype(float)}
  g_fake, l_fake = rng.normal(size=(2, 3, 3, 1)), rng.normal(size=(2, 3, 3, 1))
  # A fake "VGG": two taps, features = x and x**2.
  features = lambda x: {'a': x, 'b': x ** 2}
  total, terms = losses.generator_loss(
      {k: jnp.asarray(v) for k, v in outputs.items()}, {k: jnp.asarray(v) for k, v in batch.items()},
      jnp.asarray(g_fake), jnp.asarray(l_fake), features, ('a', 'b'),
      losses.GeneratorLossWeights(100.0, 10.0, tap_weights=(0.5, 2.0)))
  sharp, hr, m = outputs['out_sharp'], batch['hr'], batch['mask']
  l1 = (np.mean(np.abs(outputs['out_blur'] - batch['hr_blur'])) + np.mean(np.abs(sharp - hr))
        + np.mean(np.abs(m * sharp - m * hr)))
  perceptual = 0.5 * np.mean(np.abs(sharp - hr)) + 2.0 * np.mean(np.abs(sharp ** 2 - hr ** 2))
  expected = np.mean((g_fake - 1) ** 2) + np.mean((l_fake - 1) ** 2) + 100 * l1 + 10 * perceptual
  np.testing.assert_allclose(total, expected, rtol=1e-5)
  np.testing.assert_allclose(terms['perceptual'], perceptual, rtol=1e-5)
  # The global adversarial term weighted 0 (cpu_x16_localgan): gone from the total, still
  # reported.
  total_local, terms_local = losses.generator_loss(
      {k: jnp.asarray(v) for k, v in outputs.items()}, {k: jnp.asarray(v) for k, v in batch.items()},
      jnp.asarray(g_fake), jnp.asarray(l_fake), features, ('a', 'b'),
      losses.GeneratorLossWeights(100.0, 10.0, lambda_global_adv=0.0, tap_weights=(0.5, 2.0)))
  np.testing.assert_allclose(total_local, expected - np.mean((g_fake - 1) ** 2), rtol=1e-5)
  np.testing.assert_allclose(terms_local['g_global_adv'], np.mean((g_fake - 1) ** 2), rtol=1e-5)


def test_log_summary_averages_terms_that_join_mid_interval():
  from jfsr.train import summarize
  interval = [{'g_loss': 1.0}, {'g_loss': 3.0, 'd_local_real': 0.5}]
  assert summarize(interval) == {'g_loss': 2.0, 'd_local_real': 0.5}
