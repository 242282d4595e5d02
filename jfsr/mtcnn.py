"""Face detection with MTCNN (Zhang et al. 2016), the cascade facenet-pytorch runs, in JAX + numpy.

Three stages, each a network from ``jfsr.models.mtcnn`` followed by box
bookkeeping on the host:

1. P-Net slides over an image pyramid (scales ``12 / min_size * factor^k`` while
   the shorter side stays >= 12 pixels); every cell scoring >= ``thresholds[0]``
   proposes a box, non-maximum suppression (IoU 0.5) thins each scale and
   (IoU 0.7) all of them, the boxes take P-Net's offsets and are made square.
2. R-Net rescores 24x24 crops of those boxes (> ``thresholds[1]``), NMS (IoU 0.7),
   offsets, square again.
3. O-Net rescores 48x48 crops (> ``thresholds[2]``) and places five landmarks;
   after the offsets, NMS by intersection over the smaller box (0.7).

Resizing is area averaging (torch's ``interpolate(mode='area')``), and the
box arithmetic keeps facenet-pytorch's conventions (its ``+ 1`` widths in some
places and not others), so the boxes agree with that implementation's.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from jfsr.models import mtcnn as networks


@dataclasses.dataclass(frozen=True)
class Detection:
  """A face: box corners in pixels (x1, y1, x2, y2), O-Net's probability, and landmarks
  ``(5, 2)`` (x, y): left eye, right eye, nose, left and right mouth corner."""
  box: tuple[float, float, float, float]
  score: float
  landmarks: np.ndarray

  @property
  def area(self) -> float:
    return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def area_weights(size_in: int, size_out: int) -> np.ndarray:
  """``(size_out, size_in)`` averaging weights: output ``i`` is the mean of inputs
  ``floor(i * in / out) .. ceil((i + 1) * in / out) - 1`` (adaptive average pooling)."""
  weights = np.zeros((size_out, size_in))
  for i in range(size_out):
    start, end = (i * size_in) // size_out, -((-(i + 1) * size_in) // size_out)
    weights[i, start:end] = 1.0 / (end - start)
  return weights


def area_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """``(h, w, c)`` float image -> ``(height, width, c)`` by area averaging."""
  return np.einsum('yh,hwc,xw->yxc', area_weights(image.shape[0], height), image,
                   area_weights(image.shape[1], width), optimize=True)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = 'union',
        plus_one: bool = False) -> np.ndarray:
  """Indices of the boxes kept by greedy non-maximum suppression, best score first.

  A box is dropped when its overlap with a kept, better box exceeds ``threshold``:
  intersection over union (``mode='union'``) or over the smaller box (``'min'``).
  ``plus_one`` counts pixels inclusively (width = x2 - x1 + 1).
  """
  if len(boxes) == 0:
    return np.zeros(0, int)
  one = 1.0 if plus_one else 0.0
  x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
  areas = (x2 - x1 + one) * (y2 - y1 + one)
  order = np.argsort(-scores, kind='stable')
  keep = []
  while order.size:
    best, rest = order[0], order[1:]
    keep.append(best)
    width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + one)
    height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + one)
    inter = width * height
    if mode == 'min':
      overlap = inter / np.minimum(areas[best], areas[rest])
    else:
      overlap = inter / (areas[best] + areas[rest] - inter)
    order = rest[overlap <= threshold]
  return np.asarray(keep, int)


def _square(boxes: np.ndarray) -> np.ndarray:
  """Each box grown to a square of its longer side around its centre."""
  boxes = boxes.copy()
  w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
  side = np.maximum(w, h)
  boxes[:, 0] += w / 2 - side / 2
  boxes[:, 1] += h / 2 - side / 2
  boxes[:, 2] = boxes[:, 0] + side
  boxes[:, 3] = boxes[:, 1] + side
  return boxes


def _apply_offsets(boxes: np.ndarray, offsets: np.ndarray, plus_one: bool) -> np.ndarray:
  """Moves each corner by its offset times the box's width / height."""
  boxes = boxes.copy()
  one = 1.0 if plus_one else 0.0
  w = boxes[:, 2] - boxes[:, 0] + one
  h = boxes[:, 3] - boxes[:, 1] + one
  boxes[:, :4] += offsets * np.stack([w, h, w, h], axis=1)
  return boxes


def _normalise(pixels: np.ndarray) -> np.ndarray:
  return ((pixels - 127.5) * 0.0078125).astype(np.float32)


def _bucket(n: int) -> int:
  """Batch sizes padded to powers of two, so R-/O-Net compile a handful of times."""
  return 1 << max(3, math.ceil(math.log2(max(n, 1))))


