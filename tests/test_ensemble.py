"""Restoring each face several ways and averaging: mirrored, and under nudged alignments."""

import cv2
import numpy as np

from jfsr.config_defaults import base_config
from jfsr.faces import alignment
from jfsr.restoration import ensemble
from jfsr.restoration.restorer import FaceResult, Restorer


def small_config(lr, hr):
  config = base_config()
  config.data.hr_size, config.data.lr_size = hr, lr
  return config


def enlarging_generator(factor):
  """A stand-in generator that only enlarges its input (bilinear): it commutes with small
  warps, so outputs of nudged inputs, warped back, must land on the plain output."""
  def generate(inputs):
    pixels = (inputs + 1) * 127.5
    size = inputs.shape[1] * factor
    return np.stack([np.clip(cv2.resize(x, (size, size), interpolation=cv2.INTER_LINEAR), 0, 255)
                     for x in pixels]).astype(np.uint8)
  return generate


def test_outputs_of_nudged_alignments_are_warped_back_onto_the_first():
  lr, hr = 16, 64
  rng = np.random.default_rng(3)
  noise = cv2.GaussianBlur(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), (0, 0), 1.5)
  frame = cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX)  # smooth, but every nudge shows
  # A face 14 px across, turned 12 degrees, in the middle of the frame.
  a, b = 14 / lr * np.cos(np.radians(12)), 14 / lr * np.sin(np.radians(12))
  face_to_frame = np.array([[a, -b, 12.0], [b, a, 9.0]])
  to_model = alignment.invert(face_to_frame)
  restorer = Restorer(small_config(lr, hr), None, generate=enlarging_generator(4),
                      flip_average=False, alignments=9)
  plan = FaceResult(None, 14.0, True, to_model)
  plan.model_input = alignment.model_input_crop(frame, to_model, lr)
  averaged = restorer.restore_aligned([(frame, plan)])[0].astype(float)
  plain = restorer.restore_inputs(plan.model_input[None])[0].astype(float)
  maps = ensemble.nudges(lr, 9)
  nudged = restorer.restore_inputs(np.stack([alignment.model_input_crop(
      frame, alignment.compose(m, to_model), lr) for m in maps]))
  inner = (slice(8, -8), slice(8, -8))  # away from the crops' edges, which each sees apart
  assert np.abs(averaged - plain)[inner].mean() < 0.6
  # Each nudged output is off by 2-4 levels as it is, and lands on the plain one warped back
  # (an inverted map would put it twice as far off).
  for output, nudge in list(zip(nudged, maps))[1:]:
    assert np.abs(output.astype(float) - plain)[inner].mean() > 1.5
    back = ensemble.average_back(output[None], [nudge], 4).astype(float)
    assert np.abs(back - plain)[inner].mean() < 1.0


def test_one_alignment_is_the_landmarks_own():
  lr, hr = 8, 32
  frame = np.random.default_rng(4).integers(0, 256, (20, 20, 3), dtype=np.uint8)
  to_model = np.array([[1.0, 0.0, -6.0], [0.0, 1.0, -5.0]])
  restorer = Restorer(small_config(lr, hr), None, generate=enlarging_generator(4),
                      flip_average=False, alignments=1)
  plan = FaceResult(None, 8.0, True, to_model)
  plan.model_input = alignment.model_input_crop(frame, to_model, lr)
  np.testing.assert_array_equal(restorer.restore_aligned([(frame, plan)]),
                                restorer.restore_inputs(plan.model_input[None]))
  np.testing.assert_array_equal(ensemble.nudges(lr, 1)[0], np.eye(2, 3))


