"""Network structure: parameter counts, the transposed-conv rewrite, pixel shuffle."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jfsr import config_loading, models
from jfsr.models import layers, vgg


def test_reference_parameter_counts():
  assert models.parameter_counts() == {
      'generator': 58_295_494, 'global_d': 2_769_601, 'local_d': 2_766_529}


def test_generator_parts_match_the_reference_breakdown():
  config = config_loading.load_config('default')
  shapes = jax.eval_shape(lambda: models.init_variables(config, jax.random.key(0)))
  params = shapes['generator']['params']
  count = lambda prefix: sum(x.size for name, sub in params.items() if name.startswith(prefix)
                             for x in jax.tree.leaves(sub))
  assert count('upsampler') == 459_648
  assert count('enc') == 19_541_696
  assert count('sharp') == 34_878_787
  assert count('blur') == 3_415_363


def test_seven_conv_discriminator_is_a_config_value():
  config = config_loading.load_config('default')
  config.model.d_layers = 5
  shapes = jax.eval_shape(lambda: models.init_variables(config, jax.random.key(0)))
  assert sum(name.startswith('Conv') for name in shapes['global_d']['params']) == 7


def test_variants_build_and_produce_the_right_shapes():
  for variant, lr_shape, hr in [('x16', (1, 16, 16, 3), 128), ('gray', (1, 32, 32, 1), 256),
                                ('model1', (1, 32, 32, 3), 256)]:
    config = config_loading.load_config(variant)
    generator = models.build_generator(config)
    out = jax.eval_shape(lambda: generator.init_with_output(
        {'params': jax.random.key(0), 'noise': jax.random.key(1)}, jnp.zeros(lr_shape),
        train=False)[0])
    for name in ('upx', 'out_sharp', 'out_blur'):
      assert out[name].shape == (1, hr, hr, 3), (variant, name)
  model2 = config_loading.load_config('model2')
  assert set(models.parameter_counts(model2)) == {'generator'}
  assert set(models.parameter_counts(config_loading.load_config('model3'))) == {
      'generator', 'global_d'}


def _torch_conv_transpose_reference(x, w, b):
  """PyTorch ConvTranspose2d(4, 2, 1) by its definition: scatter every input pixel."""
  n, h, wd, _ = x.shape
  out = np.zeros((n, 2 * h + 2, 2 * wd + 2, w.shape[-1]))  # padded by 1 on each side
  for i in range(h):
    for j in range(wd):
      # out[2i - 1 + ky, 2j - 1 + kx] += x[i, j] . w[ky, kx]
      out[:, 2 * i:2 * i + 4, 2 * j:2 * j + 4] += np.einsum('nc,yxco->nyxo', x[:, i, j], w)
  return out[:, 1:-1, 1:-1] + b


@pytest.mark.parametrize('impl', ['gemm', 'phase', 'dilated'])
def test_conv_transpose_matches_the_definition(impl):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 5, 4, 3))
  w = rng.normal(size=(4, 4, 3, 6))
  b = rng.normal(size=(6,))
  got = layers.conv_transpose_4x4_s2(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32),
                                     jnp.asarray(b, jnp.float32), impl)
  np.testing.assert_allclose(got, _torch_conv_transpose_reference(x, w, b), atol=1e-4)


@pytest.mark.parametrize('impl', ['gemm', 'phase'])
def test_conv_transpose_equals_dilated_reference_values_and_gradients(impl):
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, 8, 8, 16)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(4, 4, 16, 8)), jnp.float32)
  b = jnp.asarray(rng.normal(size=(8,)), jnp.float32)
  probe = jnp.asarray(rng.normal(size=(2, 16, 16, 8)), jnp.float32)

  def loss(impl):
    return lambda x, w, b: jnp.sum(probe * layers.conv_transpose_4x4_s2(x, w, b, impl) ** 2)

  fast = jax.value_and_grad(loss(impl), argnums=(0, 1, 2))(x, w, b)
  slow = jax.value_and_grad(loss('dilated'), argnums=(0, 1, 2))(x, w, b)
  np.testing.assert_allclose(fast[0], slow[0], rtol=1e-5)
  for g_fast, g_slow in zip(fast[1], slow[1]):
    np.testing.assert_allclose(g_fast, g_slow, rtol=1e-4, atol=1e-3)


def test_depth_to_space_follows_pixel_shuffle_order():
  # PixelShuffle: out[c, h*r + i, w*r + j] = in[c*r*r + i*r + j, h, w].
  x = np.arange(2 * 3 * 5 * 8, dtype=np.float32).reshape(2, 3, 5, 8)
  out = np.asarray(layers.depth_to_space(jnp.asarray(x), 2))
  for c in range(2):
    for i in range(2):
      for j in range(2):
        np.testing.assert_array_equal(out[:, i::2, j::2, c], x[..., c * 4 + i * 2 + j])


def test_dropout_masks_depend_on_global_example_index_only():
  """A batch of 8 split over 4 devices (shard_map) drops exactly what one device holding
  all 8 drops, and each example's mask differs from the others'."""
  module = layers.ExampleDropout(0.5, axis_name='data')
  x = jnp.ones((8, 4, 4, 3))
  key = jax.random.key(3)
  one_device = layers.ExampleDropout(0.5).apply({}, x, train=True, rngs={'dropout': key})
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:4]), ('data',))
  P = jax.sharding.PartitionSpec
  sharded = jax.shard_map(lambda x: module.apply({}, x, train=True, rngs={'dropout': key}),
                          mesh=mesh, in_specs=P('data'), out_specs=P('data'))(x)
  np.testing.assert_array_equal(sharded, one_device)
  assert 0.3 < float(jnp.mean(one_device == 0)) < 0.7
  masks = np.asarray(one_device == 0).reshape(8, -1)
  assert len({m.tobytes() for m in masks}) == 8
  np.testing.assert_array_equal(module.apply({}, x, train=False), x)


@pytest.mark.parametrize('kernel, stride, padding, size, out', [
    (3, 1, 1, 2, 7), (3, 1, 1, 7, 7), (4, 2, 1, 4, 7), (4, 2, 1, 15, 7), (9, 1, 4, 5, 7),
    (4, 1, 1, 6, 7), (3, 1, 1, 32, 7), (3, 1, 1, 24, 32), (4, 1, 1, 32, 33), (1, 1, 0, 25, 40),
    (4, 2, 1, 66, 32)])
def test_conv2d_equals_xla_values_and_gradients(kernel, stride, padding, size, out):
  # On CPU small maps take the im2col path, strided layers with 5 inputs the im2col kernel
  # gradient, the rest XLA's convolution; the reference is XLA's convolution and its autodiff.
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(2, size, size, 5)), jnp.float32)
  k = jnp.asarray(rng.normal(size=(kernel, kernel, 5, out)), jnp.float32)

  def loss(conv_fn):
    return lambda x, k: jnp.sum(jnp.sin(conv_fn(x, k, stride, padding)))

  np.testing.assert_allclose(layers.conv2d(x, k, stride, padding),
                             layers.xla_conv(x, k, stride, padding), rtol=1e-4, atol=1e-4)
  ours = jax.grad(loss(layers.conv2d), argnums=(0, 1))(x, k)
  xla = jax.grad(loss(layers.xla_conv), argnums=(0, 1))(x, k)
  for a, b in zip(ours, xla):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('method', ['rows', 'im2col'])
@pytest.mark.parametrize('kernel, stride, padding, size, cin, cout', [
    (3, 1, 1, 9, 16, 32), (4, 2, 1, 12, 6, 8), (4, 1, 1, 7, 3, 5), (9, 1, 4, 10, 3, 4),
    (4, 2, 1, 11, 4, 3), (1, 1, 0, 5, 2, 3)])
def test_own_kernel_gradients_equal_xla_autodiff(method, kernel, stride, padding, size, cin, cout):
  # Each kernel-gradient method on every kind of layer (odd sizes leave input rows unused
  # by a strided kernel), inside a loss that makes every output's gradient different.
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.normal(size=(2, size, size, cin)), jnp.float32)
  k = jnp.asarray(rng.normal(size=(kernel, kernel, cin, cout)), jnp.float32)

  def loss(conv_fn):
    return lambda x, k: jnp.sum(jnp.sin(conv_fn(x, k)))

  own = lambda x, k: layers._conv_own_kernel_grad(x, k, stride, padding, method)
  xla = lambda x, k: layers.xla_conv(x, k, stride, padding)
  for a, b in zip(jax.grad(loss(own), argnums=(0, 1))(x, k), jax.grad(loss(xla), argnums=(0, 1))(x, k)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_kernel_gradient_rules_cover_the_reference_layers():
  # The measured choices (see conv2d) for the default model's layers at 256².
  method = layers.kernel_grad_method
  assert method((4, 4, 6, 64), 2, 128 * 128) == 'im2col'        # global D's first layer
  assert method((3, 3, 64, 256), 1, 128 * 128) == 'rows'        # upsampler at 128²
  assert method((4, 4, 256, 512), 1, 31 * 31) == 'rows'         # D's stride-1 block
  assert method((3, 3, 64, 3), 1, 256 * 256) == 'xla'           # upsampler's last layer
  assert method((9, 9, 3, 64), 1, 32 * 32) == 'xla'             # upsampler's first layer
  assert method((4, 4, 256, 512), 2, 16 * 16) == 'xla'          # encoder level 4


def test_vgg_max_pool_equals_reduce_window_values_and_gradients():
  # Odd sizes drop the last row/column like nn.max_pool's VALID padding; continuous
  # random values have no ties, so the gradients agree exactly too.
  x = jnp.asarray(np.random.default_rng(4).normal(size=(2, 7, 6, 3)), jnp.float32)
  reference = lambda x: nn.max_pool(x, (2, 2), strides=(2, 2))
  np.testing.assert_array_equal(vgg.max_pool_2x2(x), reference(x))
  probe = jnp.arange(2 * 3 * 3 * 3, dtype=jnp.float32).reshape(2, 3, 3, 3)
  grad = lambda pool: jax.grad(lambda x: jnp.sum(probe * pool(x)))(x)
  np.testing.assert_array_equal(grad(vgg.max_pool_2x2), grad(reference))
