"""The generator that ships in the package: its file, its hash, and a golden output."""

import hashlib

import numpy as np

from jfsr.pretrained import generators


def test_every_shipped_model_is_there_with_its_hash():
  assert generators.SHIPPED
  for name, model in generators.SHIPPED.items():
    data = (generators.MODELS_DIR / model.filename).read_bytes()
    assert hashlib.sha256(data).hexdigest() == model.sha256, name
    assert len(data) < 12e6, name


def test_the_shipped_model_restores_a_fixed_input_as_recorded(monkeypatch):
  """Loads by NAME with no network (urllib and pip are made to fail), and restores a fixed
  16x16 gradient to the figures recorded when the model was packed (``python
  tools/golden_output.py`` prints them: the mean colour, the centre and the pixel at (1/8, 3/4)
  of the output)."""
  import subprocess
  import urllib.request
  from jfsr.restoration import Restorer

  def no_network(*args, **kwargs):
    raise AssertionError('a shipped model must load without any download')
  monkeypatch.setattr(urllib.request, 'urlopen', no_network)
  monkeypatch.setattr(subprocess, 'run', no_network)
  restorer = Restorer.from_pretrained('cpu-x16', flip_average=False)  # the generator alone
  assert (restorer.lr_size, restorer.hr_size, restorer.step) == (16, 128, 750)
  # It carried on the model shipped before it (7,750 steps: the authors' recipe, then the
  # local-GAN stage), with frame-mode training.
  config, _, meta = generators.load('cpu-x16')
  assert meta['started_from']['sha256'].startswith('44ccbb38') and meta['steps_in_all'] == 8500
  assert meta['started_from']['steps_in_all'] == 7750 and config.data.frame_share == 0.5
  assert 'manifest' in meta and 'arrays_sha256' in meta
  y, x = np.mgrid[:16, :16]
  crop = np.stack([y * 16, x * 16, (y + x) * 8], -1).astype(np.uint8)
  np.testing.assert_array_equal(generators.golden_input(16), crop)
  out = restorer.restore_crops([crop])[0]
  assert out.shape == (128, 128, 3)
  np.testing.assert_allclose(out.reshape(-1, 3).mean(0), [123.911, 118.361, 124.266], atol=0.3)
  assert np.abs(out[64, 64].astype(int) - [122, 123, 129]).max() <= 2
  assert np.abs(out[16, 96].astype(int) - [38, 184, 86]).max() <= 2


def test_the_photo_model_restores_a_fixed_input_as_recorded():
  """The default model, ``cpu-x16-photos``: by NAME, its lineage (250 steps of the photos
  recipe on top of cpu-x16's file), and the output recorded when it was packed (``python
  tools/golden_output.py --model cpu-x16-photos``)."""
  from jfsr.restoration import Restorer
  assert generators.DEFAULT_MODELS[0] == 'cpu-x16-photos'
  restorer = Restorer.from_pretrained('cpu-x16-photos', flip_average=False)
  assert (restorer.lr_size, restorer.hr_size, restorer.step) == (16, 128, 250)
  config, _, meta = generators.load('cpu-x16-photos')
  assert meta['started_from']['sha256'] == generators.SHIPPED['cpu-x16'].sha256
  assert meta['steps_in_all'] == 8750 and config.data.photo.share == 0.5
  out = restorer.restore_crops([generators.golden_input(16)])[0]
  np.testing.assert_allclose(out.reshape(-1, 3).mean(0), [123.872, 118.498, 122.365], atol=0.3)
  assert np.abs(out[64, 64].astype(int) - [115, 118, 121]).max() <= 2
  assert np.abs(out[16, 96].astype(int) - [34, 181, 83]).max() <= 2


def test_the_32px_model_restores_a_fixed_input_as_recorded():
  """``cpu-x32``, the paper's 32² -> 256²: by NAME, its lineage (300 steps on top of
  cpu-x16-photos grown by one U-Net level), float16 storage within 1/255 of float32's, and
  the output recorded when it was packed (``python tools/golden_output.py --model
  cpu-x32``)."""
  from jfsr.restoration import Restorer
  assert generators.DEFAULT_MODELS == ('cpu-x16-photos', 'cpu-x32')
  restorer = Restorer.from_pretrained('cpu-x32', flip_average=False)
  assert (restorer.lr_size, restorer.hr_size, restorer.step) == (32, 256, 300)
  config, _, meta = generators.load('cpu-x32')
  assert meta['started_from']['sha256'] == generators.SHIPPED['cpu-x16-photos'].sha256
  assert meta['steps_in_all'] == 9050 and config.model.generator_init == 'cpu-x16-photos'
  assert meta['float16_error']['max'] < 1.0  # of 255, measured by pack against float32
  out = restorer.restore_crops([generators.golden_input(32)])[0]
  assert out.shape == (256, 256, 3)
  np.testing.assert_allclose(out.reshape(-1, 3).mean(0), [129.816, 121.002, 125.718], atol=0.3)
  assert np.abs(out[128, 128].astype(int) - [124, 123, 125]).max() <= 2
  assert np.abs(out[32, 192].astype(int) - [39, 183, 101]).max() <= 2


# Five landmarks of the face in scikit-image's ``astronaut`` photo (NASA, public domain), as
# MTCNN places them (refined): a real face that no shipped model trained on.
ASTRONAUT_LANDMARKS = [[203.8, 100.4], [246.4, 103.0], [224.1, 128.0], [200.7, 138.4],
                       [245.1, 140.6]]


def test_the_shipped_model_beats_bicubic_on_a_real_face():
  """The aligned face of a real photo, degraded as the test faces are (six motion blurs,
  fixed seeds): restored, it is closer to the original than bicubic's enlargement, in
  PSNR and SSIM, every time."""
  import skimage.data
  from PIL import Image
  from jfsr.data import degrade, pipeline
  from jfsr.faces import alignment
  from jfsr.metrics import fidelity
  from jfsr.restoration import Restorer
  restorer = Restorer.from_pretrained('cpu-x16')
  hr = restorer.hr_size
  photo = skimage.data.astronaut()
  truth = alignment.warp(photo, alignment.template_transform(
      np.array(ASTRONAUT_LANDMARKS), hr), hr)
  spec = pipeline.eval_degradation(restorer.config)
  gains = []
  for seed in range(6):
    example = degrade.degrade(truth, np.ones((hr, hr), np.float32), spec,
                              np.random.default_rng(seed))
    small = np.round((example['lr'] + 1) * 127.5).astype(np.uint8)
    bicubic = np.asarray(Image.fromarray(small).resize((hr, hr), Image.Resampling.BICUBIC))
    restored = restorer.restore_inputs(small[None])[0]
    ours = fidelity.standard_metrics(truth[None], restored[None])
    theirs = fidelity.standard_metrics(truth[None], bicubic[None])
    gains.append((float(ours['psnr'][0] - theirs['psnr'][0]),
                  float(ours['ssim'][0] - theirs['ssim'][0])))
  assert all(psnr > 0.3 and ssim > 0.02 for psnr, ssim in gains), gains
  assert np.mean([psnr for psnr, _ in gains]) > 0.8, gains
