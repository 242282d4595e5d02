"""The in-frame benchmark command, ``python -m jfsr.measures.in_frames``: the measure of
:mod:`jfsr.measures.in_frames`."""

from __future__ import annotations

import dataclasses

from absl import flags

from jfsr import cli
from jfsr.measures import report_flags
from jfsr.restoration import option_flags
from jfsr.measures.in_frames import CONDITIONS, condition_in_words, markdown, measure_photos, valid_edges
from jfsr.measures.scenes import KINDS

FLAGS = flags.FLAGS


def main(argv) -> None:
  del argv
  conditions = tuple(CONDITIONS) if 'all' in FLAGS.conditions else tuple(FLAGS.conditions)
  report_flags.report(lambda: measure_photos(
      FLAGS.model, FLAGS.root, FLAGS.faces, FLAGS.seed, FLAGS.checkpoint, FLAGS.folder,
      FLAGS.first, option_flags.from_flags(), conditions,
      tuple(int(edge) for edge in FLAGS.face_sizes or ()), tuple(FLAGS.kinds)), markdown)


def run() -> None:
  report_flags.define_flags(60, 'how many held-out faces (spread over the rotation buckets)')
  flags.DEFINE_list('conditions', ['png'], 'comma-separated, how the scenes are degraded '
                    'besides the placement: ' + ', '.join(
                        f'{name} ({condition_in_words(dataclasses.asdict(c))})'
                        for name, c in CONDITIONS.items()) + ', or all')
  flags.register_validator('conditions', lambda names: set(names) <= {*CONDITIONS, 'all'},
                           f'--conditions: choose from {", ".join(CONDITIONS)} or all')
  flags.DEFINE_list('kinds', ['portrait'], 'comma-separated, the kinds of photo: portrait (one '
                    'whole picture in a frame), group (up to 12 in one photo, one motion), '
                    'border (one cut by the frame\'s edge)')
  flags.register_validator('kinds', lambda names: bool(names) and set(names) <= set(KINDS),
                           f'--kinds: choose from {", ".join(KINDS)}')
  flags.DEFINE_list('face_sizes', None, 'edges of the face-size buckets in pixels, '
                    'comma-separated and rising (e.g. 12,16,20,24,32,40,48); the faces are '
                    "drawn between the first and the last. Default: 0.75, 1, 1.25 and 1.5 x "
                    "the model's input side")
  flags.register_validator('face_sizes', valid_edges,
                           '--face_sizes: at least two rising positive whole numbers of pixels, '
                           'e.g. 12,16,20,24')
  cli.run(main, __name__, accelerated=True)


if __name__ == '__main__':
  run()
