"""LPIPS (jfsr.metrics.lpips) against the published formula written out here with plain
lax operations on the same weights: AlexNet's five ReLU outputs, unit-normalised along the
channels, squared differences weighted by the linear heads, averaged over the image,
summed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jfsr.metrics.lpips import alexnet_lpips_params, lpips_distance

SHIFT = np.array([-0.030, -0.088, -0.188])  # LPIPS' ScalingLayer, for inputs in [-1, 1]
SCALE = np.array([0.458, 0.448, 0.450])
# AlexNet's convolutions: (stride, padding), and whether a 3x3/2 max pool comes first.
CONVS = (((4, 2), False), ((1, 2), True), ((1, 1), True), ((1, 1), False), ((1, 1), False))


def formula(a_uint8: np.ndarray, b_uint8: np.ndarray) -> np.ndarray:
  params = alexnet_lpips_params()

  def features(x):
    x = (jnp.asarray(x, jnp.float32) / 127.5 - 1.0 - SHIFT) / SCALE
    taps = []
    for index, ((stride, pad), pool_first) in enumerate(CONVS):
      if pool_first:
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), 'VALID')
      conv = params['AlexNet_0'][f'Conv_{index}']
      x = jax.lax.conv_general_dilated(x, conv['kernel'], (stride, stride),
                                       [(pad, pad), (pad, pad)],
                                       dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
      x = jax.nn.relu(x + conv['bias'])
      taps.append(x)
    return taps

  total = 0.0
  for index, (fa, fb) in enumerate(zip(features(a_uint8), features(b_uint8))):
    unit = lambda f: f / (jnp.sqrt(jnp.sum(f * f, -1, keepdims=True)) + 1e-10)
    weights = params[f'NetLinLayer_{index}']['Conv_0']['kernel'][0, 0, :, 0]
    total = total + jnp.mean(jnp.sum((unit(fa) - unit(fb)) ** 2 * weights, -1), axis=(1, 2))
  return np.asarray(total)


def test_lpips_is_the_formula_and_orders_distortions():
  rng = np.random.default_rng(0)
  base = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
  noisy = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
  noisier = np.clip(base + rng.normal(0, 60, base.shape), 0, 255).astype(np.uint8)
  distance = lpips_distance()
  ours = distance(base, noisy)
  np.testing.assert_allclose(ours, formula(base, noisy), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(distance(base, base), 0, atol=1e-7)
  assert (distance(base, noisier) > ours).all() and (ours > 0.01).all()


def test_evaluation_reports_the_formulas_lpips(smoke_config):
  """jfsr.evaluate's LPIPS of bicubic is the formula's mean over the same test faces."""
  from jfsr import evaluate, grids, train_step
  from jfsr.data import pipeline
  from jfsr.train_state import create_train_state, generator_variables
  smoke_config.eval.lpips = True
  state = create_train_state(smoke_config, jax.random.PRNGKey(0))
  evaluator = evaluate.Evaluator(smoke_config, train_step.replicated(train_step.make_mesh()))
  results, _ = evaluator.run(generator_variables(state))
  targets, bicubics = [], []
  for batch in pipeline.make_eval_dataset(smoke_config, smoke_config.eval.batch_size):
    lr, size = jnp.asarray(batch['lr']), smoke_config.data.hr_size
    bicubic = jax.image.resize(lr, (lr.shape[0], size, size, lr.shape[-1]), 'bicubic')
    targets.append(np.asarray(grids.to_uint8(jnp.asarray(batch['hr']))))
    bicubics.append(np.asarray(grids.to_uint8(bicubic)))
  expected = formula(np.concatenate(targets), np.concatenate(bicubics)).mean()
  assert results['bicubic']['lpips'] == pytest.approx(float(expected), rel=1e-4)
  assert 'lpips' in results['model']
