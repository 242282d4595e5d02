"""PSNR/SSIM against scikit-image, the independent reference, on random and structured images."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from jfsr.data.synthetic import draw_face
from jfsr.metrics import fidelity


def _pairs(seed: int, size: int = 48):
  """(target, prediction) uint8 batches: noise, a drawn face and a degraded copy, near-equal images."""
  rng = np.random.default_rng(seed)
  noise = rng.integers(0, 256, (2, size, size, 3), dtype=np.uint8)
  face = np.stack([draw_face(i, size, seed)[0] for i in range(2)])
  blurred = np.clip(face.astype(np.float32) + rng.normal(0, 12, face.shape), 0, 255).astype(np.uint8)
  dark = (face // 4).astype(np.uint8)  # low contrast: a small pred.max() - pred.min()
  near = np.clip(face.astype(np.int16) + rng.integers(-1, 2, face.shape), 0, 255).astype(np.uint8)
  return [(noise, noise[::-1]), (face, blurred), (face, dark), (face, near)]


def _skimage_standard(x, y):
  return (peak_signal_noise_ratio(x, y, data_range=255),
          structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=255, channel_axis=-1))


def _skimage_paper(x, y):
  x, y = x.astype(np.float64) / 255, y.astype(np.float64) / 255
  data_range = y.max() - y.min()
  return (peak_signal_noise_ratio(x, y, data_range=data_range),
          structural_similarity(x, y, data_range=data_range, win_size=7, channel_axis=-1))


@pytest.mark.parametrize('seed', [0, 1])
def test_standard_psnr_ssim_match_scikit_image(seed):
  for target, pred in _pairs(seed):
    ours = fidelity.standard_metrics(target, pred)
    for i in range(len(target)):
      psnr, ssim = _skimage_standard(target[i], pred[i])
      np.testing.assert_allclose(float(ours['psnr'][i]), psnr, atol=1e-4, rtol=1e-6)
      np.testing.assert_allclose(float(ours['ssim'][i]), ssim, atol=1e-4)


@pytest.mark.parametrize('seed', [0, 1])
def test_paper_protocol_matches_scikit_image(seed):
  for target, pred in _pairs(seed):
    ours = fidelity.paper_metrics(target, pred)
    for i in range(len(target)):
      psnr, ssim = _skimage_paper(target[i], pred[i])
      np.testing.assert_allclose(float(ours['psnr'][i]), psnr, atol=1e-4, rtol=1e-6)
      np.testing.assert_allclose(float(ours['ssim'][i]), ssim, atol=1e-4)


def test_y_channel_and_border_crop_match_scikit_image():
  from skimage.color import rgb2ycbcr
  target, pred = _pairs(3)[1]
  ours = fidelity.standard_metrics(target, pred, y_channel=True, crop_border=4)
  for i in range(len(target)):
    y_t = rgb2ycbcr(target[i])[4:-4, 4:-4, 0]
    y_p = rgb2ycbcr(pred[i])[4:-4, 4:-4, 0]
    np.testing.assert_allclose(float(ours['psnr'][i]),
                               peak_signal_noise_ratio(y_t, y_p, data_range=255), atol=1e-4)
    np.testing.assert_allclose(float(ours['ssim'][i]),
                               structural_similarity(y_t, y_p, gaussian_weights=True, sigma=1.5,
                                                     use_sample_covariance=False, data_range=255),
                               atol=1e-4)


def test_known_values():
  x = np.full((1, 16, 16, 3), 100, np.uint8)
  y = x.copy()
  y[0, 0, 0, 0] = 110  # MSE = 100 / (16 * 16 * 3)
  expected = 10 * np.log10(255.0 ** 2 / (100 / 768))
  np.testing.assert_allclose(float(fidelity.standard_metrics(x, y)['psnr'][0]), expected, rtol=1e-6)
  assert float(fidelity.standard_metrics(x, x)['ssim'][0]) == pytest.approx(1.0, abs=1e-6)
