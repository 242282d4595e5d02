"""PSNR/SSIM against scikit-image, the independent reference, on random and structured images."""

import math
import warnings

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
@pytest.mark.parametrize('ours_fn, reference_fn', [
    (fidelity.standard_metrics, _skimage_standard), (fidelity.paper_metrics, _skimage_paper)],
    ids=['standard', 'paper'])
def test_psnr_ssim_match_scikit_image(seed, ours_fn, reference_fn):
  for target, pred in _pairs(seed):
    ours = ours_fn(target, pred)
    for i in range(len(target)):
      psnr, ssim = reference_fn(target[i], pred[i])
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


def test_frechet_distance_of_known_gaussians():
  from jfsr.metrics import fid
  rng = np.random.default_rng(0)
  mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
  var1, var2 = rng.uniform(0.5, 2, 6), rng.uniform(0.5, 2, 6)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2))
  got = fid.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
  np.testing.assert_allclose(got, expected, rtol=1e-9)
  # A rotation of both Gaussians leaves the distance unchanged (full covariances).
  q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
  rotated = fid.frechet_distance(q @ mu1, q @ np.diag(var1) @ q.T, q @ mu2, q @ np.diag(var2) @ q.T)
  np.testing.assert_allclose(rotated, expected, rtol=1e-6)


@pytest.mark.parametrize('samples', [200, 8])  # full-rank and singular covariances
def test_frechet_distance_equals_the_matrix_square_root_formula(samples):
  """Against the textbook computation (scipy's general matrix square root of the
  product) on covariances that do not commute."""
  import scipy.linalg
  from jfsr.metrics import fid
  rng = np.random.default_rng(2)
  a = rng.normal(size=(samples, 24)) @ rng.normal(size=(24, 24))
  b = rng.normal(size=(samples, 24)) @ rng.normal(size=(24, 24)) + 0.5
  (mu1, sigma1), (mu2, sigma2) = fid.gaussian(a), fid.gaussian(b)
  covmean = np.real(scipy.linalg.sqrtm(sigma1 @ sigma2))
  expected = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2 - 2 * covmean)
  np.testing.assert_allclose(fid.frechet_distance(mu1, sigma1, mu2, sigma2), expected, rtol=1e-6)
  np.testing.assert_allclose(fid.fid(a, b), expected, rtol=1e-6)  # fewer rows than columns: SVD
  np.testing.assert_allclose(fid.fid(a[:samples - 3], b), fid.frechet_distance(
      *fid.gaussian(a[:samples - 3]), mu2, sigma2), rtol=1e-6)  # unequal counts


def test_fid_of_samples():
  from jfsr.metrics import fid
  rng = np.random.default_rng(1)
  a = rng.normal(size=(4000, 3))
  assert abs(fid.fid(a, a)) < 1e-9
  shifted = fid.fid(a, a + np.array([1.0, 0.0, 2.0]))
  np.testing.assert_allclose(shifted, 5.0, rtol=1e-6)


def _evaluate_untrained_generator(config):
  """The evaluator's results for a freshly initialised generator, and (independently) the
  test batch and the generator's outputs on it: ``(evaluator, results, batch, outputs)``."""
  import jax
  import jax.numpy as jnp
  from jfsr import evaluate, models, train_step
  from jfsr.data import pipeline
  generator_variables = jax.jit(lambda k: models.init_variables(config, k)['generator'])(
      jax.random.key(0))
  sharding = train_step.replicated(train_step.make_mesh(jax.devices()[:1]))
  evaluator = evaluate.Evaluator(config, sharding)
  results, _ = evaluator.run(dict(generator_variables))
  batch = pipeline.make_eval_batch(config, config.eval.num_images)
  generator = models.build_generator(config)
  outputs = jax.jit(lambda v, lr: generator.apply(v, lr, train=False, rngs={
      'noise': jax.random.key(0)}))(generator_variables, jnp.asarray(batch['lr']))
  return evaluator, results, batch, outputs


def _frechet_in_the_span(a, b):
  """FID from two small feature sets, written independently of jfsr.metrics.fid: both
  covariances live in the span of the centred features (a few dimensions of the 2048),
  so the textbook formula (scipy's matrix square root) is applied there."""
  import scipy.linalg
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  mean_a, mean_b = a.mean(0), b.mean(0)
  basis, _ = np.linalg.qr(np.concatenate([a - mean_a, b - mean_b]).T)  # (2048, n_a + n_b)
  cov_a = np.cov((a - mean_a) @ basis, rowvar=False)
  cov_b = np.cov((b - mean_b) @ basis, rowvar=False)
  with warnings.catch_warnings():  # 4 images: singular covariances, as FID's always are
    warnings.simplefilter('ignore', scipy.linalg.LinAlgWarning)
    covmean = np.real(scipy.linalg.sqrtm(cov_a @ cov_b))
  return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * covmean))


