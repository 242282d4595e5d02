"""The aligner (jfsr.aligner): its geometry against plain affine algebra, its examples,
its training run (resumed exactly), and the detector's use of it."""

import math

import numpy as np
import pytest

from jfsr import config_loading
from jfsr.aligner import model, samples, train
from jfsr.data.synthetic import SyntheticFaces
from jfsr.faces import alignment, detection
from jfsr.faces.detection import Detector, FoundFace


def similarity(roll_deg, scale, shift):
  """A similarity of model-input pixels about the input's centre, written out by hand."""
  r = math.radians(roll_deg)
  linear = scale * np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
  centre = np.full(2, (model.INPUT - 1) / 2)
  return np.concatenate([linear, (centre - linear @ centre + shift)[:, None]], axis=1)


def test_correction_parameters_are_the_similarity_and_move_the_points_as_it_does():
  matrix = similarity(12.0, 1.07, [0.6, -1.3])
  correction = model.correction_of(matrix)
  np.testing.assert_allclose(model.correction_matrix(correction), matrix, atol=1e-6)
  moved = np.asarray(model.moved_points(correction[None]))[0]
  np.testing.assert_allclose(moved, alignment.apply_transform(matrix, model.POINTS), atol=1e-4)


def test_point_loss_is_the_mean_squared_distance_of_the_moved_points():
  a, b = model.correction_of(similarity(5, 1.0, [1.0, 0])), model.correction_of(similarity(0, 1, [0, 0]))
  expected = np.mean(np.sum((alignment.apply_transform(similarity(5, 1.0, [1.0, 0]), model.POINTS)
                             - model.POINTS) ** 2, -1))
  assert float(model.point_loss(a[None], b[None])) == pytest.approx(expected, rel=1e-5)


def test_crop_covers_twice_the_input_about_its_centre():
  to_input = np.array([[0.5, 0, -3.0], [0, 0.5, 4.0]])  # a face 32 frame px wide
  crop_map = model.crop_transform(to_input)
  # The input's centre lands on the crop's centre; its side spans half the crop.
  centre_in_frame = alignment.apply_transform(alignment.invert(to_input), [[7.5, 7.5]])
  np.testing.assert_allclose(alignment.apply_transform(crop_map, centre_in_frame), [[23.5, 23.5]])
  assert np.hypot(*crop_map[:, 0]) * 32 == pytest.approx(model.CROP / model.REGION)


def small_config():
  return config_loading.load_config('smoke', 'configs/aligner.py')


def test_true_alignment_puts_the_face_where_the_template_says():
  config = small_config()
  spec = samples.SampleSpec.from_config(config)
  truths = [SyntheticFaces(4, 64)[i]['hr'] for i in range(4)]
  frame, true_map = samples.render_frame(truths, 1, spec, np.random.default_rng(3))
  # Warping the frame by the true map onto a 64-px square and the drawn face itself agree
  # in the middle of the face far better than the same warp shifted by a pixel.
  upscale = alignment.pixel_scale(64 / model.INPUT)
  seen = alignment.warp(frame, alignment.compose(upscale, true_map), 64).astype(float)
  shifted = alignment.warp(frame, alignment.compose(upscale, alignment.compose(
      similarity(0, 1, [1.0, 0.0]), true_map)), 64).astype(float)
  face = truths[1].astype(float)
  middle = (slice(16, 48), slice(16, 48))
  # (the face may be mirrored: compare with both)
  error = lambda image: min(np.abs(image[middle] - face[middle]).mean(),
                            np.abs(image[middle] - face[:, ::-1][middle]).mean())
  assert error(seen) < 0.7 * error(shifted)


def test_examples_are_the_same_however_the_frames_are_split():
  config = small_config()
  spec = samples.SampleSpec.from_config(config)
  truths = [SyntheticFaces(4, 64)[i]['hr'] for i in range(4)]
  whole = samples.examples(truths, range(4), spec, seed=5)
  parts = [samples.examples(truths, r, spec, seed=5) for r in (range(0, 1), range(1, 4))]
  np.testing.assert_array_equal(whole[0], np.concatenate([p[0] for p in parts]))
  np.testing.assert_array_equal(whole[1], np.concatenate([p[1] for p in parts]))
  assert whole[0].shape == (4 * spec.per_frame, model.CROP, model.CROP, 3)


