"""The detection measure's command, ``python -m jfsr.measures.detection``: the measure of
:mod:`jfsr.measures.detection`."""

from __future__ import annotations

from absl import flags

from jfsr import cli
from jfsr.measures import report_flags
from jfsr.measures.in_frames import valid_edges
from jfsr.measures.scenes import CONDITIONS, KINDS

FLAGS = flags.FLAGS


def main(argv) -> None:
  del argv
  report_flags.report(measure, markdown_of)


def measure() -> dict:
  from jfsr.faces.detection import Detector
  from jfsr.measures.detection import DETECTORS, default_min_face, measure_detection
  from jfsr.measures.scenes import held_out_faces
  from jfsr.pretrained import generators
  config, _, _ = generators.load(FLAGS.model)
  lr_size = config.data.lr_size
  edges = tuple(int(edge) for edge in FLAGS.face_sizes)
  min_face = FLAGS.min_face or default_min_face(lr_size)
  detectors = {name: Detector(min_face=min_face, **DETECTORS[name]) for name in FLAGS.detectors}
  source = held_out_faces(config, FLAGS.root, FLAGS.folder, FLAGS.first, FLAGS.faces)
  faces = [source[i]['hr'] for i in range(min(FLAGS.faces, len(source)))]
  conditions = tuple(CONDITIONS) if 'all' in FLAGS.conditions else tuple(FLAGS.conditions)
  return {'model': FLAGS.model, 'faces': len(faces), 'min_face': min_face,
          'measured': measure_detection(faces, lr_size, config.data.hr_size // lr_size,
                                        detectors, tuple(FLAGS.kinds), conditions, edges,
                                        FLAGS.seed)}


def markdown_of(result: dict) -> str:
  from jfsr.measures.detection import markdown
  return markdown(result)


def run() -> None:
  from jfsr.measures.detection import DETECTORS
  flags.DEFINE_string('model', 'cpu-x16-photos', 'the shipped model (or packed .npz) whose '
                      'test split, input size and factor make the photos')
  flags.DEFINE_string('root', None, 'CelebAMask-HQ root: its test split gives the faces')
  flags.DEFINE_string('folder', None, 'instead of --root: a folder of aligned faces')
  flags.DEFINE_integer('first', 0, '--folder: the first image used (name order)')
  flags.DEFINE_integer('faces', 60, 'how many held-out faces (spread over the rotation buckets)')
  flags.DEFINE_integer('seed', 0, 'for the placements, backgrounds and blurs')
  flags.DEFINE_string('json', None, 'also write the results here')
  flags.DEFINE_bool('overwrite', False, 'replace a file already at --json')
  flags.DEFINE_list('conditions', ['png'], 'comma-separated names: '
                    + ', '.join(CONDITIONS) + ', or all')
  flags.register_validator('conditions', lambda names: set(names) <= {*CONDITIONS, 'all'},
                           f'--conditions: choose from {", ".join(CONDITIONS)} or all')
  flags.DEFINE_list('kinds', ['portrait'], 'comma-separated: ' + ', '.join(KINDS))
  flags.register_validator('kinds', lambda names: bool(names) and set(names) <= set(KINDS),
                           f'--kinds: choose from {", ".join(KINDS)}')
  flags.DEFINE_list('detectors', ['mtcnn', 'mtcnn-upright'], 'comma-separated: '
                    + ', '.join(DETECTORS))
  flags.register_validator('detectors', lambda names: bool(names) and set(names) <= set(DETECTORS),
                           f'--detectors: choose from {", ".join(DETECTORS)}')
  flags.DEFINE_list('face_sizes', ['12', '16', '20', '24'], 'edges of the face-size buckets '
                    'in pixels, rising; faces are drawn between the first and the last')
  flags.register_validator('face_sizes', lambda edges: edges is not None and valid_edges(edges),
                           '--face_sizes: at least two rising positive whole numbers of pixels')
  flags.DEFINE_integer('min_face', None, 'smallest face looked for, detector box side in '
                       'pixels (default: jfsr.restore\'s for the model)')
  cli.run(main, __name__)


if __name__ == '__main__':
  run()
