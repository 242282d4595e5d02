r"""Exports a jfsr model: a PyTorch state dict under the authors' module names, or the
generator as a StableHLO program that runs without jfsr (:mod:`jfsr.stablehlo`) or as an
ONNX graph (:mod:`jfsr.onnx_export`).

    python -m jfsr.export --checkpoint WORKDIR[/checkpoints/STEP] --to torch --output g.pth
    python -m jfsr.export --checkpoint WORKDIR --to torch --output nets.pth --discriminators
    python -m jfsr.export --model NAME --to torch --output g.pth      # a shipped model
    python -m jfsr.export --model NAME --to stablehlo --output g.stablehlo
    python -m jfsr.export --model NAME --to onnx --output g.onnx

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

from pathlib import Path

import numpy as np

from jfsr import cli
from jfsr.files import write_atomically, write_data

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


def torch_state_dicts(config, variables: dict, step: int, with_discriminators: bool) -> dict:
  """``{'generator': ..., 'global_d': ..., 'local_d': ...}`` (the Ds only when asked)."""
  from jfsr import config_loading
  g = variables['generator']
  out = {'generator': generator_state_dict(g['params'], g['batch_stats'], step)}
  if with_discriminators:
    local_start = config.loss.local_d_start_epoch * config_loading.steps_per_epoch(config)
    for name, active_steps in (('global_d', step), ('local_d', max(0, step - local_start))):
      if name in variables:
        d = variables[name]
        out[name] = discriminator_state_dict(d['params'], d['batch_stats'], 3 * active_steps)
  return out


def check_output(output: Path, sources: list[str], overwrite: bool) -> None:
  """Refuses an ``output`` that is one of the ``sources`` (a packed model, a checkpoint's
  files; links resolved) and, without ``overwrite``, any file already there."""
  from jfsr.errors import UsageError
  target = output.resolve()
  for source in sources:
    source = Path(source).expanduser().resolve()
    if target == source or source in target.parents:
      raise UsageError(f'--output {output} would be written over the model it exports '
                      f'({source}); choose another file')
  if (output.exists() or output.is_symlink()) and not overwrite:
    raise UsageError(f'--output {output} already exists; pass --overwrite to replace it')
  if output.is_dir():
    raise UsageError(f'--output {output} is a folder; give a file name')


def export_generator(to: str, checkpoint: str | None, output: str, model: str | None = None,
                     overwrite: bool = False) -> int:
  """Writes the generator of a checkpoint or shipped model as a StableHLO program
  (``to='stablehlo'``) or an ONNX graph (``'onnx'``); returns the file's size in bytes."""
  import jax
  from jfsr import inference
  output = Path(output).expanduser()
  check_output(output, [s for s in (checkpoint, model) if s and Path(s).expanduser().exists()],
               overwrite)
  config, variables, step = inference.load_generator(checkpoint, model, jax.devices('cpu')[0])
  if to == 'onnx':
    from jfsr import onnx_export
    data = onnx_export.serialize(config, jax.device_get(variables), step)
  else:
    from jfsr import stablehlo
    data = stablehlo.serialize(config, variables)
  write_data(output, data)
  return len(data)


def export_checkpoint(checkpoint: str | None, output: str, with_discriminators: bool = False,
                      model: str | None = None, overwrite: bool = False) -> dict:
  """Writes the checkpoint's (or the shipped ``model``'s) networks to ``output``; returns what
  was written, by network. An existing ``output`` is replaced only with ``overwrite``, and the
  file appears whole or not at all."""
  import jax
  from jfsr import checkpointing, inference
  from jfsr.errors import UsageError, WorkdirError
  from jfsr.pretrained import torch_state_dict

  output = Path(output).expanduser()
  check_output(output, [s for s in (checkpoint, model) if s and Path(s).expanduser().exists()],
               overwrite)
  if with_discriminators and model:
    raise UsageError('a shipped model holds the generator only; --discriminators needs a '
                    '--checkpoint')
  cpu = jax.devices('cpu')[0]
  config, generator, step = inference.load_generator(checkpoint, model, cpu)
  variables = {'generator': jax.device_get(generator)}
  if with_discriminators:
    workdir = checkpointing.split_checkpoint_path(checkpoint)[0]
    variables.update(jax.device_get(checkpointing.restore_networks(
        config, workdir, step, jax.sharding.SingleDeviceSharding(cpu), ('global_d', 'local_d'))))
  if config.model.noise_std > 0:
    raise WorkdirError(f'{checkpoint or model}: the noise ("w/N") generator adds noise between '
                       'layers, which a state dict cannot carry; export a model without it')
  state_dicts = torch_state_dicts(config, variables, step, with_discriminators)
  write_atomically(output, lambda path: torch_state_dict.save_state_dict(
      state_dicts if with_discriminators else state_dicts['generator'], path))
  return state_dicts


def _main(argv) -> None:
  from absl import flags
  from jfsr.errors import JfsrError, UsageError

  del argv
  f = flags.FLAGS
  try:
    if f.to != 'torch':
      if f.discriminators:
        raise UsageError(f'--to {f.to} writes the generator alone; drop --discriminators')
      size = export_generator(f.to, f.checkpoint, f.output, f.model, f.overwrite)
      from jfsr.stablehlo import PLATFORMS
      what = ('an ONNX graph (opset 17)' if f.to == 'onnx'
              else f'StableHLO for {", ".join(PLATFORMS)}')
      print(f'wrote {f.output}: the generator as {what} ({size / 1e6:.1f} MB); input float32 '
            '(batch, lr, lr, 3) NHWC in [-1, 1], output float32 (batch, hr, hr, 3) NHWC in '
            '[-1, 1]')
      return
    written = export_checkpoint(f.checkpoint, f.output, f.discriminators, f.model, f.overwrite)
  except (JfsrError, ValueError, OSError) as error:
    cli.fail(error)
  counts = ', '.join(f'{name} {sum(v.size for v in sd.values()):,} values in {len(sd)} tensors'
                     for name, sd in written.items())
  print(f'wrote {f.output}: {counts}')


def run() -> None:
  """The ``jfsr-export`` command (also ``python -m jfsr.export``)."""
  from absl import flags as absl_flags
  cli.define_model_flags()
  absl_flags.adopt_module_key_flags(cli)  # listed in this command's --help
  absl_flags.DEFINE_enum('to', 'torch', ['torch', 'stablehlo', 'onnx'], 'the format to write: '
                         'a PyTorch state dict, or the generator as a jax.export program or an '
                         'ONNX graph')
  absl_flags.DEFINE_string('output', None, 'the file to write (.pth, .stablehlo, .onnx)',
                           required=True)
  absl_flags.DEFINE_bool('overwrite', False, 'replace --output if it exists')
  absl_flags.DEFINE_bool('discriminators', False, 'also write both discriminators: the file then '
                         'holds {"generator": ..., "global_d": ..., "local_d": ...}')
  cli.run(_main, __name__)


if __name__ == '__main__':
  run()