def test_a_perfect_correction_gives_the_true_landmarks():
  """align() composes each correction the way training defines it: with corrections that
  are exactly the way back to the truth, the landmarks come out true."""
  config = small_config()
  spec = samples.SampleSpec.from_config(config)
  truths = [SyntheticFaces(4, 64)[i]['hr'] for i in range(4)]
  frame, true_map = samples.render_frame(truths, 0, spec, np.random.default_rng(0))
  error = similarity(9.0, 0.93, [0.8, -0.5])
  start = model.landmarks_of(alignment.compose(error, true_map))

  class Oracle(model.Aligner):
    def corrections(self, crops):
      return np.stack([model.correction_of(alignment.invert(error))] * len(crops))

  network = model.AlignerNet((4, 8, 8), 16)
  import jax
  variables = network.init(jax.random.key(0), np.zeros((1, model.CROP, model.CROP, 3)))
  oracle = Oracle(variables, (4, 8, 8), 16, iterations=1)
  (landmarks,) = oracle.align([(frame, start)])
  np.testing.assert_allclose(landmarks, model.landmarks_of(true_map), atol=1e-6)
  assert not np.allclose(start, landmarks, atol=0.1)


def test_faces_outside_the_trained_sizes_keep_their_landmarks():
  import jax
  network = model.AlignerNet((4, 8, 8), 16)
  variables = network.init(jax.random.key(0), np.zeros((1, model.CROP, model.CROP, 3)))
  aligner = model.Aligner(variables, (4, 8, 8), 16, sides=(10.0, 30.0))
  frame = np.zeros((200, 200, 3), np.uint8)
  large = alignment.template_points(60) + 20  # a 60-px face
  (kept,) = aligner.align([(frame, large)])
  np.testing.assert_array_equal(kept, large)


def test_training_resumes_to_the_run_it_would_have_been(tmp_path):
  import shutil
  config = small_config()  # 6 steps, a checkpoint every 3
  whole = train.train(config, str(tmp_path / 'whole'))
  # A run killed after its step-3 checkpoint: the same workdir without what came later.
  shutil.copytree(tmp_path / 'whole', tmp_path / 'killed')
  shutil.rmtree(tmp_path / 'killed' / 'checkpoints' / '6')
  (tmp_path / 'killed' / 'aligner.npz').unlink()
  resumed = train.train(config, str(tmp_path / 'killed'))
  a, _ = model.load(tmp_path / 'whole' / 'aligner.npz')
  b, meta = model.load(tmp_path / 'killed' / 'aligner.npz')
  for key in a['params']:
    for leaf in a['params'][key]:
      np.testing.assert_allclose(a['params'][key][leaf], b['params'][key][leaf], rtol=1e-5,
                                 atol=1e-7)
  assert resumed == whole and meta['steps'] == 6


def test_detector_hands_its_faces_to_the_aligner():
  class Shifting:
    def align(self, faces):
      return [points + 1.0 for _, points in faces]

  detector = Detector('haar', 24, aligner=Shifting())
  face = FoundFace((0, 0, 10, 10), 1.0, alignment.template_points(10), 'haar')
  frame = np.zeros((20, 20, 3), np.uint8)
  (faces,) = detector._aligned([frame], [[face]])
  np.testing.assert_array_equal(faces[0].landmarks, face.landmarks + 1.0)
  assert faces[0].box == face.box


