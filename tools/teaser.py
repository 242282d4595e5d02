r"""The README's before/after picture, on a real photo that may be shown anywhere.

    python tools/teaser.py --model cpu-x16 --out docs/teaser.png

The photo is scikit-image's ``astronaut`` (Eileen Collins, NASA; public domain), so no
CelebA-HQ pixel enters the repository. Two rows:

1. *aligned*: the face aligned onto the training template at the model's output size
   (the ground truth), degraded as the test faces are (motion blur, then the model's
   factor down) -> input | bicubic | jfsr | ground truth;
2. *in the photo*: the whole photo blurred and shrunk so that the face is about the model's
   input size, then restored by ``Restorer.restore_frame`` (detect, align, restore, paste)
   -> the shrunk photo | bicubic | jfsr | the photo, cut around the face.

Faces are found with MTCNN when its weights are cached (``python -m jfsr.pretrained fetch
mtcnn``), else with the Haar cascade.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image


def panel(image: np.ndarray, size: int) -> np.ndarray:
  """``image`` resized to a ``size`` square: nearest when enlarging (pixels stay visible)."""
  resample = Image.Resampling.NEAREST if image.shape[0] < size else Image.Resampling.LANCZOS
  return np.asarray(Image.fromarray(image).resize((size, size), resample))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--model', default='cpu-x16', help='shipped model NAME or packed .npz')
  parser.add_argument('--out', default='docs/teaser.png')
  parser.add_argument('--size', type=int, default=192, help='side of each panel, pixels')
  parser.add_argument('--seed', type=int, default=3, help='the aligned face\'s motion blur')
  parser.add_argument('--photo_seed', type=int, default=0, help='the whole photo\'s motion '
                      'blur (with some draws the blurred 16-px face is not detected)')
  args = parser.parse_args()

  import skimage.data
  from jfsr.data import blur, degrade, pipeline
  from jfsr.data import photo as photo_module
  from jfsr.faces import alignment
  from jfsr.restoration import Restorer
  from jfsr.restoration.restorer import enlarge

  restorer = Restorer.from_pretrained(args.model)
  hr, lr, factor = restorer.hr_size, restorer.lr_size, restorer.factor
  photo = skimage.data.astronaut()
  (face, *_), = restorer.detector.detect([photo])

  # Row 1: the aligned face, degraded like the test faces.
  to_hr = alignment.template_transform(face.landmarks, hr)
  truth = alignment.warp(photo, to_hr, hr)
  spec = pipeline.eval_degradation(restorer.config)
  example = degrade.degrade(truth, np.ones((hr, hr), np.float32), spec,
                            np.random.default_rng(args.seed))
  small = np.round((example['lr'] + 1) * 127.5).astype(np.uint8)
  bicubic = np.asarray(Image.fromarray(small).resize((hr, hr), Image.Resampling.BICUBIC))
  restored = restorer.restore_inputs(small[None])[0]
  row1 = [small, bicubic, restored, truth]

  # Row 2: the whole photo blurred (Gong's flow, drawn for the photo) and shrunk so that
  # the face's aligned crop is about the model's input side.
  side = float(np.sqrt(abs(np.linalg.det(to_hr[:, :2]))))  # template px per photo px
  frame_side = round(photo.shape[0] * side * lr / hr)
  rng = np.random.default_rng(args.photo_seed)
  u, v = blur.motion_flow(*photo.shape[:2], rng)
  blurred = blur.motion_blur(photo.astype(np.float64) / 255, u, v)
  frame = np.round(np.clip(photo_module.resize(blurred, frame_side), 0, 1) * 255)
  frame = frame.astype(np.uint8)
  result = restorer.restore_frame(frame, upscale=factor, force=True)
  centre = face.landmarks.mean(0) * frame_side / photo.shape[0] * factor
  half = int(hr * 0.75)
  x0 = int(np.clip(centre[0] - half, 0, frame_side * factor - 2 * half))
  y0 = int(np.clip(centre[1] - half, 0, frame_side * factor - 2 * half))

  def cut(image: np.ndarray, scale: int) -> np.ndarray:
    s = slice(y0 * scale // factor, (y0 + 2 * half) * scale // factor)
    t = slice(x0 * scale // factor, (x0 + 2 * half) * scale // factor)
    return image[s, t]
  photo_at_output = np.asarray(Image.fromarray(photo).resize(
      (frame_side * factor, frame_side * factor), Image.Resampling.LANCZOS))
  row2 = [cut(frame, 1), cut(enlarge(frame, factor), factor), cut(result.image, factor),
          cut(photo_at_output, factor)]

  gap = 4
  rows = [np.concatenate(sum([[panel(p, args.size), np.full((args.size, gap, 3), 255, np.uint8)]
                              for p in row], [])[:-1], axis=1) for row in (row1, row2)]
  sheet = np.concatenate([rows[0], np.full((gap, rows[0].shape[1], 3), 255, np.uint8), rows[1]])
  Image.fromarray(sheet).save(args.out)
  print(f'wrote {args.out}: input | bicubic | jfsr ({args.model}) | ground truth; '
        f'row 1 the aligned face ({lr}² in), row 2 in the photo '
        f'({frame_side}x{frame_side}, face restored {result.faces[0].restored if result.faces else False})')


if __name__ == '__main__':
  main()
