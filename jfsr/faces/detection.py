"""Faces with five landmarks, from MTCNN where its weights are cached, else from Haar boxes.

Every face found carries five landmarks (left eye, right eye, nose, left and right
mouth corner; (x, y) in frame pixels), because restoration aligns by them:

* MTCNN (:mod:`jfsr.faces.mtcnn`) places them itself. Faces the size of the
  model's input (a crop of 16-32 pixels, whose MTCNN box is about half that) are
  below the 12-pixel window of its finest level, so the frame is detected on an
  upscaled copy where ``min_face`` asks for it (``upsample``), and the results are
  mapped back. Its landmarks are then refined on the upright face
  (:mod:`jfsr.faces.refine`) unless ``refine=False``.
* Haar (:mod:`jfsr.faces.haar`) gives only a box, and only from 24 pixels up (its
  window; the frame is upscaled likewise). Its landmarks are where the template puts
  them in the square crop the box path always used (box grown by a quarter of its
  side on each side): the same framing as before, with no roll.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from jfsr.faces import alignment, haar
from jfsr.faces.refine import refine_landmarks

# The smallest box each detector is asked to find: frames whose faces may be smaller are
# detected on a copy upscaled until they are this large. For MTCNN, 28 px (its own default
# is 20; P-Net's windows are 12) with the cascade's thresholds lowered from (0.6, 0.7, 0.7)
# to MTCNN_THRESHOLDS: on 150 frames of training faces 12-24 px across (the restoration
# benchmark's scenes, seed 7) that found 90-98% of the faces in every size and rotation
# bucket (88-98% before) with 0.01 false detections per frame; chosen among upscaled box
# sides 20, 28 and 40 and three threshold sets. The Haar cascade's window is 24x24.
SMALLEST = {'mtcnn': 28, 'haar': 24}
MTCNN_THRESHOLDS = (0.5, 0.6, 0.6)

# The turns (degrees, each both ways) at which faces rejected upright are looked at again.
# MTCNN: R-Net and O-Net look again at the boxes they turn down, on crops turned about each
# box's centre (jfsr.faces.mtcnn.MTCNN; its networks were trained on faces within about ±20°
# of upright), O-Net also on the box shrunk by SHRINKS (at every angle), and O-Net scores
# each crop with its mirror image (the mean of the two probabilities). On held-out scenes
# (images 200-349 of the held-out folder, faces 12-24 px, three kinds of photo) that found
# as many faces as the cascade run again on copies of the frame turned ±25°, and more of
# the 12-16 px ones: under JPEG 50 0.72-0.83 -> 0.83-0.87 with the turns and the mirror,
# 0.89-0.93 with the shrunk looks too. Haar has no second stage: its turns are whole copies
# of the frame (none by default).
TURNS = {'mtcnn': (25.0,), 'haar': ()}
# Of the small compressed faces O-Net turned down in those scenes, most scored above its
# threshold on a crop of the same box shrunk to 0.8 of its side: P-Net and R-Net frame a
# degraded 12-16 px face loosely.
SHRINKS = (0.8,)

# A frame whose upscaled copy would hold more pixels than this is detected in tiles that
# overlap by TILE_OVERLAP frame pixels (faces up to that size are found whole in some
# tile; larger ones on a shrunk copy of the frame), which bounds detection's memory. 48 px
# boxes are aligned crops of about 96 px, twice the largest face a shipped model restores;
# halving the overlap from 96 took a 12 MP photo's detection from 32.6 to 28.6 s (2-core CPU).
MAX_DETECTION_PIXELS = 6_000_000
TILE_OVERLAP = 48

# Two faces whose landmarks the aligner has corrected are one face when their centres lie
# within this fraction of the aligned crop's side (the smaller one's): the distance within
# which the detection measure counts a detection as a face. The aligner often carries a
# second detection of a face (its chin, a looser box) onto the face itself: on held-out
# scenes (the held-out folder's images 0-99 in portraits, group and border photos under
# PNG, JPEG 75 / 50 and twice the blur) 5 of the 13 false detections ended 0.0005-0.012 of
# a side from a face found, the others 0.50 or more from any detection, and distinct faces
# were 1.19 or more apart.
ALIGNED_MERGE = 0.25

# A second opinion on the boxes O-Net turns down. Those it still scores above DOUBTFUL are
# kept aside until the aligner has placed their landmarks; then O-Net looks once more, at
# the box MTCNN draws around a face with those landmarks (BOX_TEMPLATE), and a face it
# scores above CONFIRMED there is found. Small compressed faces are framed loosely by P-Net
# and R-Net, and O-Net turns them down on that framing, not on what they are.
DOUBTFUL = 0.2
CONFIRMED = 0.8
# O-Net's 48-px input with the five landmarks where MTCNN's box puts them
# (alignment.FACENET_TEMPLATE, measured in a 160-px crop of that box).
ONET_INPUT = 48
BOX_TEMPLATE = alignment.apply_transform(alignment.pixel_scale(ONET_INPUT / alignment.FACENET_SIZE),
                                         alignment.FACENET_TEMPLATE)


def default_min_face(lr_size: int) -> int:
  """The smallest face ``jfsr.restore`` looks for by default with models whose smallest
  input is ``lr_size``: its detector box, about half the aligned crop, so half the input
  (at least 8 px)."""
  return max(8, lr_size // 2)


@dataclasses.dataclass(frozen=True)
class FoundFace:
  """A face in a frame: ``box`` (x1, y1, x2, y2) pixels, the detector's score, five
  ``landmarks`` (5, 2), which detector found it ('mtcnn' or 'haar'), and in a video the
  ``track`` it continues (:class:`jfsr.faces.tracking.LandmarkSmoother`; a new number when
  a face appears or jumps). ``doubtful``: a box O-Net turned down, held for its second
  opinion (:data:`DOUBTFUL`) inside :meth:`Detector.detect`, which returns none."""
  box: tuple[float, float, float, float]
  score: float
  landmarks: np.ndarray
  detector: str
  track: int | None = None
  doubtful: bool = False

  @property
  def width(self) -> float:
    return self.box[2] - self.box[0]


def landmarks_from_box(left: float, top: float, side: float) -> np.ndarray:
  """The template's five points placed in the square crop whose first pixel is
  ``(left, top)`` and whose side is ``side`` pixels (pixel-centre coordinates)."""
  return alignment.template_points(side) + [left, top]


def haar_faces(frame: np.ndarray, min_face: int, threshold: float = 0.0) -> list[FoundFace]:
  """Haar boxes as faces (landmarks from the square box crop, see the module doc)."""
  found = []
  for face in haar.detect(frame, min_face, threshold):
    box = (face.left, face.top, face.left + face.size, face.top + face.size)
    found.append(FoundFace(tuple(map(float, box)), face.score,
                           landmarks_from_box(face.left, face.top, face.size), 'haar'))
  return found


class Detector:
  """Finds faces in frames: ``detect([frame, ...]) -> [[FoundFace, ...], ...]``.

  Args:
    kind: 'mtcnn', 'haar', or 'auto' (MTCNN when its weights are cached, else Haar,
      said once in the log).
    min_face: the smallest face to find, as the side of its detector box in frame
      pixels; below the detector's :data:`SMALLEST` it runs on an upscaled copy.
    threshold: Haar's minimum cascade level weight (MTCNN keeps its own thresholds).
    refine: refine MTCNN's landmarks on the upright face (:mod:`jfsr.faces.refine`).
    turns: look again, turned by each of these angles both ways (degrees; default
      :data:`TURNS` of the detector), at what upright detection rejects: MTCNN at the
      boxes its R-Net and O-Net turn down, Haar at whole turned copies of the frame; the
      faces found more than once merged.
    aligner: a :class:`jfsr.aligner.model.Aligner` that corrects the landmarks of the
      faces found (those of the sizes it was trained on), or None. With MTCNN it also
      gives the boxes O-Net turned down their second opinion (:data:`DOUBTFUL`).
  """

  def __init__(self, kind: str = 'auto', min_face: int = 12, threshold: float = 0.0,
               mtcnn_variables: dict | None = None, refine: bool = True,
               turns: tuple[float, ...] | None = None, aligner=None):
    from absl import logging
    self.min_face, self.threshold, self.refine = min_face, threshold, refine
    self.aligner = aligner
    self._mtcnn = None
    turns_of = lambda detector: TURNS[detector] if turns is None else tuple(turns)
    if kind not in ('auto', 'mtcnn', 'haar'):
      raise ValueError(f'detector {kind!r}: choose auto, mtcnn or haar')
    if kind != 'haar':
      from jfsr.faces.mtcnn import MTCNN
      from jfsr.pretrained import mtcnn_weights
      from jfsr.pretrained.cache import MissingWeightsError
      try:
        self._mtcnn = MTCNN(mtcnn_variables or mtcnn_weights.load_mtcnn(),
                            thresholds=MTCNN_THRESHOLDS, turns=turns_of('mtcnn'), mirrored=True,
                            shrinks=SHRINKS if turns_of('mtcnn') else (),
                            doubtful=DOUBTFUL if aligner is not None else None)
      except MissingWeightsError as error:
        if kind == 'mtcnn':
          raise
        logging.warning('MTCNN weights are missing or damaged (%s); finding faces with the '
                        'Haar cascade instead, whose landmarks are guessed from its boxes. '
                        '`python -m jfsr.pretrained fetch mtcnn --force` gives real landmarks.',
                        str(error).splitlines()[0])
    self.kind = 'mtcnn' if self._mtcnn else 'haar'
    self.upsample = max(1.0, SMALLEST[self.kind] / min_face)
    self.turns = turns_of(self.kind)

  def detect(self, frames: list[np.ndarray], upright_first: bool = False
             ) -> list[list[FoundFace]]:
    """The faces of each frame, largest first, looked at again turned by :attr:`turns`
    (MTCNN inside its cascade; Haar on turned copies of each frame, mapped back), the faces
    found more than once merged: the detection with the best score, or for Haar's copies
    with ``upright_first`` the upright pass's wherever it found the face, so that a video's
    face keeps one pass's landmarks from frame to frame instead of hopping between two
    (MTCNN keeps the upright look of every box that passes upright anyway); then their
    landmarks corrected by the :attr:`aligner`, if any, the boxes O-Net turned down given
    their second opinion (:data:`DOUBTFUL`), and faces the aligner brought together merged
    again (:data:`ALIGNED_MERGE`)."""
    return self._aligned(frames, self._found(frames, upright_first))

  def _found(self, frames: list[np.ndarray], upright_first: bool) -> list[list[FoundFace]]:
    """:meth:`detect` before the aligner."""
    found = self.detect_upright(frames)
    if not self.turns:
      return found
    if self._mtcnn is not None:  # MTCNN turns its crops itself
      return [_merge(faces) for faces in found]
    more_found: list[list[FoundFace]] = [[] for _ in frames]
    for angle in (sign * turn for turn in self.turns for sign in (1, -1)):
      turned, backs = zip(*(turn_frame(frame, angle) for frame in frames))
      for more, faces, back in zip(more_found, self.detect_upright(list(turned)), backs):
        more += [_mapped(face, back) for face in faces]
    if upright_first:
      return [_merge(faces, more) for faces, more in zip(found, more_found)]
    return [_merge(faces + more) for faces, more in zip(found, more_found)]

  def _aligned(self, frames: list[np.ndarray], found: list[list[FoundFace]]
               ) -> list[list[FoundFace]]:
    """``found`` (each frame's faces, doubtful ones among them) with landmarks corrected
    by the aligner (all frames' faces in one batch); the doubtful faces of the sizes it
    corrects looked at again there (:meth:`_confirmed`), the rest dropped; each face kept
    once (:func:`_merge_aligned`), the doubtful after those found at once."""
    if self.aligner is None:
      return found
    found = [[face for face in faces if not face.doubtful or self.aligner.fits(face.landmarks)]
             for faces in found]
    faces = [(frame, face.landmarks) for frame, faces in zip(frames, found) for face in faces]
    points = iter(self.aligner.align(faces))
    aligned = [[dataclasses.replace(face, landmarks=next(points)) for face in faces]
               for faces in found]
    doubtful = self._confirmed(frames, [[f for f in faces if f.doubtful] for faces in aligned])
    return [_merge_aligned([f for f in faces if not f.doubtful], more)
            for faces, more in zip(aligned, doubtful)]

  def _confirmed(self, frames: list[np.ndarray], doubtful: list[list[FoundFace]]
                 ) -> list[list[FoundFace]]:
    """Of each frame's ``doubtful`` faces (aligned landmarks), those O-Net scores above
    :data:`CONFIRMED` in the box MTCNN draws around such landmarks (all frames' in one
    batch), that score theirs."""
    crops = [alignment.align(frame, face.landmarks, BOX_TEMPLATE, ONET_INPUT)
             for frame, faces in zip(frames, doubtful) for face in faces]
    if not crops:
      return doubtful
    scores = iter(self._mtcnn.face_probability(np.stack(crops)))
    rescored = [[dataclasses.replace(face, score=float(next(scores)), doubtful=False)
                 for face in faces] for faces in doubtful]
    return [[face for face in faces if face.score > CONFIRMED] for faces in rescored]

  def detect_upright(self, frames: list[np.ndarray]) -> list[list[FoundFace]]:
    """The faces of each frame as it is, in memory bounded whatever the number of
    frames: frames are detected together in groups whose upscaled copies hold at most
    :data:`MAX_DETECTION_PIXELS`, and a frame larger than that alone is detected in tiles
    (:meth:`detect_tiled`)."""
    found: list[list[FoundFace]] = []
    group: list[np.ndarray] = []
    pixels = 0
    for frame in frames:
      size = frame.shape[0] * frame.shape[1] * self.upsample ** 2
      if group and pixels + size > MAX_DETECTION_PIXELS:
        found += self.detect_whole(group)
        group, pixels = [], 0
      if size > MAX_DETECTION_PIXELS:
        found.append(self.detect_tiled(frame))
      else:
        group.append(frame)
        pixels += size
    return found + (self.detect_whole(group) if group else [])

  def detect_tiled(self, frame: np.ndarray) -> list[FoundFace]:
    """A large frame's faces, in bounded memory: its small faces in overlapping tiles (each
    upscaled as :meth:`detect_whole` upscales a frame), its large ones on a copy shrunk
    to :data:`MAX_DETECTION_PIXELS`; duplicates (the overlaps, and faces both passes
    found) merged, the higher score kept."""
    height, width = frame.shape[:2]
    side = max(2 * TILE_OVERLAP, int(math.sqrt(MAX_DETECTION_PIXELS) / self.upsample))
    step = side - TILE_OVERLAP
    found = []
    for top in range(0, max(height - TILE_OVERLAP, 1), step):
      for left in range(0, max(width - TILE_OVERLAP, 1), step):
        tile = frame[top:top + side, left:left + side]
        to_frame = np.array([[1.0, 0.0, left], [0.0, 1.0, top]])
        found += [_mapped(face, to_frame) for face in self.detect_whole([tile])[0]]
    shrink = math.sqrt(MAX_DETECTION_PIXELS / (height * width))
    smaller = upscale(frame, shrink)
    coarse = self.detect_whole([smaller], upsample=1.0,
                               min_face=max(SMALLEST[self.kind], math.ceil(TILE_OVERLAP * shrink)))
    found += [_unscale(face, frame, smaller) for face in coarse[0]]
    return _merge(found)

  def detect_whole(self, frames: list[np.ndarray], upsample: float | None = None,
                   min_face: int | None = None) -> list[list[FoundFace]]:
    """The faces of each frame, each frame detected whole on a copy upscaled ``upsample``
    times (default: the detector's) for faces from ``min_face`` (the detector's) up."""
    upsample = self.upsample if upsample is None else upsample
    scaled = [upscale(frame, upsample) for frame in frames]
    smallest = max(12, math.floor((min_face or self.min_face) * upsample))
    if self._mtcnn is None:
      found = [haar_faces(image, smallest, self.threshold) for image in scaled]
    else:
      found = self._mtcnn_faces(scaled, self._mtcnn.detect_batch(scaled, smallest))
    return [[_unscale(face, frame, image) for face in faces]
            for frame, image, faces in zip(frames, scaled, found)]


  def _mtcnn_faces(self, images: list[np.ndarray], detections: list[list]
                   ) -> list[list[FoundFace]]:
    """MTCNN's detections as faces, their landmarks refined (all frames in one batch);
    those O-Net turned down marked doubtful, their landmarks O-Net's own (the aligner
    places them)."""
    doubtful = lambda d: d.score <= self._mtcnn.thresholds[2]
    faces = [(image, d.landmarks) for image, found in zip(images, detections) for d in found
             if not doubtful(d)]
    points = iter(refine_landmarks(faces, self._mtcnn.landmark_points) if self.refine
                  else [landmarks for _, landmarks in faces])
    return [[FoundFace(d.box, d.score, d.landmarks, 'mtcnn', doubtful=True) if doubtful(d)
             else FoundFace(d.box, d.score, next(points), 'mtcnn') for d in found]
            for found in detections]


def turn_frame(frame: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
  """``frame`` turned ``angle`` degrees (counter-clockwise as seen) about its centre, the
  same size, corners filled from its edges; and the 2x3 map from the turned copy's pixels
  back to the frame's."""
  import cv2
  height, width = frame.shape[:2]
  forward = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, 1.0)
  turned = cv2.warpAffine(frame, forward, (width, height), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)
  return turned, cv2.invertAffineTransform(forward)


