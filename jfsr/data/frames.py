"""Frame-mode degradation: training inputs made the way ``jfsr.restore`` makes its inputs.

Crop mode (:func:`jfsr.data.degrade.degrade`) blurs the aligned face and shrinks it once.
Restoration meets faces differently: a face somewhere in a photo, rolled and of any size,
blurred and shrunk with the whole frame (and stored as 8-bit pixels), then resampled a
second time at the model's input size by the similarity warp onto the template, through
landmarks that a detector placed a few degrees and a few percent off. Per example,
:func:`degrade_frame`:

1. places the aligned HR face into a larger HR frame by a random similarity (roll, scale
   relative to the model's input, a small shift); outside the face crop the frame
   continues the photo mirrored at its edges;
2. blurs the frame with Gong et al.'s motion flow drawn for the frame (the exact line
   kernels of :mod:`jfsr.data.blur`), over the whole frame (``blur_region='whole'``,
   camera shake) or confined to the face as crop mode does;
3. shrinks the frame by the model's factor (antialiased bicubic) and rounds it to uint8;
4. places the five template landmarks through the true transform, perturbs them as the
   detector does at that size (roll, scale, shift and per-point errors), and warps the
   8-bit frame onto the template with :func:`jfsr.faces.alignment.model_input_crop`, the
   function restoration uses.

The targets are the HR face seen through the same transforms: the sharp face, the blurred
frame and the face mask resampled (once each) into the model's output square through
``model input -> frame`` as the warp placed it. Restoration pastes the generator's output
back through exactly that map, so this is the output that lands on the face; with an exact
detector it is the aligned HR crop itself (for a scale-1, unrolled, unshifted face, to the
last bit). Every draw comes from the record's own generator, so seeds fix the examples
whatever the number of workers, and after a resume.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from jfsr import config_defaults
from jfsr.data import blur, photo
from jfsr.data.degrade import LUMA, DegradationSpec, gaussian_feather
from jfsr.faces import alignment


_DEFAULTS = config_defaults.frames_section()  # the defaults live in the config, once


@dataclasses.dataclass(frozen=True)
class FrameSpec:
  """How faces are placed into frames, and how far the detector's landmarks stray: the
  fields of the config's ``data.frames`` (:func:`jfsr.config_defaults.frames_section`, which
  says what each means and holds the defaults). Landmark errors are standard deviations;
  the defaults are the refined MTCNN landmarks' errors on 12-24 px faces (the landmark-error
  table of ``python -m jfsr.measures.in_frames``, docs/restoration.md)."""
  max_roll: float = _DEFAULTS.max_roll
  min_scale: float = _DEFAULTS.min_scale
  max_scale: float = _DEFAULTS.max_scale
  max_shift: float = _DEFAULTS.max_shift
  margin: float = _DEFAULTS.margin
  blur_region: str = _DEFAULTS.blur_region
  roll_error: float = _DEFAULTS.roll_error
  scale_error: float = _DEFAULTS.scale_error
  shift_error: float = _DEFAULTS.shift_error
  point_error: float = _DEFAULTS.point_error

  def __post_init__(self):
    config_defaults.check_choice('data.frames.blur_region', self.blur_region)

  @classmethod
  def from_config(cls, config) -> 'FrameSpec':
    return config_defaults.spec_from_section(cls, config.data.frames)


@dataclasses.dataclass(frozen=True)
class FramePlacement:
  """One face's way into its frame and back: ``face_to_frame`` (HR face -> HR frame pixels),
  the frame's side, and ``to_model`` (small-frame pixels -> model-input pixels, through the
  perturbed landmarks)."""
  face_to_frame: np.ndarray
  frame_side: int
  to_model: np.ndarray
  roll: float
  scale: float


def similarity(scale: float, roll_degrees: float, translation) -> np.ndarray:
  """``[s R(roll) | t]`` as a 2x3 matrix (positive roll turns x towards y)."""
  a = scale * math.cos(math.radians(roll_degrees))
  b = scale * math.sin(math.radians(roll_degrees))
  return np.array([[a, -b, translation[0]], [b, a, translation[1]]], np.float64)


def perturb_landmarks(points: np.ndarray, side: float, spec: FrameSpec,
                      rng: np.random.Generator) -> np.ndarray:
  """``points`` moved as a detector's landmarks stray: turned and scaled about their centre,
  shifted, and each jittered (``side``: the face's side, in the points' pixels)."""
  roll, log_scale = rng.normal(0.0, spec.roll_error), rng.normal(0.0, spec.scale_error)
  shift = rng.normal(0.0, spec.shift_error * side, 2)
  jitter = rng.normal(0.0, spec.point_error * side, points.shape)
  centre = points.mean(0)
  moved = similarity(math.exp(log_scale), roll, (0.0, 0.0))[:, :2]
  return (points - centre) @ moved.T + centre + shift + jitter


def place(spec: FrameSpec, hr_size: int, factor: int, rng: np.random.Generator
          ) -> FramePlacement:
  """Draws a face's roll, scale and shift, the frame that holds it, and its perturbed
  landmarks' transform onto the template."""
  lr_size = hr_size // factor
  roll = rng.uniform(-spec.max_roll, spec.max_roll)
  scale = math.exp(rng.uniform(math.log(spec.min_scale), math.log(spec.max_scale)))
  offset = rng.uniform(-1.0, 1.0, 2) * spec.max_shift * scale * hr_size
  face_side = scale * hr_size  # in HR-frame pixels
  extent = face_side * (abs(math.cos(math.radians(roll))) + abs(math.sin(math.radians(roll))))
  needed = extent + 2 * (spec.margin * face_side + np.abs(offset).max())
  frame_side = factor * math.ceil(needed / factor - 1e-9)
  centre = frame_side / 2 + offset  # the face's centre, in pixel-edge coordinates
  linear = similarity(scale, roll, (0.0, 0.0))[:, :2]
  # Pixel centres: the face's centre (hr/2 - 0.5) lands on the frame's (centre - 0.5).
  translation = centre - 0.5 - linear @ np.full(2, hr_size / 2 - 0.5)
  face_to_frame = np.concatenate([linear, translation[:, None]], axis=1)
  face_to_small = alignment.compose(alignment.pixel_scale(1 / factor), face_to_frame)
  truth = alignment.apply_transform(face_to_small, alignment.template_points(hr_size))
  landmarks = perturb_landmarks(truth, scale * lr_size, spec, rng)
  return FramePlacement(face_to_frame, frame_side,
                        alignment.template_transform(landmarks, lr_size), roll, scale)


