"""Restoring a face under several alignments and averaging: its landmarks' uncertainty,
taken into account.

At 12-24 pixels the detector's landmarks stray by a few degrees, a few percent of scale
and a fraction of a pixel (docs/restoration.md), and the generator answers each small
change of its input with different invented detail. Each face is therefore warped onto
the model's input several times, the template nudged each time by one of
:data:`NUDGES` (a quarter pixel each way, three degrees each way, four percent larger
and smaller), restored, and every output warped back into the first alignment's
coordinates, where they are averaged. Detail that all of them agree on stays; detail that
depends on exactly where the landmarks fell is averaged towards what the frame supports.
"""

from __future__ import annotations

import math

import numpy as np

from jfsr.faces import alignment

# (shift x, shift y in model-input pixels, roll in degrees, scale) about the input's
# centre; the first is the alignment itself. ``alignments=N`` uses the first N.
NUDGES = ((0.0, 0.0, 0.0, 1.0),
          (0.25, 0.25, 0.0, 1.0), (-0.25, 0.25, 0.0, 1.0),
          (0.25, -0.25, 0.0, 1.0), (-0.25, -0.25, 0.0, 1.0),
          (0.0, 0.0, 3.0, 1.0), (0.0, 0.0, -3.0, 1.0),
          (0.0, 0.0, 0.0, 1.04), (0.0, 0.0, 0.0, 0.96))
ALIGNMENTS = 9  # the default: chosen on held-out faces (docs/restoration.md)


def nudges(lr_size: int, count: int) -> list[np.ndarray]:
  """The first ``count`` of :data:`NUDGES` as 2x3 maps of model-input pixels (the
  alignment's input -> the nudged one's)."""
  centre = np.full(2, (lr_size - 1) / 2)
  maps = []
  for dx, dy, roll, scale in NUDGES[:count]:
    a, b = scale * math.cos(math.radians(roll)), scale * math.sin(math.radians(roll))
    maps.append(alignment.about(np.array([[a, -b], [b, a]]), centre, [dx, dy]))
  return maps


def average_back(outputs: np.ndarray, maps: list[np.ndarray], factor: int) -> np.ndarray:
  """``outputs`` (K, S, S, C) uint8, restored from inputs nudged by ``maps``, each warped
  back into the first alignment's output coordinates and averaged (uint8)."""
  size = outputs.shape[1]
  to_output = alignment.pixel_scale(factor)
  total = np.zeros(outputs.shape[1:], np.float32)
  for output, nudge in zip(outputs, maps):
    # nudged output -> nudged input -> the alignment's input -> its output
    back = alignment.compose(to_output, alignment.compose(alignment.invert(nudge),
                                                          alignment.invert(to_output)))
    total += alignment.warp(output.astype(np.float32), back, size)
  return np.clip(total / len(outputs) + 0.5, 0, 255).astype(np.uint8)
