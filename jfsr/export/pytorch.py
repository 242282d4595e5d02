r"""jfsr's networks as PyTorch state dicts under the authors' module names
(``python -m jfsr.export --to torch``; :mod:`jfsr.export.torch_file` writes the file).

The generator's keys are those of the ``Generator`` class in the authors'
``FaceSRnDeblur_train`` notebook: ``upscale8.{0,2,5,8,11}.weight`` (the upsampling
CNN), ``conv1`` and ``conv{2..L}.{1,2}.*`` (encoder convolution, BatchNorm),
``deconv{L..2}.{1,2}.*`` and ``deconv1.1.*`` (sharp decoder), ``deconv4_0``,
``deconv3_0``, ``deconv2_0`` and ``deconv1_0.1.*`` (blur decoder); L = 8 levels
for 256² outputs. With ``--discriminators`` the file holds ``{'generator': ...,
'global_d': ..., 'local_d': ...}``, each discriminator under the notebook's
``main.{0,2,5,8,11}`` (convolutions) and ``main.{3,6,9}`` (BatchNorms) names. A
plain ``torch.load(FILE)`` (``weights_only=True``) reads it; ``load_state_dict``
then takes it strictly. Writing it needs no torch.

Layouts: convolution kernels HWIO -> OIHW; transposed-convolution kernels hold
PyTorch's ``weight[in, out, ky, kx]`` already and only move their axes; the
authors concatenate skip connections the other way round (``cat(skip, x)``
where jfsr has ``[x, skip]``), so the input-channel halves of every decoder
layer that reads a concatenation swap. ``num_batches_tracked`` counts the
training-mode calls: one per step for the generator's BatchNorms, three per step
for a discriminator's (fake and real in its update, fake again in the generator's),
counting from the step the local discriminator joined.
"""

from __future__ import annotations

import numpy as np

Arrays = dict[str, np.ndarray]


def _conv(prefix: str, layer: dict) -> Arrays:
  out = {f'{prefix}.weight': np.asarray(layer['kernel']).transpose(3, 2, 0, 1)}
  if 'bias' in layer:
    out[f'{prefix}.bias'] = np.asarray(layer['bias'])
  return out


def _conv_transpose(prefix: str, layer: dict, skip_concat: bool) -> Arrays:
  weight = np.asarray(layer['kernel']).transpose(2, 3, 0, 1)  # (in, out, ky, kx)
  if skip_concat:  # jfsr reads [x, skip], the authors cat(skip, x)
    weight = np.concatenate(np.split(weight, 2, axis=0)[::-1], axis=0)
  return {f'{prefix}.weight': weight, f'{prefix}.bias': np.asarray(layer['bias'])}


def _batch_norm(prefix: str, params: dict, stats: dict, calls: int) -> Arrays:
  return {f'{prefix}.weight': np.asarray(params['scale']), f'{prefix}.bias': np.asarray(params['bias']),
          f'{prefix}.running_mean': np.asarray(stats['mean']),
          f'{prefix}.running_var': np.asarray(stats['var']),
          f'{prefix}.num_batches_tracked': np.asarray(calls, np.int64)}


def generator_state_dict(params: dict, batch_stats: dict, calls: int = 0) -> Arrays:
  """The generator's variables under the authors' names (see the module docstring)."""
  if 'upsampler' not in params:
    raise ValueError('the authors\' generator has the upsampling CNN; model1 (use_upsampler=False) '
                     'has no counterpart there')
  out: Arrays = {}
  upsampler = params['upsampler']
  for i, index in enumerate((0, 2, 5, 8, 11)):
    out.update(_conv(f'upscale8.{index}', upsampler[f'Conv_{i}']))
  levels = sum(1 for name in params if name.startswith('enc') and not name.endswith('_bn'))
  out.update(_conv('conv1', params['enc1']))
  for level in range(2, levels + 1):
    out.update(_conv(f'conv{level}.1', params[f'enc{level}']))
    out.update(_batch_norm(f'conv{level}.2', params[f'enc{level}_bn'],
                           batch_stats[f'enc{level}_bn'], calls))
  # Sharp decoder: sharp_dec{i} is deconv{L + 1 - i}; every one but the first reads a concat.
  for i in range(1, levels):
    name = f'deconv{levels + 1 - i}'
    out.update(_conv_transpose(f'{name}.1', params[f'sharp_dec{i}'], skip_concat=i > 1))
    out.update(_batch_norm(f'{name}.2', params[f'sharp_dec{i}_bn'],
                           batch_stats[f'sharp_dec{i}_bn'], calls))
  out.update(_conv_transpose('deconv1.1', params['sharp_out'], skip_concat=True))
  # Blur decoder from c4: blur_dec{1,2,3} are deconv{4,3,2}_0.
  for i in range(1, 4):
    name = f'deconv{5 - i}_0'
    out.update(_conv_transpose(f'{name}.1', params[f'blur_dec{i}'], skip_concat=i > 1))
    out.update(_batch_norm(f'{name}.2', params[f'blur_dec{i}_bn'],
                           batch_stats[f'blur_dec{i}_bn'], calls))
  out.update(_conv_transpose('deconv1_0.1', params['blur_out'], skip_concat=True))
  return out


def discriminator_state_dict(params: dict, batch_stats: dict, calls: int = 0) -> Arrays:
  """A PatchGAN under the notebook's ``main.N`` names: conv, LReLU, then (conv, BN, LReLU)
  blocks, then the output conv."""
  convs = sorted((name for name in params if name.startswith('Conv_')), key=lambda n: int(n[5:]))
  norms = sorted((name for name in params if name.startswith('BatchNorm_')),
                 key=lambda n: int(n[10:]))
  out: Arrays = {}
  out.update(_conv('main.0', params[convs[0]]))
  index = 2
  for conv_name, norm_name in zip(convs[1:-1], norms):
    out.update(_conv(f'main.{index}', params[conv_name]))
    out.update(_batch_norm(f'main.{index + 1}', params[norm_name], batch_stats[norm_name], calls))
    index += 3
  out.update(_conv(f'main.{index}', params[convs[-1]]))
  return out


def torch_state_dicts(config, variables: dict, step: int) -> dict:
  """``{'generator': ..., 'global_d': ..., 'local_d': ...}``: a state dict for each network
  ``variables`` holds (the generator always)."""
  from jfsr import config_loading
  g = variables['generator']
  out = {'generator': generator_state_dict(g['params'], g['batch_stats'], step)}
  local_start = config.loss.local_d_start_epoch * config_loading.steps_per_epoch(config)
  for name, active_steps in (('global_d', step), ('local_d', max(0, step - local_start))):
    if name in variables:
      d = variables[name]
      out[name] = discriminator_state_dict(d['params'], d['batch_stats'], 3 * active_steps)
  return out
