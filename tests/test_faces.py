"""Five-point alignment: the similarity fit, the warps, and landmarks landing on the template."""

import math

import numpy as np
import pytest
from scipy import ndimage

from jfsr.faces import alignment


def _similarity(angle_degrees, scale, tx, ty):
  c, s = math.cos(math.radians(angle_degrees)), math.sin(math.radians(angle_degrees))
  return np.array([[scale * c, -scale * s, tx], [scale * s, scale * c, ty]])


@pytest.mark.parametrize('angle, scale, tx, ty', [(0, 1, 0, 0), (-30, 0.7, 12.5, -3), (23, 2.4, -40, 7)])
def test_similarity_fit_recovers_a_known_transform(angle, scale, tx, ty):
  truth = _similarity(angle, scale, tx, ty)
  source = alignment.FACENET_TEMPLATE + [[3, -2], [1, 4], [0, 0], [-5, 2], [2, 1]]
  fitted = alignment.similarity_transform(source, alignment.apply_transform(truth, source))
  np.testing.assert_allclose(fitted, truth, atol=1e-9)
  np.testing.assert_allclose(alignment.compose(alignment.invert(truth), truth)[:, :2], np.eye(2),
                             atol=1e-12)


def test_similarity_fit_is_the_least_squares_solution():
  """With noisy targets no similarity fits exactly: the residual is stationary (zero
  gradient in each of a, b, tx, ty), checked by finite differences."""
  rng = np.random.default_rng(0)
  source = rng.uniform(0, 100, (5, 2))
  target = alignment.apply_transform(_similarity(10, 1.3, 5, 5), source) + rng.normal(0, 2, (5, 2))
  fitted = alignment.similarity_transform(source, target)
  a, b, tx, ty = fitted[0, 0], fitted[1, 0], fitted[0, 2], fitted[1, 2]

  def residual(p):
    m = np.array([[p[0], -p[1], p[2]], [p[1], p[0], p[3]]])
    return np.square(alignment.apply_transform(m, source) - target).sum()
  best = residual([a, b, tx, ty])
  for i in range(4):
    for step in (1e-3, -1e-3):
      p = [a, b, tx, ty]
      p[i] += step
      assert residual(p) > best


def _dots(points, size, radius=2.5):
  """An image with a bright disc at each point (sub-pixel centres)."""
  yy, xx = np.mgrid[:size, :size]
  image = np.zeros((size, size), np.float64)
  for x, y in points:
    image = np.maximum(image, np.clip(radius + 0.5 - np.hypot(xx - x, yy - y), 0, 1))
  return np.repeat((image * 255).astype(np.uint8)[..., None], 3, axis=-1)


def _centroids(image, count):
  grey = image[..., 0].astype(np.float64)
  labels, found = ndimage.label(grey > 40)
  assert found == count
  centres = ndimage.center_of_mass(grey, labels, range(1, count + 1))
  return np.array([(x, y) for y, x in centres])


@pytest.mark.parametrize('angle, scale', [(0, 1.0), (28, 1.4), (-30, 2.2)])
def test_alignment_puts_known_landmarks_on_the_template_to_a_pixel(angle, scale):
  frame_size = 560
  to_frame = _similarity(angle, scale, 200, 150)
  landmarks = alignment.apply_transform(to_frame, alignment.FACENET_TEMPLATE)
  frame = _dots(landmarks, frame_size, radius=2.5 * scale)
  aligned = alignment.align(frame, landmarks)
  assert aligned.shape == (alignment.FACENET_SIZE, alignment.FACENET_SIZE, 3)
  found = _centroids(aligned, 5)
  # Match each template point to its nearest found dot.
  for point in alignment.FACENET_TEMPLATE:
    assert np.min(np.hypot(*(found - point).T)) < 1.0


def test_warp_then_inverse_warp_returns_the_patch():
  rng = np.random.default_rng(1)
  patch = ndimage.gaussian_filter(rng.uniform(0, 255, (96, 96, 3)), (2, 2, 0)).astype(np.uint8)
  forward = _similarity(17, 1.5, 30, -10)
  out = alignment.warp(patch, forward, 200)
  back = alignment.warp(out, alignment.invert(forward), 96)
  inner = (slice(12, -12), slice(12, -12))  # away from the border (and the frame's edge)
  difference = np.abs(back[inner].astype(int) - patch[inner].astype(int))
  assert difference.mean() < 2.0 and difference.max() < 25


