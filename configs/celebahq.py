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
  cpu_x16  the authors' recipe (refcode) at 16² -> 128² with widths / 4 and Keras' VGG16:
           what a 2-core CPU trains in hours (needs --config.data.root)
  cpu_x16_ema  cpu_x16 that also keeps a moving average of the generator (decay 0.998,
           a time constant of 500 steps), which it evaluates and ships: the GAN's
           evaluations swing by +-0.3 dB over a few hundred steps
  cpu_x16_late  cpu_x16_ema at a quarter of the learning rate (5e-5 for all three
           networks), to resume a cpu_x16_ema run with once its curve flattens; tried
           from step 5051 of the shipped model's run, it lowered the average's PSNR
           (docs/training.md): kept as the record of that experiment
  cpu_x16_more  cpu_x16_ema that also trains on a folder of extra faces (give
           --config.data.extra_root; sized for celebahq-extra: its images 100.. are a 0.24
           share of the examples, about their share of 900 + 286 faces, and images 0-99
           are held out for validation): the run's PSNR on its training faces pulled
           away from the test faces' (docs/training.md), so it gets more faces
  cpu_x16_localgan  cpu_x16_ema whose generator no longer answers the global
           discriminator (loss.lambda_global_adv = 0; the global D still trains, and its
           margin is still logged): what cpu_x16_ema did by itself each time its global D
           collapsed (steps 2600-2800 and from 5800), when PSNR and SSIM rose and FID did
           not worsen; to resume a cpu_x16_ema run with
  cpu_x16_continue  cpu_x16_localgan as a fresh run: its generator starts from the
           shipped model cpu-x16 (discriminators and optimizers fresh) and it has no
           global discriminator at all (its term is off, so training one would only cost
           time); how the shipped model is carried on
  cpu_x16_frames  cpu_x16_continue with half of the examples made the frame way
           (data.frame_share = 0.5, jfsr.data.frames) and the extra faces of
           cpu_x16_more: carries the shipped model on for faces inside photos, which
           jfsr.restore meets rolled, resampled and blurred with their frames
  demo     runs anywhere: procedurally drawn faces, 16² -> 128², narrow widths,
           VGG-16 ImageNet weights; a few minutes on a 2-core CPU
  smoke    tiny widths and random VGG weights; a few steps in seconds (tests)

Any field can be overridden: ``--config.train.batch_size=16``.
"""

import ml_collections

from jfsr import config_defaults

VARIANTS = ('default', 'x16', 'gray', 'noise', 'model1', 'model2', 'model3', 'refcode',
            'cpu_x16', 'cpu_x16_ema', 'cpu_x16_late', 'cpu_x16_more', 'cpu_x16_localgan',
            'cpu_x16_continue', 'cpu_x16_frames', 'demo',
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
  elif variant.startswith('cpu_x16'):
    c.data.hr_size, c.data.lr_size = 128, 16
    c.model.ngf = c.model.upsampler_features = c.model.d_features = 16
    c.perceptual.network = 'vgg16'  # torchvision's VGG-19 file cannot be fetched everywhere
    c.train.batch_size = 16
    c.loss.local_d_start_epoch = 0
    c.train.num_steps = 20_000
    c.train.log_every_steps = 25
    c.train.image_every_steps = 250
    c.train.checkpoint_every_steps = 250
    c.train.max_checkpoints_to_keep = 100
    c.eval.every_steps = 250
    if variant != 'cpu_x16':
      c.train.ema_decay = 0.998
    if variant == 'cpu_x16_late':
      c.optimizer.learning_rate = 5e-5
    if variant in ('cpu_x16_more', 'cpu_x16_frames'):
      c.data.extra_weight = 0.24
      c.data.extra_first_index = 100
    if variant in ('cpu_x16_localgan', 'cpu_x16_continue', 'cpu_x16_frames'):
      c.loss.lambda_global_adv = 0.0
    if variant in ('cpu_x16_continue', 'cpu_x16_frames'):
      c.model.use_global_d = False
      c.model.generator_init = 'cpu-x16'
    if variant == 'cpu_x16_frames':
      c.data.frame_share = 0.5
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
    c.eval.fid = False
    c.eval.identity = False
    c.train.batch_size = 4
    c.train.num_steps = 4
    c.train.log_every_steps = 1
    c.train.image_every_steps = 2
    c.train.checkpoint_every_steps = 2
  return c
