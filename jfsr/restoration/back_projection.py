"""Back-projection: restored faces made to agree with the frame they came from.

The generator sees a face through a 16- or 32-pixel window: a face larger than that is
shrunk on the way in, every face is resampled onto the template, and whatever the
generator paints at coarse scale (a shade of skin, where the jaw runs) is its guess. The
frame itself says what the face looks like at the frame's resolution. Iterative
back-projection (Irani and Peleg, 1991) enforces it: shrink the enlarged result the way
frames are assumed to have been shrunk (antialiased bicubic, the training's
degradation), take its difference from the frame, enlarge that difference (bicubic, as
:func:`jfsr.restoration.restorer.enlarge` does) and add it over the face's square (the
aligned crop's, with a soft edge: :func:`jfsr.faces.blend.square_mask`); a few iterations.
Detail finer than the frame's pixels, which only the generator knows, stays; pixels
outside the square are not touched. A frame decoded from a JPEG is not held to its decoded
pixels, whose compression noise back-projection would copy into the face, but to what the
file stores (:mod:`jfsr.restoration.jpeg_grid`): luma only, within its quantization.

It runs per face on a box of the frame around it (the face plus a margin wider than both
resampling kernels), so its cost and memory follow the face, not the frame.
"""

from __future__ import annotations

import math

import numpy as np

from jfsr.faces.blend import Footprint
from jfsr.restoration.jpeg_grid import JpegGrid

# Iterations per face in photos and in videos, and the weight's soft edge over the face's
# square (a fraction of its half-side): chosen on held-out faces (docs/restoration.md).
# Each iteration pulls the face closer to its frame's own pixels, which change from frame to
# frame as a face moves over the pixel grid, so videos take fewer. The command line's
# defaults, so this module imports nothing heavy.
ITERATIONS = 3
VIDEO_ITERATIONS = 1
FEATHER = 0.1
# Frame pixels around the face's box: past the support of the shrink (2 frame pixels at
# any enlargement) and of the bicubic enlargement (2), so that the box's edges do not
# change what happens under the mask.
MARGIN = 4


def shrink(image: np.ndarray, scale: int) -> np.ndarray:
  """``image`` (float, H x W x C, sides multiples of ``scale``) ``scale`` times smaller,
  antialiased bicubic."""
  from jfsr.data.photo import resize
  height, width = image.shape[:2]
  return resize(image, (width // scale, height // scale))


def back_project(enlarged: np.ndarray, frame: np.ndarray, scale: int, spot: Footprint,
                 iterations: int, grid: JpegGrid | None = None) -> None:
  """Makes the face pasted at ``spot`` into ``enlarged`` (``frame`` enlarged ``scale``
  times, uint8, changed in place) agree with ``frame``, correcting it ``iterations``
  times; for a frame decoded from a JPEG whose ``grid`` is given, agree with what the file
  stores (:mod:`jfsr.restoration.jpeg_grid`: luma only, within its quantization)."""
  if iterations <= 0 or scale <= 1:
    return
  import cv2
  height, width = frame.shape[:2]
  x0, y0 = max(0, spot.x0 // scale - MARGIN), max(0, spot.y0 // scale - MARGIN)
  x1 = min(width, math.ceil(spot.x1 / scale) + MARGIN)
  y1 = min(height, math.ceil(spot.y1 / scale) + MARGIN)
  if grid is not None:
    (y0, y1), (x0, x1) = grid.aligned(y0, y1, 0, height), grid.aligned(x0, x1, 1, width)
  box = (slice(scale * y0, scale * y1), slice(scale * x0, scale * x1))
  weight = np.zeros((scale * (y1 - y0), scale * (x1 - x0), 1), np.float32)
  weight[spot.y0 - scale * y0:spot.y1 - scale * y0,
         spot.x0 - scale * x0:spot.x1 - scale * x0, 0] = spot.alpha
  observed = frame[y0:y1, x0:x1].astype(np.float32)
  result = enlarged[box].astype(np.float32)
  for _ in range(iterations):
    small = shrink(result, scale)
    if grid is None:
      difference = (observed - small).astype(np.float32)
    else:
      difference = grid.luma_correction(small, observed, (y0, x0), frame.shape).astype(np.float32)
    enlarged_difference = cv2.resize(difference, (result.shape[1], result.shape[0]),
                                     interpolation=cv2.INTER_CUBIC)
    result += weight * enlarged_difference.reshape(*result.shape[:2], -1)
  enlarged[box] = np.where(weight > 0, np.clip(result + 0.5, 0, 255), enlarged[box]
                           ).astype(np.uint8)
