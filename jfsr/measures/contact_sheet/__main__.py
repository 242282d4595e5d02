"""The contact-sheet command, ``python -m jfsr.measures.contact_sheet``: the sheet of
:mod:`jfsr.measures.contact_sheet`."""

from __future__ import annotations

from absl import flags
from ml_collections import config_flags

from jfsr import cli, files
from jfsr.measures.contact_sheet import contact_sheet

FLAGS = flags.FLAGS


def main(argv):
  del argv
  files.check_new(FLAGS.out, FLAGS.overwrite, '--out')
  sheet, lengths = contact_sheet(FLAGS.config, FLAGS.count, FLAGS.split, FLAGS.seed)
  files.write_data(FLAGS.out, files.encoded(sheet), FLAGS.overwrite)
  for row, (longest, median, draws) in enumerate(lengths):
    print(f'row {row}: longest blur {longest:.1f} px, median {median:.1f} px; {draws}')
  frame_column = ' | frame (model input outlined)' if FLAGS.config.data.frame_share else ''
  print(f'wrote {FLAGS.out} ({sheet.shape[1]}x{sheet.shape[0]}): columns GT | mask | flow | '
        f'blurred HR | LR{frame_column}')


def run() -> None:
  config_flags.DEFINE_config_file('config', 'configs/celebahq.py:demo', 'config whose data to show')
  flags.DEFINE_integer('count', 8, 'number of examples (rows)')
  flags.DEFINE_enum('split', 'train', ['train', 'test'], 'which split to draw from')
  flags.DEFINE_integer('seed', 0, 'degradation seed')
  flags.DEFINE_string('out', 'contact_sheet.png', 'output PNG')
  flags.DEFINE_bool('overwrite', False, 'replace a file already at --out')
  cli.run(main, __name__)


if __name__ == '__main__':
  run()
