"""The photo degradation family (jfsr.data.photo) against independent references: the
examples of the version before it (digests), PIL's own JPEG round trip, block means for the
area kernel, the flow formula by hand, and the noise's spread."""

from __future__ import annotations

import dataclasses
import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from jfsr import config_loading
from jfsr.data import blur, degrade, frames, photo, pipeline
from jfsr.data.degrade import DegradationSpec
from jfsr.errors import ConfigError

# Two batches of four of the pipeline before the photo family existed (sha256 of every array
# in key order, first 16 hex digits): crop mode, frame mode, and drawn faces with real blur.
PAPER_DIGESTS = {('smoke', 0.0): 'a93f40800983cde8', ('smoke', 1.0): '6f56c5a8f0c3ce75',
                 ('demo', 0.0): 'c53ce346aa900137', ('demo', 0.5): '9e792b37594faf9b'}
ALL_STEPS_OFF = dict(share=1.0, blur_scale=(1.0, 1.0), defocus_prob=0.0, kernels=('bicubic',),
                     noise_prob=0.0, jpeg_prob=0.0)


def pipeline_digest(config) -> str:
  iterator = iter(pipeline.make_train_dataset(config))
  digest = hashlib.sha256()
  for _ in range(2):
    batch = next(iterator)
    for key in sorted(batch):
      digest.update(np.ascontiguousarray(batch[key]).tobytes())
  return digest.hexdigest()[:16]


@pytest.mark.parametrize('photo_fields', [{}, ALL_STEPS_OFF], ids=['share 0', 'every step off'])
@pytest.mark.parametrize('variant, frame_share', list(PAPER_DIGESTS))
def test_with_the_family_off_the_examples_are_the_papers_bit_for_bit(variant, frame_share,
                                                                      photo_fields):
  config = config_loading.load_config(variant)
  config.data.frame_share, config.data.num_workers, config.train.batch_size = frame_share, 0, 4
  config.data.photo.update(photo_fields)
  assert pipeline_digest(config) == PAPER_DIGESTS[variant, frame_share]


