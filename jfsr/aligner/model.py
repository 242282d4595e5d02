"""The aligner's network, the crop it reads, the correction it returns, and faces aligned by it.

Geometry. An alignment is a 2x3 similarity from frame pixels to the pixels of a
:data:`INPUT`-px model input, where the template's landmarks are where CelebA-HQ's
alignment puts them (:func:`jfsr.faces.alignment.template_transform`). The network reads
the frame resampled through that alignment into a :data:`CROP`-px square covering
:data:`REGION` times the input's side about its centre (the face and what surrounds it:
hair, chin, the next face), and returns a correction: the similarity ``C`` of model-input
pixels about the input's centre, ``C(p) = [[1 + a, -b], [b, 1 + a]] (p - c) + c + t``,
that moves the alignment onto the true one (``C ∘ alignment``). :func:`align` applies it
``iterations`` times and hands back the template's points under the corrected alignment
as the face's landmarks.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jfsr.errors import JfsrError
from jfsr.faces import alignment
from jfsr.faces.mtcnn import batch_bucket

INPUT = 16  # the model input the corrections are measured in (pixels)
CROP = 48  # the side of the crop the network reads (pixels)
REGION = 2.0  # the crop's side over the model input's
CENTRE = (INPUT - 1) / 2
# Where the loss compares corrections: the template's five points and the input's corners
# (model-input pixels); the corners weigh roll and scale over the whole face.
# Corrections applied in turn: on held-out scenes (the held-out folder's images 0-99 in
# portraits and group photos, PNG, JPEG 75 / 50, twice the blur) the roll error fell from
# 3.1-9.0° (refined MTCNN) to 0.6-4.4° after one, 0.5-3.9° after two and 0.5-3.9° after
# three, where JPEG 50 portraits needed the third (3.2° -> 1.2°).
ITERATIONS = 3
POINTS = np.concatenate([alignment.template_points(INPUT),
                         [[0, 0], [INPUT - 1, 0], [0, INPUT - 1], [INPUT - 1, INPUT - 1]]])


class AlignerNet(nn.Module):
  """Crops ``(n, CROP, CROP, 3)`` in [0, 1] -> corrections ``(n, 4)``: ``(a, b, tx, ty)``.

  Three stages of two 3x3 convolutions (the second of stride 2) keep where things are;
  a dense layer over the 6x6 map reads the correction off them. The last layer starts
  at zero: an untrained aligner leaves alignments as they are."""
  widths: tuple[int, ...] = (24, 48, 64)
  hidden: int = 128

  @nn.compact
  def __call__(self, crops: jax.Array) -> jax.Array:
    x = crops * 2.0 - 1.0
    for width in self.widths:
      x = nn.relu(nn.Conv(width, (3, 3))(x))
      x = nn.relu(nn.Conv(width, (3, 3), strides=(2, 2))(x))
    x = nn.relu(nn.Dense(self.hidden)(x.reshape(x.shape[0], -1)))
    return nn.Dense(4, kernel_init=nn.initializers.zeros)(x)


def correction_matrix(correction) -> np.ndarray:
  """``(a, b, tx, ty)`` as the 2x3 map ``C`` of model-input pixels (module doc)."""
  a, b, tx, ty = (float(v) for v in correction)
  return alignment.about(np.array([[1 + a, -b], [b, 1 + a]]), np.full(2, CENTRE), [tx, ty])


def correction_of(matrix: np.ndarray) -> np.ndarray:
  """The ``(a, b, tx, ty)`` of a similarity ``matrix`` of model-input pixels (inverse of
  :func:`correction_matrix`)."""
  a, b = matrix[0, 0] - 1, matrix[1, 0]
  centre = np.full(2, CENTRE)
  tx, ty = matrix[:, 2] - (centre - matrix[:, :2] @ centre)
  return np.array([a, b, tx, ty], np.float32)


def moved_points(corrections: jax.Array) -> jax.Array:
  """:data:`POINTS` moved by each of ``corrections`` ``(n, 4)`` -> ``(n, len(POINTS), 2)``."""
  a, b, tx, ty = (corrections[:, i, None] for i in range(4))
  x, y = POINTS[:, 0] - CENTRE, POINTS[:, 1] - CENTRE
  return jnp.stack([(1 + a) * x - b * y + CENTRE + tx, b * x + (1 + a) * y + CENTRE + ty], -1)


def point_loss(predicted: jax.Array, target: jax.Array) -> jax.Array:
  """Mean squared distance (model-input pixels²) between :data:`POINTS` moved by the
  predicted and by the target corrections."""
  return jnp.mean(jnp.sum((moved_points(predicted) - moved_points(target)) ** 2, -1))


def crop_transform(to_input: np.ndarray) -> np.ndarray:
  """Frame pixels -> crop pixels, for the alignment ``to_input`` (frame -> model input)."""
  scale = CROP / (REGION * INPUT)
  offset = (CROP - 1) / 2 - scale * CENTRE
  return alignment.compose(np.array([[scale, 0, offset], [0, scale, offset]]), to_input)


def crop(frame: np.ndarray, to_input: np.ndarray) -> np.ndarray:
  """The crop the network reads (uint8) for the alignment ``to_input`` of ``frame``."""
  pixels = alignment.warp(frame, crop_transform(to_input), CROP)
  return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def to_input(landmarks: np.ndarray) -> np.ndarray:
  """The alignment of a face with these five ``landmarks`` (frame pixels)."""
  return alignment.template_transform(landmarks, INPUT)


def landmarks_of(to_input_map: np.ndarray) -> np.ndarray:
  """The template's five points, in frame pixels, under the alignment ``to_input_map``."""
  return alignment.apply_transform(alignment.invert(to_input_map),
                                   alignment.template_points(INPUT))


