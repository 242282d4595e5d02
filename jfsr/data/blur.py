"""Gong et al.'s motion flow and the line-kernel motion blur (docs/design.md, "Motion blur").

Conventions follow the formulas: pixel x is the column (1..w), y the row (1..h),
both 1-indexed; a flow is a pair of integer HxW arrays (u, v). A line kernel is
indexed ``[k + Sx, l + Sy]`` with k the row offset and l the column offset.
"""

from __future__ import annotations

from typing import Literal

import numba
import numpy as np

EPS = 2.2204e-16

# (translation, affine, zoom, rotation, centre jitter): the "strong" defaults and Gong's milder set.
FLOW_SETTINGS = {
    'strong': dict(t=27.0, a=0.3, z=5e-3, theta=np.pi / 70, centre=15.0),
    'mild': dict(t=19.0, a=0.25, z=2e-3, theta=np.pi / 120, centre=5.0),
}


def flow_from_draws(height: int, width: int, draws: np.ndarray,
                    setting: Literal['strong', 'mild'] = 'strong',
                    scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
  """The motion flow for eight uniform draws in [-1, 1].

  ``draws`` are, in order, the epsilons of tx, ty, ax, ay, tz, theta, the centre
  row and the centre column. ``scale`` multiplies the flow before its rounding to whole
  pixels (the photo family's blur lengths; 1 is Gong's field exactly).
  """
  p = FLOW_SETTINGS[setting]
  e_tx, e_ty, e_ax, e_ay, e_tz, e_th, e_cr, e_cc = np.asarray(draws, np.float64)
  tx, ty = p['t'] * e_tx, p['t'] * e_ty
  ax, ay = p['a'] * e_ax, p['a'] * e_ay
  tz, theta = p['z'] * e_tz, p['theta'] * e_th
  c_row, c_col = height / 2 + p['centre'] * e_cr, width / 2 + p['centre'] * e_cc

  # alpha = atan2((h + 1 - y) - c_row, x - c_col) enters only through its cosine and
  # sine, taken here as ratios (atan2(0, 0) = 0: cosine 1, sine 0); r measures the row
  # from the unflipped y, as the formula does.
  x = np.arange(1, width + 1, dtype=np.float64)[None, :]
  y = np.arange(1, height + 1, dtype=np.float64)[:, None]
  across, up = x - c_col, (height + 1 - y) - c_row
  r = np.sqrt(across * across + (y - c_row) ** 2)
  to_centre = np.sqrt(across * across + up * up)
  away = to_centre > 0
  safe = np.where(away, to_centre, 1.0)
  cos_alpha = np.where(away, across / safe, 1.0)
  sin_alpha = np.where(away, up / safe, 0.0)
  s_rot = np.tan(theta) * r
  s_zoom = tz * r * np.sqrt(r)  # r ** 1.5
  u = tx * (1 - ax / 2) + x * ax * tx / width - cos_alpha * s_rot + sin_alpha * s_zoom
  v = (ty * (1 - ay / 2) + (height + 1 - y) * ay * ty / height + sin_alpha * s_rot
       + cos_alpha * s_zoom)
  return np.round(scale * u).astype(np.int32), np.round(scale * v).astype(np.int32)


def flow_draws(rng: np.random.Generator, setting: Literal['strong', 'mild'] = 'strong'
               ) -> np.ndarray:
  """The eight U(-1, 1) epsilons of a flow (:func:`flow_from_draws`), drawn from ``rng``."""
  if setting not in FLOW_SETTINGS:
    raise ValueError(f"blur setting must be one of {sorted(FLOW_SETTINGS)}, got {setting!r}")
  return rng.uniform(-1.0, 1.0, 8)


def motion_flow(height: int, width: int, rng: np.random.Generator,
                setting: Literal['strong', 'mild'] = 'strong') -> tuple[np.ndarray, np.ndarray]:
  """A random motion flow (u, v), HxW integer arrays, from eight U(-1, 1) draws of ``rng``."""
  return flow_from_draws(height, width, flow_draws(rng, setting), setting)


def magnitude_orientation(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Blur length m and orientation phi in degrees, folded into [0, 180)."""
  u = np.asarray(u, np.float64)
  v = np.asarray(v, np.float64)
  magnitude = np.sqrt(u * u + v * v)
  denominator = np.where(v == 0, 1e-16, -v)
  phi = np.degrees(np.arctan(u / denominator)) % 180.0
  return magnitude, phi


def line_kernel(magnitude: float, phi_degrees: float) -> np.ndarray:
  """The normalised line kernel of length ``magnitude`` at ``phi_degrees``, as an array.

  Indexed ``[k + R, l + C]`` (k the row offset, l the column offset), trimmed to
  the rows ``R`` and columns ``C`` its nonzero taps reach; a magnitude of at most
  1 gives the identity ``[[1.]]``. The taps come from the same rule that
  :func:`motion_blur` applies.
  """
  side = int(magnitude) + 3
  dk, dl = np.empty(side * side, np.int64), np.empty(side * side, np.int64)
  weight = np.empty(side * side, np.float64)
  count = _taps_of(float(magnitude), float(phi_degrees), side * side, dk, dl, weight)
  dk, dl, weight = dk[:count], dl[:count], weight[:count]
  rows, cols = int(np.abs(dk).max()), int(np.abs(dl).max())
  kernel = np.zeros((2 * rows + 1, 2 * cols + 1))
  kernel[dk + rows, dl + cols] = weight
  return kernel


@numba.njit(cache=True)
def _taps_of(magnitude, phi_degrees, max_taps, dk, dl, weight):
  """Nonzero taps of one line kernel (the rule of :func:`line_kernel`), normalised.

  Writes them into ``dk``, ``dl``, ``weight`` and returns their count.
  """
  if magnitude <= 1:
    dk[0], dl[0], weight[0] = 0, 0, 1.0
    return 1
  half = (magnitude - 1) / 2
  phi = np.radians(phi_degrees)
  c, s = np.cos(phi), np.sin(phi)
  sign_c = -1.0 if c < 0 else 1.0
  sx = int(np.floor(abs(half * c + sign_c - magnitude * EPS)))
  sy = int(np.floor(abs(half * s + 1 - magnitude * EPS)))
  count, total = 0, 0.0
  for k in range(-sx, sx + 1):
    for l in range(-sy, sy + 1):
      d = l * c + k * s
      if abs(d) <= 1 and np.sqrt(k * k + l * l) >= half:
        t = half - abs((k + d * s) / c)
        d = np.sqrt(d * d + t * t)
      w = 1 + EPS - abs(d)
      if w > 0 and count < max_taps:
        dk[count], dl[count], weight[count] = k, l, w
        total += w
        count += 1
  for i in range(count):
    weight[i] /= total
  return count


@numba.njit(cache=True)
def _blur_with_taps(image, pixel_kernel, offsets, dk, dl, weight, where):
  """Applies each pixel's kernel where ``where`` holds; other pixels keep their value.

  A row's pixels come in runs that share one kernel (the flow is smooth); a run whose
  kernel stays inside the image is done tap by tap over the run's contiguous values,
  so the inner loop vectorises. Each value still sums its taps in the same order.
  """
  h, w, channels = image.shape
  kernels = offsets.shape[0] - 1
  reach = np.zeros(kernels, np.int64)  # how far each kernel reaches from its pixel
  for p in range(kernels):
    for t in range(offsets[p], offsets[p + 1]):
      reach[p] = max(reach[p], abs(dk[t]), abs(dl[t]))
  rows = image.reshape(h, w * channels)
  out = np.zeros((h, w * channels), np.float64)
  for i in range(h):
    j = 0
    while j < w:
      if not where[i, j]:
        for ch in range(channels):
          out[i, j * channels + ch] = rows[i, j * channels + ch]
        j += 1
        continue
      kernel = pixel_kernel[i, j]
      end = j + 1
      while end < w and where[i, end] and pixel_kernel[i, end] == kernel:
        end += 1
      r = reach[kernel]
      if r <= i < h - r and r <= j and end + r <= w:  # no clamping anywhere in the run
        first, last = j * channels, end * channels
        for t in range(offsets[kernel], offsets[kernel + 1]):
          wt, src, shift = weight[t], i + dk[t], dl[t] * channels
          for x in range(first, last):
            out[i, x] += wt * rows[src, x + shift]
      else:
        for jj in range(j, end):
          for t in range(offsets[kernel], offsets[kernel + 1]):
            row = min(max(i + dk[t], 0), h - 1)
            col = min(max(jj + dl[t], 0), w - 1)
            wt = weight[t]
            for ch in range(channels):
              out[i, jj * channels + ch] += wt * rows[row, col * channels + ch]
      j = end
  return out.reshape(h, w, channels)


@numba.njit(cache=True)
def _distinct_flows(u, v):
  """Numbers the distinct flow vectors: (per-pixel kernel id, (n, 2) array of vectors)."""
  radius = max(np.abs(u).max(), np.abs(v).max())
  side = 2 * radius + 1
  table = np.full(side * side, -1, np.int64)
  ids = np.empty(u.shape, np.int64)
  flows = np.empty((u.size, 2), np.int64)
  count = 0
  for i in range(u.shape[0]):
    for j in range(u.shape[1]):
      key = (u[i, j] + radius) * side + v[i, j] + radius
      if table[key] < 0:
        table[key] = count
        flows[count, 0], flows[count, 1] = u[i, j], v[i, j]
        count += 1
      ids[i, j] = table[key]
  return ids, flows[:count]


@numba.njit(cache=True)
def _all_taps(magnitudes, phis):
  """Taps of every distinct kernel, flattened: (offsets, dk, dl, weight)."""
  n = magnitudes.shape[0]
  offsets = np.zeros(n + 1, np.int64)
  capacity = 0
  for p in range(n):  # the line's bounding box bounds the tap count
    side = int(magnitudes[p]) + 3
    capacity += side * side
  dk = np.empty(capacity, np.int64)
  dl = np.empty(capacity, np.int64)
  weight = np.empty(capacity, np.float64)
  for p in range(n):
    start = offsets[p]
    side = int(magnitudes[p]) + 3
    count = _taps_of(magnitudes[p], phis[p], side * side, dk[start:], dl[start:], weight[start:])
    offsets[p + 1] = start + count
  return offsets, dk, dl, weight


def motion_blur(image: np.ndarray, u: np.ndarray, v: np.ndarray,
                where: np.ndarray | None = None) -> np.ndarray:
  """Gong et al.'s spatially varying motion blur, exactly as docs/design.md ("Motion blur") gives it.

  ``image`` is HxWxC (or HxW) float in [0, 1]; ``u``, ``v`` are HxW integer flows.
  Every pixel is the normalised line-kernel average of its (border-replicated)
  neighbourhood for its own flow vector; with ``where`` (HxW bool) only the pixels
  where it holds are blurred and the others keep their value. Kernels are built
  once per distinct flow vector, then applied in one compiled pass (numba).
  """
  image = np.asarray(image)
  squeeze = image.ndim == 2
  pixels = image[..., None] if squeeze else image
  u = np.asarray(u, np.int64)
  v = np.asarray(v, np.int64)
  if u.shape != pixels.shape[:2] or v.shape != pixels.shape[:2]:
    raise ValueError(f'flow of shape {u.shape}/{v.shape} does not match the image {image.shape}')
  where = np.ones(u.shape, bool) if where is None else np.asarray(where, bool)
  if where.shape != u.shape:
    raise ValueError(f'where of shape {where.shape} does not match the image {image.shape}')
  pixel_kernel, flows = _distinct_flows(u, v)
  magnitudes, phis = magnitude_orientation(flows[:, 0], flows[:, 1])
  offsets, dk, dl, weight = _all_taps(magnitudes, phis)
  out = _blur_with_taps(np.ascontiguousarray(pixels, np.float64), pixel_kernel, offsets, dk, dl,
                        weight, where)
  out = out.astype(image.dtype if np.issubdtype(image.dtype, np.floating) else np.float64)
  return out[..., 0] if squeeze else out
