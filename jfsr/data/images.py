"""Reading face images and masks robustly: odd colour modes, EXIF rotation, 16-bit files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


def read_rgb(path: Path) -> np.ndarray:
  """Any image file as uint8 RGB (EXIF-rotated; grey, palette, RGBA, CMYK, 16-bit converted)."""
  with Image.open(path) as image:
    image = ImageOps.exif_transpose(image)
    if image.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
      array = np.asarray(image, np.float64)
      scale = 65535.0 if array.max() > 255 else 255.0
      grey = np.clip(array / scale * 255.0 + 0.5, 0, 255).astype(np.uint8)
      return np.repeat(grey[..., None], 3, axis=-1)
    if image.mode == 'RGBA' or image.mode == 'LA' or (image.mode == 'P' and 'transparency' in image.info):
      image = image.convert('RGBA')
      background = Image.new('RGBA', image.size, (0, 0, 0, 255))
      image = Image.alpha_composite(background, image)
    return np.asarray(image.convert('RGB'))


def image_size(source) -> tuple[int, int]:
  """``(width, height)`` of an image file (a path or a binary file) from its header, without
  decoding its pixels: how an oversized image is refused before it takes memory."""
  with Image.open(source) as header:
    return header.size


def read_binary_mask(path: Path) -> np.ndarray:
  """A part mask as bool (any non-zero pixel is inside)."""
  with Image.open(path) as image:
    array = np.asarray(image)
  if array.ndim == 3:
    array = array[..., :3].max(axis=-1)
  return array > 0


def resize_rgb(image: np.ndarray, size: int) -> np.ndarray:
  """High-quality (Lanczos, antialiased) square resize of a uint8 RGB image."""
  if image.shape[:2] == (size, size):
    return image
  return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
  """Area-weighted resize of a boolean mask, thresholded at one half: float32 {0, 1}."""
  if mask.shape == (size, size):
    return mask.astype(np.float32)
  resized = Image.fromarray(mask.astype(np.float32), mode='F').resize(
      (size, size), Image.Resampling.BILINEAR)
  return (np.asarray(resized) >= 0.5).astype(np.float32)
