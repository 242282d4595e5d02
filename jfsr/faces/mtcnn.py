"""Face detection with MTCNN (Zhang et al. 2016), the cascade facenet-pytorch runs, in JAX + numpy.

Three stages, each a network from ``jfsr.models.mtcnn_networks`` followed by box
bookkeeping on the host:

1. P-Net slides over an image pyramid (scales ``12 / min_size * factor^k`` while
   the shorter side stays >= 12 pixels; each level area-resized on the device, for
   a whole batch of frames at once); every cell scoring >= ``thresholds[0]``
   proposes a box, non-maximum suppression (IoU 0.5) thins each scale and
   (IoU 0.7) all of them, the boxes take P-Net's offsets and are made square.
2. R-Net rescores 24x24 crops of those boxes (> ``thresholds[1]``), NMS (IoU 0.7),
   offsets, square again.
3. O-Net rescores 48x48 crops (> ``thresholds[2]``) and places five landmarks;
   after the offsets, NMS by intersection over the smaller box (0.7).

With ``turns``, R-Net and O-Net take a second look at every box they reject, on crops
turned by each angle both ways about the box's centre (O-Net also on the box shrunk by
each of ``shrinks``; see :class:`MTCNN`); a box that passes on a second look keeps that
view, and its offsets and landmarks are read in the turned crop and turned back. With
``mirrored``, O-Net's probability for a crop is the mean of the crop's and its mirror
image's.

Resizing is area averaging (torch's ``interpolate(mode='area')``), and the
box arithmetic keeps facenet-pytorch's conventions (its ``+ 1`` widths in some
places and not others), so the boxes agree with that implementation's.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jfsr.models import jit_with_weights
from jfsr.models import mtcnn_networks as networks


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


@functools.lru_cache(maxsize=1024)
def area_weights(size_in: int, size_out: int) -> np.ndarray:
  """``(size_out, size_in)`` averaging weights: output ``i`` is the mean of inputs
  ``floor(i * in / out) .. ceil((i + 1) * in / out) - 1`` (adaptive average pooling).
  Read-only: kept for the next call with the same sizes (crops repeat them)."""
  i = np.arange(size_out)[:, None]
  start, end = (i * size_in) // size_out, -((-(i + 1) * size_in) // size_out)
  inside = (np.arange(size_in) >= start) & (np.arange(size_in) < end)
  weights = inside / (end - start)
  weights.flags.writeable = False
  return weights


def area_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray]:
  """:func:`area_weights` without its zeros: output ``i`` is ``sum_k weights[i, k] *
  input[min(starts[i] + k, size_in - 1)]`` (``starts`` int32 ``(size_out,)``, ``weights``
  float32 ``(size_out, taps)``, zero past each window). Shrinking a 2240-pixel side to 961
  this way takes 4 multiply-adds per output where the dense matrix takes 2240."""
  dense = area_weights(size_in, size_out)
  lengths = (dense > 0).sum(axis=1)
  starts = np.argmax(dense > 0, axis=1)
  weights = np.zeros((size_out, lengths.max()), np.float32)
  for i, (start, length) in enumerate(zip(starts, lengths)):
    weights[i, :length] = dense[i, start:start + length]
  return starts.astype(np.int32), weights


def area_resize_axis(pixels: jax.Array, starts: jax.Array, weights: jax.Array,
                     axis: int) -> jax.Array:
  """``pixels`` (float) area-resized along ``axis`` by the taps of :func:`area_taps`, one
  tap at a time (the memory of one output, not of ``taps`` of them)."""
  shape = [1] * pixels.ndim
  shape[axis] = -1
  resized = 0.0
  for k in range(weights.shape[1]):
    index = jnp.minimum(starts + k, pixels.shape[axis] - 1)
    resized = resized + weights[:, k].reshape(shape) * jnp.take(pixels, index, axis=axis)
  return resized


def area_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """``(..., h, w, c)`` images -> ``(..., height, width, c)`` float64 by area averaging
  (rows, then columns: two matrix products)."""
  *lead, h, w, c = image.shape
  rows = (area_weights(h, height) @ image.reshape(*lead, h, w * c)).reshape(*lead, height, w, c)
  return area_weights(w, width) @ rows


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
  """Moves each corner of ``(n, 6)`` boxes (corners, score, angle) by its offset times the
  box's width / height, along the box's own axes: a box with an angle (degrees) was looked
  at turned, so its centre moves along the turned axes."""
  boxes = boxes.copy()
  one = 1.0 if plus_one else 0.0
  w = boxes[:, 2] - boxes[:, 0] + one
  h = boxes[:, 3] - boxes[:, 1] + one
  moves = offsets * np.stack([w, h, w, h], axis=1)
  turned = boxes[:, 5] != 0
  if turned.any():
    centre_move = (moves[turned, :2] + moves[turned, 2:]) / 2
    turned_move = np.einsum('kij,kj->ki', rotations(boxes[turned, 5]), centre_move)
    moves[turned] += np.tile(turned_move - centre_move, 2)
  boxes[:, :4] += moves
  return boxes


def rotations(angles: np.ndarray) -> np.ndarray:
  """``(k, 2, 2)`` matrices turning image vectors (x right, y down) by ``angles`` degrees."""
  radians = np.radians(np.asarray(angles, np.float64))
  cos, sin = np.cos(radians), np.sin(radians)
  return np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)


def box_centres(boxes: np.ndarray) -> np.ndarray:
  """The centres of boxes in MTCNN's corner convention, as pixel-centre coordinates (the
  crop of a box starts at pixel ``x1 - 1``)."""
  return (boxes[:, :2] + boxes[:, 2:4]) / 2 - 1


def turned_patch(image: np.ndarray, box: np.ndarray, angle: float) -> np.ndarray:
  """The square ``box`` of ``image`` turned ``angle`` degrees about its centre, sampled
  bilinearly at the image's own scale (the image's edge repeated beyond it), so that an
  area resize to a network's input treats it as it treats an upright crop."""
  import cv2
  side = max(1, int(round(box[2] - box[0] + 1)))
  turn = rotations([angle])[0]
  centre = box_centres(box[None])[0]
  matrix = np.concatenate([turn, (centre - turn @ np.full(2, (side - 1) / 2))[:, None]], 1)
  return cv2.warpAffine(image, matrix, (side, side),
                        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                        borderMode=cv2.BORDER_REPLICATE)


