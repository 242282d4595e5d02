"""Faces in a frame: detect (OpenCV's Haar cascade), crop a square around each, paste back.

The restorer was trained on CelebA-HQ crops, where the face fills roughly the
middle two thirds of the image; a Haar box is tight around eyes, nose and mouth,
so each crop is the box grown by ``margin`` on every side, made square and kept
centred. Crops that reach past the frame's edge are padded by replicating the
edge. Pasting back blends the restored face in with a feathered square mask, so
the pixels outside the crop are left exactly as they were.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

# The Haar cascade ships inside opencv-python-headless < 5 (5.x dropped cv2.data).
CASCADE = 'haarcascade_frontalface_default.xml'


@dataclasses.dataclass(frozen=True)
class Face:
  """A square crop ``[top, top + size) x [left, left + size)`` in frame pixels, and the
  detector's confidence (its cascade level weight)."""
  top: int
  left: int
  size: int
  score: float


@functools.cache
def _cascade():
  import cv2
  cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
  if cascade.empty():
    raise RuntimeError(f'OpenCV could not load {CASCADE} from {cv2.data.haarcascades}')
  return cascade


def detect(frame: np.ndarray, min_size: int = 16, threshold: float = 0.0,
           margin: float = 0.25) -> list[Face]:
  """Faces in a uint8 RGB frame, largest first.

  Args:
    min_size: smallest face (Haar box side, pixels) to look for.
    threshold: minimum detector confidence; raise it to drop false detections.
    margin: how much of the box side to add on each side of the crop.
  """
  import cv2
  grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
  boxes, _, weights = _cascade().detectMultiScale3(
      grey, scaleFactor=1.1, minNeighbors=3, minSize=(min_size, min_size),
      outputRejectLevels=True)
  faces = []
  for (x, y, w, h), score in zip(np.asarray(boxes).reshape(-1, 4), np.ravel(weights)):
    if score < threshold:
      continue
    side = int(round(max(w, h) * (1 + 2 * margin)))
    top = int(round(y + h / 2 - side / 2))
    left = int(round(x + w / 2 - side / 2))
    faces.append(Face(top, left, side, float(score)))
  return sorted(faces, key=lambda f: -f.size)


def crop(frame: np.ndarray, face: Face) -> np.ndarray:
  """The face's square, edge-replicated where it leaves the frame."""
  h, w = frame.shape[:2]
  pad = max(0, -face.top, -face.left, face.top + face.size - h, face.left + face.size - w)
  if pad:
    frame = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), mode='edge')
  top, left = face.top + pad, face.left + pad
  return frame[top:top + face.size, left:left + face.size]


def feather_mask(size: int, feather: float = 0.1) -> np.ndarray:
  """(size, size) weights: 1 in the middle, falling linearly to 0 over ``feather * size``
  pixels at each edge (a seamless blend of a square patch)."""
  ramp_width = max(1.0, feather * size)
  distance = np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5
  ramp = np.clip(distance / ramp_width, 0.0, 1.0)
  return np.minimum.outer(ramp, ramp).astype(np.float32)


def paste(frame: np.ndarray, patch: np.ndarray, face: Face, scale: int = 1,
          feather: float = 0.1) -> np.ndarray:
  """Blends ``patch`` (resized to the face's square times ``scale``) into ``frame`` in place.

  ``frame`` is already ``scale`` times the size of the frame ``face`` was found in.
  Only pixels inside the square change, and those at its rim barely.
  """
  from PIL import Image
  size = face.size * scale
  if patch.shape[:2] != (size, size):
    patch = np.asarray(Image.fromarray(patch).resize((size, size), Image.Resampling.LANCZOS))
  top, left = face.top * scale, face.left * scale
  h, w = frame.shape[:2]
  y0, x0 = max(top, 0), max(left, 0)
  y1, x1 = min(top + size, h), min(left + size, w)
  if y0 >= y1 or x0 >= x1:
    return frame
  alpha = feather_mask(size, feather)[y0 - top:y1 - top, x0 - left:x1 - left, None]
  region = frame[y0:y1, x0:x1].astype(np.float32)
  new = patch[y0 - top:y1 - top, x0 - left:x1 - left].astype(np.float32)
  frame[y0:y1, x0:x1] = np.clip(region + alpha * (new - region) + 0.5, 0, 255).astype(np.uint8)
  return frame