def degrade_frame(hr_uint8: np.ndarray, mask: np.ndarray, spec: DegradationSpec,
                  frame_spec: FrameSpec, rng: np.random.Generator,
                  with_frame: bool = False) -> dict[str, np.ndarray]:
  """One training example made the frame way (module docstring); the same keys, shapes and
  ranges as :func:`jfsr.data.degrade.degrade`. ``with_frame`` adds the small uint8 frame
  (``'frame'``), the flow applied (``'flow'``), the placement (``'placement'``) and the photo
  draws (``'draws'``).

  Draws, in order: the flip, the flow's eight epsilons and whether the example stays
  sharp (crop mode's order), then the placement (:func:`place`), then the photo family's
  draws (:mod:`jfsr.data.photo`: none while its share is 0; its noise and JPEG act on the
  small 8-bit frame, as a camera and a saved file do, before the warp onto the template).
  """
  factor = spec.hr_size // spec.lr_size
  hr = hr_uint8.astype(np.float64) / 255.0
  mask = mask.astype(np.float64)
  if spec.hflip and rng.random() < 0.5:
    hr, mask = hr[:, ::-1], mask[:, ::-1]
  flow_draws = blur.flow_draws(rng, spec.blur_setting)
  sharp = rng.random() < spec.sharp_fraction
  placement = place(frame_spec, spec.hr_size, factor, rng)
  draws = photo.draw(spec.photo, rng)
  side = placement.frame_side

  frame = alignment.warp(hr.astype(np.float32), placement.face_to_frame, side, border='reflect')
  frame_mask = alignment.warp(mask.astype(np.float32), placement.face_to_frame, side,
                              border='constant')
  frame, frame_mask = np.clip(frame, 0.0, 1.0).astype(np.float64), np.clip(frame_mask, 0, 1)
  u, v = blur.flow_from_draws(side, side, flow_draws, spec.blur_setting, draws.blur_scale)
  if sharp:
    u, v = np.zeros_like(u), np.zeros_like(v)
    blurred = frame
  elif frame_spec.blur_region == 'whole':
    blurred = blur.motion_blur(frame, u, v)
  elif frame_spec.blur_region == 'feathered':
    soft = gaussian_feather(frame_mask, spec.mask_feather)
    blurred = frame + soft[..., None] * (blur.motion_blur(frame, u, v, where=soft > 0) - frame)
  else:  # 'zero_flow' (the spec holds one of the choices)
    inside = frame_mask > 0.5
    u, v = np.where(inside, u, 0), np.where(inside, v, 0)
    blurred = blur.motion_blur(frame, u, v)
  blurred = photo.defocus(blurred, draws.defocus_sigma * factor)
  small = np.clip(photo.resize(blurred, side // factor, draws.kernel), 0.0, 1.0)
  small_uint8 = photo.finish(small, draws, rng)  # 8 bits (and noise, JPEG if drawn)
  lr = alignment.model_input_crop(small_uint8, placement.to_model, spec.lr_size)
  lr = lr.astype(np.float64) / 255.0
  if spec.grayscale_input:
    lr = lr @ LUMA[:, None]

  # Model output <- model input <- small frame <- HR frame (<- HR face).
  frame_to_output = alignment.compose(alignment.pixel_scale(factor), alignment.compose(
      placement.to_model, alignment.pixel_scale(1 / factor)))
  face_to_output = alignment.compose(frame_to_output, placement.face_to_frame)
  size = spec.hr_size
  hr_out = alignment.warp(hr.astype(np.float32), face_to_output, size, border='reflect')
  mask_out = alignment.warp(mask.astype(np.float32), face_to_output, size, border='constant')
  blur_out = alignment.warp(blurred.astype(np.float32), frame_to_output, size,
                            border='reflect')
  to_signed = lambda x: (np.clip(x, 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)
  example = {'lr': to_signed(lr), 'hr': to_signed(hr_out), 'hr_blur': to_signed(blur_out),
             'mask': (mask_out > 0.5).astype(np.float32)[..., None]}
  if with_frame:
    example.update(frame=small_uint8, flow=np.stack([u, v], axis=-1).astype(np.int32),
                   placement=placement, draws=draws)
  return example
