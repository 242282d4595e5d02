r"""The aligner (jfsr.aligner): what it trains on, how long, and what it holds out.

    python -m jfsr.aligner --config configs/aligner.py --workdir DIR \
        --config.data.root=CELEBAMASK_HQ --config.data.extra_root=EXTRA_FACES

Training frames come from the training split of the CelebAMask-HQ layout (its first
``num_train`` images; the test split after them is never read) and from the extra folder's
images from ``extra_first_index`` on; the extra folder's images before it give the
held-out frames the run reports its error on. Variants: ``default`` (the shipped aligner;
about 25 minutes on a 2-core CPU) and ``smoke`` (drawn faces, seconds: tests).
"""

import ml_collections

from jfsr import config_defaults


def get_config(variant: str = 'default') -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.variant = variant
  c.seed = 0
  c.data = ml_collections.ConfigDict()
  c.data.source = 'celebamask_hq'  # 'celebamask_hq' | 'synthetic' (drawn faces: tests)
  c.data.root = ''
  c.data.num_train = 900
  c.data.extra_root = ''
  c.data.extra_first_index = 100
  c.data.hr_size = 128  # the pictures' side before placing (the big frame is 4x it)
  c.data.frames = 24_000  # training frames (each gives samples.per_frame examples)
  c.data.held_out_frames = 400

  s = c.samples = ml_collections.ConfigDict()
  s.sides = (10.0, 30.0)  # the aligned face's side in the photo (pixels)
  s.max_roll = 35.0  # degrees
  s.neighbour_prob = 0.5
  s.blur_length = (2.0, 12.0)  # big-frame pixels, before the photo family's scale
  # The alignments to correct: refined MTCNN on 12-24 px faces strays by about 4-11° of
  # roll, 6% of scale and 0.3-0.7 px (docs/restoration.md); drawn wider than that.
  s.roll_error = 8.0
  s.scale_error = 0.08
  s.shift_error = 1.0
  s.fine_share = 0.2
  # A share of rolls drawn evenly within ±wide_roll° (off in the shipped aligner; its
  # landmarks turn faces that reach it 40-55° off further, docs/restoration.md).
  s.wide_share = 0.0
  s.wide_roll = 60.0
  s.per_frame = 3
  s.photo = config_defaults.photo_section()
  s.photo.blur_scale = (0.0, 2.2)

  c.model = ml_collections.ConfigDict()
  c.model.widths = (24, 48, 64)
  c.model.hidden = 128

  t = c.train = ml_collections.ConfigDict()
  t.batch_size = 64
  t.num_steps = 6_000
  t.learning_rate = 1e-3
  t.weight_decay = 1e-4
  t.log_every_steps = 200
  t.checkpoint_every_steps = 500
  t.workers = 2  # processes rendering the frames

  if variant == 'smoke':
    c.data.source = 'synthetic'
    c.data.num_train, c.data.frames, c.data.held_out_frames = 16, 32, 8
    c.data.hr_size = 64
    c.samples.per_frame = 2
    c.model.widths, c.model.hidden = (4, 8, 8), 16
    t.batch_size, t.num_steps, t.log_every_steps, t.checkpoint_every_steps = 8, 6, 2, 3
    t.workers = 0
  elif variant != 'default':
    raise ValueError(f'unknown aligner variant {variant!r}: default or smoke')
  return c
