"""Frame-mode degradation (jfsr.data.frames): inputs made the way restoration makes them."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from jfsr.data import degrade, frames, synthetic
from jfsr.faces import alignment

HR, LR = 64, 8
SPEC = degrade.DegradationSpec(hr_size=HR, lr_size=LR)
NO_ERRORS = dict(roll_error=0.0, scale_error=0.0, shift_error=0.0, point_error=0.0)


@pytest.fixture(scope='module')
def face():
  return synthetic.SyntheticFaces(1, HR, 0)[0]


def test_frame_mode_without_roll_scale_shift_or_noise_is_crop_mode(face):
  """A frame that is the crop itself (no margin), an unmoved face and exact landmarks give
  crop mode's example: the same draws, the same blur; the input differs only by its
  rounding to 8 bits, which frames carry and crop mode's float input does not."""
  still = frames.FrameSpec(max_roll=0, min_scale=1, max_scale=1, max_shift=0, margin=0,
                           blur_region='feathered', **NO_ERRORS)
  for index in range(4):
    crop = degrade.degrade(face['hr'], face['mask'], SPEC, np.random.default_rng([3, index]))
    frame = frames.degrade_frame(face['hr'], face['mask'], SPEC, still,
                                 np.random.default_rng([3, index]))
    # Rounding to 8 bits moves a value by at most half a level: 1/255 in [-1, 1] units.
    assert np.abs(frame['lr'] - crop['lr']).max() <= 1 / 255 + 1e-6
    for key in ('hr', 'hr_blur'):
      np.testing.assert_allclose(frame[key], crop[key], atol=1e-6)
    np.testing.assert_array_equal(frame['mask'], crop['mask'])


def test_with_exact_landmarks_the_target_is_the_aligned_face(face):
  """Rolled, scaled and shifted into a frame and warped back through the true transform, the
  chain lands the face where it was: the target is the aligned HR face, and the sharp
  input is the face shrunk by the factor (within the two resamplings' error)."""
  spec = dataclasses.replace(SPEC, sharp_fraction=1.0, hflip=False)
  placed = frames.FrameSpec(max_roll=30, min_scale=0.7, max_scale=1.5, **NO_ERRORS)
  hr = face['hr'].astype(np.float64) / 127.5 - 1
  shrunk = np.asarray(Image.fromarray(face['hr']).resize((LR, LR), Image.Resampling.BICUBIC),
                      np.float64)
  for index in range(6):
    example = frames.degrade_frame(face['hr'], face['mask'], spec, placed,
                                   np.random.default_rng([4, index]), with_frame=True)
    assert abs(example['placement'].roll) > 0.5  # the face did move
    np.testing.assert_allclose(example['hr'], hr, atol=1e-4)
    inner = (example['mask'][..., 0] == face['mask'][..., 0] if face['mask'].ndim == 3
             else example['mask'][..., 0] == face['mask'])
    assert inner.mean() > 0.995
    lr = (example['lr'] + 1) * 127.5
    # Of 255: two resamplings (a face smaller than the input is enlarged) and rounding;
    # the same input one pixel off is about three times as far.
    error = np.abs(lr - shrunk).mean()
    assert error < 10 and error < 0.6 * np.abs(lr - np.roll(shrunk, 1, axis=1)).mean(), index


def test_noisy_landmarks_move_the_target_with_the_input(face):
  """With detector errors the target follows the warp the input went through (restoration
  pastes the output back through it): it is no longer the aligned face, and it is the
  aligned face resampled through the landmark error."""
  spec = dataclasses.replace(SPEC, sharp_fraction=1.0, hflip=False)
  noisy = frames.FrameSpec(roll_error=8.0, scale_error=0.1, shift_error=0.05, point_error=0.0)
  hr = face['hr'].astype(np.float64) / 127.5 - 1
  example = frames.degrade_frame(face['hr'], face['mask'], spec, noisy,
                                 np.random.default_rng([5, 0]), with_frame=True)
  p = example['placement']
  assert np.abs(example['hr'] - hr).mean() > 0.02
  # The landmark error as a map of the HR face: output <- input <- small <- frame <- face.
  face_to_output = alignment.compose(alignment.pixel_scale(HR // LR), alignment.compose(
      p.to_model, alignment.compose(alignment.pixel_scale(LR / HR), p.face_to_frame)))
  expected = alignment.warp(hr.astype(np.float32), face_to_output, HR, border='reflect')
  np.testing.assert_allclose(example['hr'], np.clip(expected, -1, 1), atol=1e-5)


def test_perturbed_landmarks_have_the_asked_spread():
  spec = frames.FrameSpec(roll_error=4.0, scale_error=0.06, shift_error=0.02, point_error=0.0)
  rng = np.random.default_rng(0)
  points = alignment.template_points(16)
  rolls, scales = [], []
  for _ in range(2000):
    moved = frames.perturb_landmarks(points, 16.0, spec, rng)
    m = alignment.similarity_transform(points, moved)
    rolls.append(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
    scales.append(np.log(np.hypot(m[0, 0], m[1, 0])))
  assert np.std(rolls) == pytest.approx(4.0, rel=0.08)
  assert np.std(scales) == pytest.approx(0.06, rel=0.08)


def test_frame_inputs_are_made_by_restorations_warp(face, monkeypatch):
  """One resampling function for both: frame-mode training and Restorer.prepare call
  alignment.model_input_crop (and nothing else makes a model input)."""
  from jfsr.faces.detection import FoundFace
  from jfsr.restoration import restorer
  calls = []
  original = alignment.model_input_crop

  def spy(frame, to_model, size):
    calls.append(size)
    return original(frame, to_model, size)
  monkeypatch.setattr(alignment, 'model_input_crop', spy)
  frames.degrade_frame(face['hr'], face['mask'], SPEC, frames.FrameSpec(),
                       np.random.default_rng(0))
  assert calls == [LR]
  fake = restorer.Restorer(synthetic_config(), None, generate=lambda inputs: inputs)
  landmarks = alignment.template_points(12)
  fake.prepare([np.zeros((40, 40, 3), np.uint8)], [[FoundFace((0, 0, 12, 12), 1.0, landmarks,
                                                              'truth')]])
  assert calls == [LR, LR]


def synthetic_config():
  from jfsr import config_loading
  config = config_loading.load_config('smoke')
  config.data.hr_size, config.data.lr_size = HR, LR
  return config


def test_frame_settings_are_validated():
  from jfsr import config_loading
  from jfsr.errors import ConfigError
  for field, value in (('frame_share', 1.5), ('frames.min_scale', 0.0),
                       ('frames.blur_region', 'edges'), ('frames.roll_error', float('nan'))):
    config = config_loading.load_config('smoke')
    node, leaf = config.data, field
    if '.' in field:
      node, leaf = config.data.frames, field.split('.')[1]
    node[leaf] = value
    with pytest.raises(ConfigError, match=leaf):
      config_loading.validate(config)