def test_flip_average_is_the_mean_of_the_face_and_its_mirror_image_restored():
  """With a generator that is not mirror-symmetric (it adds a left-to-right ramp), the
  restored face is the mean of its output and the mirrored output of the mirrored face."""
  config = small_config(8, 32)
  ramp = np.linspace(0, 60, 32, dtype=np.float32)[None, None, :, None]

  def generate(inputs):  # (n, 8, 8, 3) in [-1, 1] -> (n, 32, 32, 3) uint8
    pixels = (inputs + 1) * 127.5
    return np.clip(np.repeat(np.repeat(pixels, 4, 1), 4, 2) * 0.7 + ramp, 0, 255).astype(np.uint8)

  faces = np.random.default_rng(2).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
  restorer = Restorer(config, None, batch_size=4, generate=generate, flip_average=True)
  as_they_are = generate(faces.astype(np.float32) / 127.5 - 1).astype(float)
  mirrored = generate(faces[:, :, ::-1].astype(np.float32) / 127.5 - 1)[:, :, ::-1]
  expected = (as_they_are + mirrored) / 2
  assert np.abs(restorer.restore_inputs(faces) - expected).max() <= 0.5
  assert np.abs(as_they_are - expected).max() > 20  # the two differ: the average is not either
  single = Restorer(config, None, batch_size=4, generate=generate, flip_average=False)
  np.testing.assert_array_equal(single.restore_inputs(faces), as_they_are)


def test_faces_are_averaged_a_batch_at_a_time_with_the_same_result():
  """More faces than ``batch_size``: each group of faces is restored on its own, and every
  face comes out as it does alone."""
  lr, hr = 8, 32
  rng = np.random.default_rng(6)
  frame = cv2.GaussianBlur(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), (0, 0), 1.5)
  restorer = Restorer(small_config(lr, hr), None, batch_size=2, generate=enlarging_generator(4),
                      alignments=5)
  plans = []
  for x, y in [(2, 3), (10, 12), (20, 5), (25, 25), (5, 28)]:
    to_model = np.array([[1.0, 0.0, -x], [0.0, 1.0, -y]])
    plan = FaceResult(None, 8.0, True, to_model)
    plan.model_input = alignment.model_input_crop(frame, to_model, lr)
    plans.append((frame, plan))
  together = restorer.restore_aligned(plans)
  assert together.shape == (5, hr, hr, 3)
  for face, alone in zip(plans, together):
    np.testing.assert_array_equal(restorer.restore_aligned([face])[0], alone)
  assert restorer.restore_aligned([]).shape == (0, hr, hr, 3)


def asymmetric_generator(factor):
  """A stand-in whose output is not mirror-symmetric (a left-to-right ramp added), so that
  the flip average, the nudges and the plain pass all differ."""
  enlarge = enlarging_generator(factor)

  def generate(inputs):
    out = enlarge(inputs).astype(np.int16)
    ramp = np.linspace(0, 60, out.shape[2]).astype(np.int16)[None, None, :, None]
    return np.clip(out + ramp, 0, 255).astype(np.uint8)
  return generate


def test_fidelity_moves_each_face_between_the_single_pass_and_the_averaged_one():
  lr, hr = 16, 64
  frame = cv2.GaussianBlur(np.random.default_rng(8).integers(0, 256, (40, 40, 3), np.uint8),
                           (0, 0), 1.0)
  to_model = alignment.invert(np.array([[0.9, -0.1, 12.0], [0.1, 0.9, 10.0]]))
  plan = FaceResult(None, 14.0, True, to_model)
  plan.model_input = alignment.model_input_crop(frame, to_model, lr)

  def restored(**options):
    restorer = Restorer(small_config(lr, hr), None, generate=asymmetric_generator(4), **options)
    return restorer.restore_aligned([(frame, plan)])[0].astype(float), restorer

  single, at_zero = restored(fidelity=0.0)
  plain, _ = restored(alignments=1, flip_average=False)
  averaged, at_one = restored()
  halfway, at_half = restored(fidelity=0.5)
  np.testing.assert_array_equal(single, plain)
  assert np.abs(averaged - single).mean() > 3
  assert np.abs(halfway - (single + averaged) / 2).max() <= 1
  assert (at_zero.iterations(), at_half.iterations(), at_one.iterations()) == (0, 2, 3)
  assert (at_half.iterations(video=True), at_one.iterations(video=True)) == (0, 1)
  crops = [frame[:16, :16], frame[10:30, 5:25]]
  np.testing.assert_array_equal(
      Restorer(small_config(lr, hr), None, generate=asymmetric_generator(4), fidelity=0.0)
      .restore_crops(crops),
      Restorer(small_config(lr, hr), None, generate=asymmetric_generator(4),
               flip_average=False).restore_crops(crops))
