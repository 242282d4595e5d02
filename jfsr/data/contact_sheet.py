r"""A contact sheet of degraded training examples, to check the degradation by eye.

    python -m jfsr.data.contact_sheet --config configs/celebahq.py:demo --count 8 --out sheet.png

Rows are examples (the first ``--count`` of the split, each with its own
generator seeded from ``--seed`` and its index); columns: ground truth, face
mask, motion flow (hue = direction, brightness = length, the colour wheel of
optical-flow plots; each row scaled to its own longest vector, printed), blurred
HR, and the LR input (nearest-neighbour enlarged).
"""

from __future__ import annotations

import numpy as np
from absl import flags
from ml_collections import config_flags
from PIL import Image

from jfsr import grids
from jfsr.data import blur, pipeline
from jfsr.data.degrade import DegradationSpec, degrade

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', 'configs/celebahq.py:demo', 'config whose data to show')
flags.DEFINE_integer('count', 8, 'number of examples (rows)')
flags.DEFINE_enum('split', 'train', ['train', 'test'], 'which split to draw from')
flags.DEFINE_integer('seed', 0, 'degradation seed')
flags.DEFINE_string('out', 'contact_sheet.png', 'output PNG')


def flow_to_rgb(flow: np.ndarray) -> tuple[np.ndarray, float]:
  """Hue from the direction, value from the length (scaled to the longest): uint8 RGB."""
  u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
  magnitude = np.hypot(u, v)
  longest = float(magnitude.max())
  hue = (np.arctan2(v, u) / (2 * np.pi)) % 1.0
  value = magnitude / longest if longest > 0 else magnitude
  hsv = np.stack([hue * 255, np.full_like(hue, 255), value * 255], axis=-1).astype(np.uint8)
  return np.asarray(Image.fromarray(hsv, mode='HSV').convert('RGB')), longest


def contact_sheet(config, count: int, split: str = 'train', seed: int = 0) -> tuple[np.ndarray, list]:
  source = pipeline.make_source(config, split)
  spec = DegradationSpec.from_config(config)
  size = config.data.hr_size
  columns = {name: [] for name in ('gt', 'mask', 'flow', 'blurred', 'lr')}
  lengths = []
  for index in range(min(count, len(source))):
    record = source[index]
    example = degrade(record['hr'], record['mask'], spec, np.random.default_rng([seed, index]),
                      with_flow=True)
    flow_rgb, longest = flow_to_rgb(example['flow'])
    magnitude, _ = blur.magnitude_orientation(example['flow'][..., 0], example['flow'][..., 1])
    lengths.append((longest, float(np.median(magnitude))))
    columns['gt'].append(grids.to_uint8(example['hr']))
    columns['mask'].append(grids.to_uint8(example['mask'] * 2 - 1))
    columns['flow'].append(flow_rgb)
    columns['blurred'].append(grids.to_uint8(example['hr_blur']))
    columns['lr'].append(grids.upscale_nearest(grids.to_uint8(example['lr'])[None], size)[0])
  return grids.grid([np.stack(c) for c in columns.values()]), lengths


def main(argv):
  del argv
  sheet, lengths = contact_sheet(FLAGS.config, FLAGS.count, FLAGS.split, FLAGS.seed)
  Image.fromarray(sheet).save(FLAGS.out)
  for row, (longest, median) in enumerate(lengths):
    print(f'row {row}: longest blur {longest:.1f} px, median {median:.1f} px')
  print(f'wrote {FLAGS.out} ({sheet.shape[1]}x{sheet.shape[0]}): columns GT | mask | flow | '
        'blurred HR | LR')


if __name__ == '__main__':
  from jfsr import cli
  cli.run(main, __name__)
