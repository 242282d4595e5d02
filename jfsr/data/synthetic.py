"""Procedurally drawn faces with exact part masks: a dataset that needs no download.

Each index draws one face from its own seeded generator: a background gradient,
hair, a skin ellipse with a neck, eyes with irises, brows, a nose and two lips,
plus smooth low-frequency shading so the images are not flat. The face mask is
the union of the drawn skin and inner-face parts, exactly as CelebAMask-HQ's
default part list would give it.
"""

from __future__ import annotations

import numpy as np


def _ellipse(yy, xx, cy, cx, ry, rx, angle=0.0, softness=0.02):
  """Soft (anti-aliased) coverage of a rotated ellipse on the [-1, 1] grid."""
  cos, sin = np.cos(angle), np.sin(angle)
  dy, dx = yy - cy, xx - cx
  ey = (dy * cos - dx * sin) / ry
  ex = (dy * sin + dx * cos) / rx
  distance = (np.sqrt(ey * ey + ex * ex) - 1.0) * min(ry, rx)
  return np.clip(0.5 - distance / softness, 0.0, 1.0)


def _smooth_noise(rng, size, cells=4):
  coarse = rng.normal(size=(cells, cells))
  idx = np.linspace(0, cells - 1, size)
  lo = np.floor(idx).astype(int)
  hi = np.minimum(lo + 1, cells - 1)
  f = idx - lo
  rows = coarse[lo] * (1 - f)[:, None] + coarse[hi] * f[:, None]
  return rows[:, lo] * (1 - f)[None, :] + rows[:, hi] * f[None, :]


def draw_face(index: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Returns ``(image uint8 (size, size, 3), face mask float32 (size, size) in {0, 1})``."""
  rng = np.random.default_rng([seed, index])
  coords = np.linspace(-1.0, 1.0, size)
  yy, xx = np.meshgrid(coords, coords, indexing='ij')
  soft = 2.5 / size

  top, bottom = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
  t = (yy[..., None] + 1) / 2
  image = top * (1 - t) + bottom * t

  def paint(coverage, colour):
    nonlocal image
    image = image * (1 - coverage[..., None]) + np.asarray(colour) * coverage[..., None]

  skin = np.array([0.95, 0.78, 0.65]) * rng.uniform(0.45, 1.05) + rng.uniform(-0.05, 0.05, 3)
  skin = np.clip(skin, 0.05, 1.0)
  hair = rng.choice([[0.1, 0.07, 0.05], [0.35, 0.22, 0.1], [0.8, 0.65, 0.35], [0.5, 0.5, 0.5]])
  hair = np.clip(hair + rng.uniform(-0.05, 0.05, 3), 0, 1)
  cy, cx = rng.uniform(-0.06, 0.06, 2)
  ry, rx = rng.uniform(0.55, 0.68), rng.uniform(0.4, 0.5)
  tilt = rng.uniform(-0.15, 0.15)

  paint(_ellipse(yy, xx, cy - 0.12, cx, ry * 1.05, rx * 1.25, tilt, soft), hair)
  neck = np.clip(0.5 - (np.abs(xx - cx) - rx * 0.55) / soft, 0, 1) * (yy > cy + 0.2)
  paint(neck, skin * 0.85)
  face = _ellipse(yy, xx, cy, cx, ry, rx, tilt, soft)
  paint(face, skin)

  def at(dy, dx):  # a point on the face, following the tilt
    return cy + dy * np.cos(tilt) - dx * np.sin(tilt), cx + dy * np.sin(tilt) + dx * np.cos(tilt)

  eye_dy, eye_dx = rng.uniform(-0.18, -0.08), rng.uniform(0.15, 0.22)
  eye_r = rng.uniform(0.05, 0.075)
  iris = rng.choice([[0.25, 0.15, 0.05], [0.2, 0.35, 0.55], [0.25, 0.4, 0.2]])
  parts = []
  for side in (-1, 1):
    ey, ex = at(eye_dy, side * eye_dx)
    eye = _ellipse(yy, xx, ey, ex, eye_r * 0.55, eye_r, tilt, soft)
    paint(eye, [0.95, 0.95, 0.92])
    paint(_ellipse(yy, xx, ey, ex, eye_r * 0.5, eye_r * 0.45, tilt, soft) * eye, iris)
    paint(_ellipse(yy, xx, ey, ex, eye_r * 0.22, eye_r * 0.2, tilt, soft) * eye, [0.02] * 3)
    by, bx = at(eye_dy - eye_r * 1.6, side * eye_dx)
    brow = _ellipse(yy, xx, by, bx, eye_r * 0.25, eye_r * 1.3, tilt - side * 0.15, soft)
    paint(brow, hair * 0.8)
    parts += [eye, brow]
  ny, nx = at(0.08, 0.0)
  nose = _ellipse(yy, xx, ny, nx, 0.1, 0.045, tilt, soft)
  paint(nose, skin * 0.82)
  mouth_dy, mouth_w = rng.uniform(0.26, 0.34), rng.uniform(0.12, 0.2)
  lip = np.clip(np.array([0.75, 0.3, 0.3]) * rng.uniform(0.7, 1.1), 0, 1)
  uy, ux = at(mouth_dy - 0.02, 0.0)
  ly, lx = at(mouth_dy + 0.025, 0.0)
  upper = _ellipse(yy, xx, uy, ux, 0.025, mouth_w, tilt, soft)
  lower = _ellipse(yy, xx, ly, lx, 0.035, mouth_w * 0.9, tilt, soft)
  paint(upper, lip * 0.9)
  paint(lower, lip)
  parts += [nose, upper, lower]

  shading = 1.0 + 0.08 * _smooth_noise(rng, size)
  image = np.clip(image * shading[..., None] + rng.normal(0, 0.01, image.shape), 0, 1)
  mask = np.maximum.reduce([face] + parts) > 0.5
  return (image * 255 + 0.5).astype(np.uint8), mask.astype(np.float32)


class SyntheticFaces:
  """A grain random-access source of drawn faces: ``{'hr': uint8, 'mask': float32}``."""

  def __init__(self, num_records: int, size: int, seed: int = 0, offset: int = 0):
    self._num_records, self._size, self._seed, self._offset = num_records, size, seed, offset

  def __len__(self) -> int:
    return self._num_records

  def __getitem__(self, index: int) -> dict[str, np.ndarray]:
    image, mask = draw_face(self._offset + int(index), self._size, self._seed)
    return {'hr': image, 'mask': mask}

  def __repr__(self) -> str:
    return f'SyntheticFaces(num_records={self._num_records}, size={self._size}, seed={self._seed})'
