"""The ``jfsr-curves`` command (also ``python -m jfsr.curves``): :mod:`jfsr.curves`' figures
and tables of a run's evaluations."""

from __future__ import annotations

from absl import flags

from jfsr import cli, files
from jfsr.curves import draw, draw_gains, gains_table, markdown_table, parse_sets, read_history

FLAGS = flags.FLAGS


def draw_gain_sets(sets_text: str, out: str | None, table: bool, overwrite: bool) -> None:
  """``--gains``: each set's gain over bicubic in one figure (and table)."""
  try:
    sets = parse_sets(sets_text)
  except ValueError as error:
    cli.usage_error(str(error))
  if not out:
    cli.usage_error('--gains needs --out FILE')
  files.check_new(out, overwrite, '--out')
  histories = {label: read_history(path) for label, path in sets.items()}
  empty = [f'{label}={sets[label]}' for label, history in histories.items() if not history]
  if empty:
    cli.fail(f'no evaluations (eval/<step>/metrics.json) in {", ".join(empty)}')
  print(f'wrote {draw_gains(histories, out, overwrite)} ({", ".join(sets)})')
  if table:
    print(gains_table(histories))


def main(argv) -> None:
  del argv
  if FLAGS.gains:
    draw_gain_sets(FLAGS.gains, FLAGS.out, FLAGS.table, FLAGS.overwrite)
    return
  if not FLAGS.workdir:
    cli.usage_error('give --workdir DIR (or --gains LABEL=DIR,...)')
  if FLAGS.out and '://' not in FLAGS.out:
    files.check_new(FLAGS.out, FLAGS.overwrite, '--out')
  path = draw(FLAGS.workdir, FLAGS.out, overwrite=FLAGS.overwrite or not FLAGS.out)
  if path is None:
    cli.fail(f'{FLAGS.workdir} has no evaluations (eval/<step>/metrics.json); '
             'run python -m jfsr.evaluate --workdir DIR --steps ... first')
  history = read_history(FLAGS.workdir)
  print(f'wrote {path} ({len(history)} evaluated steps)')
  if FLAGS.table:
    print(markdown_table(history))


def run() -> None:
  flags.DEFINE_string('workdir', None, 'a training run\'s --workdir')
  flags.DEFINE_string('out', None, 'the PNG to write (default: WORKDIR/curves.png, redrawn '
                      'each time)')
  flags.DEFINE_bool('overwrite', False, 'replace a file already at --out')
  flags.DEFINE_bool('table', False, 'also print the evaluations as a Markdown table')
  flags.DEFINE_string('gains', None, 'LABEL=DIR,...: draw each set\'s gain over bicubic '
                      '(one run evaluated on several sets of faces) instead')
  cli.run(main, __name__)


if __name__ == '__main__':
  run()
