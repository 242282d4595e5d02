r"""Exports a jfsr model: a PyTorch state dict under the authors' module names
(:mod:`jfsr.export.pytorch`), or the generator as a StableHLO program that runs without
jfsr (:mod:`jfsr.export.stablehlo`) or as an ONNX graph (:mod:`jfsr.export.onnx`).

    python -m jfsr.export --checkpoint WORKDIR[/checkpoints/STEP] --to torch --output g.pth
    python -m jfsr.export --checkpoint WORKDIR --to torch --output nets.pth --discriminators
    python -m jfsr.export --model NAME --to torch --output g.pth      # a shipped model
    python -m jfsr.export --model NAME --to stablehlo --output g.stablehlo
    python -m jfsr.export --model NAME --to onnx --output g.onnx

:data:`FORMATS` is the one table of what can be written: the command's ``--to`` choices,
its help, the dispatch and the line that says what was written all come from it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from jfsr.errors import UsageError, WorkdirError
from jfsr.files import write_atomically, write_data


def _torch_file(config, variables: dict, step: int) -> dict:
  """The state dicts by network (``torch.load`` reads the file)."""
  from jfsr.export import pytorch
  return pytorch.torch_state_dicts(config, variables, step)


def _stablehlo(config, variables: dict, step: int) -> bytes:
  from jfsr.export import stablehlo
  return stablehlo.serialize(config, variables['generator'])


def _onnx(config, variables: dict, step: int) -> bytes:
  from jfsr.export import onnx
  return onnx.serialize(config, variables['generator'], step)


@dataclasses.dataclass(frozen=True)
class Format:
  """One export format: the file's suffix, what it holds (in words), whether it can hold the
  discriminators too, and the function of ``(config, variables by network, step)`` that
  makes it (bytes, or the torch file's state dicts by network)."""
  suffix: str
  holds: str
  discriminators: bool
  make: Callable


FORMATS = {
    'torch': Format('.pth', "a PyTorch state dict under the authors' module names", True,
                    _torch_file),
    'stablehlo': Format('.stablehlo', 'the generator as a jax.export (StableHLO) program for '
                        'CPU, CUDA and TPU', False, _stablehlo),
    'onnx': Format('.onnx', 'the generator as an ONNX graph (opset 17)', False, _onnx),
}


def check_output(output: Path, sources: list[str], overwrite: bool) -> None:
  """Refuses an ``output`` that is one of the ``sources`` (a packed model, a checkpoint's
  files; links resolved) and, without ``overwrite``, any file already there."""
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


def export(to: str, output: str | Path, checkpoint: str | None = None, model: str | None = None,
           with_discriminators: bool = False, overwrite: bool = False) -> str:
  """Writes the checkpoint's (or the shipped ``model``'s) networks to ``output`` as
  :data:`FORMATS` ``[to]`` says, the file whole or not at all and never over one that is
  there unless ``overwrite``; returns what was written, in words."""
  import jax
  from jfsr import checkpointing, inference
  form = FORMATS[to]
  output = Path(output).expanduser()
  if with_discriminators and not form.discriminators:
    raise UsageError(f'--to {to} writes the generator alone; drop --discriminators')
  if with_discriminators and model:
    raise UsageError('a shipped model holds the generator only; --discriminators needs a '
                    '--checkpoint')
  check_output(output, [s for s in (checkpoint, model) if s and Path(s).expanduser().exists()],
               overwrite)
  cpu = jax.devices('cpu')[0]
  config, generator, step = inference.load_generator(checkpoint, model, cpu)
  if config.model.noise_std > 0 and to == 'torch':
    raise WorkdirError(f'{checkpoint or model}: the noise ("w/N") generator adds noise between '
                       'layers, which a state dict cannot carry; export a model without it')
  variables = {'generator': jax.device_get(generator)}
  if with_discriminators:
    workdir = checkpointing.split_checkpoint_path(checkpoint)[0]
    variables.update(jax.device_get(checkpointing.restore_networks(
        config, workdir, step, jax.sharding.SingleDeviceSharding(cpu), ('global_d', 'local_d'))))
  made = form.make(config, variables, step)
  if isinstance(made, bytes):
    write_data(output, made)
    return (f'wrote {output}: {form.holds} ({len(made) / 1e6:.1f} MB); input float32 '
            '(batch, lr, lr, 3) NHWC in [-1, 1], output float32 (batch, hr, hr, 3) NHWC in '
            '[-1, 1]')
  from jfsr.export import torch_file
  write_atomically(output, lambda path: torch_file.save_state_dict(
      made if with_discriminators else made['generator'], path))
  counts = ', '.join(f'{name} {sum(v.size for v in sd.values()):,} values in {len(sd)} tensors'
                     for name, sd in made.items() if with_discriminators or name == 'generator')
  return f'wrote {output}: {counts}'