def _dot_finder(crops: np.ndarray) -> np.ndarray:
  """A stand-in for O-Net that reads the five points off a drawing, the way a network
  names them: by position (the upper two are the eyes, left one first; the middle one
  the nose; the lower two the mouth corners), as fractions of the crop's side."""
  found = []
  for crop in crops:
    ink = crop[..., 0].astype(np.float64)
    labels, count = ndimage.label(ink > 60)
    centres = np.array(ndimage.center_of_mass(ink, labels, range(1, count + 1)))[:, ::-1]
    assert count == 5, count
    centres = centres[np.argsort(centres[:, 1])]
    eyes, nose, mouth = centres[:2], centres[2:3], centres[3:]
    points = np.concatenate([eyes[np.argsort(eyes[:, 0])], nose, mouth[np.argsort(mouth[:, 0])]])
    found.append((points + 0.5) / crops.shape[1])
  return np.stack(found)


def _drawn_points(points: np.ndarray, side: int) -> np.ndarray:
  """Gaussian dots (sigma 2 px) at ``points`` on a black ``side`` square."""
  y, x = np.mgrid[:side, :side]
  ink = sum(np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * 2.0 ** 2)) for px, py in points)
  return np.repeat((255 * np.clip(ink, 0, 1))[..., None], 3, axis=2).astype(np.uint8)


def test_refinement_moves_rough_landmarks_onto_the_true_ones():
  """Faces drawn as five dots, rolled by up to 35°; the landmarks given to the refinement
  are off by a wrong roll (halved), scale and shift. With a point finder that is exact on
  upright faces, the refined landmarks land on the dots, and each step of the pipeline
  (warp, mirror and swap, inverse warp) has to be right for them to."""
  from jfsr.faces.refine import refine_landmarks
  side = 140
  faces, rough = [], []
  for angle, scale, shift in [(0, 1.0, (4, 3)), (20, 1.2, (5, -4)), (-35, 0.9, (-6, 3))]:
    to_frame = _similarity(angle, scale * 0.6, 70, 70)
    base = alignment.FACENET_TEMPLATE - alignment.FACENET_TEMPLATE.mean(0)
    truth = alignment.apply_transform(to_frame, base / 2)
    guess = alignment.apply_transform(_similarity(angle / 2, scale * 0.5, 70 + shift[0],
                                                  70 + shift[1]), base / 2)
    faces.append((_drawn_points(truth, side), truth))
    rough.append(guess)
  refined = refine_landmarks([(image, guess) for (image, _), guess in zip(faces, rough)],
                             _dot_finder, iterations=3)  # three images in one batch
  for (_, truth), guess, points in zip(faces, rough, refined):
    assert np.abs(guess - truth).max() > 5  # far enough off to need fixing
    np.testing.assert_allclose(points, truth, atol=0.35)


def test_a_large_frame_is_detected_in_tiles_finding_what_the_whole_frame_finds(monkeypatch):
  """Above the pixel bound, detection runs on overlapping tiles (and a shrunk copy for large
  faces): the same faces as whole-frame detection, each once, though some straddle tiles."""
  from jfsr.data.synthetic import draw_face
  from jfsr.faces import detection
  rng = np.random.default_rng(0)
  frame = rng.integers(80, 120, (900, 1300, 3)).astype(np.uint8)
  centres = []
  for index, (top, left) in enumerate([(40, 40), (300, 520), (610, 1100), (420, 280)]):
    face = draw_face(index, 72)[0]
    frame[top:top + 72, left:left + 72] = face
    centres.append((left + 36, top + 36))
  detector = detection.Detector('haar', min_face=24)
  monkeypatch.setattr(detection, 'MAX_DETECTION_PIXELS', 400_000)  # tiles of 632 px
  assert frame.shape[0] * frame.shape[1] * detector.upsample ** 2 > 400_000
  tiled = detector.detect([frame])[0]
  whole = detector.detect_whole([frame])[0]

  def found(faces):
    return sorted(min(range(len(centres)), key=lambda i: np.hypot(*(np.asarray(
        [(f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2]) - centres[i])))
        for f in faces)
  assert len(found(whole)) >= 3 and len(set(found(whole))) == len(found(whole))
  assert found(tiled) == found(whole)  # each face once: the tiles' duplicates merged


def test_many_frames_are_detected_in_groups_of_bounded_size(monkeypatch):
  """Frames are detected together only up to MAX_DETECTION_PIXELS of upscaled copies, so
  memory does not grow with the chunk; each frame's faces are what it gets alone."""
  from jfsr.faces import detection
  rng = np.random.default_rng(0)
  frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(7)]
  frames.insert(3, rng.integers(0, 256, (2500, 2600, 3), dtype=np.uint8))  # tiled alone
  detector = detection.Detector('haar', min_face=12)
  monkeypatch.setattr(detection, 'MAX_DETECTION_PIXELS', 3 * 480 * 640 * detector.upsample ** 2)
  groups = []
  fake = lambda images, **_: groups.append(len(images)) or [[('found', img.shape, float(
      img.mean()))] for img in images]
  monkeypatch.setattr(detector, 'detect_whole', fake)
  monkeypatch.setattr(detector, 'detect_tiled', lambda frame: [('tiled', frame.shape)])
  found = detector.detect(frames)
  assert groups == [3, 3, 1]
  assert found[3] == [('tiled', (2500, 2600, 3))]
  alone = [fake([frame])[0] for index, frame in enumerate(frames) if index != 3]
  assert [f for index, f in enumerate(found) if index != 3] == alone


