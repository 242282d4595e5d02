"""The scenes the measures restore: faces nobody trained on, placed by known transforms in
larger frames over textured backgrounds, blurred, shrunk and degraded under named
conditions, with what is needed to score a restoration of them against the truth (the
face's place, its true landmarks, whether a detection found it, how far its landmarks are).
The in-frame benchmark (:mod:`jfsr.measures.in_frames`), the flicker measure
(:mod:`jfsr.measures.flicker`) and the speed measure's video frames
(:mod:`jfsr.measures.speed`) draw their scenes here."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

ROTATION_BUCKETS = ((0, 10), (10, 20), (20, 30))
SIZE_BUCKETS = (0.75, 1.0, 1.25, 1.5)  # edges of the face-size buckets, x the model's input side


@dataclasses.dataclass(frozen=True)
class Condition:
  """What happens to a scene's frame besides the face's placement: its motion blur's length
  (x the scenes' own 2-12 px), the shrink's kernel, sensor noise (of 255) and a JPEG round
  trip of the whole small frame (quality; 0 = PNG)."""
  blur_scale: float = 1.0
  kernel: str = 'bicubic'
  noise_sigma: float = 0.0
  jpeg_quality: int = 0


# The conditions by name (--conditions): 'png' is the scenes as they were made before any
# condition existed; each other one changes one thing.
CONDITIONS = {
    'png': Condition(),
    'noblur': Condition(blur_scale=0.0),
    'blur2x': Condition(blur_scale=2.0),
    'jpeg50': Condition(jpeg_quality=50),
    'jpeg75': Condition(jpeg_quality=75),
    'jpeg90': Condition(jpeg_quality=90),
    'noise4': Condition(noise_sigma=4.0),
    'area': Condition(kernel='area'),
    'bilinear': Condition(kernel='bilinear'),
}


@dataclasses.dataclass
class Scene:
  """A degraded frame holding one face, and how the face got there."""
  frame: np.ndarray         # the small, blurred frame (uint8)
  truth: np.ndarray         # the ground-truth face (hr x hr uint8)
  face_to_frame: np.ndarray  # 2x3: ground-truth face pixels -> small-frame pixels
  rotation: float           # degrees
  scale: float              # the face's size over the model's input size


@dataclasses.dataclass
class Photo:
  """A degraded photo and the faces in it (each a :class:`Scene` whose ``frame`` is this
  photo's)."""
  frame: np.ndarray
  scenes: list[Scene]


# The kinds of photo (--kinds): 'portrait', one whole CelebA-HQ picture (face, hair,
# shoulders, its own background) placed in a frame three faces wide, the scenes as they were
# made before kinds existed; 'group', up to GROUP_SIZE of them in one photo; 'border', one
# cut by the frame's edge.
KINDS = ('portrait', 'group', 'border')
GROUP_SIZE = 12


def textured_background(rng: np.random.Generator, side: int, width: int | None = None
                        ) -> np.ndarray:
  """Blurred colour noise over a colour gradient: a background with edges everywhere,
  ``side`` x ``side`` (or ``side`` high and ``width`` wide)."""
  import cv2
  noise = rng.integers(0, 256, (side, width or side, 3), dtype=np.uint8)
  texture = cv2.GaussianBlur(noise, (0, 0), rng.uniform(1.5, 5)).astype(np.float32)
  ramp = np.linspace(0, 1, side, dtype=np.float32)[:, None, None]
  gradient = rng.uniform(0, 255, 3) * (1 - ramp) + rng.uniform(0, 255, 3) * ramp
  return np.clip(0.6 * texture + 0.4 * gradient, 0, 255).astype(np.uint8)


def line_blur(image: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
  """``image`` blurred by a centred linear motion of ``length`` pixels (under 1: as it is)."""
  import cv2
  if length < 1:
    return image
  side = int(np.ceil(length)) | 1
  kernel = np.zeros((side, side), np.float32)
  c, d = side // 2, (length - 1) / 2
  dx, dy = d * np.cos(np.radians(angle_deg)), d * np.sin(np.radians(angle_deg))
  cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
  return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def make_scene(truth: np.ndarray, lr_size: int, factor: int, bucket: tuple[int, int],
               rng: np.random.Generator, condition: Condition = Condition(),
               noise_rng: np.random.Generator | None = None,
               sides: tuple[float, float] | None = None, at_edge: bool = False) -> Scene:
  """``truth`` (hr x hr) rotated, scaled and shifted into a frame three faces wide, blurred,
  and shrunk ``factor`` times, under ``condition``; the face's side in the frame drawn from
  ``sides`` (pixels; default 0.75-1.5 x ``lr_size``). ``rng`` draws the same scene whatever
  the condition; ``noise_rng`` draws the condition's noise. ``at_edge``: the face's centre
  0.35-0.5 of its side from a drawn edge of the frame instead of near the middle, so that
  the picture around the face (hair, background) runs out of the frame while its landmarks
  and most of its scored middle stay inside."""
  hr = truth.shape[0]
  side = 3 * hr
  rotation, scale = _drawn_face(hr, lr_size, factor, bucket, rng, sides)
  if at_edge:
    inset = rng.uniform(0.35, 0.5) * scale * hr
    along = rng.uniform(0.3, 0.7) * side
    edge = int(rng.integers(4))  # left, right, top, bottom
    centre = [(inset, along), (side - inset, along), (along, inset), (along, side - inset)][edge]
  else:
    centre = side / 2 + rng.uniform(-0.12, 0.12, 2) * side
  background = textured_background(rng, side)
  return render_scene(truth, background, face_placement(hr, scale, rotation, centre),
                      rng.uniform(2, 12), rng.uniform(0, 180), lr_size, factor, condition,
                      noise_rng)


def face_placement(hr: int, scale: float, rotation: float, centre) -> np.ndarray:
  """The 2x3 map of a ``hr`` face, turned by ``rotation`` degrees and scaled, centred on
  ``centre`` (pixel-edge coordinates of the large frame)."""
  a, b = scale * np.cos(np.radians(rotation)), scale * np.sin(np.radians(rotation))
  linear = np.array([[a, -b], [b, a]])
  return np.concatenate([linear, (np.asarray(centre) - linear @ [hr / 2, hr / 2])[:, None]], axis=1)


def render_scene(truth: np.ndarray, background: np.ndarray, face_to_big: np.ndarray,
                 blur_length: float, blur_angle: float, lr_size: int, factor: int,
                 condition: Condition = Condition(),
                 noise_rng: np.random.Generator | None = None) -> Scene:
  """``truth`` placed over ``background`` by ``face_to_big``, the frame blurred by a linear
  motion and shrunk ``factor`` times to 8 bits, with ``condition``'s changes (noise drawn
  from ``noise_rng``)."""
  (scene,) = render_photo([truth], background, [face_to_big], blur_length, blur_angle,
                          lr_size, factor, condition, noise_rng).scenes
  return scene


def render_photo(truths: list[np.ndarray], background: np.ndarray, faces_to_big: list,
                 blur_length: float, blur_angle: float, lr_size: int, factor: int,
                 condition: Condition = Condition(),
                 noise_rng: np.random.Generator | None = None) -> Photo:
  """Each of ``truths`` placed over ``background`` by its map (later ones over earlier
  ones), then the whole photo blurred by one linear motion, shrunk ``factor`` times to 8
  bits and changed as ``condition`` says (noise drawn from ``noise_rng``)."""
  from jfsr.data import photo
  from jfsr.faces import alignment
  height, width = background.shape[:2]
  big = background.astype(np.float64)
  for truth, face_to_big in zip(truths, faces_to_big):
    hr = truth.shape[0]
    face = alignment.warp(truth, face_to_big, (width, height), border='constant')
    inside = alignment.warp(np.full((hr, hr), 255, np.uint8), face_to_big, (width, height),
                            border='constant')[..., None] / 255.0
    big = big * (1 - inside) + face * inside
  big = line_blur(big.astype(np.float32), blur_length * condition.blur_scale, blur_angle)
  small = photo.resize(big, (width // factor, height // factor), condition.kernel)
  if condition.noise_sigma:
    small = small + (noise_rng or np.random.default_rng(0)).normal(0, condition.noise_sigma,
                                                                     small.shape)
  frame = np.clip(np.round(small), 0, 255).astype(np.uint8)
  if condition.jpeg_quality:
    frame = photo.jpeg_round_trip(frame, condition.jpeg_quality)
  scenes = []
  for truth, face_to_big in zip(truths, faces_to_big):
    face_to_frame = alignment.compose(alignment.pixel_scale(1 / factor), face_to_big)
    a, b = face_to_big[0, 0], face_to_big[1, 0]
    scenes.append(Scene(frame, truth, face_to_frame, float(np.degrees(np.arctan2(b, a))),
                        float(np.hypot(a, b)) * truth.shape[0] / factor / lr_size))
  return Photo(frame, scenes)


def make_photos(kind: str, truths: list[np.ndarray], lr_size: int, factor: int,
                rng: np.random.Generator, condition: Condition = Condition(),
                noise_rng: np.random.Generator | None = None,
                sides: tuple[float, float] | None = None) -> list[Photo]:
  """``truths`` as photos of ``kind`` (:data:`KINDS`), face ``i`` turned within rotation
  bucket ``i % 3`` and given a side drawn from ``sides`` (pixels of the small photo;
  default 0.75-1.5 x ``lr_size``). ``rng`` draws the same photos whatever the condition."""
  if kind not in KINDS:
    raise ValueError(f'unknown kind of photo {kind!r}; choose from {", ".join(KINDS)}')
  bucket = lambda i: ROTATION_BUCKETS[i % len(ROTATION_BUCKETS)]
  if kind in ('portrait', 'border'):
    scenes = [make_scene(t, lr_size, factor, bucket(i), rng, condition, noise_rng, sides,
                         at_edge=kind == 'border') for i, t in enumerate(truths)]
    return [Photo(scene.frame, [scene]) for scene in scenes]
  return [make_group_photo(truths[start:start + GROUP_SIZE], start, lr_size, factor, rng,
                           condition, noise_rng, sides)
          for start in range(0, len(truths), GROUP_SIZE)]


def _drawn_face(hr: int, lr_size: int, factor: int, bucket: tuple[int, int],
                rng: np.random.Generator, sides: tuple[float, float] | None):
  """A face's rotation (degrees, either way within ``bucket``) and scale (big-frame pixels
  per ground-truth pixel) drawn as :func:`make_scene` draws them."""
  low, high = sides or (SIZE_BUCKETS[0] * lr_size, SIZE_BUCKETS[-1] * lr_size)
  rotation = float(rng.uniform(*bucket) * rng.choice([-1, 1]))
  return rotation, float(rng.uniform(low * factor / hr, high * factor / hr))


def make_group_photo(truths: list[np.ndarray], first: int, lr_size: int, factor: int,
                     rng: np.random.Generator, condition: Condition = Condition(),
                     noise_rng: np.random.Generator | None = None,
                     sides: tuple[float, float] | None = None) -> Photo:
  """Up to :data:`GROUP_SIZE` faces in one photo, four to a row on a grid of cells 1.3 times
  the largest face, each turned, scaled and shifted on its own, under one motion blur (the
  camera's) and one condition. ``first``: the first face's index (its rotation bucket)."""
  hr = truths[0].shape[0]
  drawn = [_drawn_face(hr, lr_size, factor, ROTATION_BUCKETS[(first + i) % 3], rng, sides)
           for i in range(len(truths))]
  cell = 1.3 * max(scale for _, scale in drawn) * hr
  columns = min(4, len(truths))
  rows = -(-len(truths) // columns)
  width = int(np.ceil((columns + 0.5) * cell / factor)) * factor
  height = int(np.ceil((rows + 0.5) * cell / factor)) * factor
  maps = []
  for i, (rotation, scale) in enumerate(drawn):
    centre = (np.array([i % columns + 0.75, i // columns + 0.75]) * cell
              + rng.uniform(-0.08, 0.08, 2) * cell)
    maps.append(face_placement(hr, scale, rotation, centre))
  background = textured_background(rng, height, width)
  return render_photo(list(truths), background, maps, rng.uniform(2, 12), rng.uniform(0, 180),
                      lr_size, factor, condition, noise_rng)


def back_onto_truth(restored: np.ndarray, scene: Scene, factor: int) -> np.ndarray:
  """A restored frame (``factor`` times the small one) resampled onto the ground-truth face."""
  from jfsr.faces import alignment
  face_to_output = alignment.compose(alignment.pixel_scale(factor), scene.face_to_frame)
  return alignment.warp(restored, alignment.invert(face_to_output), scene.truth.shape[0])


def true_face(scene: Scene, hr: int):
  from jfsr.faces import alignment
  from jfsr.faces.detection import FoundFace
  landmarks = alignment.apply_transform(scene.face_to_frame, alignment.template_points(hr))
  return FoundFace((0, 0, 1, 1), 1.0, landmarks, 'truth')


def face_side(scene: Scene, hr: int) -> float:
  """The face's side (its aligned crop's) in frame pixels."""
  return hr * float(np.sqrt(abs(np.linalg.det(scene.face_to_frame[:, :2]))))


def match(found: list, scene: Scene, hr: int):
  """The detection whose landmarks' centre lies nearest the true one, if within a quarter
  of the face's side (the face counts as found), else None."""
  truth = true_face(scene, hr).landmarks.mean(0)
  distances = [np.linalg.norm(f.landmarks.mean(0) - truth) for f in found]
  if not distances or min(distances) >= 0.25 * face_side(scene, hr):
    return None
  return found[int(np.argmin(distances))]


def hit(found: list, scene: Scene, hr: int) -> bool:
  """Whether a detection's landmarks centre lies within a quarter face of the true one."""
  return match(found, scene, hr) is not None


def false_detections(found: list[list], matched: list, photo_of: np.ndarray) -> np.ndarray:
  """How many detections of each photo (``found[photo]``) match none of its faces
  (``matched[k]``: face ``k``'s detection or None; ``photo_of[k]``: its photo)."""
  return np.array([len(detections) - len({id(matched[k]) for k in np.flatnonzero(photo_of == photo)
                                          if matched[k] is not None})
                   for photo, detections in enumerate(found)])


def landmark_error(detected: np.ndarray, truth: np.ndarray, side: float) -> dict[str, float]:
  """How far detected landmarks are from the true ones, as the similarity between them:
  roll (degrees), scale (log-ratio), shift of the centre and the points' residual after
  the similarity (fractions of the face's ``side``)."""
  from jfsr.faces import alignment
  m = alignment.similarity_transform(truth, detected)
  residual = detected - alignment.apply_transform(m, truth)
  return {'roll': float(np.degrees(np.arctan2(m[1, 0], m[0, 0]))),
          'scale': float(np.log(np.hypot(m[0, 0], m[1, 0]))),
          'shift': float(np.linalg.norm(detected.mean(0) - truth.mean(0)) / side),
          'point': float(np.sqrt((residual ** 2).sum(1).mean() / 2) / side)}


def held_out_faces(config, root: str | None, folder: str | None, first: int, count: int):
  """The faces to place: the test split of ``root`` (a CelebAMask-HQ layout, the model's
  own split), or images ``first``.. of a plain ``folder`` (name order)."""
  from jfsr.data import pipeline, sources
  from jfsr.errors import UsageError
  if bool(root) == bool(folder):
    raise UsageError('give exactly one of --root (a CelebAMask-HQ layout: the model\'s test '
                    'split) and --folder (a folder of aligned faces)')
  if folder:
    return sources.FaceFolder(folder, config.data.hr_size, first, count, 'skip')
  config.data.root = root
  return pipeline.make_source(config, 'test')


def video_frames(count: int, faces: int, face_px: int, seed: int = 0):
  """``count`` 640x480 frames over a textured background, each with ``faces`` drawn faces
  whose aligned crop is ``face_px`` wide (moving a little from frame to frame), and those
  faces' landmarks (the template placed in each crop)."""
  import cv2
  from jfsr.data.synthetic import draw_face
  from jfsr.faces.detection import FoundFace, landmarks_from_box
  rng = np.random.default_rng(seed)
  noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
  background = cv2.GaussianBlur(noise, (0, 0), 4)
  drawn = [draw_face(i, face_px)[0] for i in range(faces)]
  frames, found = [], []
  for t in range(count):
    frame = background.copy()
    frame_faces = []
    for i, face in enumerate(drawn):
      top, left = 80 + 200 * (i // 2) + t % 3, 120 + 260 * (i % 2) + t % 5
      frame[top:top + face_px, left:left + face_px] = face
      box = (left, top, left + face_px, top + face_px)
      frame_faces.append(FoundFace(box, 1.0, landmarks_from_box(left, top, face_px), 'drawn'))
    frames.append(frame)
    found.append(frame_faces)
  return frames, found


def large_photo(faces: int, face_px: int, size: tuple[int, int] = (4000, 3000), seed: int = 0):
  """A photo of ``size`` (width, height; 12 MP by default) over a textured background with
  ``faces`` drawn faces whose aligned crop is ``face_px`` wide, spread over a grid, and
  their landmarks (the template placed in each crop): the speed measure's still photo."""
  import cv2
  from jfsr.data.synthetic import draw_face
  from jfsr.faces.detection import FoundFace, landmarks_from_box
  width, height = size
  rng = np.random.default_rng(seed)
  noise = rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8)
  frame = cv2.resize(cv2.GaussianBlur(noise, (0, 0), 2), (width, height),
                     interpolation=cv2.INTER_CUBIC)
  columns = math.ceil(math.sqrt(faces * width / height))
  rows = math.ceil(faces / columns)
  found = []
  for i in range(faces):
    top = int((i // columns + 0.5) * height / rows)
    left = int((i % columns + 0.5) * width / columns)
    frame[top:top + face_px, left:left + face_px] = draw_face(i, face_px)[0]
    found.append(FoundFace((left, top, left + face_px, top + face_px), 1.0,
                           landmarks_from_box(left, top, face_px), 'drawn'))
  return frame, found
