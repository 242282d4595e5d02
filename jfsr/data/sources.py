"""Random-access sources of ``{'hr': uint8 (S, S, 3), 'mask': float32 (S, S)}`` records.

* :class:`CelebAMaskHQ`: the official CelebAMask-HQ download layout;
* :class:`FaceFolder`: a plain folder of aligned faces, with an estimated mask;
* :class:`~jfsr.data.synthetic.SyntheticFaces`: drawn faces (no download).

A record that cannot be read is, by default, replaced by the next readable one
and counted, with a warning naming the file (``data.on_bad_record='skip'``);
``'raise'`` stops at the first one instead. Structural problems (a missing
folder, no images, a mask folder that does not match) stop at construction,
naming the path and the expected layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from absl import logging
from PIL import Image
from scipy import ndimage

from jfsr.data import images
from jfsr.errors import JfsrError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
CELEBAMASK_PARTS = ('skin', 'nose', 'eye_g', 'l_eye', 'r_eye', 'l_brow', 'r_brow', 'l_ear',
                    'r_ear', 'mouth', 'u_lip', 'l_lip', 'hair', 'hat', 'ear_r', 'neck_l', 'neck',
                    'cloth')
CELEBAMASK_LAYOUT = ('ROOT/CelebA-HQ-img/{i}.jpg and '
                     'ROOT/CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png')
MAX_REPLACEMENTS = 16


class DataError(JfsrError):
  """The data on disk cannot be used; the message names the path."""


def check_layout(root: Path, name: str) -> tuple[Path, Path]:
  """``root``'s image and part-mask folders, or a :class:`DataError` naming the setting
  (``name``) when either is missing."""
  folders = root / 'CelebA-HQ-img', root / 'CelebAMask-HQ-mask-anno'
  for folder in folders:
    if not folder.is_dir():
      raise DataError(f'{folder} is missing: {name} must hold the official CelebAMask-HQ '
                      f'layout, {CELEBAMASK_LAYOUT}')
  return folders


class _SkippingSource:
  """Shared record access: replace unreadable records by the next one, and count them."""

  on_bad_record = 'skip'
  skipped = 0

  def __len__(self) -> int:
    return len(self._keys)

  def __getitem__(self, position: int) -> dict[str, np.ndarray]:
    for attempt in range(MAX_REPLACEMENTS):
      key = self._keys[(int(position) + attempt) % len(self._keys)]
      try:
        return self._load(key)
      # PIL raises all of these on bad files; a decompression bomb is a bad record too.
      except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        if self.on_bad_record == 'raise':
          raise DataError(f'cannot read {self._describe(key)}: {error}') from None
        self.skipped += 1
        logging.warning('skipping unreadable record %s (%s); %d skipped in this process',
                        self._describe(key), error, self.skipped)
    raise DataError(f'{MAX_REPLACEMENTS} consecutive unreadable records from position '
                    f'{position}; is the data folder intact?')


class CelebAMaskHQ(_SkippingSource):
  """CelebA-HQ images with the face mask built from CelebAMask-HQ part masks.

  Args:
    root: folder holding ``CelebA-HQ-img/`` and ``CelebAMask-HQ-mask-anno/``.
    indices: image numbers of this split.
    size: output side (images: Lanczos; masks: area-weighted, thresholded).
    parts: parts whose union is the face mask.
  """

  def __init__(self, root: str | Path, indices: Sequence[int], size: int,
               parts: Sequence[str], on_bad_record: str = 'skip'):
    self.root = Path(root).expanduser()
    self._keys = list(indices)
    self.size, self.parts, self.on_bad_record = size, tuple(parts), on_bad_record
    unknown = set(self.parts) - set(CELEBAMASK_PARTS)
    if unknown:
      raise DataError(f'unknown CelebAMask-HQ parts {sorted(unknown)}; known: {CELEBAMASK_PARTS}')
    image_dir, mask_dir = check_layout(self.root, 'data.root')
    missing = [i for i in self._keys if not self._image_path(i).is_file()]
    if missing:
      raise DataError(f'{len(missing)} of the {len(self._keys)} images of this split are missing '
                      f'from {image_dir} (first: {self._image_path(missing[0]).name}); '
                      'set data.num_train / data.num_test / data.first_index to fit the data')
    if self._keys and not any((mask_dir / str(self._keys[0] // 2000)).glob(
        f'{self._keys[0]:05d}_*.png')):
      raise DataError(f'no part masks for image {self._keys[0]} in '
                      f'{mask_dir / str(self._keys[0] // 2000)}: the mask folder does not match '
                      f'the images; expected {CELEBAMASK_LAYOUT}')

  def _image_path(self, index: int) -> Path:
    return self.root / 'CelebA-HQ-img' / f'{index}.jpg'

  def _describe(self, index: int) -> str:
    return str(self._image_path(index))

  def _load(self, index: int) -> dict[str, np.ndarray]:
    rgb = images.read_rgb(self._image_path(index))
    mask = None
    folder = self.root / 'CelebAMask-HQ-mask-anno' / str(index // 2000)
    for part in self.parts:
      path = folder / f'{index:05d}_{part}.png'
      if path.is_file():  # a part that is absent from a face has no file
        part_mask = images.read_binary_mask(path)
        mask = part_mask if mask is None else mask | _fit(part_mask, mask.shape)
    if mask is None:
      mask = np.zeros(rgb.shape[:2], bool)
    return {'hr': images.resize_rgb(rgb, self.size), 'mask': images.resize_mask(mask, self.size)}

  def __repr__(self) -> str:
    return f'CelebAMaskHQ({self.root}, {len(self)} images, size={self.size})'


def _fit(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
  """A part mask resampled to the shape of the others (nearest neighbour)."""
  if mask.shape == shape:
    return mask
  return np.asarray(Image.fromarray(mask).resize((shape[1], shape[0]), Image.Resampling.NEAREST))


def estimate_face_mask(rgb: np.ndarray) -> np.ndarray:
  """A face mask for an aligned face without annotations: skin colour inside a face prior.

  Pixels whose YCbCr chroma falls in the usual skin range (Cb 77..127, Cr 133..173)
  and that lie inside an ellipse where aligned faces sit (centre at 55% height,
  half-axes 34% x 28% of the image) form the skin; a morphological closing and a
  hole fill then take in the eyes, brows and mouth that skin surrounds. Where
  fewer than 15% of the ellipse looks like skin (grey photos, unusual light), the
  ellipse itself is used.
  """
  h, w = rgb.shape[:2]
  x = rgb.astype(np.float64)
  cb = 128 - 0.168736 * x[..., 0] - 0.331264 * x[..., 1] + 0.5 * x[..., 2]
  cr = 128 + 0.5 * x[..., 0] - 0.418688 * x[..., 1] - 0.081312 * x[..., 2]
  skin = (cb >= 77) & (cb <= 127) & (cr >= 133) & (cr <= 173)
  yy, xx = np.mgrid[0:h, 0:w]
  ellipse = ((yy - 0.55 * h) / (0.34 * h)) ** 2 + ((xx - 0.5 * w) / (0.28 * w)) ** 2 <= 1
  mask = skin & ellipse
  if mask.sum() < 0.15 * ellipse.sum():
    return ellipse
  radius = max(1, round(0.04 * h))
  disk = np.hypot(*np.mgrid[-radius:radius + 1, -radius:radius + 1]) <= radius
  closed = ndimage.binary_closing(mask, structure=disk, border_value=0)
  return ndimage.binary_fill_holes(closed) & ellipse


class FaceFolder(_SkippingSource):
  """A folder of aligned face crops (FFHQ, CelebA-HQ without masks, a user's own)."""

  def __init__(self, root: str | Path, size: int, first: int, count: int | None,
               on_bad_record: str = 'skip'):
    """Images ``first .. first + count - 1`` of the sorted folder (``count=None``: the rest)."""
    self.root = Path(root).expanduser()
    self.size, self.on_bad_record = size, on_bad_record
    if not self.root.is_dir():
      raise DataError(f'{self.root} is not a folder: data.root must be a folder of face images '
                      f'({", ".join(IMAGE_EXTENSIONS)})')
    files = sorted(p for p in self.root.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
      raise DataError(f'{self.root} holds no images ({", ".join(IMAGE_EXTENSIONS)})')
    count = len(files) - first if count is None else count
    if first + count > len(files):
      raise DataError(f'{self.root} holds {len(files)} images; this split needs images '
                      f'{first}..{first + count - 1}: lower data.num_train / data.num_test')
    self._keys = files[first:first + count]

  def _describe(self, path: Path) -> str:
    return str(path)

  def _load(self, path: Path) -> dict[str, np.ndarray]:
    rgb = images.resize_rgb(images.read_rgb(path), self.size)
    return {'hr': rgb, 'mask': estimate_face_mask(rgb).astype(np.float32)}

  def __repr__(self) -> str:
    return f'FaceFolder({self.root}, {len(self)} images, size={self.size})'
