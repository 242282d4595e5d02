"""The per-example degradation: HR face + mask -> (LR input, HR, blurred HR, mask).

Every random choice comes from the ``np.random.Generator`` that grain hands to a
``RandomMap`` for each record, so a seed fixes the examples whatever the number
of workers, and after a resume.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from jfsr import config_defaults
from jfsr.data import blur, photo

# ITU-R BT.601 luma, as PIL's "L" conversion uses.
LUMA = np.array([0.299, 0.587, 0.114])


_DEFAULTS = config_defaults.data_section()  # the defaults live in the config, once


@dataclasses.dataclass(frozen=True)
class DegradationSpec:
  """The degradation's fields of the config's ``data`` section
  (:func:`jfsr.config_defaults.data_section` says what each means and holds the defaults)."""
  hr_size: int
  lr_size: int
  blur_setting: str = _DEFAULTS.blur_setting
  sharp_fraction: float = _DEFAULTS.sharp_fraction
  mask_feather: float = _DEFAULTS.mask_feather
  hflip: bool = _DEFAULTS.hflip
  grayscale_input: bool = _DEFAULTS.grayscale_input
  blur_region: str = _DEFAULTS.blur_region
  # The photo family; its defaults have share 0: the paper's degradation alone.
  photo: photo.PhotoSpec = dataclasses.field(default_factory=photo.PhotoSpec.default)

  def __post_init__(self):
    config_defaults.check_choice('data.blur_region', self.blur_region)

  @classmethod
  def from_config(cls, config) -> 'DegradationSpec':
    return config_defaults.spec_from_section(cls, config.data,
                                             photo=photo.PhotoSpec.from_config(config))


def gaussian_feather(mask: np.ndarray, sigma: float) -> np.ndarray:
  """Separable Gaussian blur of a 2-D mask (replicate borders)."""
  if sigma <= 0:
    return mask.astype(np.float64)
  radius = int(np.ceil(3 * sigma))
  taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
  taps /= taps.sum()
  rows = ndimage.correlate1d(mask.astype(np.float64), taps, axis=0, mode='nearest')
  return ndimage.correlate1d(rows, taps, axis=1, mode='nearest')


def degrade(hr_uint8: np.ndarray, mask: np.ndarray, spec: DegradationSpec,
            rng: np.random.Generator, with_flow: bool = False) -> dict[str, np.ndarray]:
  """One training example, all float32: images in [-1, 1], the mask in {0, 1}.

  Draws, in order: the flip, Gong et al.'s motion flow, whether the example stays
  sharp, then the photo family's draws (:mod:`jfsr.data.photo`; none while its share is
  0). The spatially varying blur is confined to the face as
  ``spec.blur_region`` says: ``'feathered'`` composites the blurred image into
  the sharp one through a Gaussian-softened mask, ``'zero_flow'`` zeroes the flow
  outside the mask, ``'whole'`` blurs everything. ``with_flow`` adds the flow
  that was applied as ``'flow'`` (H, W, 2) int32 and the photo draws as ``'draws'``, for
  inspection.
  """
  hr = hr_uint8.astype(np.float64) / 255.0
  mask = mask.astype(np.float64)
  if spec.hflip and rng.random() < 0.5:
    hr, mask = hr[:, ::-1], mask[:, ::-1]
  flow_draws = blur.flow_draws(rng, spec.blur_setting)
  sharp = rng.random() < spec.sharp_fraction
  draws = photo.draw(spec.photo, rng)
  u, v = blur.flow_from_draws(spec.hr_size, spec.hr_size, flow_draws, spec.blur_setting,
                              draws.blur_scale)
  if sharp:
    u, v = np.zeros_like(u), np.zeros_like(v)
    hr_blur = hr
  elif spec.blur_region == 'feathered':
    soft = gaussian_feather(mask, spec.mask_feather)
    # Where the feathered mask is 0 the composite is the sharp pixel: blur only the rest.
    blurred = blur.motion_blur(hr, u, v, where=soft > 0)
    hr_blur = hr + soft[..., None] * (blurred - hr)
  elif spec.blur_region == 'zero_flow':
    inside = mask > 0.5
    u, v = np.where(inside, u, 0), np.where(inside, v, 0)
    hr_blur = blur.motion_blur(hr, u, v)
  else:  # 'whole' (the spec holds one of the choices)
    hr_blur = blur.motion_blur(hr, u, v)
  factor = spec.hr_size // spec.lr_size
  hr_blur = photo.defocus(hr_blur, draws.defocus_sigma * factor)
  lr = np.clip(photo.resize(hr_blur, spec.lr_size, draws.kernel), 0.0, 1.0)
  if draws.is_photo:
    lr = photo.finish(lr, draws, rng) / 255.0
  if spec.grayscale_input:
    lr = lr @ LUMA[:, None]
  to_signed = lambda x: (x * 2.0 - 1.0).astype(np.float32)
  example = {'lr': to_signed(lr), 'hr': to_signed(hr), 'hr_blur': to_signed(hr_blur),
             'mask': np.ascontiguousarray(mask[..., None], dtype=np.float32)}
  if with_flow:
    example.update(flow=np.stack([u, v], axis=-1).astype(np.int32), draws=draws)
  return example