class MTCNN:
  """The three-stage detector with the given ``{'pnet', 'rnet', 'onet'}`` variables."""

  def __init__(self, variables: dict, min_size: int = 20, factor: float = 0.709,
               thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)):
    self.min_size, self.factor, self.thresholds = min_size, factor, thresholds
    self._pnet = jax.jit(lambda x: networks.PNet().apply(variables['pnet'], x))
    self._rnet = jax.jit(lambda x: networks.RNet().apply(variables['rnet'], x))
    self._onet = jax.jit(lambda x: networks.ONet().apply(variables['onet'], x))

  def scales(self, height: int, width: int, min_size: int | None = None) -> list[float]:
    """The pyramid's scales for the smallest face ``min_size`` (default: the detector's)."""
    first = 12.0 / (min_size or self.min_size)
    scale, shorter, scales = first, min(height, width) * first, []
    while shorter >= 12:
      scales.append(scale)
      scale *= self.factor
      shorter *= self.factor
    return scales

  def detect(self, image: np.ndarray, min_size: int | None = None) -> list[Detection]:
    """Faces in a uint8 RGB ``(h, w, 3)`` image, largest first; ``min_size`` overrides the
    smallest face looked for (a larger one skips the finest pyramid levels)."""
    pixels = np.asarray(image, np.float64)
    boxes = self._propose(pixels, min_size)
    if len(boxes):
      boxes = self._refine(pixels, boxes)
    if not len(boxes):
      return []
    boxes, landmarks = self._output(pixels, boxes)
    detections = [Detection(tuple(map(float, b[:4])), float(b[4]), p)
                  for b, p in zip(boxes, landmarks)]
    return sorted(detections, key=lambda d: -d.area)

  def _propose(self, pixels: np.ndarray, min_size: int | None) -> np.ndarray:
    height, width = pixels.shape[:2]
    proposals = []
    for scale in self.scales(height, width, min_size):
      resized = area_resize(pixels, int(height * scale + 1), int(width * scale + 1))
      probability, offsets = jax.device_get(self._pnet(_normalise(resized)[None]))
      ys, xs = np.nonzero(probability[0] >= self.thresholds[0])
      if not len(ys):
        continue
      cells = np.stack([xs, ys], axis=1).astype(np.float64)
      corner1 = np.floor((2 * cells + 1) / scale)
      corner2 = np.floor((2 * cells + 12) / scale)
      found = np.concatenate([corner1, corner2, probability[0][ys, xs][:, None],
                              offsets[0][ys, xs]], axis=1)
      proposals.append(found[nms(found[:, :4], found[:, 4], 0.5)])
    if not proposals:
      return np.zeros((0, 5))
    boxes = np.concatenate(proposals)
    boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
    return _square(_apply_offsets(boxes[:, :5], boxes[:, 5:9], plus_one=False))

  def _crops(self, pixels: np.ndarray, boxes: np.ndarray, size: int):
    """Crops of the boxes (clipped to the image, corners truncated to integers) resized to
    ``size``; returns them and which boxes gave a non-empty crop."""
    height, width = pixels.shape[:2]
    corners = np.trunc(boxes[:, :4]).astype(int)
    x1, y1 = np.maximum(corners[:, 0], 1), np.maximum(corners[:, 1], 1)
    x2, y2 = np.minimum(corners[:, 2], width), np.minimum(corners[:, 3], height)
    valid = (x2 > x1 - 1) & (y2 > y1 - 1)
    crops = [area_resize(pixels[y1[i] - 1:y2[i], x1[i] - 1:x2[i]], size, size)
             for i in np.flatnonzero(valid)]
    batch = np.zeros((_bucket(len(crops)), size, size, 3), np.float32)
    if crops:
      batch[:len(crops)] = _normalise(np.stack(crops))
    return batch, valid

  def _refine(self, pixels: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    batch, valid = self._crops(pixels, boxes, 24)
    boxes = boxes[valid]
    probability, offsets = (x[:len(boxes)] for x in jax.device_get(self._rnet(batch)))
    keep = probability > self.thresholds[1]
    boxes = np.concatenate([boxes[keep, :4], probability[keep, None]], axis=1)
    offsets = offsets[keep]
    order = nms(boxes[:, :4], boxes[:, 4], 0.7)
    return _square(_apply_offsets(boxes[order], offsets[order], plus_one=True))

  def _output(self, pixels: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    batch, valid = self._crops(pixels, boxes, 48)
    boxes = boxes[valid]
    probability, offsets, points = (x[:len(boxes)] for x in jax.device_get(self._onet(batch)))
    keep = probability > self.thresholds[2]
    boxes = np.concatenate([boxes[keep, :4], probability[keep, None]], axis=1)
    offsets, points = offsets[keep], points[keep]
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    landmarks = np.stack([w[:, None] * points[:, :5] + boxes[:, :1] - 1,
                          h[:, None] * points[:, 5:] + boxes[:, 1:2] - 1], axis=-1)
    boxes = _apply_offsets(boxes, offsets, plus_one=True)
    order = nms(boxes[:, :4], boxes[:, 4], 0.7, mode='min', plus_one=True)
    return boxes[order], landmarks[order]