def face_and_mask(size=64, seed=0):
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[:size, :size] / size
  face = np.stack([np.sin(9 * x + 3 * y), np.cos(7 * y - 2 * x), np.sin(5 * x * y)], -1)
  face = ((face + 1) * 110 + rng.integers(0, 30, face.shape)).astype(np.uint8)
  mask = np.zeros((size, size), np.float32)
  mask[size // 4:3 * size // 4, size // 4:3 * size // 4] = 1
  return face, mask


def spec_with(**photo_fields) -> DegradationSpec:
  fields = {**ALL_STEPS_OFF, **photo_fields}
  return DegradationSpec(hr_size=64, lr_size=16, sharp_fraction=0.0, hflip=False,
                         photo=photo.PhotoSpec.default(**fields))


def test_the_jpeg_step_is_pils_own_round_trip():
  face, mask = face_and_mask()
  plain = degrade.degrade(face, mask, spec_with(), np.random.default_rng(3))
  compressed = degrade.degrade(face, mask, spec_with(jpeg_prob=1.0, jpeg_quality=(40, 40)),
                               np.random.default_rng(3))
  pixels = np.round((plain['lr'].astype(np.float64) + 1) / 2 * 255).astype(np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, 'JPEG', quality=40)
  expected = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
  got = np.round((compressed['lr'].astype(np.float64) + 1) / 2 * 255).astype(np.uint8)
  np.testing.assert_array_equal(got, expected)
  assert np.abs(got.astype(int) - pixels).mean() > 0.5  # a lossy round trip, not a copy
  np.testing.assert_array_equal(compressed['hr_blur'], plain['hr_blur'])  # targets untouched


def test_the_area_kernel_is_the_block_mean():
  image = np.random.default_rng(0).random((32, 48, 3))
  expected = image.reshape(8, 4, 12, 4, 3).mean(axis=(1, 3))
  np.testing.assert_allclose(photo.resize(image, (12, 8), 'area'), expected, atol=1e-6)


def test_blur_scale_scales_the_flow_before_rounding():
  draws = np.array([0.5, -0.3, 0, 0, 0, 0, 0, 0])  # pure translation: tx = 13.5, ty = -8.1
  u, v = blur.flow_from_draws(20, 20, draws, 'strong', scale=2.0)
  assert (np.unique(u), np.unique(v)) == ([27], [-16])
  u, v = blur.flow_from_draws(20, 20, draws, 'strong', scale=0.0)
  assert not u.any() and not v.any()


def test_noise_has_the_drawn_spread_and_lands_on_the_input_only():
  face, mask = face_and_mask(256)
  spec = dataclasses.replace(spec_with(noise_prob=1.0, noise_sigma=(8.0, 8.0)), hr_size=256,
                             lr_size=128)
  plain = degrade.degrade(face, mask, dataclasses.replace(spec, photo=photo.PhotoSpec.default(
      **ALL_STEPS_OFF)), np.random.default_rng(5))
  noisy = degrade.degrade(face, mask, spec, np.random.default_rng(5))
  residual = (noisy['lr'].astype(np.float64) - plain['lr']) / 2 * 255
  assert abs(residual.std() - np.hypot(8.0, 1 / np.sqrt(12))) < 0.3  # noise and 8-bit rounding
  np.testing.assert_array_equal(noisy['hr'], plain['hr'])


def test_defocus_blurs_input_and_blurred_target():
  face, mask = face_and_mask()
  plain = degrade.degrade(face, mask, spec_with(), np.random.default_rng(1))
  soft = degrade.degrade(face, mask, spec_with(defocus_prob=1.0, defocus_sigma=(1.0, 1.0)),
                         np.random.default_rng(1))
  roughness = lambda x: np.abs(np.diff(x, axis=0)).mean()
  assert roughness(soft['hr_blur']) < 0.7 * roughness(plain['hr_blur'])
  assert roughness(soft['lr']) < roughness(plain['lr'])


@pytest.mark.parametrize('frame_share', [0.0, 1.0])
def test_the_family_is_fixed_by_seed_and_index(frame_share):
  face, mask = face_and_mask()
  spec = spec_with(share=0.7, defocus_prob=0.5, kernels=('bicubic', 'bilinear', 'area'),
                   noise_prob=0.5, jpeg_prob=0.5, blur_scale=(0.0, 2.0))
  make = (lambda rng: frames.degrade_frame(face, mask, spec, frames.FrameSpec(), rng)) \
      if frame_share else (lambda rng: degrade.degrade(face, mask, spec, rng))
  first, again = make(np.random.default_rng(11)), make(np.random.default_rng(11))
  for key in first:
    np.testing.assert_array_equal(first[key], again[key])
  others = [make(np.random.default_rng(seed))['lr'] for seed in range(4)]
  assert len({o.tobytes() for o in others}) == 4


def test_draws_cover_the_configured_ranges():
  spec = photo.PhotoSpec.default(share=1.0, jpeg_prob=1.0, jpeg_quality=(30, 95))
  rng = np.random.default_rng(0)
  draws = [photo.draw(spec, rng) for _ in range(400)]
  qualities = [d.jpeg_quality for d in draws]
  assert min(qualities) >= 30 and max(qualities) <= 95 and max(qualities) - min(qualities) > 55
  assert {d.kernel for d in draws} == {'bicubic', 'bilinear', 'area'}
  assert 0.2 < np.mean([d.defocus_sigma > 0 for d in draws]) < 0.4
  assert all(0 <= d.blur_scale <= 2 for d in draws)
  assert photo.draw(photo.PhotoSpec.default(), rng) is photo.PAPER


@pytest.mark.parametrize('field, value', [('share', 1.5), ('jpeg_quality', (90, 30)),
                                          ('jpeg_quality', (0, 50)), ('kernels', ('lanczos',)),
                                          ('blur_scale', (-1.0, 1.0)), ('noise_prob', -0.1)])
def test_bad_family_settings_are_refused(smoke_config, field, value):
  smoke_config.data.photo[field] = value
  with pytest.raises(ConfigError, match=f'data.photo.{field}'):
    config_loading.validate(smoke_config)
