r"""Measures the five-landmark templates from aligned faces (CelebA-HQ): where MTCNN puts them.

    python tools/measure_template.py --root data/CelebAMask-HQ-mini --size 256

Each image (``ROOT/CelebA-HQ-img/*.jpg``, or any folder of images) is resized to
``--size`` and run through MTCNN (facenet-pytorch's weights: ``python -m
jfsr.pretrained fetch mtcnn``); the largest face's landmarks are taken two ways,
and the median of each coordinate over the images is printed:

* in a ``160``-pixel crop of MTCNN's own box (``FACENET_TEMPLATE``: FaceNet's
  framing, for the identity metrics of ``jfsr.metrics.identity``);
* as fractions of the aligned image's side (the training faces' own template).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import flags, logging
from PIL import Image

flags.DEFINE_string('root', None, 'a CelebAMask-HQ root (CelebA-HQ-img/ inside) or an image folder',
                    required=True)
flags.DEFINE_integer('size', 256, 'side the images are resized to before detection')
flags.DEFINE_integer('limit', 0, 'at most this many images (0: all)')


def measure(paths: list[Path], size: int) -> dict[str, np.ndarray]:
  from jfsr.faces.alignment import FACENET_SIZE
  from jfsr.faces.mtcnn import MTCNN
  from jfsr.pretrained import mtcnn_weights
  detector = MTCNN(mtcnn_weights.load_mtcnn())
  in_box, in_image = [], []
  for i, path in enumerate(paths):
    image = np.asarray(Image.open(path).convert('RGB').resize((size, size), Image.Resampling.LANCZOS))
    detections = detector.detect(image, min_size=size // 4)
    if detections:
      face = detections[0]
      x1, y1, x2, y2 = face.box
      in_box.append((face.landmarks - [x1, y1]) / [x2 - x1, y2 - y1] * FACENET_SIZE)
      in_image.append(face.landmarks / size)
    if (i + 1) % 100 == 0:
      logging.info('%d images, %d faces', i + 1, len(in_box))
  return {'facenet_box_160': np.median(in_box, axis=0), 'image_fraction': np.median(in_image, axis=0),
          'detected': len(in_box), 'images': len(paths)}


def main(argv) -> None:
  del argv
  root = Path(flags.FLAGS.root)
  folder = root / 'CelebA-HQ-img' if (root / 'CelebA-HQ-img').is_dir() else root
  paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in ('.jpg', '.jpeg', '.png'))
  if flags.FLAGS.limit:
    paths = paths[:flags.FLAGS.limit]
  result = measure(paths, flags.FLAGS.size)
  print(f'{result["detected"]} of {result["images"]} images had a face')
  np.set_printoptions(precision=4, suppress=True)
  print('landmarks in a 160-pixel crop of the MTCNN box (x, y):\n', result['facenet_box_160'])
  print('landmarks as fractions of the image side (x, y):\n', result['image_fraction'])


if __name__ == '__main__':
  from jfsr import cli
  cli.run(main, __name__)
