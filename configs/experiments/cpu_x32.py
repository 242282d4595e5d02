r"""The recipe that trains the shipped model ``cpu-x32``: the paper's 32² -> 256² task with
``cpu-x16``'s widths (a quarter of the authors'), on a 2-core CPU (docs/training.md).

    python -m jfsr.main --config configs/experiments/cpu_x32.py --workdir DIR \
        --config.data.root=CELEBAMASK_HQ --config.data.extra_root=EXTRA_FACES \
        --config.data.num_train=900 --config.data.num_test=100

``cpu-x16``'s last recipe (``photos``: no global adversarial term, half of the examples made
the frame way, half degraded as photos are, the extra faces at a 0.24 share) at the paper's
sizes, starting from the default model ``cpu-x16-photos`` grown by one U-Net level
(``jfsr.models.growth``: every layer it has carries over, the new innermost level starts
where it adds nothing). Batch 8 and a moving average of decay 0.99 (a half-life of about 70
steps) suit a run of hundreds of steps, not thousands; checkpoints every 50 steps, a PSNR /
SSIM evaluation every 100 (FID and LPIPS are left to ``jfsr.evaluate`` on the candidates).
The VGG16 runs in bfloat16 on CPUs with matrix units (``perceptual.dtype='auto'``, 1.45x
faster steps on a 2-core CPU with AMX); the shipped ``cpu-x32`` was trained with it in
float32 (its packed config says so).
"""

from pathlib import Path

import ml_collections

from jfsr import config_loading


def get_config() -> ml_collections.ConfigDict:
  c = config_loading.load_config('photos', Path(__file__).with_name('cpu_x16.py'))
  c.variant = 'cpu_x32'
  c.data.hr_size, c.data.lr_size = 256, 32
  c.model.generator_init = 'cpu-x16-photos'
  c.perceptual.dtype = 'auto'
  c.train.batch_size = 8
  c.train.ema_decay = 0.99
  c.train.log_every_steps = 10
  c.train.image_every_steps = 100
  c.train.checkpoint_every_steps = 50
  c.eval.every_steps = 100
  c.eval.fid = c.eval.lpips = c.eval.identity = False
  return c
