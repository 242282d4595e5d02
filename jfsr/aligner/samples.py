"""The aligner's examples: a CelebA-HQ picture placed in a frame by a known similarity,
degraded as photos are, and alignments of it drawn around the true one.

Each frame is drawn from its own generator (``(seed, index)``), so a set of examples is
the same however it is split among processes. One frame:

1. the picture (mirrored half the time) turned within ±``max_roll``°, scaled so that its
   aligned face is ``sides`` frame pixels wide, centred near the middle of a textured
   background; with ``neighbour_prob``, one to three other pictures beside it, 1.05-1.5
   faces away (the next faces of a group photo, half-seen at the crop's edge);
2. one linear motion blur over the whole frame, ``blur_length`` big-frame pixels
   times the photo family's blur scale, an 8x shrink by its kernel, its noise and JPEG
   (:mod:`jfsr.data.photo`; every example is drawn the photo way; the family's defocus is
   drawn, keeping its random stream, but not applied: the scenes have one blur);
3. ``per_frame`` alignments, each the true one moved about the input's centre by a roll,
   a log-scale and a shift drawn from normals of ``roll_error`` (degrees),
   ``scale_error`` and ``shift_error`` (model-input pixels), clipped at 3 sigma, or at a
   quarter of those for a ``fine_share`` of them (so that the network also learns the
   last fraction of a pixel), the roll of a ``wide_share`` of them drawn instead evenly
   within ±``wide_roll`` (0: none, and nothing drawn for it); the example is the crop that
   alignment gives and the correction back to the truth.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jfsr.aligner import model
from jfsr.data import photo
from jfsr.faces import alignment
from jfsr.measures import scenes

FACTOR = 8  # the shrink from the big frame to the photo


@dataclasses.dataclass(frozen=True)
class SampleSpec:
  """How examples are drawn: a config's ``samples`` section (configs/aligner.py)."""
  sides: tuple[float, float]
  max_roll: float
  neighbour_prob: float
  blur_length: tuple[float, float]
  roll_error: float
  scale_error: float
  shift_error: float
  fine_share: float
  per_frame: int
  photo: photo.PhotoSpec
  wide_share: float = 0.0
  wide_roll: float = 0.0

  @classmethod
  def from_config(cls, config) -> 'SampleSpec':
    s = config.samples
    return cls(tuple(s.sides), s.max_roll, s.neighbour_prob, tuple(s.blur_length),
               s.roll_error, s.scale_error, s.shift_error, s.fine_share, s.per_frame,
               photo.PhotoSpec.from_section(s.photo), s.wide_share, s.wide_roll)


def render_frame(truths, index: int, spec: SampleSpec, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Frame ``index`` of ``truths`` (HxWx3 uint8 aligned pictures, all one size): the degraded
  frame and its true alignment (frame -> :data:`jfsr.aligner.model.INPUT`-px input)."""
  truth = truths[index % len(truths)]
  truth = truth[:, ::-1] if rng.random() < 0.5 else truth
  hr = truth.shape[0]
  side = 4 * hr
  scale = rng.uniform(*spec.sides) * FACTOR / hr
  roll = rng.uniform(-spec.max_roll, spec.max_roll)
  centre = side / 2 + rng.uniform(-0.1, 0.1, 2) * side
  pictures, maps = [], []
  if rng.random() < spec.neighbour_prob:
    for _ in range(rng.integers(1, 4)):
      angle = rng.uniform(0, 2 * np.pi)
      away = rng.uniform(1.05, 1.5) * scale * hr
      pictures.append(truths[rng.integers(len(truths))])
      maps.append(scenes.face_placement(
          hr, scale * rng.uniform(0.8, 1.25), rng.uniform(-spec.max_roll, spec.max_roll),
          centre + away * np.array([np.cos(angle), np.sin(angle)])))
  pictures.append(truth)
  maps.append(scenes.face_placement(hr, scale, roll, centre))
  draws = photo.draw(dataclasses.replace(spec.photo, share=1.0), rng)
  condition = scenes.Condition(draws.blur_scale, draws.kernel, draws.noise_sigma,
                               draws.jpeg_quality)
  shot = scenes.render_photo(pictures, scenes.textured_background(rng, side), maps,
                             rng.uniform(*spec.blur_length), rng.uniform(0, 180),
                             model.INPUT, FACTOR, condition, rng)
  face_to_frame = shot.scenes[-1].face_to_frame
  true_map = alignment.compose(alignment.pixel_scale(model.INPUT / hr),
                               alignment.invert(face_to_frame))
  return shot.frame, true_map


def drawn_error(spec: SampleSpec, rng: np.random.Generator) -> np.ndarray:
  """A similarity of model-input pixels (2x3) that moves a true alignment the way a
  detector's landmarks stray (module doc, step 3)."""
  fine = 0.25 if rng.random() < spec.fine_share else 1.0
  sigmas = fine * np.array([np.radians(spec.roll_error), spec.scale_error,
                            spec.shift_error, spec.shift_error])
  roll, log_scale, tx, ty = np.clip(rng.normal(0, 1, 4), -3, 3) * sigmas
  if spec.wide_share and rng.random() < spec.wide_share:
    roll = np.radians(rng.uniform(-spec.wide_roll, spec.wide_roll))
  a, b = np.exp(log_scale) * np.cos(roll) - 1, np.exp(log_scale) * np.sin(roll)
  return model.correction_matrix((a, b, tx, ty))


def examples(truths, indices, spec: SampleSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Crops ``(len(indices) * per_frame, CROP, CROP, 3)`` uint8 and their corrections
  ``(.., 4)`` float32 for frames ``indices``."""
  crops, corrections = [], []
  for index in indices:
    rng = np.random.default_rng([seed, int(index)])
    frame, true_map = render_frame(truths, int(index), spec, rng)
    for _ in range(spec.per_frame):
      error = drawn_error(spec, rng)
      crops.append(model.crop(frame, alignment.compose(error, true_map)))
      corrections.append(model.correction_of(alignment.invert(error)))
  return np.stack(crops), np.stack(corrections)