def test_evaluator_fid_matches_a_direct_computation(smoke_config, monkeypatch):
  """The evaluator's FID (batches, feature accumulation, Fréchet distance) against one
  computed here from whole image sets: the Inception network applied directly to the
  documented input (299² bilinear, (x - 128) / 128) and the distance in the features' span.
  FID Inception weights are the seeded random ones of the port's fixture (the port
  itself is tested in test_pretrained)."""
  import sys
  from pathlib import Path
  import jax
  import jax.numpy as jnp
  from jfsr import grids
  from jfsr.models.inception import FIDInception
  from jfsr.pretrained import fid_weights
  sys.path.insert(0, str(Path(__file__).parent / 'fixtures'))
  import inception_random
  inception_variables = fid_weights.convert(inception_random.random_attributes(seed=0))
  monkeypatch.setattr(fid_weights, 'load_inception', lambda: inception_variables)

  config = smoke_config
  config.eval.fid, config.eval.batch_size, config.eval.num_images = True, 2, 4
  _, results, batch, outputs = _evaluate_untrained_generator(config)

  @jax.jit
  def inception_features(variables, x):
    x = jax.image.resize(x, (x.shape[0], 299, 299, 3), 'bilinear')
    return FIDInception().apply(variables, (x - 128.0) / 128.0)

  def features(images_uint8):
    x = jnp.asarray(np.asarray(images_uint8), jnp.float32)
    return np.asarray(inception_features(inception_variables, x))
  target = features(grids.to_uint8(jnp.asarray(batch['hr'])))
  model = features(grids.to_uint8(outputs['out_sharp']))
  np.testing.assert_allclose(results['model']['fid'], _frechet_in_the_span(model, target),
                             rtol=1e-3)
  assert results['bicubic']['fid'] > 0


# --- face recognition ---------------------------------------------------------

def _identity_reference(probe, probe_found, gallery, gallery_found, distance):
  """The identity metrics one test face at a time, with plain Python loops."""
  judged = [i for i in range(len(gallery)) if gallery_found[i]]
  if distance == 'euclidean':
    measure = lambda p, g: math.sqrt(sum((a - b) ** 2 for a, b in zip(p, g)))
  else:
    measure = lambda p, g: sum(abs(a - b) for a, b in zip(p, g))
  similarities, own, rank1, accepted = [], [], 0, {60: 0, 70: 0, 80: 0}
  for i in judged:
    if not probe_found[i]:
      continue
    distances = {j: measure(probe[i], gallery[j]) for j in judged}
    similarities.append(sum(a * b for a, b in zip(probe[i], gallery[i])))
    own.append(distances[i])
    rank1 += min(distances, key=distances.get) == i
    for t in accepted:
      accepted[t] += distances[i] < t / 100
  n = len(judged)
  return {'id_distance': np.mean(own), 'id_similarity': np.mean(similarities), 'id_rank1': rank1 / n,
          **{f'id_acc_d{t}': accepted[t] / n for t in accepted},
          'id_missed': sum(not probe_found[i] for i in judged)}


def _unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.mark.parametrize('distance', ['euclidean', 'l1'])
def test_identity_scores_match_a_loop_reference(distance):
  from jfsr.metrics import identity
  rng = np.random.default_rng(3)
  gallery = _unit(rng.normal(size=(12, 8)))
  # Probes from near copies to strangers: distances spread over the thresholds.
  scale = 0.15 if distance == 'euclidean' else 0.05
  probe = _unit(gallery + rng.uniform(0.1, 6, (12, 1)) * scale * rng.normal(size=(12, 8)))
  probe_found = np.array([True] * 9 + [False] * 3)
  gallery_found = np.array([True] * 10 + [False, True])
  ours = identity.identity_scores(probe, probe_found, gallery, gallery_found, distance)
  reference = _identity_reference(probe, probe_found, gallery, gallery_found, distance)
  assert ours.keys() == reference.keys() == set(identity.METRICS)
  for name in reference:
    np.testing.assert_allclose(ours[name], reference[name], rtol=1e-12, err_msg=name)
  # The data exercises the thresholds; a larger distance limit accepts more (Table 2's order).
  assert 0 < ours['id_acc_d60'] < ours['id_acc_d80'] < 1, ours
  assert ours['id_missed'] == 2  # the probe of the face with no ground-truth detection is not judged


