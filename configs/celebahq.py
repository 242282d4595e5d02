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

# Each variant: the fields it changes from the paper's setting (config_defaults.base_config).
VARIANTS = {
    'default': {},
    'x16': {'data.hr_size': 128, 'data.lr_size': 16},
    'gray': {'data.grayscale_input': True},
    # The authors' noise notebook: lambda1 = 10.
    'noise': {'model.noise_std': 0.1, 'train.batch_size': 64, 'loss.lambda_l1': 10.0},
    'model1': {'model.use_upsampler': False},
    'model2': {'model.use_global_d': False, 'model.use_local_d': False},
    'model3': {'model.use_local_d': False},
    'refcode': {'train.batch_size': 16, 'loss.local_d_start_epoch': 0},
    'demo': {
        'data.source': 'synthetic', 'data.num_train': 2_000, 'data.num_test': 64,
        'data.hr_size': 128, 'data.lr_size': 16,
        # Drawn faces cost little next to a step: loading in the trainer's own process is as
        # fast here as a worker process, and starts quicker.
        'data.num_workers': 0,
        'eval.fid': False,  # 64 test faces: too few for a meaningful FID
        'eval.identity': False,  # a fresh machine has no FaceNet weights
        'model.ngf': 16, 'model.upsampler_features': 16, 'model.d_features': 16,
        'perceptual.network': 'vgg16', 'loss.local_d_start_epoch': 0,
        'train.batch_size': 4, 'train.num_steps': 300, 'train.log_every_steps': 10,
        'train.image_every_steps': 100, 'train.checkpoint_every_steps': 100,
    },
    'smoke': {
        'data.source': 'synthetic', 'data.num_train': 8, 'data.num_test': 8,
        'data.hr_size': 32, 'data.lr_size': 4, 'data.num_workers': 0,
        'model.ngf': 4, 'model.upsampler_features': 4, 'model.d_features': 4, 'model.d_layers': 2,
        'perceptual.network': 'vgg16', 'perceptual.weights': 'random',
        'perceptual.width_divisor': 16, 'loss.local_d_start_epoch': 1,
        'eval.batch_size': 4,
        'eval.lpips': False,  # tests/test_lpips.py checks it; the other tests stay quick
        'eval.fid': False, 'eval.identity': False,
        'train.batch_size': 4, 'train.num_steps': 4, 'train.log_every_steps': 1,
        'train.image_every_steps': 2, 'train.checkpoint_every_steps': 2,
    },
}


def get_config(variant: str = 'default') -> ml_collections.ConfigDict:
  if variant not in VARIANTS:
    raise ValueError(f'unknown variant {variant!r} of configs/celebahq.py; '
                     f'choose one of: {", ".join(VARIANTS)}')
  c = config_defaults.base_config()
  c.variant = variant
  # New runs: the VGG in bfloat16 on CPUs with matrix units, where it is faster.
  c.perceptual.dtype = 'auto'
  for field, value in VARIANTS[variant].items():
    *sections, name = field.split('.')
    node = c
    for section in sections:
      node = node[section]
    node[name] = value
  return c
