"""Five-point face alignment: a least-squares similarity transform onto a template, and warps.

Landmarks are ``(5, 2)`` arrays of (x, y) pixel positions in MTCNN's order: left
eye, right eye, nose, left and right mouth corner. A similarity transform
(rotation, uniform scale, translation; no reflection) maps ``x`` to
``A @ x + t`` with ``A = [[a, -b], [b, a]]``; it is returned as the 2x3 matrix
``[A | t]`` that ``cv2.warpAffine`` takes.

Templates are *measured*, not copied: ``FACENET_TEMPLATE`` holds where MTCNN puts
the five landmarks inside its own box, in a 160x160 crop of that box (what FaceNet
saw in training: box crops, no rotation), as the median over 1,000
CelebA-HQ faces (``python tools/measure_template.py``). Aligning to it keeps
FaceNet's framing and removes a face's roll.
"""

from __future__ import annotations

import numpy as np

# python tools/measure_template.py --root data/CelebAMask-HQ-mini --size 256
# (1,000 CelebA-HQ faces resized to 256², 999 detected; median of each coordinate).
FACENET_TEMPLATE = np.array([
    [42.14, 63.26], [118.23, 63.23], [79.39, 97.20], [45.84, 120.71], [114.07, 120.60],
], np.float64)
FACENET_SIZE = 160

# Where the five landmarks sit in an aligned training face (CelebA-HQ), as fractions
# of the image side: the same run, its 'fractions of the image side' (MTCNN on the
# 1,000 development faces at 256², median of each coordinate). Restoration warps
# every face so that its landmarks land here in the model's input.
RESTORATION_TEMPLATE = np.array([
    [0.3780, 0.4770], [0.6275, 0.4770], [0.5002, 0.6324], [0.3921, 0.7396], [0.6125, 0.7392],
], np.float64)


def template_points(size: int, template: np.ndarray = RESTORATION_TEMPLATE) -> np.ndarray:
  """``template`` (fractions of the side) as pixel-centre coordinates in a ``size`` square."""
  return template * size - 0.5


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
  """The similarity ``[A | t]`` (2x3) minimising ``sum |A @ source_i + t - target_i|²``.

  Linear least squares in ``(a, b, tx, ty)``: each point gives the rows
  ``[x, -y, 1, 0] -> x'`` and ``[y, x, 0, 1] -> y'``. Needs two distinct points.
  """
  source = np.asarray(source, np.float64).reshape(-1, 2)
  target = np.asarray(target, np.float64).reshape(-1, 2)
  if source.shape != target.shape or len(source) < 2:
    raise ValueError(f'need matching point sets of at least 2 points, got {source.shape} and '
                     f'{target.shape}')
  x, y = source[:, 0], source[:, 1]
  ones, zeros = np.ones_like(x), np.zeros_like(x)
  design = np.concatenate([np.stack([x, -y, ones, zeros], 1), np.stack([y, x, zeros, ones], 1)])
  values = np.concatenate([target[:, 0], target[:, 1]])
  (a, b, tx, ty), *_ = np.linalg.lstsq(design, values, rcond=None)
  return np.array([[a, -b, tx], [b, a, ty]])


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
  """``(n, 2)`` points mapped by a 2x3 affine matrix."""
  points = np.asarray(points, np.float64).reshape(-1, 2)
  return points @ matrix[:, :2].T + matrix[:, 2]


def invert(matrix: np.ndarray) -> np.ndarray:
  """The inverse of a 2x3 affine matrix."""
  linear = np.linalg.inv(matrix[:, :2])
  return np.concatenate([linear, -linear @ matrix[:, 2:]], axis=1)


def warp(image: np.ndarray, matrix: np.ndarray, size: int | tuple[int, int],
         border: str = 'replicate') -> np.ndarray:
  """``image`` resampled through ``matrix`` (image -> output coordinates) into an output of
  ``size`` (side, or (width, height)): bicubic, or area-averaging where it shrinks by
  more than 2x (the matrix's scale), so that small outputs do not alias."""
  import cv2
  width, height = (size, size) if isinstance(size, int) else size
  scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
  modes = {'replicate': cv2.BORDER_REPLICATE, 'constant': cv2.BORDER_CONSTANT,
           'reflect': cv2.BORDER_REFLECT_101}
  if scale < 0.5:
    # Pre-shrink by an integer factor with area averaging, then warp the rest.
    factor = int(1 / scale)
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // factor), max(1, h // factor)),
                       interpolation=cv2.INTER_AREA)
    rx, ry = max(1, w // factor) / w, max(1, h // factor) / h  # pixel centres map (x+.5)r-.5
    shrink = np.array([[rx, 0, 0.5 * rx - 0.5], [0, ry, 0.5 * ry - 0.5]])
    # output = M @ x = M' @ (S @ x) with S the pre-shrink: M' = M @ S^-1.
    matrix = compose(matrix, invert(shrink))
    image = small
  return cv2.warpAffine(np.ascontiguousarray(image), matrix, (width, height),
                        flags=cv2.INTER_CUBIC, borderMode=modes[border])


def pixel_scale(factor: float) -> np.ndarray:
  """The 2x3 map from pixel-centre coordinates to those of the image ``factor`` times larger
  (a fraction shrinks)."""
  offset = 0.5 * factor - 0.5
  return np.array([[factor, 0.0, offset], [0.0, factor, offset]])


def template_transform(landmarks: np.ndarray, size: int) -> np.ndarray:
  """The similarity taking a face's five ``landmarks`` onto :data:`RESTORATION_TEMPLATE` in a
  ``size`` square: frame pixels -> model-input pixels."""
  return similarity_transform(landmarks, template_points(size))


def aligned_side(landmarks: np.ndarray) -> float:
  """The side, in frame pixels, of the aligned crop (the template's square) these five
  ``landmarks`` make."""
  return 1.0 / float(np.sqrt(abs(np.linalg.det(template_transform(landmarks, 1)[:, :2]))))


def model_input_crop(frame: np.ndarray, to_model: np.ndarray, size: int) -> np.ndarray:
  """The face of ``frame`` resampled once, through ``to_model`` (frame -> model-input
  pixels), into the ``size`` square the generator reads. Restoration makes every model
  input with it, and frame-mode training (:mod:`jfsr.data.frames`) makes its inputs with it
  too, so that the model trains on the resampling it meets."""
  return warp(frame, to_model, size)


def about(linear: np.ndarray, centre, shift=(0.0, 0.0)) -> np.ndarray:
  """The 2x3 map applying the 2x2 ``linear`` about ``centre``, then moving by ``shift``:
  ``x -> linear @ (x - centre) + centre + shift``."""
  centre = np.asarray(centre, np.float64)
  return np.concatenate([linear, (centre - linear @ centre + shift)[:, None]], axis=1)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
  """``outer ∘ inner`` of two 2x3 affine matrices."""
  return np.concatenate([outer[:, :2] @ inner[:, :2],
                         outer[:, :2] @ inner[:, 2:] + outer[:, 2:]], axis=1)


def align(image: np.ndarray, landmarks: np.ndarray, template: np.ndarray = FACENET_TEMPLATE,
          size: int = FACENET_SIZE) -> np.ndarray:
  """The face warped so that its five landmarks fall as near as they can on ``template``."""
  return warp(image, similarity_transform(landmarks, template), size)
