"""The ``jfsr-pretrained`` command (also ``python -m jfsr.pretrained``): list, fetch and
pack, as :mod:`jfsr.pretrained` describes."""

from __future__ import annotations

from absl import flags

from jfsr import cli
from jfsr.errors import UsageError

FLAGS = flags.FLAGS
ACTIONS = ('list', 'fetch', 'pack')


def listing() -> list[str]:
  """One line per shipped generator and per weight file, with its state and path."""
  from jfsr.pretrained import cache, generators
  lines = []
  for name, model in generators.SHIPPED.items():
    path = generators.MODELS_DIR / model.filename
    state = 'shipped' if path.is_file() else 'MISSING'
    lines.append(f'{name:22s} {state:8s} {path}  ({model.description})')
  for name, artifact in cache.ARTIFACTS.items():
    path = cache.cache_dir() / artifact.filename
    state = 'missing'
    if path.is_file():
      try:
        cache.check_cached(name, path)
        state = 'cached'
      except cache.CorruptWeightsError:
        state = 'DAMAGED'  # python -m jfsr.pretrained fetch NAME --force
    lines.append(f'{name:22s} {state:8s} {path}  ({artifact.description})')
  return lines


def fetch(names: list[str], force: bool) -> None:
  from jfsr.pretrained import cache
  unknown = [name for name in names if name not in cache.ARTIFACTS]
  if not names or unknown:
    raise UsageError(f'fetch: invalid choice: {", ".join(map(repr, unknown)) or "none given"}; '
                     f'choose from {", ".join(sorted(cache.ARTIFACTS))}')
  for name in names:
    try:
      print(f'{name}: {cache.fetch(name, force=force)}')
    except (OSError, RuntimeError, cache.ChecksumError) as error:
      cli.fail(f'fetching {name} failed: {error}')


def pack() -> None:
  from jfsr import packing
  if not FLAGS.checkpoint or not FLAGS.name:
    raise UsageError('pack needs --checkpoint (a training run) and --name')
  packed = packing.pack_checkpoint(FLAGS.checkpoint, FLAGS.name, FLAGS.description,
                                   FLAGS.trained, FLAGS.output, FLAGS.overwrite)
  info = packed.info
  origin = (f" after {info['started_from']['steps_in_all']:,} of "
            f"{info['started_from']['model']} ({info['steps_in_all']:,} in all)"
            if 'started_from' in info else '')
  print(f'wrote {packed.path} ({packed.path.stat().st_size / 1e6:.1f} MB), step {packed.step}'
        f'{origin}, the {packed.generator} generator\n'
        f"add to SHIPPED in jfsr/pretrained/generators.py:\n"
        f"    {FLAGS.name!r}: ShippedModel({packed.path.name!r}, {packed.sha256!r},\n"
        f"                              {FLAGS.description!r}),")
  error = info['float16_error']
  print(f"float16 storage moves its outputs by at most {error['max']:.2f} of 255 (mean "
        f"{error['mean']:.3f}) on {error['inputs']} fixed inputs")
  print(f'its figures for tests/test_shipped.py: python tools/golden_output.py --model '
        f'{packed.path}')


def main(argv: list[str]) -> None:
  if len(argv) < 2 or argv[1] not in ACTIONS:
    raise UsageError(f'say what to do: {" | ".join(ACTIONS)} (--help tells each)')
  action, rest = argv[1], argv[2:]
  if action == 'fetch':
    return fetch(rest, FLAGS.force)
  if rest:
    raise UsageError(f'{action}: unexpected arguments: {" ".join(rest)}')
  if action == 'list':
    print('\n'.join(listing()))
  else:
    pack()


def run() -> None:
  flags.DEFINE_bool('force', False, 'fetch: download again even if cached')
  flags.DEFINE_string('checkpoint', None, 'pack: a training --workdir or one of its '
                      'checkpoints/<step> folders')
  flags.DEFINE_string('name', None, 'pack: the model\'s NAME')
  flags.DEFINE_string('description', '', 'pack: what it is and was trained on')
  flags.DEFINE_bool('trained', False, 'pack: the trained generator of a run that keeps a '
                    'moving average (train.ema_decay > 0), not the average')
  flags.DEFINE_string('output', None, 'pack: where to write (default: the package\'s '
                      'models/NAME.npz)')
  flags.DEFINE_bool('overwrite', False, 'pack: replace a file already at the output path')
  cli.run(main, __name__)


if __name__ == '__main__':
  run()
