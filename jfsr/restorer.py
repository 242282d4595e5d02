"""``Restorer``: a trained generator loaded once, restoring faces in numpy arrays and frames.

    from jfsr.restorer import Restorer
    restorer = Restorer.from_checkpoint('/runs/celebahq')           # or .../checkpoints/40000
    restorer = Restorer.from_pretrained(NAME)                         # a shipped model
    faces = restorer.restore_crops([crop_a, crop_b])                  # (2, 256, 256, 3) uint8
    frame_out, found = restorer.restore_frame(frame, upscale=8)       # faces found and pasted

Inputs are uint8 RGB of any size (PIL images are accepted too). Crops are
resized to the model's input (32² or 16², by the checkpoint's config) with an
antialiased bicubic filter and restored in batches of ``batch_size``, padded to
that size so the generator compiles once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import jax
import ml_collections
import numpy as np
from PIL import Image

from jfsr import evaluate, faces, images, models


def _as_rgb(image) -> np.ndarray:
  if isinstance(image, Image.Image):
    image = np.asarray(image.convert('RGB'))
  image = np.asarray(image)
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, axis=-1)
  if image.ndim != 3 or image.shape[-1] not in (3, 4) or image.dtype != np.uint8:
    raise ValueError(f'expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}')
  return image[..., :3]


def split_checkpoint_path(path: str | Path) -> tuple[Path, int | None]:
  """``WORKDIR`` or ``WORKDIR/checkpoints/STEP`` -> ``(WORKDIR, STEP or None)``."""
  path = Path(path).expanduser()
  if path.name.isdigit() and path.parent.name == 'checkpoints':
    return path.parent.parent, int(path.name)
  if path.name == 'checkpoints':
    return path.parent, None
  return path, None


class Restorer:
  """A generator with its variables on one device, and the pre/post-processing around it."""

  def __init__(self, config: ml_collections.ConfigDict, variables: dict,
               device: jax.Device | None = None, batch_size: int = 16, step: int | None = None):
    self.config = config
    self.device = device or jax.devices()[0]
    self.batch_size = batch_size
    self.step = step  # the checkpoint's, when loaded from one
    self.variables = jax.device_put(variables, self.device)
    generator = models.build_generator(config)

    def restore(variables, lr):
      out = generator.apply(variables, lr, train=False, rngs={'noise': jax.random.key(0)})
      return images.to_uint8(out['out_sharp'])  # on the device: a quarter of the bytes back
    self._apply = jax.jit(restore)

  @classmethod
  def from_checkpoint(cls, path: str | Path, step: int | None = None,
                      device: jax.Device | None = None, batch_size: int = 16) -> 'Restorer':
    """Loads the generator of a training run: its workdir (latest checkpoint, or ``step``)
    or one checkpoint's directory ``WORKDIR/checkpoints/STEP``."""
    workdir, path_step = split_checkpoint_path(path)
    (step,) = evaluate.resolve_steps(workdir, [step or path_step] if step or path_step else None)
    config = evaluate.saved_config(workdir, step)
    device = device or jax.devices()[0]
    variables = evaluate.restore_generator(config, workdir, step,
                                           jax.sharding.SingleDeviceSharding(device))
    return cls(config, variables, device, batch_size, step)

  @classmethod
  def from_pretrained(cls, name: str, device: jax.Device | None = None,
                      batch_size: int = 16) -> 'Restorer':
    """Loads a shipped generator by NAME (``python -m jfsr.pretrained list``) or a packed
    ``.npz`` file; nothing is downloaded, and its SHA-256 is checked."""
    from jfsr.pretrained import generators
    config, variables, meta = generators.load(name)
    return cls(config, variables, device or jax.devices()[0], batch_size, meta['step'])

  @property
  def lr_size(self) -> int:
    return self.config.data.lr_size

  @property
  def hr_size(self) -> int:
    return self.config.data.hr_size

  @property
  def factor(self) -> int:
    return self.hr_size // self.lr_size

  def _model_input(self, crop: np.ndarray) -> np.ndarray:
    image = Image.fromarray(crop)
    if self.config.data.grayscale_input:
      image = image.convert('L')
    small = np.asarray(image.resize((self.lr_size, self.lr_size), Image.Resampling.BICUBIC),
                       np.float32)
    if small.ndim == 2:
      small = small[..., None]
    return small / 127.5 - 1.0

  def restore_crops(self, crops: Sequence) -> np.ndarray:
    """Face crops (any size, ideally square and framed like CelebA-HQ) -> (n, S, S, 3) uint8."""
    inputs = np.stack([self._model_input(_as_rgb(c)) for c in crops]) if len(crops) else None
    if inputs is None:
      return np.zeros((0, self.hr_size, self.hr_size, 3), np.uint8)
    outputs = []
    for start in range(0, len(inputs), self.batch_size):
      chunk = inputs[start:start + self.batch_size]
      padded = np.concatenate([chunk, np.repeat(chunk[-1:], self.batch_size - len(chunk), 0)])
      result = self._apply(self.variables, jax.device_put(padded, self.device))
      outputs.append(np.asarray(jax.device_get(result))[:len(chunk)])
    return np.concatenate(outputs)

  def restore_frames(self, frames: Sequence, upscale: int = 1, min_size: int = 16,
                     threshold: float = 0.0, margin: float = 0.25, feather: float = 0.1
                     ) -> list[tuple[np.ndarray, list[faces.Face]]]:
    """Detects the faces of each frame, restores them all in shared batches, pastes them back.

    Each output frame is the input resized ``upscale`` times (bicubic) with the
    restored faces blended in; frames without faces come back resized only.
    """
    frames = [_as_rgb(f) for f in frames]
    found = [faces.detect(f, min_size, threshold, margin) for f in frames]
    crops = [faces.crop(f, face) for f, fs in zip(frames, found) for face in fs]
    restored = iter(self.restore_crops(crops))
    results = []
    for frame, frame_faces in zip(frames, found):
      h, w = frame.shape[:2]
      out = frame if upscale == 1 else np.asarray(
          Image.fromarray(frame).resize((w * upscale, h * upscale), Image.Resampling.BICUBIC))
      out = np.array(out)
      for face, patch in zip(frame_faces, [next(restored) for _ in frame_faces]):
        faces.paste(out, patch, face, upscale, feather)
      results.append((out, frame_faces))
    return results

  def restore_frame(self, frame, upscale: int = 1, **detection) -> tuple[np.ndarray, list]:
    """One frame: ``(restored frame, faces found)``; see :meth:`restore_frames`."""
    return self.restore_frames([frame], upscale, **detection)[0]
