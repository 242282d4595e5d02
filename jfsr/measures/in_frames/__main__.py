"""The in-frame benchmark command, ``python -m jfsr.measures.in_frames``: the measure of
:mod:`jfsr.measures.in_frames`."""

from __future__ import annotations

from absl import flags

from jfsr import cli
from jfsr.measures import report_flags
from jfsr.restoration import option_flags
from jfsr.measures.in_frames import markdown, measure_photos, valid_edges

FLAGS = flags.FLAGS


def main(argv) -> None:
  del argv
  report_flags.report(lambda: measure_photos(
      FLAGS.model, FLAGS.root, FLAGS.faces, FLAGS.seed, FLAGS.checkpoint, FLAGS.folder,
      FLAGS.first, option_flags.from_flags(), report_flags.conditions(),
      tuple(int(edge) for edge in FLAGS.face_sizes or ()), tuple(FLAGS.kinds)), markdown)


def run() -> None:
  report_flags.define_flags(60, 'how many held-out faces (spread over the rotation buckets)')
  report_flags.define_photo_flags()
  flags.adopt_module_key_flags(report_flags)  # listed in this command's --help
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