@pytest.mark.parametrize('index', [0, 1, 2])
def test_a_turned_pass_finds_a_rolled_face_and_maps_it_back(index):
  """A face rolled 30° about the frame's centre, which the upright cascade misses, is found
  on the copy turned back: its landmarks, mapped to the frame, lie where the known roll puts
  the upright face's (eye line at 30°, centre within a tenth of the face)."""
  from jfsr.data.synthetic import draw_face
  from jfsr.faces import detection
  frame = np.full((320, 320, 3), 100, np.uint8)
  frame[112:208, 112:208] = draw_face(index, 96)[0]
  roll = _similarity(30, 1.0, 0, 0)
  roll[:, 2] = [160, 160] - roll[:, :2] @ [160, 160]
  rolled = alignment.warp(frame, roll, 320, border='replicate')
  upright = detection.Detector('haar', min_face=40, turns=())
  assert upright.detect([frame])[0] and not upright.detect([rolled])[0]
  (found,) = detection.Detector('haar', min_face=40, turns=(30.0,)).detect([rolled])[0]
  expected = alignment.apply_transform(roll, detection.landmarks_from_box(112, 112, 96))
  eye_line = found.landmarks[1] - found.landmarks[0]
  assert math.degrees(math.atan2(eye_line[1], eye_line[0])) == pytest.approx(30, abs=2)
  assert np.hypot(*(found.landmarks.mean(0) - expected.mean(0))) < 9.6
  x1, y1, x2, y2 = found.box
  assert x1 < expected[:, 0].min() and x2 > expected[:, 0].max()
  assert y1 < expected[:, 1].min() and y2 > expected[:, 1].max()


def test_turned_passes_add_faces_and_for_videos_never_replace_an_upright_one(monkeypatch):
  """A face found upright and, scored higher, on a turned copy keeps the better-scored
  detection in a photo and the upright one for a video (``upright_first``, so that a
  video's face does not hop between the two from frame to frame); a face only a turned
  copy found is added either way, mapped back to the frame."""
  from jfsr.faces import detection
  detector = detection.Detector('haar', min_face=40, turns=(25.0,))
  frame = np.zeros((200, 300, 3), np.uint8)

  def face(x, y, score):
    return detection.FoundFace((x - 20.0, y - 20.0, x + 20.0, y + 20.0), score,
                               detection.landmarks_from_box(x - 20, y - 20, 40), 'haar')

  def upright_or_turned(frames):
    if frames[0] is frame:  # the upright frame: one face at the centre, scored low
      return [[face(149.5, 99.5, 0.6)]]
    # each turned copy: the centre's face scored high, and one more above the centre
    return [[face(149.5, 99.5, 0.99), face(149.5, 40.0, 0.9)]]

  monkeypatch.setattr(detector, 'detect_upright', upright_or_turned)
  for upright_first, centre_score in ((False, 0.99), (True, 0.6)):
    found = detector.detect([frame], upright_first=upright_first)[0]
    assert sorted(f.score for f in found) == sorted([centre_score, 0.9, 0.9])
    (centre,) = [f for f in found if f.score == centre_score]
    assert np.allclose(np.reshape(centre.box, (2, 2)).mean(0), [149.5, 99.5])
    # the face above the centre, found on the copies turned +25° and -25°, mapped back to
    # two places 25° either side of straight up from the frame's centre
    added = sorted((f for f in found if f.score == 0.9), key=lambda f: f.landmarks[:, 0].mean())
    for sign, f in zip((-1, 1), added):
      x, y = f.landmarks.mean(0) - [149.5, 99.5]
      assert math.degrees(math.atan2(x, -y)) == pytest.approx(sign * 25, abs=0.5)
