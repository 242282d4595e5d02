"""The command that prepares the TFDS dataset (``python -m jfsr.data.tfds_source``), as
:mod:`jfsr.data.tfds_source` describes."""

from __future__ import annotations

from absl import flags

from jfsr import cli
from jfsr.data.tfds_source import NAME, prepare

FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    cli.usage_error(f'unexpected arguments: {" ".join(argv[1:])}')
  builder = prepare(FLAGS.root, FLAGS.data_dir)
  print(f'prepared {NAME} in {builder.data_dir}: '
        + ', '.join(f'{k} {v.num_examples}' for k, v in builder.info.splits.items()))


def run() -> None:
  flags.DEFINE_string('root', None, 'the extracted CelebAMask-HQ download', required=True)
  flags.DEFINE_string('data_dir', None, 'TFDS data folder (default: TFDS\'s)')
  cli.run(main, __name__)


if __name__ == '__main__':
  run()
