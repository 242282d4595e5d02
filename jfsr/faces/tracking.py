"""Faces followed through a video, their landmarks smoothed so that the alignment does not jitter.

A face in frame ``t`` continues a track of frame ``t - 1`` when their boxes overlap
(intersection over union at least ``min_iou``; greedy, best overlap first). Each
track keeps an exponential moving average of its landmarks: the smoothed points
are ``smoothing * previous + (1 - smoothing) * detected``, so detector noise of
standard deviation s leaves frame-to-frame jitter of about
s * sqrt(2 (1 - smoothing) / (1 + smoothing)) instead of s * sqrt(2). When a face
moves by more than ``reset_fraction`` of its box width in one frame, the average
restarts there, so a real move is followed at once instead of trailing behind.

:class:`OutputSmoother` does the same for the restored faces themselves: each track's
output, in the template's coordinates (where the face stands still however it moves in
the frame), is averaged over time, so that what the generator invents frame by frame does
not flicker.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from jfsr.faces.detection import FoundFace


def iou(a: tuple, b: tuple) -> float:
  """Intersection over union of two (x1, y1, x2, y2) boxes."""
  width = min(a[2], b[2]) - max(a[0], b[0])
  height = min(a[3], b[3]) - max(a[1], b[1])
  if width <= 0 or height <= 0:
    return 0.0
  inter = width * height
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@dataclasses.dataclass
class _Track:
  box: tuple
  landmarks: np.ndarray
  number: int


class LandmarkSmoother:
  """Call :meth:`update` with each frame's faces, in order; it returns them smoothed."""

  def __init__(self, smoothing: float = 0.6, min_iou: float = 0.3, reset_fraction: float = 0.5):
    if not 0.0 <= smoothing < 1.0:
      raise ValueError(f'smoothing {smoothing}: give a value in [0, 1)')
    self.smoothing, self.min_iou, self.reset_fraction = smoothing, min_iou, reset_fraction
    self._tracks: list[_Track] = []
    self._numbers = itertools.count()

  def update(self, faces: list[FoundFace]) -> list[FoundFace]:
    pairs = sorted(((iou(t.box, f.box), ti, fi) for ti, t in enumerate(self._tracks)
                    for fi, f in enumerate(faces)), reverse=True)
    matched: dict[int, int] = {}  # face index -> track index
    used = set()
    for overlap, ti, fi in pairs:
      if overlap < self.min_iou:
        break
      if ti not in used and fi not in matched:
        matched[fi] = ti
        used.add(ti)
    tracks, smoothed = [], []
    for fi, face in enumerate(faces):
      points, number = face.landmarks, None
      if fi in matched:
        previous = self._tracks[matched[fi]]
        moved = np.abs(points - previous.landmarks).mean()
        if moved <= self.reset_fraction * face.width:
          points = self.smoothing * previous.landmarks + (1.0 - self.smoothing) * points
          number = previous.number
      number = next(self._numbers) if number is None else number
      tracks.append(_Track(face.box, points, number))
      smoothed.append(dataclasses.replace(face, landmarks=points, track=number))
    self._tracks = tracks
    return smoothed


class OutputSmoother:
  """An exponential moving average of each track's restored face (``weight`` on the past):
  call :meth:`update` with each frame's faces and their outputs, in order."""

  def __init__(self, weight: float = 0.5):
    if not 0.0 <= weight < 1.0:
      raise ValueError(f'output smoothing {weight}: give a value in [0, 1)')
    self.weight = weight
    self._average: dict[int, np.ndarray] = {}

  def update(self, faces: list[FoundFace], outputs: list[np.ndarray | None]
             ) -> list[np.ndarray | None]:
    """``outputs`` (uint8, template coordinates; None for a face left as it was) averaged
    with the same tracks' earlier outputs; a face without a track is returned as it is."""
    average, smoothed = {}, []
    for face, output in zip(faces, outputs):
      if output is None or face.track is None:
        smoothed.append(output)
        continue
      current = output.astype(np.float32)
      past = self._average.get(face.track)
      if past is not None and past.shape == current.shape:  # not when its model changed
        current = self.weight * past + (1.0 - self.weight) * current
      average[face.track] = current
      smoothed.append(np.clip(np.rint(current), 0, 255).astype(np.uint8))
    self._average = average  # tracks not seen in this frame are dropped
    return smoothed