def _normalise(pixels):
  """[0, 255] pixels -> MTCNN's input range (numpy or JAX, float32)."""
  xp = jnp if isinstance(pixels, jax.Array) else np
  return ((pixels - 127.5) * 0.0078125).astype(xp.float32)


def batch_bucket(n: int) -> int:
  """Batch sizes padded to powers of two (at least 8), so that a small network called on
  however many crops (R-/O-Net, the aligner) compiles a handful of times."""
  return 1 << max(3, math.ceil(math.log2(max(n, 1))))


def _padded_batch(crops: list[np.ndarray] | np.ndarray, size: int) -> np.ndarray:
  """``n`` square crops in [0, 255] as one normalised float32 batch of ``batch_bucket(n)``
  (the padding rows are zeros, and their outputs are dropped)."""
  batch = np.zeros((batch_bucket(len(crops)), size, size, 3), np.float32)
  if len(crops):
    batch[:len(crops)] = _normalise(np.asarray(crops))
  return batch


class MTCNN:
  """The three-stage detector with the given ``{'pnet', 'rnet', 'onet'}`` variables.

  ``turns`` (degrees): angles at which R-Net and O-Net look again at a box they reject,
  each both ways. P-Net's 12-pixel windows propose small faces rolled by 20-35° or
  blurred and compressed about as often as upright ones; it is R-Net and above all O-Net,
  trained on faces within about ±20° of upright, that turn them down. A second look at
  the rejected boxes alone costs a fraction of running the cascade on turned copies of
  the frame, and boxes that pass upright are left exactly as they were.

  ``shrinks``: O-Net's second look also takes each rejected box shrunk about its centre
  by these factors, at every angle (P-Net and R-Net frame small degraded faces loosely).
  ``mirrored``: O-Net scores each crop with its mirror image (the mean probability; the
  boxes and landmarks are the crop's own). Both apply whatever ``turns`` holds.

  ``doubtful``: boxes O-Net turns down that still score above this are returned too, with
  their (sub-threshold) score, for the caller to look at again once it knows better where
  the face's landmarks are (:class:`jfsr.faces.detection.Detector` with an aligner). They
  never displace a face that passes: NMS ranks by score.
  """

  def __init__(self, variables: dict, min_size: int = 20, factor: float = 0.709,
               thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
               turns: tuple[float, ...] = (), mirrored: bool = False,
               shrinks: tuple[float, ...] = (), doubtful: float | None = None):
    self.min_size, self.factor, self.thresholds = min_size, factor, thresholds
    self.doubtful = doubtful
    self.angles = tuple(sign * turn for turn in turns for sign in (1.0, -1.0))
    self.mirrored, self.shrinks = mirrored, tuple(shrinks)
    pnet = networks.PNet()

    def pyramid(weights, pixels, taps):  # every level in one call: one compile, one transfer
      pixels = pixels.astype(jnp.float32)
      return [pnet.apply(weights, _normalise(area_resize_axis(
          area_resize_axis(pixels, *rows, axis=1), *columns, axis=2))) for rows, columns in taps]
    self._pnet_pyramid = jit_with_weights(pyramid, variables['pnet'])
    self._rnet = jit_with_weights(networks.RNet().apply, variables['rnet'])
    self._onet = jit_with_weights(networks.ONet().apply, variables['onet'])

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
    return self.detect_batch([image], min_size)[0]

  def detect_batch(self, images: list[np.ndarray], min_size: int | None = None
                   ) -> list[list[Detection]]:
    """:meth:`detect` for several images of one size (video frames): each network runs once
    per pyramid level (P-Net) or once in all (R-/O-Net) for the whole batch; the box
    bookkeeping stays per image on the host, so each image's faces are those it alone gives."""
    if not len(images):
      return []
    shapes = {np.shape(image) for image in images}
    if len(shapes) != 1:
      return [self.detect_batch([image], min_size)[0] for image in images]
    pixels = np.stack([np.asarray(image) for image in images])  # uint8 stays uint8 to the device
    boxes = self._propose(pixels, min_size)
    boxes = self._refine(pixels, boxes)
    boxes, landmarks = self._output(pixels, boxes)
    return [sorted((Detection(tuple(map(float, b[:4])), float(b[4]), p)
                    for b, p in zip(image_boxes, image_landmarks)), key=lambda d: -d.area)
            for image_boxes, image_landmarks in zip(boxes, landmarks)]

  def face_probability(self, crops: np.ndarray) -> np.ndarray:
    """O-Net's probability that each of ``(n, 48, 48, 3)`` crops in [0, 255] is a face,
    as the detector scores its last stage (with the mirror image where :attr:`mirrored`)."""
    return self._scores(self._onet, _padded_batch(crops, 48), self.mirrored)[0][:len(crops)]

  def landmark_points(self, crops: np.ndarray) -> np.ndarray:
    """O-Net's five points on ``(n, 48, 48, 3)`` crops in [0, 255], as ``(n, 5, 2)``
    fractions of the crop's side (its box and score outputs are dropped)."""
    points = jax.device_get(self._onet(_padded_batch(crops, 48)))[2][:len(crops)]
    return np.stack([points[:, :5], points[:, 5:]], axis=-1)

  def _propose(self, pixels: np.ndarray, min_size: int | None) -> list[np.ndarray]:
    count, height, width = pixels.shape[:3]
    proposals = [[] for _ in range(count)]
    scales = self.scales(height, width, min_size)
    taps = [(area_taps(height, int(height * scale + 1)), area_taps(width, int(width * scale + 1)))
            for scale in scales]
    levels = jax.device_get(self._pnet_pyramid(pixels, taps))
    for scale, (probabilities, all_offsets) in zip(scales, levels):
      for n, (probability, offsets) in enumerate(zip(probabilities, all_offsets)):
        ys, xs = np.nonzero(probability >= self.thresholds[0])
        if not len(ys):
          continue
        cells = np.stack([xs, ys], axis=1).astype(np.float64)
        corner1 = np.floor((2 * cells + 1) / scale)
        corner2 = np.floor((2 * cells + 12) / scale)
        found = np.concatenate([corner1, corner2, probability[ys, xs][:, None],
                                offsets[ys, xs]], axis=1)
        proposals[n].append(found[nms(found[:, :4], found[:, 4], 0.5)])
    boxes = []
    for found in proposals:
      if not found:
        boxes.append(np.zeros((0, 6)))
        continue
      found = np.concatenate(found)
      found = found[nms(found[:, :4], found[:, 4], 0.7)]
      boxes.append(_square(_apply_offsets(_upright(found[:, :5]), found[:, 5:9],
                                          plus_one=False)))
    return boxes

  def _crops(self, pixels: np.ndarray, boxes: list[np.ndarray], size: int):
    """Crops of every image's boxes (clipped to the image, corners truncated to integers;
    a box with an angle turned about its centre instead) resized to ``size``, as one batch;
    and per image, which boxes gave a non-empty crop."""
    height, width = pixels.shape[1:3]
    crops, valid = [], []
    for image, image_boxes in zip(pixels, boxes):
      corners = np.trunc(image_boxes[:, :4]).astype(int)
      x1, y1 = np.maximum(corners[:, 0], 1), np.maximum(corners[:, 1], 1)
      x2, y2 = np.minimum(corners[:, 2], width), np.minimum(corners[:, 3], height)
      ok = (x2 > x1 - 1) & (y2 > y1 - 1)
      for i in np.flatnonzero(ok):
        angle = image_boxes[i, 5]
        crop = (turned_patch(image, image_boxes[i], angle) if angle
                else image[y1[i] - 1:y2[i], x1[i] - 1:x2[i]])
        crops.append(area_resize(crop, size, size))
      valid.append(ok)
    return _padded_batch(crops, size), valid

  @staticmethod
  def _split(outputs, valid: list[np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    """The batched network outputs back per image (writable copies)."""
    ends = np.cumsum([int(ok.sum()) for ok in valid])
    starts = ends - [int(ok.sum()) for ok in valid]
    return [tuple(np.array(x[a:b]) for x in outputs) for a, b in zip(starts, ends)]

  @staticmethod
  def _scores(network, batch: np.ndarray, mirrored: bool) -> tuple[np.ndarray, ...]:
    """``network``'s outputs on ``batch``; with ``mirrored`` its probability is the mean of
    the crops' and their mirror images' (the other outputs are the crops' own)."""
    if not mirrored:
      return jax.device_get(network(batch))
    outputs = jax.device_get(network(np.concatenate([batch, batch[:, :, ::-1]])))
    probability = (outputs[0][:len(batch)] + outputs[0][len(batch):]) / 2
    return (probability, *(x[:len(batch)] for x in outputs[1:]))

  def _look(self, pixels: np.ndarray, boxes: list[np.ndarray], size: int, network,
            threshold: float, mirrored: bool = False, shrinks: tuple[float, ...] = ()
            ) -> tuple[list[np.ndarray], list[tuple[np.ndarray, ...]]]:
    """``network`` on each image's boxes that give a crop, as each box stands; the boxes it
    scores at most ``threshold`` are looked at again at every other angle (0 and
    :attr:`angles`) and, at every angle, shrunk about their centre by each of ``shrinks``;
    each box keeps its best-scored look: its outputs, and its corners and angle (the last
    column). Returns the boxes and the outputs, per image."""
    batch, valid = self._crops(pixels, boxes, size)
    outputs = self._split(self._scores(network, batch, mirrored), valid)
    boxes = [image_boxes[ok].copy() for image_boxes, ok in zip(boxes, valid)]
    views = [(angle, scale) for angle in (0.0, *self.angles) for scale in (1.0, *shrinks)]
    if len(views) == 1:
      return boxes, outputs
    again, origins = [], []  # per image: the boxes looked at again, and which box each was
    for image_boxes, (probability, *_) in zip(boxes, outputs):
      rejected = np.flatnonzero(probability <= threshold)
      looks = [(which, _viewed(image_boxes[which], angle, scale)) for angle, scale in views
               for which in [rejected[(image_boxes[rejected, 5] != angle) | (scale != 1.0)]]]
      origins.append(np.concatenate([which for which, _ in looks]))
      again.append(np.concatenate([viewed for _, viewed in looks]))
    if not sum(len(b) for b in again):
      return boxes, outputs
    batch, valid = self._crops(pixels, again, size)
    for image_boxes, image_outputs, origin, viewed, ok, second in zip(
        boxes, outputs, origins, again, valid, self._split(self._scores(network, batch, mirrored),
                                                           valid)):
      origin, viewed = origin[ok], viewed[ok]
      order = np.argsort(-second[0], kind='stable')  # best look of each box first
      _, first = np.unique(origin[order], return_index=True)
      best = order[first]
      best = best[second[0][best] > image_outputs[0][origin[best]]]
      for kept, new in zip(image_outputs, second):
        kept[origin[best]] = new[best]
      image_boxes[origin[best]] = viewed[best]
    return boxes, outputs

  def _refine(self, pixels: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray]:
    if not sum(len(b) for b in boxes):
      return boxes
    refined = []
    for image_boxes, (probability, offsets) in zip(
        *self._look(pixels, boxes, 24, self._rnet, self.thresholds[1])):
      keep = probability > self.thresholds[1]
      image_boxes, offsets = _scored(image_boxes[keep], probability[keep]), offsets[keep]
      order = nms(image_boxes[:, :4], image_boxes[:, 4], 0.7)
      refined.append(_square(_apply_offsets(image_boxes[order], offsets[order], plus_one=True)))
    return refined

  def _output(self, pixels: np.ndarray, boxes: list[np.ndarray]
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if not sum(len(b) for b in boxes):
      return boxes, [np.zeros((0, 5, 2)) for _ in boxes]
    all_boxes, all_landmarks = [], []
    for image_boxes, (probability, offsets, points) in zip(
        *self._look(pixels, boxes, 48, self._onet, self.thresholds[2], self.mirrored,
                    self.shrinks)):
      keep = probability > (self.thresholds[2] if self.doubtful is None else
                            min(self.doubtful, self.thresholds[2]))
      image_boxes = _scored(image_boxes[keep], probability[keep])
      offsets, points = offsets[keep], points[keep]
      w = image_boxes[:, 2] - image_boxes[:, 0] + 1
      h = image_boxes[:, 3] - image_boxes[:, 1] + 1
      landmarks = np.stack([w[:, None] * points[:, :5] + image_boxes[:, :1] - 1,
                            h[:, None] * points[:, 5:] + image_boxes[:, 1:2] - 1], axis=-1)
      turned = image_boxes[:, 5] != 0
      if turned.any():  # read in the turned crop: turned back about the box's centre
        centres = box_centres(image_boxes[turned])[:, None]
        landmarks[turned] = centres + np.einsum('kij,kpj->kpi', rotations(image_boxes[turned, 5]),
                                                landmarks[turned] - centres)
      image_boxes = _apply_offsets(image_boxes, offsets, plus_one=True)
      order = nms(image_boxes[:, :4], image_boxes[:, 4], 0.7, mode='min', plus_one=True)
      all_boxes.append(image_boxes[order])
      all_landmarks.append(landmarks[order])
    return all_boxes, all_landmarks


def _upright(boxes: np.ndarray) -> np.ndarray:
  """P-Net's ``(n, 5)`` boxes (corners, score) with the angle column R-/O-Net use: 0."""
  return np.concatenate([boxes[:, :5], np.zeros((len(boxes), 1))], axis=1)


def _viewed(boxes: np.ndarray, angle: float, scale: float) -> np.ndarray:
  """Copies of ``boxes`` to be looked at turned by ``angle``, their sides times ``scale``
  about their centres."""
  boxes = boxes.copy()
  centres, halves = (boxes[:, :2] + boxes[:, 2:4]) / 2, (boxes[:, 2:4] - boxes[:, :2]) / 2
  boxes[:, :2], boxes[:, 2:4] = centres - scale * halves, centres + scale * halves
  boxes[:, 5] = angle
  return boxes


def _scored(boxes: np.ndarray, probability: np.ndarray) -> np.ndarray:
  """``boxes`` with the stage's probability as their score."""
  boxes = boxes.copy()
  boxes[:, 4] = probability
  return boxes
