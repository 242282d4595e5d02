r"""A contact sheet of degraded training examples, to check the degradation by eye.

    python -m jfsr.measures.contact_sheet --config configs/celebahq.py:demo --count 8 --out sheet.png

Rows are examples (the first ``--count`` of the split, each with its own
generator seeded from ``--seed`` and its index); columns: ground truth, face
mask, motion flow (hue = direction, brightness = length, the colour wheel of
optical-flow plots; each row scaled to its own longest vector, printed), blurred
HR, and the LR input (nearest-neighbour enlarged). With ``data.frame_share > 0`` each row
is made the crop or the frame way as training makes it (:mod:`jfsr.data.frames`), and a
last column shows a frame row's small, blurred frame with the model input's square drawn
on it (its flow column is the frame's flow):

    python -m jfsr.measures.contact_sheet --config configs/celebahq.py:demo \
        --config.data.frame_share=1 --out frames.png

Each printed row line ends with what the photo family drew for it (``data.photo.share > 0``,
:mod:`jfsr.data.photo`), or 'paper'.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from jfsr import grids
from jfsr.data import blur, frames, pipeline
from jfsr.data.degrade import DegradationSpec, degrade
from jfsr.faces import alignment


def flow_to_rgb(flow: np.ndarray) -> tuple[np.ndarray, float]:
  """Hue from the direction, value from the length (scaled to the longest): uint8 RGB."""
  u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
  magnitude = np.hypot(u, v)
  longest = float(magnitude.max())
  hue = (np.arctan2(v, u) / (2 * np.pi)) % 1.0
  value = magnitude / longest if longest > 0 else magnitude
  hsv = np.stack([hue * 255, np.full_like(hue, 255), value * 255], axis=-1).astype(np.uint8)
  return np.asarray(Image.fromarray(hsv, mode='HSV').convert('RGB')), longest


def frame_view(frame: np.ndarray, to_model: np.ndarray, lr_size: int, size: int) -> np.ndarray:
  """The small frame enlarged (nearest) into a ``size`` square, the model input's outline
  (the template square mapped back into the frame) drawn on it."""
  import cv2
  scale = size / frame.shape[0]
  view = np.array(Image.fromarray(frame).resize((size, size), Image.Resampling.NEAREST))
  corners = np.array([[-0.5, -0.5], [lr_size - 0.5, -0.5], [lr_size - 0.5, lr_size - 0.5],
                      [-0.5, lr_size - 0.5]])
  outline = alignment.apply_transform(alignment.invert(to_model), corners)
  outline = np.round((outline + 0.5) * scale - 0.5).astype(np.int32)
  cv2.polylines(view, [outline], True, (255, 255, 0), 1)
  return view


def contact_sheet(config, count: int, split: str = 'train', seed: int = 0) -> tuple[np.ndarray, list]:
  source = pipeline.make_source(config, split)
  spec = DegradationSpec.from_config(config)
  frame_spec = frames.FrameSpec.from_config(config)
  size = config.data.hr_size
  names = ['gt', 'mask', 'flow', 'blurred', 'lr'] + (['frame'] if config.data.frame_share else [])
  columns = {name: [] for name in names}
  lengths = []
  for index in range(min(count, len(source))):
    record = source[index]
    rng = np.random.default_rng([seed, index])
    # The same choice, in the same draw, as the training transform (degrade.Degrade).
    if config.data.frame_share and rng.random() < config.data.frame_share:
      example = frames.degrade_frame(record['hr'], record['mask'], spec, frame_spec, rng,
                                     with_frame=True)
      placement = example['placement']
      columns['frame'].append(frame_view(example['frame'], placement.to_model,
                                         config.data.lr_size, size))
    else:
      example = degrade(record['hr'], record['mask'], spec, rng, with_flow=True)
      if 'frame' in columns:
        columns['frame'].append(np.zeros((size, size, 3), np.uint8))
    flow_rgb, longest = flow_to_rgb(example['flow'])
    magnitude, _ = blur.magnitude_orientation(example['flow'][..., 0], example['flow'][..., 1])
    lengths.append((longest, float(np.median(magnitude)), example['draws'].in_words()))
    columns['gt'].append(grids.to_uint8(example['hr']))
    columns['mask'].append(grids.to_uint8(example['mask'] * 2 - 1))
    columns['flow'].append(np.asarray(Image.fromarray(flow_rgb).resize((size, size),
                                                                       Image.Resampling.NEAREST)))
    columns['blurred'].append(grids.to_uint8(example['hr_blur']))
    columns['lr'].append(grids.upscale_nearest(grids.to_uint8(example['lr'])[None], size)[0])
  return grids.grid([np.stack(c) for c in columns.values()]), lengths
