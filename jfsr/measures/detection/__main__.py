"""The detection measure's command, ``python -m jfsr.measures.detection``: the measure of
:mod:`jfsr.measures.detection`."""

from __future__ import annotations

from absl import flags

from jfsr import cli
from jfsr.measures import report_flags
from jfsr.measures.in_frames import valid_edges

FLAGS = flags.FLAGS


def main(argv) -> None:
  del argv
  report_flags.report(measure, markdown_of)


def measure() -> dict:
  from jfsr.faces.detection import Detector, default_min_face
  from jfsr.measures.detection import DETECTORS, measure_detection
  from jfsr.measures.scenes import held_out_faces
  from jfsr.pretrained import generators
  from jfsr.aligner.shipped import load_aligner
  config, _, _ = generators.load(FLAGS.model)
  lr_size = config.data.lr_size
  edges = tuple(int(edge) for edge in FLAGS.face_sizes)
  min_face = FLAGS.min_face or default_min_face(lr_size)
  aligner = load_aligner(FLAGS.aligner)
  detectors = {name: Detector(min_face=min_face, kind=DETECTORS[name]['kind'],
                              turns=DETECTORS[name].get('turns'),
                              aligner=aligner if DETECTORS[name]['aligner'] else None)
               for name in FLAGS.detectors}
  source = held_out_faces(config, FLAGS.root, FLAGS.folder, FLAGS.first, FLAGS.faces)
  faces = [source[i]['hr'] for i in range(min(FLAGS.faces, len(source)))]
  return {'model': FLAGS.model, 'faces': len(faces), 'min_face': min_face,
          'measured': measure_detection(faces, lr_size, config.data.hr_size // lr_size,
                                        detectors, tuple(FLAGS.kinds),
                                        report_flags.conditions(), edges, FLAGS.seed)}


def markdown_of(result: dict) -> str:
  from jfsr.measures.detection import markdown
  return markdown(result)


def run() -> None:
  from jfsr.measures.detection import DETECTORS
  flags.DEFINE_string('model', 'cpu-x16-photos', 'the shipped model (or packed .npz) whose '
                      'test split, input size and factor make the photos')
  report_flags.define_source_flags(60, 'how many held-out faces (spread over the rotation buckets)')
  report_flags.define_photo_flags()
  flags.adopt_module_key_flags(report_flags)  # listed in this command's --help
  flags.DEFINE_list('detectors', ['mtcnn', 'mtcnn-upright'], 'comma-separated: '
                    + ', '.join(DETECTORS))
  flags.register_validator('detectors', lambda names: bool(names) and set(names) <= set(DETECTORS),
                           f'--detectors: choose from {", ".join(DETECTORS)}')
  flags.DEFINE_list('face_sizes', ['12', '16', '20', '24'], 'edges of the face-size buckets '
                    'in pixels, rising; faces are drawn between the first and the last')
  flags.register_validator('face_sizes', lambda edges: edges is not None and valid_edges(edges),
                           '--face_sizes: at least two rising positive whole numbers of pixels')
  flags.DEFINE_string('aligner', None, 'the aligner (.npz of python -m jfsr.aligner) '
                      'that corrects the landmarks (default: the shipped one)')
  flags.DEFINE_integer('min_face', None, 'smallest face looked for, detector box side in '
                       'pixels (default: jfsr.restore\'s for the model)')
  cli.run(main, __name__)


if __name__ == '__main__':
  run()
