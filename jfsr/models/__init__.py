"""Networks of jfsr, and how a config builds them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from jfsr.models.discriminator import PatchDiscriminator
from jfsr.models.generator import Generator
from jfsr.models.vgg import VGG

__all__ = ['Generator', 'PatchDiscriminator', 'VGG', 'build_generator', 'build_discriminator',
           'build_vgg', 'parameter_counts', 'input_channels', 'jit_with_weights']

PERCEPTUAL_TAPS = {
    'relu': ('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'),
    'pool': ('pool1', 'pool2', 'pool3', 'pool4', 'pool5'),
}


def jit_with_weights(apply_fn, weights):
  """``apply_fn(weights, *inputs)`` compiled once, as a function of ``*inputs``.

  The weights stay an argument of the compiled program at every call. Closed over (a
  lambda or ``functools.partial`` inside ``jax.jit``), they would be baked into the
  executable as constants: for FaceNet or the FID Inception ~80 MB each, slow to compile
  and written whole into the persistent compilation cache.
  """
  compiled = jax.jit(apply_fn)
  return lambda *inputs: compiled(weights, *inputs)


def input_channels(config: ml_collections.ConfigDict) -> int:
  return 1 if config.data.grayscale_input else 3


def build_generator(config: ml_collections.ConfigDict, axis_name: str | None = None,
                    dtype=None) -> Generator:
  m = config.model
  return Generator(output_size=config.data.hr_size, ngf=m.ngf,
                   upsampler_features=m.upsampler_features, out_channels=3,
                   use_upsampler=m.use_upsampler, dropout_rate=m.dropout_rate,
                   noise_std=m.noise_std, convt_impl=m.convt_impl, axis_name=axis_name,
                   param_init=m.init, dtype=dtype)


def build_discriminator(config: ml_collections.ConfigDict, axis_name: str | None = None,
                        dtype=None) -> PatchDiscriminator:
  return PatchDiscriminator(features=config.model.d_features, num_layers=config.model.d_layers,
                            axis_name=axis_name, param_init=config.model.init, dtype=dtype)


def vgg_preprocessing(config: ml_collections.ConfigDict) -> str:
  """How images in [-1, 1] enter the perceptual network (``jfsr.models.vgg.preprocess``).

  ``perceptual.input='raw'`` (the authors' code) feeds them as they are;
  ``'imagenet'`` first maps them to what the pretrained weights were trained on.
  Each weight source has its own convention: torchvision's VGG-19 (and random
  weights, tests) reads RGB normalised by ImageNet's mean and std, Keras' VGG16
  BGR in 0..255 minus its mean ('caffe'), whose raw counterpart is the [-1, 1]
  image in that network's units ('caffe_raw').
  """
  p = config.perceptual
  if p.taps not in PERCEPTUAL_TAPS:
    raise ValueError(f"perceptual.taps must be 'relu' or 'pool', got {p.taps!r}")
  caffe = p.network == 'vgg16' and p.weights == 'pretrained'
  if p.input == 'raw':
    return 'caffe_raw' if caffe else 'raw'
  if p.input == 'imagenet':
    return 'caffe' if caffe else 'torchvision'
  raise ValueError(f"perceptual.input must be 'raw' or 'imagenet', got {p.input!r}")


def build_vgg(config: ml_collections.ConfigDict, dtype=None) -> VGG:
  p = config.perceptual
  return VGG(arch=p.network, taps=PERCEPTUAL_TAPS[p.taps], preprocessing=vgg_preprocessing(config),
             width_divisor=p.width_divisor, dtype=dtype)


def init_variables(config: ml_collections.ConfigDict, rng: jax.Array) -> dict:
  """Initial variables of every network: ``{'generator', 'global_d', 'local_d'}``.

  Discriminators a config switches off are absent. Call under ``jax.eval_shape``
  for shapes only.
  """
  size, lr_size = config.data.hr_size, config.data.lr_size
  g_rng, gd_rng, ld_rng = jax.random.split(rng, 3)
  lr = jnp.zeros((1, lr_size, lr_size, input_channels(config)))
  variables = {'generator': build_generator(config).init(
      {'params': g_rng, 'dropout': g_rng, 'noise': g_rng}, lr, train=False)}
  if config.model.use_global_d:
    variables['global_d'] = build_discriminator(config).init(
        gd_rng, jnp.zeros((1, size, size, 6)), train=False)
  if config.model.use_local_d:
    variables['local_d'] = build_discriminator(config).init(
        ld_rng, jnp.zeros((1, size, size, 3)), train=False)
  return variables


def parameter_counts(config: ml_collections.ConfigDict | None = None) -> dict[str, int]:
  """Trainable parameters per network (BatchNorm running statistics excluded).

  With no config, the paper's (:func:`jfsr.config_defaults.base_config`): 58,295,494 for the
  generator, 2,769,601 for the global and 2,766,529 for the local discriminator.
  """
  if config is None:
    from jfsr import config_defaults
    config = config_defaults.base_config()
  shapes = jax.eval_shape(lambda: init_variables(config, jax.random.key(0)))
  return {name: sum(x.size for x in jax.tree.leaves(v['params'])) for name, v in shapes.items()}
