"""Faces in a frame by OpenCV's Haar cascade: boxes, and a square crop around each.

The restorer was trained on CelebA-HQ crops, where the face fills roughly the
middle two thirds of the image; a Haar box is tight around eyes, nose and mouth,
so each crop is the box grown by ``margin`` on every side, made square and kept
centred. Crops that reach past the frame's edge are padded by replicating the
edge. (Restoration aligns faces by landmarks instead: :mod:`jfsr.faces.detection`
turns these boxes into landmarks where MTCNN is not available.)
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
