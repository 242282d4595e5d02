"""``python -m jfsr.pretrained list`` / ``fetch NAME...`` / ``pack``: shipped generators and the
weight cache."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from jfsr.pretrained import cache, generators


def float16_error(config, variables: dict, count: int = 8) -> dict[str, float]:
  """How far the generator's outputs move when its parameters are stored as float16 (as
  :func:`jfsr.pretrained.generators.pack` stores them), in 0-255 levels: the largest and
  the mean absolute difference from float32's over the golden gradient and ``count - 1``
  fixed smooth random inputs."""
  import jax
  from PIL import Image
  from jfsr import inference
  lr = config.data.lr_size
  rng = np.random.default_rng(0)
  inputs = [generators.golden_input(lr)] + [
      np.asarray(Image.fromarray(rng.integers(0, 256, (lr // 4, lr // 4, 3), np.uint8)).resize(
          (lr, lr), Image.Resampling.BICUBIC)) for _ in range(count - 1)]
  lr_batch = np.stack(inputs).astype(np.float32) / 127.5 - 1.0
  if config.data.grayscale_input:
    lr_batch = lr_batch.mean(-1, keepdims=True)
  as_stored = {'params': jax.tree.map(lambda x: np.asarray(x, np.float16).astype(np.float32),
                                      variables['params']),
               'batch_stats': variables['batch_stats']}
  sample = jax.jit(inference.make_sampler(config))
  outputs = [np.asarray(sample(v, lr_batch)['out_sharp']) for v in (variables, as_stored)]
  difference = np.abs(outputs[0] - outputs[1]) * 127.5
  return {'max': float(difference.max()), 'mean': float(difference.mean()), 'inputs': count}


def _pack(args) -> int:
  from jfsr import files
  path = files.check_new(Path(args.output) if args.output
                         else generators.MODELS_DIR / f'{args.name}.npz', args.overwrite,
                         '--output')
  import jax
  from jfsr import checkpointing, inference
  config, variables, step = inference.load_generator(
      checkpoint=args.checkpoint, device=jax.devices('cpu')[0], average=not args.trained)
  variables = jax.device_get(variables)
  workdir = checkpointing.split_checkpoint_path(args.checkpoint)[0]
  packed = 'average' if checkpointing.keeps_average(config.to_dict()) else 'trained'
  info = {'name': args.name, 'description': args.description, 'generator': packed}
  if config.model.generator_init:
    info['started_from'] = generators.lineage(config.model.generator_init)
    info['steps_in_all'] = info['started_from']['steps_in_all'] + step
  metrics = workdir / 'eval' / str(step) / 'metrics.json'
  if metrics.is_file():
    import json
    evaluation = json.loads(metrics.read_text())
    if evaluation.get('generator', 'trained') == packed:  # the step's scores are of this one
      info['evaluation'] = evaluation
  info['float16_error'] = float16_error(config, variables)
  sha256 = generators.pack(variables, config.to_dict(), step, path, overwrite=args.overwrite,
                           **info)
  size = path.stat().st_size
  origin = (f" after {info['started_from']['steps_in_all']:,} of {config.model.generator_init} "
            f"({info['steps_in_all']:,} in all)" if 'started_from' in info else '')
  print(f'wrote {path} ({size / 1e6:.1f} MB), step {step}{origin}, the {packed} generator\n'
        f"add to SHIPPED in jfsr/pretrained/generators.py:\n"
        f"    {args.name!r}: ShippedModel({path.name!r}, {sha256!r},\n"
        f"                              {args.description!r}),")
  error = info['float16_error']
  print(f"float16 storage moves its outputs by at most {error['max']:.2f} of 255 (mean "
        f"{error['mean']:.3f}) on {error['inputs']} fixed inputs")
  print(f'its figures for tests/test_shipped.py: python tools/golden_output.py --model {path}')
  return 0


class _OneLineParser(argparse.ArgumentParser):
  """Usage mistakes end in one ``error:`` line and status 2, as the other commands'."""

  def error(self, message: str):
    self.exit(2, f'error: {self.prog}: {message} (--help lists the choices)\n')


def main(argv: list[str] | None = None) -> int:
  parser = _OneLineParser(prog='python -m jfsr.pretrained', description=__doc__)
  sub = parser.add_subparsers(dest='command', required=True)
  fetch = sub.add_parser('fetch', help='download, verify and cache weight files')
  fetch.add_argument('names', nargs='+', choices=sorted(cache.ARTIFACTS))
  fetch.add_argument('--force', action='store_true', help='download again even if cached')
  sub.add_parser('list', help='show the shipped generators, and every weight file and whether '
                 'it is cached')
  pack = sub.add_parser('pack', help='write a checkpoint\'s generator as a shipped-model file')
  pack.add_argument('--checkpoint', required=True, help='a training --workdir or one of its '
                    'checkpoints/<step> folders')
  pack.add_argument('--name', required=True, help='the model\'s NAME')
  pack.add_argument('--description', default='', help='what it is and was trained on')
  pack.add_argument('--trained', action='store_true', help='pack the trained generator of a '
                    'run that keeps a moving average (train.ema_decay > 0), not the average')
  pack.add_argument('--output', default=None, help='where to write (default: the package\'s '
                    'models/NAME.npz)')
  pack.add_argument('--overwrite', action='store_true', help='replace a file already at the '
                    'output path')
  args = parser.parse_args(argv)

  if args.command == 'list':
    for name, model in generators.SHIPPED.items():
      path = generators.MODELS_DIR / model.filename
      state = 'shipped' if path.is_file() else 'MISSING'
      print(f'{name:22s} {state:8s} {path}  ({model.description})')
    for name, artifact in cache.ARTIFACTS.items():
      path = cache.cache_dir() / artifact.filename
      state = 'missing'
      if path.is_file():
        try:
          cache.check_cached(name, path)
          state = 'cached'
        except cache.CorruptWeightsError:
          state = 'DAMAGED'  # python -m jfsr.pretrained fetch NAME --force
      print(f'{name:22s} {state:8s} {path}  ({artifact.description})')
    return 0
  if args.command == 'pack':
    from jfsr.errors import JfsrError
    try:
      return _pack(args)
    except JfsrError as error:
      print(f'error: {error}', file=sys.stderr)
      return error.exit_status
  for name in args.names:
    try:
      print(f'{name}: {cache.fetch(name, force=args.force)}')
    except (OSError, RuntimeError, cache.ChecksumError) as error:
      print(f'error: fetching {name} failed: {error}', file=sys.stderr)
      return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
