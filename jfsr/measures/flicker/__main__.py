"""The flicker measure's command, ``python -m jfsr.measures.flicker``: the measure of
:mod:`jfsr.measures.flicker`."""

from __future__ import annotations

from absl import flags

from jfsr import cli
from jfsr.measures import report_flags
from jfsr.restoration import option_flags
from jfsr.measures.flicker import markdown, measure_flicker

FLAGS = flags.FLAGS


def main(argv) -> None:
  del argv
  report_flags.report(lambda: measure_flicker(
      FLAGS.model, FLAGS.checkpoint, FLAGS.root, FLAGS.folder, FLAGS.first, FLAGS.faces,
      FLAGS.frames, [float(s) for s in FLAGS.smoothing],
      [float(w) for w in FLAGS.output_smoothing], FLAGS.seed, option_flags.from_flags()),
      markdown)


def run() -> None:
  report_flags.define_flags(6, 'how many clips (one face each)')
  flags.adopt_module_key_flags(report_flags)  # listed in this command's --help
  flags.DEFINE_integer('frames', 24, 'frames per clip')
  flags.DEFINE_list('smoothing', ['0', '0.6'], 'landmark smoothing weights to compare '
                    '(jfsr.restore --smoothing; 0.6 is its default)')
  flags.DEFINE_list('output_smoothing', [], 'also these jfsr.restore --output_smoothing '
                    'weights, each with the last --smoothing')
  cli.run(main, __name__, accelerated=True)


if __name__ == '__main__':
  run()