def test_identity_ground_truth_as_probe_scores_everything_and_swaps_score_chance():
  from jfsr.metrics import identity
  rng = np.random.default_rng(5)
  n = 40
  gallery = _unit(rng.normal(size=(n, 16)))
  found = np.ones(n, bool)
  perfect = identity.identity_scores(gallery, found, gallery, found)
  assert perfect['id_rank1'] == 1.0 and perfect['id_distance'] == 0.0
  assert all(perfect[f'id_acc_d{t}'] == 1.0 for t in (60, 70, 80))
  # Accuracy never falls as the distance limit grows, whatever the probes.
  noisy = _unit(gallery + 0.2 * rng.normal(size=gallery.shape))
  scores = identity.identity_scores(noisy, found, gallery, found)
  assert scores['id_acc_d60'] <= scores['id_acc_d70'] <= scores['id_acc_d80']
  # Every probe of another person (identities shifted by one): rank-1 and acceptance at
  # chance level (1/n) or below.
  swapped = identity.identity_scores(np.roll(noisy, 1, axis=0), found, gallery, found)
  assert swapped['id_rank1'] <= 1 / n and swapped['id_acc_d80'] <= 1 / n


def test_face_crops_count_images_without_a_face():
  from jfsr.data.synthetic import draw_face
  from jfsr.metrics import identity
  face = draw_face(0, 128, 0)[0]
  crops, found = identity.face_crops(np.stack([face, np.full_like(face, 128)]))
  assert found.tolist() == [True, False]
  assert crops.shape == (2, 160, 160, 3) and crops.dtype == np.uint8
  assert crops[0].std() > 10 and not crops[1].any()


def test_crop_box_clips_to_the_image():
  from jfsr.metrics import identity
  image = np.arange(10 * 12 * 3).reshape(10, 12, 3)
  np.testing.assert_array_equal(identity.crop_box(image, (-3.5, 2.9, 5.2, 20.0)), image[2:10, 0:5])
  assert identity.crop_box(image, (13.0, 0.0, 20.0, 5.0)) is None


def test_evaluator_identity_matches_a_direct_computation(smoke_config, monkeypatch):
  """The evaluator's face-recognition figures against ones computed here from whole image
  sets, with the small Keras-written FaceNet of the port's fixture. The smoke config's 32x32
  faces are too small for a detector, so the Haar cascade is replaced by one that finds a
  face in the middle of an image unless its pixel sum is a multiple of 3 (a rule of the
  image alone, so both computations agree): some ground truths and some outputs go
  undetected, and the missed-face paths run (test_face_crops_* and the MTCNN tests in
  test_pretrained cover the real detectors)."""
  from pathlib import Path
  from jfsr import evaluate, faces, grids
  from jfsr.metrics import identity
  from jfsr.pretrained import facenet_weights
  monkeypatch.setattr(faces, 'detect', lambda image, **_: (
      [] if int(np.asarray(image, np.int64).sum()) % 3 == 0 else [faces.Face(4, 6, 24, 1.0)]))
  tiny = Path(__file__).parent / 'fixtures' / 'facenet_tiny.h5'
  load_facenet = facenet_weights.load_facenet
  monkeypatch.setattr(facenet_weights, 'load_facenet', lambda: load_facenet(tiny))

  config = smoke_config
  config.eval.identity, config.eval.batch_size, config.eval.num_images = True, 3, 6
  config.eval.face_detector = 'haar'
  _, results, batch, outputs = _evaluate_untrained_generator(config)
  network, variables = load_facenet(tiny)

  def embed(images_uint8):
    crops, found = identity.face_crops(np.asarray(images_uint8), identity.haar_face)
    return np.asarray(identity.embed(network, variables, crops)), found

  gallery, gallery_found = embed(grids.to_uint8(batch['hr']))
  expected = identity.identity_scores(*embed(grids.to_uint8(outputs['out_sharp'])), gallery,
                                      gallery_found)
  # Both kinds of miss happened: a ground truth (that face is not judged) and an output.
  assert results['gallery_missed'] == int((~gallery_found).sum()) > 0
  assert results['model']['id_missed'] > 0
  assert np.isfinite(results['model']['id_similarity'])
  for name, value in expected.items():
    np.testing.assert_allclose(results['model'][name], value, rtol=1e-4, err_msg=name)
  assert set(identity.METRICS) <= set(results['bicubic'])
  rows = evaluate.table_rows(results)
  assert 'id_rank1' in rows[0] and len(rows) == 3