def test_faces_the_aligner_brings_together_are_kept_once():
  """Two detections the aligner moves within a quarter of the aligned side of each other
  are one face (the better-scored kept, the order kept); faces a side apart stay two."""
  template = alignment.template_points(20)  # a 20-px aligned face at the origin

  class Landing:  # moves every face to where its box's corner says
    def align(self, faces):
      return [template + points.min(0).round(-1) for _, points in faces]

  detector = Detector('haar', 24, aligner=Landing())
  face = lambda corner, score: FoundFace((0, 0, 8, 8), score, template + corner + 3.0, 'haar')
  chin, other, loose = face([40, 40], 0.7), face([60, 40], 0.8), face([40, 40], 0.9)
  frame = np.zeros((100, 100, 3), np.uint8)
  (faces,) = detector._aligned([frame], [[chin, other, loose]])
  assert [f.score for f in faces] == [0.8, 0.9]
  side = alignment.aligned_side(faces[0].landmarks)
  assert side == pytest.approx(20.0)
  assert np.linalg.norm(faces[0].landmarks.mean(0) - faces[1].landmarks.mean(0)) == \
      pytest.approx(side)


def test_boxes_onet_turned_down_are_found_when_it_confirms_them_aligned():
  """A doubtful face (O-Net turned its box down) is found when O-Net scores the box drawn
  around its aligned landmarks above CONFIRMED, unless a face found at once is there; one
  scored lower, or of a size the aligner does not correct, is not; each is scored on the
  crop that puts its landmarks where MTCNN's box puts them."""

  class Fitting:  # corrects nothing; fits faces of 10-30 px
    def fits(self, points):
      return 10 <= alignment.aligned_side(points) <= 30

    def align(self, faces):
      return [points for _, points in faces]

  frame = np.random.default_rng(0).integers(0, 256, (200, 200, 3)).astype(np.uint8)
  scored = []

  class Onet:  # a crop whose centre is bright (red) scores 1.0, else 0.5
    thresholds = (0.5, 0.6, 0.6)

    def face_probability(self, crops):
      scored.append(crops)
      return np.array([1.0 if crop[24, 24, 0] > 128 else 0.5 for crop in crops])

  detector = Detector('haar', 24, aligner=Fitting())
  detector._mtcnn = Onet()
  face = lambda corner, score, doubtful, side=20: FoundFace(
      (0, 0, 1, 1), score, alignment.template_points(side) + corner, 'mtcnn', doubtful=doubtful)
  found = face([10, 10], 0.9, False)
  twin = face([12, 11], 0.5, True)  # beside the face found: one face
  confirmed = face([100, 20], 0.3, True)
  turned_down = face([20, 120], 0.4, True)
  too_large = face([100, 100], 0.5, True, side=60)
  for held, bright in ((twin, True), (confirmed, True), (turned_down, False), (too_large, True)):
    centre = np.round(alignment.apply_transform(
        alignment.invert(alignment.similarity_transform(held.landmarks, detection.BOX_TEMPLATE)),
        [[23.5, 23.5]])[0]).astype(int)
    frame[centre[1] - 2:centre[1] + 3, centre[0] - 2:centre[0] + 3, 0] = 255 if bright else 0
  (faces,) = detector._aligned([frame], [[twin, found, confirmed, turned_down, too_large]])
  assert [(f.landmarks.min(), f.score, f.doubtful) for f in faces] == [
      (found.landmarks.min(), 0.9, False), (confirmed.landmarks.min(), 1.0, False)]
  assert len(scored) == 1 and len(scored[0]) == 3  # the twin, confirmed, turned down


def test_the_second_opinion_reads_the_box_mtcnn_draws_around_the_landmarks():
  """Landmarks where FACENET_TEMPLATE puts them in a box (MTCNN's framing, measured in a
  160-px crop of its box) give O-Net that box resampled to its 48-px input: on a linear
  ramp each crop pixel holds the ramp's value at the box pixel it samples, to a tenth of a
  pixel (cv2's bicubic kernel bends a ramp that little)."""
  left, top, side = 31.0, 22.0, 14.0
  size = alignment.FACENET_SIZE
  landmarks = [left, top] + (alignment.FACENET_TEMPLATE + 0.5) * side / size - 0.5
  ramp = np.add.outer(np.arange(80.0), 2 * np.arange(80.0))  # value y + 2x
  crop = alignment.align(np.repeat(ramp[..., None], 3, -1), landmarks, detection.BOX_TEMPLATE,
                         detection.ONET_INPUT)
  at = (np.arange(detection.ONET_INPUT) + 0.5) * side / detection.ONET_INPUT - 0.5
  np.testing.assert_allclose(crop[..., 0], np.add.outer(top + at, 2 * (left + at)), atol=0.3)


