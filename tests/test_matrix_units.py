"""The bfloat16 convolutions for CPUs with matrix units, against XLA's own convolution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P

from jfsr import config_loading, host_cpu
from jfsr.models import layers, matrix_units, vgg


def _pair(dtype, shape=(2, 9, 7, 5), out=6, seed=0):
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.normal(size=shape), dtype)
  kernel = jnp.asarray(rng.normal(size=(3, 3, shape[-1], out)) / np.sqrt(9 * shape[-1]),
                       jnp.float32)
  return x, kernel


def _sin_loss(conv):
  return lambda x, k: jnp.sum(jnp.sin(conv(x, k).astype(jnp.float32)))


def _xla(x, k):
  return layers.xla_conv(x.astype(jnp.float32), k, 1, 1)


def test_the_rows_form_equals_xlas_convolution_values_and_gradients():
  # In float32 the three row products, the turned-kernel input gradient and the
  # kernel gradient are XLA's convolution and its autodiff up to summation order.
  x, k = _pair(jnp.float32)
  np.testing.assert_allclose(matrix_units.conv3x3(x, k), _xla(x, k), rtol=1e-5, atol=1e-5)
  ours = jax.grad(_sin_loss(matrix_units.conv3x3), argnums=(0, 1))(x, k)
  reference = jax.grad(_sin_loss(_xla), argnums=(0, 1))(x, k)
  for a, b in zip(ours, reference):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_in_bfloat16_it_is_within_bfloat16_rounding_of_float32():
  # bfloat16 keeps 8 bits of mantissa (relative step 2^-8 = 0.4%); the products accumulate
  # in float32, so the result is off by about the inputs' rounding, not the sum's length.
  x, k = _pair(jnp.bfloat16, shape=(2, 8, 8, 64), out=32)
  ours = matrix_units.conv3x3(x, k)
  assert ours.dtype == jnp.float32
  reference = _xla(x, k.astype(jnp.bfloat16).astype(jnp.float32))
  scale = float(jnp.abs(reference).max())
  assert float(jnp.abs(ours - reference).max()) < 1e-5 * scale
  grad_x = jax.grad(_sin_loss(matrix_units.conv3x3))(x, k)
  assert grad_x.dtype == jnp.bfloat16
  reference_grad = jax.grad(_sin_loss(_xla))(x.astype(jnp.float32), k)
  error = float(jnp.abs(grad_x.astype(jnp.float32) - reference_grad).max())
  assert error < 2e-2 * float(jnp.abs(reference_grad).max())


def test_inside_shard_map_the_kernel_gradient_sums_every_devices_part():
  x, k = _pair(jnp.float32, shape=(4, 6, 6, 3), out=4)
  mesh = Mesh(np.array(jax.devices()[:4]), ('data',))

  def sharded(conv):
    return jax.shard_map(lambda x_, k_: jax.lax.psum(_sin_loss(conv)(x_, k_), 'data'),
                         mesh=mesh, in_specs=(P('data'), P()), out_specs=P())

  ours = jax.grad(sharded(matrix_units.conv3x3), argnums=1)(x, k)
  one_device = jax.grad(_sin_loss(_xla), argnums=1)(x, k)
  np.testing.assert_allclose(ours, one_device, rtol=1e-4, atol=1e-4)


def test_only_wide_3x3_layers_suit_the_matrix_units():
  assert matrix_units.suits((3, 3, 128, 256))      # VGG's conv3_1
  assert matrix_units.suits((3, 3, 512, 512))
  assert not matrix_units.suits((3, 3, 128, 128))  # conv2_2: XLA's float32 is faster
  assert not matrix_units.suits((3, 3, 64, 64))
  assert not matrix_units.suits((4, 4, 256, 512))


def test_the_cpu_flags_say_whether_there_are_matrix_units(tmp_path):
  with_amx = tmp_path / 'amx'
  with_amx.write_text('processor\t: 0\nflags\t\t: fpu sse2 avx512_bf16 amx_bf16 amx_tile\n')
  without = tmp_path / 'plain'
  without.write_text('processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n')
  assert host_cpu.has_matrix_units(str(with_amx))
  assert not host_cpu.has_matrix_units(str(without))
  assert not host_cpu.has_matrix_units(str(tmp_path / 'missing'))


@pytest.mark.parametrize('setting, backend, amx, expected', [
    ('compute', 'cpu', True, 'float32'),     # what saved configs without the field had
    ('compute', 'gpu', False, 'bfloat16'),
    ('auto', 'cpu', True, 'bfloat16'),
    ('auto', 'cpu', False, 'float32'),
    ('auto', 'gpu', False, 'bfloat16'),
    ('float32', 'gpu', False, 'float32'),
    ('bfloat16', 'cpu', False, 'bfloat16'),
])
def test_the_perceptual_dtype_resolves_by_backend_and_cpu(monkeypatch, smoke_config, setting,
                                                          backend, amx, expected):
  monkeypatch.setattr(host_cpu, 'has_matrix_units', lambda: amx)
  smoke_config.perceptual.dtype = setting
  assert config_loading.perceptual_dtype(smoke_config, backend) == jnp.dtype(expected)


def test_a_bfloat16_vgg_on_matrix_units_keeps_the_early_layers_in_float32(monkeypatch):
  """VGG-16 at its real widths: the layers from conv3_1 on go to the matrix units, the
  taps before them are float32 and equal to the float32 network's, the later ones within
  bfloat16 rounding of it."""
  monkeypatch.setattr(host_cpu, 'has_matrix_units', lambda: True)
  routed = []
  real_conv3x3 = matrix_units.conv3x3

  def counting(x, kernel):
    routed.append(kernel.shape)
    return real_conv3x3(x, kernel)

  monkeypatch.setattr(matrix_units, 'conv3x3', counting)
  images = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 3)), jnp.float32)
  network = vgg.VGG(arch='vgg16')
  params = network.init(jax.random.key(0), images)
  full = network.apply(params, images)
  assert routed == []
  low = vgg.VGG(arch='vgg16', dtype=jnp.bfloat16).apply(params, images)
  assert [shape[2:] for shape in routed] == [(128, 256), (256, 256), (256, 256), (256, 512),
                                            (512, 512), (512, 512), (512, 512)]
  for tap in ('relu1_1', 'relu2_1'):
    assert low[tap].dtype == jnp.float32
    np.testing.assert_array_equal(low[tap], full[tap])
  for tap in ('relu3_1', 'relu4_1', 'relu5_1'):
    assert low[tap].dtype == jnp.bfloat16
    error = jnp.abs(low[tap].astype(jnp.float32) - full[tap])
    assert float(error.max()) < 0.05 * float(jnp.abs(full[tap]).max())
