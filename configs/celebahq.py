r"""Yun, Jo and Park (2020): joint 8x face super-resolution and deblurring on CelebA-HQ.

The default is the paper's setting: 32² -> 256², batch 64, lambda1 = 100,
lambda2 = 10, Adam(2e-4, 0.5, 0.999), the global discriminator from the start and
the local (face) discriminator after 200 epochs. Variants:

  python -m jfsr.main --config configs/celebahq.py:VARIANT --workdir DIR

  default  the paper's setting (needs CelebAMask-HQ and the VGG-19 weights)
  x16      16² -> 128²
  gray     grayscale input, colour output (super-resolution + colourisation)
  noise    "w/N": noise N(1, 0.1) added to the input and every activation
  model1   ablation: no five-layer CNN, the U-Net reads a bicubic upsampling
  model2   ablation: no discriminators
  model3   ablation: no local discriminator
  refcode  the authors' code instead of the paper's text: batch 16, local D from the start
  demo     runs anywhere: procedurally drawn faces, 16² -> 128², narrow widths,
           VGG-16 ImageNet weights; a few minutes on a 2-core CPU
  smoke    tiny widths and random VGG weights; a few steps in seconds (tests)

The CPU recipes behind the shipped model are in configs/experiments/cpu_x16.py.
Any field can be overridden: ``--config.train.batch_size=16``.
"""

import ml_collections

from jfsr import config_defaults

VARIANTS = ('default', 'x16', 'gray', 'noise', 'model1', 'model2', 'model3', 'refcode', 'demo',
            'smoke')


def get_config(variant: str = 'default') -> ml_collections.ConfigDict:
  if variant not in VARIANTS:
    raise ValueError(f'unknown variant {variant!r} of configs/celebahq.py; '
                     f'choose one of: {", ".join(VARIANTS)}')
  c = config_defaults.base_config()
  c.variant = variant

  if variant == 'x16':
    c.data.hr_size, c.data.lr_size = 128, 16
  elif variant == 'gray':
    c.data.grayscale_input = True
  elif variant == 'noise':
    c.model.noise_std = 0.1
    c.train.batch_size = 64
    c.loss.lambda_l1 = 10.0  # the authors' noise notebook
  elif variant == 'model1':
    c.model.use_upsampler = False
  elif variant == 'model2':
    c.model.use_global_d = False
    c.model.use_local_d = False
  elif variant == 'model3':
    c.model.use_local_d = False
  elif variant == 'refcode':
    c.train.batch_size = 16
    c.loss.local_d_start_epoch = 0
  elif variant == 'demo':
    c.data.source = 'synthetic'
    c.data.num_train, c.data.num_test = 2_000, 64
    c.data.hr_size, c.data.lr_size = 128, 16
    # Drawn faces cost little next to a step: loading in the trainer's own process is as
    # fast here as a worker process, and starts quicker.
    c.data.num_workers = 0
    c.eval.fid = False  # 64 test faces: too few for a meaningful FID
    c.eval.identity = False  # a fresh machine has no FaceNet weights
    c.model.ngf = 16
    c.model.upsampler_features = 16
    c.model.d_features = 16
    c.perceptual.network = 'vgg16'
    c.loss.local_d_start_epoch = 0
    c.train.batch_size = 4
    c.train.num_steps = 300
    c.train.log_every_steps = 10
    c.train.image_every_steps = 100
    c.train.checkpoint_every_steps = 100
  elif variant == 'smoke':
    c.data.source = 'synthetic'
    c.data.num_train, c.data.num_test = 8, 8
    c.data.hr_size, c.data.lr_size = 32, 4
    c.data.num_workers = 0
    c.model.ngf = 4
    c.model.upsampler_features = 4
    c.model.d_features = 4
    c.model.d_layers = 2
    c.perceptual.network = 'vgg16'
    c.perceptual.weights = 'random'
    c.perceptual.width_divisor = 16
    c.loss.local_d_start_epoch = 1
    c.eval.batch_size = 4
    c.eval.lpips = False  # tests/test_lpips.py checks it; the other tests stay quick
    c.eval.fid = False
    c.eval.identity = False
    c.train.batch_size = 4
    c.train.num_steps = 4
    c.train.log_every_steps = 1
    c.train.image_every_steps = 2
    c.train.checkpoint_every_steps = 2
  return c