def test_the_shipped_aligner_brings_stray_alignments_closer():
  """The file that ships (hash checked), its network and geometry together: on frames of
  drawn faces (not what it trained on) with alignments strayed as training strays them,
  its corrections halve the landmarks' mean error (1.83 -> 0.93 px when recorded)."""
  import hashlib
  from jfsr.aligner import shipped
  data = shipped.SHIPPED_FILE.read_bytes()
  assert hashlib.sha256(data).hexdigest() == shipped.SHIPPED_SHA256
  aligner = shipped.load_aligner()
  config = config_loading.load_config('default', 'configs/aligner.py')
  spec = samples.SampleSpec.from_config(config)
  truths = [SyntheticFaces(16, 128)[i]['hr'] for i in range(16)]
  before, after = [], []
  for i in range(16):
    rng = np.random.default_rng([1, i])
    frame, true_map = samples.render_frame(truths, i, spec, rng)
    start = model.landmarks_of(alignment.compose(samples.drawn_error(spec, rng), true_map))
    (corrected,) = aligner.align([(frame, start)])
    truth = model.landmarks_of(true_map)
    before.append(np.linalg.norm(start - truth, axis=1).mean())
    after.append(np.linalg.norm(corrected - truth, axis=1).mean())
  assert np.mean(after) < 0.7 * np.mean(before)


def test_a_workdir_keeps_its_config_and_a_damaged_examples_file_is_named(tmp_path):
  from jfsr.errors import UsageError
  config = small_config()
  config.train.num_steps, config.train.checkpoint_every_steps = 2, 2
  train.train(config, str(tmp_path))
  other = small_config()
  other.train.learning_rate = 0.5
  with pytest.raises(UsageError, match='another config'):
    train.train(other, str(tmp_path))
  (tmp_path / 'examples.npz').write_bytes(b'not an archive')
  with pytest.raises(UsageError, match='examples.npz cannot be read'):
    train.examples(config, tmp_path)


def test_a_damaged_or_foreign_aligner_file_is_one_clear_error(tmp_path):
  from jfsr.errors import JfsrError
  network = model.AlignerNet((4, 8, 8), 16)
  import jax
  variables = network.init(jax.random.key(0), np.zeros((1, model.CROP, model.CROP, 3)))
  config = {'model': {'widths': [4, 8, 8], 'hidden': 16}, 'samples': {'sides': [10, 30]}}
  good = tmp_path / 'good.npz'
  model.save(variables, {'config': config}, good)
  assert model.Aligner.from_file(good).sides == (10, 30)
  cut = tmp_path / 'cut.npz'
  cut.write_bytes(good.read_bytes()[:-100])
  other = tmp_path / 'other.npz'  # another network's arrays under this config
  model.save(variables, {'config': {**config, 'model': {'widths': [4, 8, 16], 'hidden': 16}}},
             other)
  text = tmp_path / 'text.npz'
  text.write_text('not an archive')
  for path in (cut, other, text, tmp_path / 'missing.npz'):
    with pytest.raises(JfsrError, match=path.name):
      model.Aligner.from_file(path)


def test_a_wide_share_draws_rolls_evenly_over_the_wide_range():
  import dataclasses
  spec = samples.SampleSpec.from_config(small_config())
  assert spec.wide_share == 0.0  # off unless a config asks for it
  wide = dataclasses.replace(spec, wide_share=1.0, wide_roll=60.0)
  roll = lambda matrix: math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
  rolls = np.array([roll(samples.drawn_error(wide, np.random.default_rng(i))) for i in range(400)])
  assert np.abs(rolls).max() <= 60.0 and np.abs(rolls).max() > 55.0
  assert 0.4 < np.mean(np.abs(rolls) > 30.0) < 0.6  # evenly spread: half beyond 30°
  normal = np.array([roll(samples.drawn_error(spec, np.random.default_rng(i))) for i in range(400)])
  assert np.abs(normal).max() <= 3 * spec.roll_error + 1e-9
