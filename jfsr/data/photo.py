"""The photo degradation family: what real photos do to a face beyond the paper's one formula.

The paper trains on one degradation: Gong et al.'s motion blur at fixed strength, then an
antialiased bicubic shrink. Photos reach users blurred more or less than that, resampled by
whatever kernel their pipeline used, noisy, and saved as JPEG. With probability
``PhotoSpec.share`` an example is degraded the photo way instead (crop or frame mode
alike), each step drawn from the record's own generator:

1. the motion flow's lengths scaled by ``blur_scale`` ~ U(range) (the exact Gong field,
   scaled before its rounding to whole pixels);
2. with ``defocus_prob``, a second blur: a Gaussian of ``defocus_sigma`` LR pixels, over
   the whole picture, after the motion blur;
3. the shrink by a kernel drawn from ``kernels`` (PIL's antialiased bicubic, bilinear, or
   area);
4. with ``noise_prob``, Gaussian sensor noise of ``noise_sigma`` (of 255) per channel;
5. rounding to 8 bits, and with ``jpeg_prob`` a real JPEG round trip (PIL's libjpeg,
   4:2:0 chroma) at a quality drawn from ``jpeg_quality``.

Steps 4-5 act on the small picture, where a camera and a saved file add them. With
``share`` 0 nothing is drawn, so the examples are the paper's bit for bit.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from PIL import Image
from scipy import ndimage

from jfsr import config_defaults, files

KERNELS = dict(zip(config_defaults.PHOTO_KERNELS, (Image.Resampling.BICUBIC, Image.Resampling.BILINEAR,
                                   Image.Resampling.BOX)))


@dataclasses.dataclass(frozen=True)
class PhotoSpec:
  """The family's probabilities and ranges: a config's ``data.photo`` section
  (:func:`jfsr.config_defaults.photo_section` holds the defaults and their meaning)."""
  share: float
  blur_scale: tuple[float, float]
  defocus_prob: float
  defocus_sigma: tuple[float, float]
  kernels: tuple[str, ...]
  noise_prob: float
  noise_sigma: tuple[float, float]
  jpeg_prob: float
  jpeg_quality: tuple[int, int]

  @classmethod
  def from_section(cls, section) -> 'PhotoSpec':
    return config_defaults.spec_from_section(cls, section)

  @classmethod
  def from_config(cls, config) -> 'PhotoSpec':
    return cls.from_section(config.data.photo)

  @classmethod
  def default(cls, **changes) -> 'PhotoSpec':
    """The defaults (share 0: off), with ``changes``."""
    return dataclasses.replace(cls.from_section(config_defaults.photo_section()), **changes)


@dataclasses.dataclass(frozen=True)
class PhotoDraws:
  """What the family does to one example; the defaults are the paper's degradation."""
  blur_scale: float = 1.0
  defocus_sigma: float = 0.0  # LR pixels; 0 = no second blur
  kernel: str = 'bicubic'
  noise_sigma: float = 0.0  # of 255; 0 = no noise
  jpeg_quality: int = 0  # 0 = no JPEG round trip

  @property
  def is_photo(self) -> bool:
    return self != PAPER

  def in_words(self) -> str:
    """A short line of what was drawn (the paper's degradation: 'paper')."""
    if not self.is_photo:
      return 'paper'
    steps = [f'blur x{self.blur_scale:.2f}', self.kernel]
    steps += [f'defocus {self.defocus_sigma:.2f} px'] if self.defocus_sigma else []
    steps += [f'noise {self.noise_sigma:.1f}'] if self.noise_sigma else []
    steps += [f'JPEG {self.jpeg_quality}'] if self.jpeg_quality else []
    return ', '.join(steps)


PAPER = PhotoDraws()


def draw(spec: PhotoSpec, rng: np.random.Generator) -> PhotoDraws:
  """One example's draws, or :data:`PAPER` (no draw at all when ``spec.share`` is 0)."""
  if spec.share <= 0 or rng.random() >= spec.share:
    return PAPER
  blur_scale = rng.uniform(*spec.blur_scale)
  defocus = rng.uniform(*spec.defocus_sigma) if rng.random() < spec.defocus_prob else 0.0
  kernel = spec.kernels[rng.integers(len(spec.kernels))]
  noise = rng.uniform(*spec.noise_sigma) if rng.random() < spec.noise_prob else 0.0
  low, high = spec.jpeg_quality
  quality = int(rng.integers(low, high + 1)) if rng.random() < spec.jpeg_prob else 0
  return PhotoDraws(blur_scale, defocus, kernel, noise, quality)


def defocus(image: np.ndarray, sigma: float) -> np.ndarray:
  """A Gaussian blur of ``sigma`` pixels over each channel of an HxWxC image."""
  if sigma <= 0:
    return image
  return ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0), mode='nearest', truncate=3.0)


def resize(image: np.ndarray, size: int | tuple[int, int], kernel: str = 'bicubic') -> np.ndarray:
  """Antialiased resize of an HxWxC float image to ``size`` x ``size`` or ``(width, height)``
  by PIL's ``kernel`` ('bicubic', 'bilinear' or 'area')."""
  size = (size, size) if isinstance(size, int) else tuple(size)
  channels = [Image.fromarray(image[..., c].astype(np.float32), mode='F')
              .resize(size, KERNELS[kernel]) for c in range(image.shape[-1])]
  return np.stack([np.asarray(c, np.float64) for c in channels], axis=-1)


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
  """An HxWx3 uint8 image saved as JPEG at ``quality`` and decoded again."""
  with Image.open(io.BytesIO(files.encoded(image, 'JPEG', quality=int(quality)))) as decoded:
    return np.asarray(decoded.convert('RGB'))


def finish(small: np.ndarray, draws: PhotoDraws, rng: np.random.Generator) -> np.ndarray:
  """Steps 4-5 on a shrunk HxWx3 image in [0, 1]: noise, 8 bits, JPEG; uint8 out."""
  if draws.noise_sigma > 0:
    small = small + rng.normal(0.0, draws.noise_sigma / 255.0, small.shape)
  pixels = np.round(np.clip(small, 0.0, 1.0) * 255.0).astype(np.uint8)
  return jpeg_round_trip(pixels, draws.jpeg_quality) if draws.jpeg_quality else pixels
