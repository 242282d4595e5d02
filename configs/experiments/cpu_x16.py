r"""The recipes that trained the shipped model ``cpu-x16``: the authors' code at 16² -> 128²
with a quarter of the widths, on a 2-core CPU (docs/training.md tells how each was used).

    python -m jfsr.main --config configs/experiments/cpu_x16.py:RECIPE --workdir DIR \
        --config.data.root=CELEBAMASK_HQ --config.data.num_train=900 --config.data.num_test=100

  base      the authors' recipe (celebahq.py's refcode: batch 16, both discriminators from
            the start) at 16² -> 128², widths / 4, Keras' VGG16; evaluations and
            checkpoints every 250 steps. Stage 1 of cpu-x16 to step 3844
  ema       base plus a moving average of the generator (decay 0.998), which it evaluates
            and ships. Stage 1 from step 3844 to 6250
  late      ema at a quarter of the learning rate: tried late in stage 1, it lowered PSNR
  more      ema plus a folder of extra faces (--config.data.extra_root; images 100.. of a
            386-face folder, a 0.24 share; images 0-99 held out): it made no difference
  localgan  ema without the global adversarial term (the global D still trains): the branch
            that beat stage 1 after its global discriminator collapsed
  continue  localgan as a fresh run from the shipped cpu-x16, without the global D at all:
            stage 2 of cpu-x16
  frames    continue with half of the examples made the frame way (data.frame_share 0.5)
            and the extra faces of more: carries cpu-x16 on for faces inside photos
  photos    frames with half of the examples, crops and frames alike, degraded as photos
            are (data.photo.share 0.5: blur lengths x 0-2, defocus, shrink kernels, noise,
            JPEG 30-95): carries cpu-x16 on for photos as they come
  compressed  photos carried on from the shipped cpu-x16-photos with three quarters of
            the examples degraded as photos are, most of those saved as JPEG (0.85), at
            half the learning rate: aimed at JPEG photos, where photos gained least
  aligned   photos carried on from the shipped cpu-x16-photos with frame mode's landmark
            errors at the level the aligner leaves (roll 1.5°, scale 3%, shift 1% of the
            side, no per-point jitter) instead of refined MTCNN's, for the sharper
            alignment jfsr.restore now gives: +0.02 dB on held-out faces, not shipped
"""

import ml_collections

from jfsr import config_defaults

RECIPES = ('base', 'ema', 'late', 'more', 'localgan', 'continue', 'frames', 'photos',
           'compressed', 'aligned')


def get_config(recipe: str = 'base') -> ml_collections.ConfigDict:
  if recipe not in RECIPES:
    raise ValueError(f'unknown recipe {recipe!r} of configs/experiments/cpu_x16.py; '
                     f'choose one of: {", ".join(RECIPES)}')
  c = config_defaults.base_config()
  c.variant = 'cpu_x16' if recipe == 'base' else f'cpu_x16_{recipe}'
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
  if recipe != 'base':
    c.train.ema_decay = 0.998
  if recipe == 'late':
    c.optimizer.learning_rate = 5e-5
  if recipe in ('more', 'frames', 'photos', 'compressed', 'aligned'):
    c.data.extra_weight = 0.24
    c.data.extra_first_index = 100
  if recipe in ('localgan', 'continue', 'frames', 'photos', 'compressed', 'aligned'):
    c.loss.lambda_global_adv = 0.0
  if recipe in ('continue', 'frames', 'photos', 'compressed', 'aligned'):
    c.model.use_global_d = False
    c.model.generator_init = 'cpu-x16'
  if recipe in ('frames', 'photos', 'compressed', 'aligned'):
    c.data.frame_share = 0.5
  if recipe in ('photos', 'aligned'):
    c.data.photo.share = 0.5
  if recipe in ('compressed', 'aligned'):  # carried on from cpu-x16-photos
    c.model.generator_init = 'cpu-x16-photos'
    c.train.checkpoint_every_steps = 50
    c.eval.every_steps = 100
    c.eval.identity = False
  if recipe == 'compressed':
    c.data.photo.share = 0.75
    c.data.photo.jpeg_prob = 0.85
    c.optimizer.learning_rate /= 2
  if recipe == 'aligned':
    f = c.data.frames
    f.roll_error, f.scale_error, f.shift_error, f.point_error = 1.5, 0.03, 0.01, 0.0
  return c