class Aligner:
  """A trained network: ``align(faces)`` corrects the landmarks of ``(frame, landmarks)``
  faces whose aligned side lies in ``sides`` (frame pixels: what it was trained on; other
  faces keep theirs). ``variables``: the network's ``{'params': ...}``."""

  def __init__(self, variables: dict, widths: tuple[int, ...] = AlignerNet.widths,
               hidden: int = AlignerNet.hidden, sides: tuple[float, float] = (0.0, np.inf),
               iterations: int = ITERATIONS):
    self.network = AlignerNet(tuple(widths), hidden)
    self.variables = jax.tree.map(jnp.asarray, variables)
    self.sides, self.iterations = tuple(sides), iterations
    self._apply = jax.jit(lambda v, x: self.network.apply(v, x.astype(jnp.float32) / 255.0))

  @classmethod
  def from_file(cls, path: str | Path, sha256: str | None = None, **options) -> 'Aligner':
    """The aligner :func:`save` wrote at ``path`` (its network and sizes from its config)."""
    variables, meta = load(path, sha256)
    config = meta['config']
    return cls(variables, tuple(config['model']['widths']), config['model']['hidden'],
               tuple(config['samples']['sides']), **options)

  def corrections(self, crops: np.ndarray) -> np.ndarray:
    """Corrections ``(n, 4)`` for uint8 crops ``(n, CROP, CROP, 3)``, padded to
    :func:`jfsr.faces.mtcnn.batch_bucket` so that few shapes compile."""
    n = len(crops)
    batch = np.zeros((batch_bucket(n), CROP, CROP, 3), np.uint8)
    batch[:n] = crops
    return np.asarray(self._apply(self.variables, jnp.asarray(batch)))[:n]

  def fits(self, landmarks: np.ndarray) -> bool:
    """Whether a face with these ``landmarks`` is of a size the aligner corrects."""
    return self.sides[0] <= alignment.aligned_side(landmarks) <= self.sides[1]

  def align(self, faces: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Each ``(frame, landmarks)`` face's landmarks after :attr:`iterations` corrections
    (all faces in one batch per iteration): the template's points under the corrected
    alignment, or the landmarks given for a face it does not :meth:`fits`."""
    landmarks = [np.asarray(points, np.float64) for _, points in faces]
    chosen = [i for i, points in enumerate(landmarks) if self.fits(points)]
    if not chosen:
      return landmarks
    maps = {i: to_input(landmarks[i]) for i in chosen}
    for _ in range(self.iterations):
      crops = np.stack([crop(faces[i][0], maps[i]) for i in chosen])
      for i, correction in zip(chosen, self.corrections(crops)):
        maps[i] = alignment.compose(correction_matrix(correction), maps[i])
    for i in chosen:
      landmarks[i] = landmarks_of(maps[i])
    return landmarks


def save(variables: dict, meta: dict, path: str | Path) -> str:
  """The network's parameters (float32) and ``meta`` (JSON) as an ``.npz``; its SHA-256."""
  flat = traverse_util.flatten_dict(variables['params'], sep='/')
  buffer = io.BytesIO()
  np.savez_compressed(buffer, meta=np.array(json.dumps(meta, sort_keys=True)),
                      **{f'params/{k}': np.asarray(v, np.float32) for k, v in flat.items()})
  Path(path).write_bytes(buffer.getvalue())
  return hashlib.sha256(buffer.getvalue()).hexdigest()


def load(path: str | Path, sha256: str | None = None) -> tuple[dict, dict]:
  """``(variables, meta)`` of a file :func:`save` wrote, its hash checked when given; a
  file that is not one, or is damaged, is one :class:`JfsrError` line."""
  try:
    data = Path(path).read_bytes()
  except OSError as error:
    raise JfsrError(f'cannot read the aligner {path}: {error.strerror or error}') from None
  if sha256 and hashlib.sha256(data).hexdigest() != sha256:
    raise JfsrError(f'{path} is not the aligner this jfsr shipped (SHA-256 differs); '
                    'reinstall jfsr')
  try:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
      meta = json.loads(str(archive['meta']))
      flat = {k[len('params/'):]: archive[k] for k in archive.files if k.startswith('params/')}
    config = meta['config']
    widths, hidden = tuple(config['model']['widths']), int(config['model']['hidden'])
    sides = [float(side) for side in config['samples']['sides']]
    if len(sides) != 2:
      raise ValueError('its config gives no two face sizes (samples.sides)')
  except (ValueError, OSError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
    raise JfsrError(f'{path} is not an aligner file of python -m jfsr.aligner, or is '
                    f'damaged ({type(error).__name__})') from None
  expected = jax.eval_shape(AlignerNet(widths, hidden).init, jax.random.key(0),
                            jnp.zeros((1, CROP, CROP, 3)))['params']
  shapes = {k: tuple(v.shape) for k, v in traverse_util.flatten_dict(expected, sep='/').items()}
  found = {k: tuple(v.shape) for k, v in flat.items()}
  if found != shapes or not all(np.isfinite(v).all() for v in flat.values()):
    raise JfsrError(f'{path}: its arrays are not those of the network its config describes '
                    f'(widths {list(widths)}, hidden {hidden}), or hold NaN; the file was altered')
  return {'params': traverse_util.unflatten_dict(flat, sep='/')}, meta