def _mapped(face: FoundFace, to_frame: np.ndarray) -> FoundFace:
  """A face found on a tile or a turned copy, in the frame's pixels (``to_frame``: 2x3 from
  the copy's pixels): its landmarks mapped, its box the bounds of its mapped corners."""
  x1, y1, x2, y2 = face.box
  corners = alignment.apply_transform(to_frame, np.array([[x1, y1], [x2, y1], [x1, y2],
                                                          [x2, y2]], float))
  box = (*corners.min(0), *corners.max(0))
  return dataclasses.replace(face, box=tuple(float(v) for v in box),
                             landmarks=alignment.apply_transform(to_frame, face.landmarks))


def upscale(frame: np.ndarray, factor: float) -> np.ndarray:
  """The frame ``factor`` times larger (bicubic), or itself for 1."""
  if factor == 1.0:
    return frame
  import cv2
  h, w = frame.shape[:2]
  return cv2.resize(frame, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)


def _merge(faces: list[FoundFace], more: list[FoundFace] = (),
           overlap: float = 0.4) -> list[FoundFace]:
  """Faces found more than once kept once: the highest score of ``faces``, then of
  ``more`` (so that ``more`` only adds faces that ``faces`` lacks); largest first. Two
  detections are one face when their boxes overlap by more than ``overlap`` of the
  smaller one, or when their landmarks' centres lie within half the smaller box's side
  (a face looked at turned keeps an upright box that may overlap its twin less)."""
  kept: list[FoundFace] = []
  by_score = lambda group: sorted(group, key=lambda f: -f.score)

  def same(face: FoundFace, other: FoundFace) -> bool:
    (x1, y1, x2, y2), (a1, b1, a2, b2) = face.box, other.box
    area = max(x2 - x1, 0) * max(y2 - y1, 0)
    inter = max(0.0, min(x2, a2) - max(x1, a1)) * max(0.0, min(y2, b2) - max(y1, b1))
    smaller = min(area, max(a2 - a1, 0) * max(b2 - b1, 0)) or 1.0
    apart = np.linalg.norm(face.landmarks.mean(0) - other.landmarks.mean(0))
    return inter / smaller > overlap or apart < 0.5 * min(face.width, other.width)

  for face in by_score(faces) + by_score(more):
    if not any(same(face, other) for other in kept):
      kept.append(face)
  return sorted(kept, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def _merge_aligned(faces: list[FoundFace], more: list[FoundFace] = ()) -> list[FoundFace]:
  """``faces`` (aligned landmarks) without those whose landmarks' centre lies within
  :data:`ALIGNED_MERGE` of the aligned side of a better-scored face's, order kept; then
  those of ``more`` that are not within that of any face kept, best score first."""
  every = list(faces) + list(more)
  centres = [face.landmarks.mean(0) for face in every]
  sides = [alignment.aligned_side(face.landmarks) for face in every]
  by_score = lambda indices: sorted(indices, key=lambda i: -every[i].score)
  kept: list[int] = []
  for i in by_score(range(len(faces))) + by_score(range(len(faces), len(every))):
    if all(np.linalg.norm(centres[i] - centres[k]) >= ALIGNED_MERGE * min(sides[i], sides[k])
           for k in kept):
      kept.append(i)
  first = [every[i] for i in sorted(k for k in kept if k < len(faces))]
  return first + [every[i] for i in kept if i >= len(faces)]


def _unscale(face: FoundFace, frame: np.ndarray, image: np.ndarray) -> FoundFace:
  """A face found in the upscaled ``image`` mapped back to ``frame`` pixels."""
  if image is frame:
    return face
  scale = np.array([image.shape[1] / frame.shape[1], image.shape[0] / frame.shape[0]])
  box = np.asarray(face.box).reshape(2, 2) / scale  # box edges
  points = (face.landmarks + 0.5) / scale - 0.5  # pixel centres
  return dataclasses.replace(face, box=tuple(map(float, box.ravel())), landmarks=points)
