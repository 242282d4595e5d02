"""Putting a restored face back: warped into the frame under a soft, face-shaped mask.

The mask is an ellipse around the face of an aligned crop (the template's face:
eyes at 48% of the height, mouth corners at 74%), 1 inside, falling smoothly to 0
over its outer ``feather``; warped with the face into the frame, it decides how much
of the face each frame pixel takes. Pixels where it is 0 (everything outside the
ellipse) keep the frame's values bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from jfsr.faces import alignment

# Ellipse in fractions of the crop side: centre and semi-axes (x, y).
MASK_CENTRE = (0.5, 0.54)
MASK_AXES = (0.40, 0.46)


@functools.cache
def face_mask(size: int, feather: float = 0.25) -> np.ndarray:
  """(size, size) float32 weights: 1 inside the face ellipse, a smooth (smoothstep) fall to
  0 over the outer ``feather`` of its radius, 0 outside."""
  centres = np.arange(size) + 0.5
  x = (centres[None, :] / size - MASK_CENTRE[0]) / MASK_AXES[0]
  y = (centres[:, None] / size - MASK_CENTRE[1]) / MASK_AXES[1]
  radius = np.sqrt(x ** 2 + y ** 2)
  t = np.clip((1.0 - radius) / feather, 0.0, 1.0)
  mask = (t * t * (3 - 2 * t)).astype(np.float32)
  mask.flags.writeable = False
  return mask


@functools.cache
def square_mask(size: int, feather: float = 0.1) -> np.ndarray:
  """(size, size) float32 weights over the whole crop: 1 inside, a smooth (smoothstep) fall
  to 0 over the outer ``feather`` of the half-side at each edge."""
  centres = (np.arange(size) + 0.5) / size * 2 - 1  # -1 .. 1 across the crop
  distance = np.maximum(np.abs(centres)[None, :], np.abs(centres)[:, None])
  t = np.clip((1.0 - distance) / feather, 0.0, 1.0)
  mask = (t * t * (3 - 2 * t)).astype(np.float32)
  mask.flags.writeable = False
  return mask


@dataclasses.dataclass(frozen=True)
class Footprint:
  """Where a pasted face lands: the frame's box ``[y0:y1, x0:x1]`` around it, the map of
  face pixels into that box, and the mask's weight there (0 outside the mask)."""
  x0: int
  y0: int
  x1: int
  y1: int
  to_region: np.ndarray  # 2x3: face pixels -> box pixels
  alpha: np.ndarray       # (y1 - y0, x1 - x0) float32 in [0, 1]


def footprint(frame_shape: tuple[int, ...], size: int, frame_to_face: np.ndarray,
              mask: np.ndarray | None = None) -> Footprint | None:
  """The box and weights of a ``size`` x ``size`` face pasted into a frame of
  ``frame_shape`` through ``frame_to_face`` (2x3), or None where it misses the frame."""
  mask = face_mask(size) if mask is None else mask
  face_to_frame = alignment.invert(frame_to_face)
  edge = size - 0.5
  corners = alignment.apply_transform(face_to_frame,
                                      [[-0.5, -0.5], [edge, -0.5], [edge, edge], [-0.5, edge]])
  height, width = frame_shape[:2]
  x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
  x1 = min(width, int(np.ceil(corners[:, 0].max())) + 1)
  y1 = min(height, int(np.ceil(corners[:, 1].max())) + 1)
  if x0 >= x1 or y0 >= y1:
    return None
  to_region = alignment.compose(np.array([[1.0, 0, -x0], [0, 1.0, -y0]]), face_to_frame)
  alpha = np.clip(alignment.warp(mask, to_region, (x1 - x0, y1 - y0), border='constant'), 0, 1)
  return Footprint(int(x0), int(y0), x1, y1, to_region, alpha)


def paste(frame: np.ndarray, face: np.ndarray, frame_to_face: np.ndarray,
          mask: np.ndarray | None = None) -> Footprint | None:
  """Blends ``face`` (S x S, uint8) into ``frame`` (uint8, changed in place) where
  ``frame_to_face`` (2x3) maps frame pixels to face pixels; returns where it landed.

  Only the frame's box around the warped face is resampled, and only pixels with a
  mask weight above 0 change. ``mask`` defaults to :func:`face_mask`.
  """
  spot = footprint(frame.shape, face.shape[0], frame_to_face, mask)
  if spot is None:
    return None
  patch = alignment.warp(face, spot.to_region, (spot.x1 - spot.x0, spot.y1 - spot.y0))
  region = frame[spot.y0:spot.y1, spot.x0:spot.x1]
  alpha = spot.alpha.reshape(spot.alpha.shape + (1,) * (region.ndim - spot.alpha.ndim))
  blended = np.clip(region + alpha * (patch.astype(np.float32) - region) + 0.5, 0, 255)
  frame[spot.y0:spot.y1, spot.x0:spot.x1] = np.where(alpha > 0, blended.astype(np.uint8), region)
  return spot
