"""Loading the project's config files and checking a config before any work starts."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import jax.numpy as jnp
import ml_collections

from jfsr import config_defaults, host_cpu
from jfsr.errors import ConfigError, JfsrError

CONFIG_DIR = Path(__file__).resolve().parent.parent / 'configs'


def load_config(variant: str | None = 'default', path: str | Path | None = None
                ) -> ml_collections.ConfigDict:
  """``get_config(variant)`` of ``configs/celebahq.py`` (or another config file); ``None``:
  ``get_config()``, for a file of one config (``--config FILE`` without ``:VARIANT``)."""
  path = Path(path) if path else CONFIG_DIR / 'celebahq.py'
  spec = importlib.util.spec_from_file_location(f'jfsr_config_{path.stem}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config() if variant is None else module.get_config(variant)


def config_from_dict(saved: dict) -> ml_collections.ConfigDict:
  """A saved config (JSON round-tripped) over the package's defaults
  (:func:`jfsr.config_defaults.base_config`, no config file needed), so that fields added
  since it was saved exist, with the values that keep its behaviour; fields this version
  does not know are reported and ignored."""
  from absl import logging
  from jfsr import config_defaults
  config = config_defaults.base_config()

  def merge(node: ml_collections.ConfigDict, values: dict, prefix: str) -> None:
    for key, value in values.items():
      if key not in node:
        logging.warning('the saved config has %s%s, which this version does not know; ignored',
                        prefix, key)
      elif isinstance(value, dict):
        merge(node[key], value, f'{prefix}{key}.')
      else:
        node[key] = tuple(value) if isinstance(node[key], tuple) else value
  merge(config, saved, '')
  return config




class SavedConfigError(JfsrError, ValueError):
  """A config saved with a checkpoint, a packed model or an exported file is not valid."""


def saved_config(saved: dict, source: str) -> ml_collections.ConfigDict:
  """A saved config (:func:`config_from_dict`) checked as any config is
  (:func:`validate`, as for evaluation), whatever file it came from: a wrong type or value
  is one :class:`SavedConfigError` naming ``source``."""
  if not isinstance(saved, dict):
    raise SavedConfigError(f'{source}: its saved config is not a record of fields')
  try:
    config = config_from_dict(saved)
    validate(config, training=False)
  except (ConfigError, TypeError, AttributeError, KeyError, ValueError) as error:
    message = ' '.join(str(error).split()) or type(error).__name__
    raise SavedConfigError(f'{source}: its saved config is not valid ({message})') from None
  return config


def compute_dtype(config: ml_collections.ConfigDict, backend: str) -> jnp.dtype:
  """The activation dtype on ``backend``: ``train.compute_dtype``, with 'auto' resolved."""
  name = config.train.compute_dtype
  if name == 'auto':
    name = 'float32' if backend == 'cpu' else 'bfloat16'
  return jnp.dtype(name)


def perceptual_dtype(config: ml_collections.ConfigDict, backend: str) -> jnp.dtype:
  """The perceptual network's activation dtype on ``backend``: ``perceptual.dtype``,
  with 'compute' and 'auto' resolved."""
  name = config.perceptual.dtype
  if name not in ('compute', 'auto'):
    return jnp.dtype(name)
  dtype = compute_dtype(config, backend)
  if name == 'auto' and backend == 'cpu' and host_cpu.has_matrix_units():
    return jnp.dtype('bfloat16')
  return dtype


def _check(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def _is_power_of_two(n: int) -> bool:
  return n > 0 and n & (n - 1) == 0


def validate(config: ml_collections.ConfigDict, num_devices: int = 1, training: bool = True) -> None:
  """Raises :class:`ConfigError` naming the first bad field and what it should be.

  ``training=False`` (evaluation) skips the training split's checks, so that a set of
  faces can be evaluated whole as the test split (``data.num_train=0``).
  """
  d, m, t, p = config.data, config.model, config.train, config.perceptual
  for field, allowed in config_defaults.CHOICES.items():
    value = config
    for part in field.split('.'):
      value = value[part]
    _check(value in allowed, f'{field}={value!r}: must be one of '
           + ', '.join(repr(v) for v in allowed))
  _check(d.hr_size >= 32 and _is_power_of_two(d.hr_size),
         f'data.hr_size={d.hr_size}: must be a power of two, at least 32')
  _check(d.lr_size > 0 and d.hr_size % d.lr_size == 0 and _is_power_of_two(d.hr_size // d.lr_size)
         and d.hr_size // d.lr_size >= 2,
         f'data.lr_size={d.lr_size}: data.hr_size / data.lr_size must be a power of two >= 2')
  _check(0 <= d.sharp_fraction <= 1, f'data.sharp_fraction={d.sharp_fraction}: must be in [0, 1]')
  _check(d.num_train >= 0, f'data.num_train={d.num_train}: must be >= 0')
  _check(not training or d.num_train >= t.batch_size,
         f'data.num_train={d.num_train} is smaller than one batch (train.batch_size={t.batch_size}); '
         'to evaluate on a set of faces without training, evaluate with data.num_train=0')
  # A weight without a folder is a variant waiting for its path (checked when data is read).
  _check(0 <= d.extra_weight < 1 and (d.extra_weight > 0 or not d.extra_root),
         f'data.extra_weight={d.extra_weight} with data.extra_root={d.extra_root!r}: an extra '
         'folder needs its share of the examples, in (0, 1)')
  _check(d.extra_first_index >= 0,
         f'data.extra_first_index={d.extra_first_index}: must be >= 0')
  _check(d.num_workers >= 0, f'data.num_workers={d.num_workers}: must be >= 0')
  _check(d.num_test >= 1, f'data.num_test={d.num_test}: at least one test face is needed for '
         'the sample grids')
  _check(d.first_index >= 0, f'data.first_index={d.first_index}: must be >= 0')
  f = d.frames
  _check(0 <= d.frame_share <= 1, f'data.frame_share={d.frame_share}: must be in [0, 1]')
  _check(0 <= f.max_roll <= 180, f'data.frames.max_roll={f.max_roll}: degrees in [0, 180]')
  _check(0 < f.min_scale <= f.max_scale,
         f'data.frames.min_scale={f.min_scale}, max_scale={f.max_scale}: need 0 < min <= max')
  _check(f.max_shift >= 0 and f.margin >= 0,
         f'data.frames.max_shift={f.max_shift}, margin={f.margin}: must be >= 0')
  errors = {k: f[k] for k in ('roll_error', 'scale_error', 'shift_error', 'point_error')}
  _check(all(math.isfinite(v) and v >= 0 for v in errors.values()),
         'landmark errors must be finite and >= 0, got '
         + ', '.join(f'data.frames.{k}={v}' for k, v in errors.items()))
  _check_photo(d.photo)
  _check(m.ngf > 0 and m.upsampler_features > 0 and m.d_features > 0,
         'model widths (ngf, upsampler_features, d_features) must be positive')
  _check(m.d_layers >= 1, f'model.d_layers={m.d_layers}: must be >= 1')
  _check(0 <= m.dropout_rate < 1, f'model.dropout_rate={m.dropout_rate}: must be in [0, 1)')
  _check(m.noise_std >= 0, f'model.noise_std={m.noise_std}: must be >= 0')
  d_out = d.hr_size / 2 ** m.d_layers - 1 - 1
  _check(d_out >= 1, f'model.d_layers={m.d_layers} is too deep for {d.hr_size}² images')
  _check(p.weights == 'random' or p.width_divisor == 1,
         'perceptual.width_divisor must be 1 with pretrained weights')
  _check(config.optimizer.learning_rate > 0, 'optimizer.learning_rate must be positive')
  _check(t.batch_size > 0 and t.batch_size % num_devices == 0,
         f'train.batch_size={t.batch_size} must be a positive multiple of the {num_devices} '
         'devices in use')
  _check(t.num_steps == -1 or t.num_steps > 0,
         f'train.num_steps={t.num_steps}: a positive count, or -1 to count train.num_epochs')
  _check(t.num_steps > 0 or t.num_epochs > 0, 'set train.num_steps or train.num_epochs')
  _check(0 <= t.ema_decay < 1, f'train.ema_decay={t.ema_decay}: must be in [0, 1) (0 = no average)')
  for field in ('log_every_steps', 'image_every_steps', 'checkpoint_every_steps',
                'max_checkpoints_to_keep'):
    _check(t[field] > 0, f'train.{field}={t[field]}: must be positive')
  e = config.eval
  _check(e.num_images == -1 or e.num_images >= 1,
         f'eval.num_images={e.num_images}: -1 (the whole test split) or at least 1')
  _check(e.num_images <= d.num_test,
         f'eval.num_images={e.num_images} is more than the test split holds '
         f'(data.num_test={d.num_test})')
  _check(e.batch_size >= 1, f'eval.batch_size={e.batch_size}: must be >= 1')
  _check(e.every_steps >= 0, f'eval.every_steps={e.every_steps}: must be >= 0 (0 = off)')
  _check(e.grid_images >= 0, f'eval.grid_images={e.grid_images}: must be >= 0')
  _check(0 <= 2 * e.crop_border < d.hr_size - 10,
         f'eval.crop_border={e.crop_border}: leaves no 11x11 SSIM window')
  _check(config.loss.local_d_start_epoch >= 0, 'loss.local_d_start_epoch must be >= 0')
  weights = {name: config.loss[name]
             for name in ('lambda_l1', 'lambda_perceptual', 'lambda_global_adv')}
  _check(all(math.isfinite(w) and w >= 0 for w in weights.values()),
         'loss weights must be finite and >= 0, got '
         + ', '.join(f'loss.{name}={w}' for name, w in weights.items()))


def _check_photo(photo: ml_collections.ConfigDict) -> None:
  """The photo family's share, probabilities, ranges and kernels (jfsr.data.photo)."""
  kernels = config_defaults.PHOTO_KERNELS
  for name in ('share', 'defocus_prob', 'noise_prob', 'jpeg_prob'):
    _check(0 <= photo[name] <= 1, f'data.photo.{name}={photo[name]}: must be in [0, 1]')
  for name, low, high in (('blur_scale', 0, 10), ('defocus_sigma', 0, 10),
                          ('noise_sigma', 0, 255), ('jpeg_quality', 1, 100)):
    value = photo[name]
    _check(len(value) == 2 and low <= value[0] <= value[1] <= high,
           f'data.photo.{name}={value}: must be a (low, high) pair with '
           f'{low} <= low <= high <= {high}')
  _check(len(photo.kernels) > 0 and all(k in kernels for k in photo.kernels),
         f'data.photo.kernels={photo.kernels}: choose from ' + ', '.join(kernels))


def steps_per_epoch(config: ml_collections.ConfigDict) -> int:
  return max(1, config.data.num_train // config.train.batch_size)


def total_steps(config: ml_collections.ConfigDict) -> int:
  if config.train.num_steps > 0:
    return config.train.num_steps
  return config.train.num_epochs * steps_per_epoch(config)


# Fields that fix the shapes of the saved state: a checkpoint restores only if they match.
STATE_FIELDS = ('data.hr_size', 'data.lr_size', 'data.grayscale_input', 'model.ngf',
                'model.upsampler_features', 'model.use_upsampler', 'model.d_features',
                'model.d_layers', 'model.use_global_d', 'model.use_local_d', 'optimizer.name')


def state_signature(config_dict: dict) -> dict:
  """The values of :data:`STATE_FIELDS` in a (JSON round-tripped) config dict."""
  signature = {}
  for field in STATE_FIELDS:
    value = config_dict
    for part in field.split('.'):
      value = value.get(part) if isinstance(value, dict) else None
    signature[field] = value
  return signature
