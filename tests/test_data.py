"""Degradation and pipeline: kernels, flows, blur against a per-pixel reference, determinism."""

import math

import numpy as np
import pytest

from jfsr.data import blur, degrade, pipeline, synthetic


@pytest.mark.parametrize('magnitude, expected', [
    (2, [0.25, 0.5, 0.25]),
    (3, [1 / 3] * 3),
    (6, [1 / 12] + [1 / 6] * 5 + [1 / 12]),
])
def test_line_kernel_sanity_values(magnitude, expected):
  # docs/design.md, "Motion blur": at phi = 0 (c = 1, s = 0) the distance d = l reaches only the centre column,
  # so the weights run down the rows (offset k): a column. At 90 degrees, along a row.
  column = np.asarray(expected)[:, None]
  np.testing.assert_allclose(blur.line_kernel(magnitude, 0.0), column, atol=1e-3)
  np.testing.assert_allclose(blur.line_kernel(magnitude, 90.0), column.T, atol=1e-3)


def test_short_flows_leave_pixels_unchanged():
  assert blur.line_kernel(1.0, 37.0).tolist() == [[1.0]]
  assert blur.line_kernel(0.0, 0.0).tolist() == [[1.0]]


def test_flow_pure_translation():
  draws = np.zeros(8)
  draws[0], draws[1] = 1.0, -0.5  # tx = 27, ty = -13.5
  u, v = blur.flow_from_draws(20, 30, draws)
  assert (u == 27).all() and (v == round(-13.5)).all()


@pytest.mark.parametrize('centre', [(0.1, -0.6), (0.0, 0.0)])
def test_flow_rotation_and_zoom_by_hand(centre):
  # The second centre falls on pixel (20, 24) of the flipped grid, where alpha = atan2(0, 0).
  draws = np.array([0.2, -0.4, 0.5, -0.3, 0.7, 0.9, *centre])
  h, w = 40, 50
  u, v = blur.flow_from_draws(h, w, draws)
  tx, ty, ax, ay = 27 * 0.2, 27 * -0.4, 0.3 * 0.5, 0.3 * -0.3
  tz, theta = 5e-3 * 0.7, math.pi / 70 * 0.9
  c_row, c_col = h / 2 + 15 * centre[0], w / 2 + 15 * centre[1]
  for row, col in [(0, 0), (7, 33), (39, 49), (20, 10), (20, 24)]:
    x, y = col + 1, row + 1
    uu = tx * (1 - ax / 2) + x * ax * tx / w
    vv = ty * (1 - ay / 2) + (h + 1 - y) * ay * ty / h
    r = math.hypot(x - c_col, y - c_row)
    alpha = math.atan2((h + 1 - y) - c_row, x - c_col)
    uu += -math.cos(alpha) * math.tan(theta) * r + math.sin(alpha) * tz * r ** 1.5
    vv += math.sin(alpha) * math.tan(theta) * r + math.cos(alpha) * tz * r ** 1.5
    assert (u[row, col], v[row, col]) == (round(uu), round(vv))


def test_orientation_folds_into_0_180():
  m, phi = blur.magnitude_orientation(np.array([3, -3, 0, 4]), np.array([-3, 3, 5, 0]))
  np.testing.assert_allclose(m, [math.sqrt(18), math.sqrt(18), 5, 4])
  np.testing.assert_allclose(phi, [45, 45, 0, 90])  # (u, v) and (-u, -v) agree


def _per_pixel_blur(image, u, v):
  """The blur formula (docs/design.md) written out per pixel: the straightforward reference."""
  h, w, _ = image.shape
  out = np.empty_like(image)
  m, phi = blur.magnitude_orientation(u, v)
  for i in range(h):
    for j in range(w):
      if m[i, j] <= 1:
        out[i, j] = image[i, j]
        continue
      half = (m[i, j] - 1) / 2
      c, s = math.cos(math.radians(phi[i, j])), math.sin(math.radians(phi[i, j]))
      sx = math.floor(abs(half * c + (-1 if c < 0 else 1) - m[i, j] * blur.EPS))
      sy = math.floor(abs(half * s + 1 - m[i, j] * blur.EPS))
      total, acc = 0.0, np.zeros(image.shape[-1])
      for k in range(-sx, sx + 1):
        for l in range(-sy, sy + 1):
          d = l * c + k * s
          if abs(d) <= 1 and math.hypot(k, l) >= half:
            t = half - abs((k + d * s) / c) if c != 0 else -math.inf
            d = math.hypot(d, t)
          weight = max(0.0, 1 + blur.EPS - abs(d))
          total += weight
          acc += weight * image[min(max(i + k, 0), h - 1), min(max(j + l, 0), w - 1)]
      out[i, j] = acc / total
  return out


@pytest.mark.parametrize('u, v', [(0, 1), (1, 1), (5, 0), (0, -7), (4, 4), (-6, 3), (2, -9)],
                         ids=['short', 'diagonal-short', 'horizontal', 'vertical', 'diagonal',
                              'oblique', 'steep'])
def test_blur_of_a_constant_flow_equals_the_per_pixel_formula(u, v):
  image = np.random.default_rng(0).uniform(size=(12, 14, 3))
  got = blur.motion_blur(image, np.full((12, 14), u), np.full((12, 14), v))
  expected = _per_pixel_blur(image, np.full((12, 14), u), np.full((12, 14), v))
  np.testing.assert_allclose(got, expected, atol=1e-10)


@pytest.mark.parametrize('seed', range(4))
def test_spatially_varying_blur_equals_the_per_pixel_formula(seed):
  rng = np.random.default_rng(seed)
  h, w = 17, 23  # small, so most kernels reach the borders
  image = rng.uniform(size=(h, w, 3))
  u = rng.integers(-11, 12, (h, w))
  v = rng.integers(-11, 12, (h, w))
  u[:3, :3] = 0  # some pixels with m <= 1
  v[:3, :3] = rng.integers(-1, 2, (3, 3))
  got = blur.motion_blur(image, u, v)
  np.testing.assert_allclose(got, _per_pixel_blur(image, u, v), atol=1e-5)


def test_blur_of_a_real_flow_equals_the_per_pixel_formula():
  rng = np.random.default_rng(7)
  image = rng.uniform(size=(40, 40, 3)).astype(np.float32)
  u, v = blur.motion_flow(40, 40, rng)
  got = blur.motion_blur(image, u, v)
  assert got.dtype == np.float32
  np.testing.assert_allclose(got, _per_pixel_blur(image.astype(np.float64), u, v), atol=1e-5)
  gray = blur.motion_blur(image[..., 0], u, v)
  np.testing.assert_allclose(gray, got[..., 0], atol=1e-6)


def test_blur_where_blurs_only_those_pixels():
  # Runs of one kernel start and stop at the edge of `where` and at the image border.
  rng = np.random.default_rng(8)
  image = rng.uniform(size=(30, 33, 3))
  u, v = blur.motion_flow(30, 33, rng)
  where = rng.uniform(size=(30, 33)) < 0.6
  where[10:20] = True
  got = blur.motion_blur(image, u, v, where=where)
  expected = np.where(where[..., None], _per_pixel_blur(image, u, v), image)
  np.testing.assert_allclose(got, expected, atol=1e-10)
  with pytest.raises(ValueError, match='where of shape'):
    blur.motion_blur(image, u, v, where=where[:-1])


def test_feathered_degradation_equals_the_full_blur_composite():
  # degrade blurs only where the feathered mask is nonzero; compositing a blur of every
  # pixel through the same mask gives the same image.
  spec = degrade.DegradationSpec(hr_size=64, lr_size=8, sharp_fraction=0.0, hflip=False)
  hr, mask = synthetic.draw_face(2, 64)
  out = degrade.degrade(hr, mask, spec, np.random.default_rng(3), with_flow=True)
  flow = out['flow']
  soft = degrade.gaussian_feather(mask, spec.mask_feather)[..., None]
  sharp = hr / 255.0
  full = soft * _per_pixel_blur(sharp, flow[..., 0], flow[..., 1]) + (1 - soft) * sharp
  np.testing.assert_allclose(out['hr_blur'], full * 2 - 1, atol=1e-6)
  assert 0.2 < float(np.mean(soft > 0)) < 0.9  # both paths were exercised


def test_synthetic_faces_are_deterministic_and_masked():
  a, mask_a = synthetic.draw_face(3, 64, seed=1)
  b, mask_b = synthetic.draw_face(3, 64, seed=1)
  np.testing.assert_array_equal(a, b)
  assert a.shape == (64, 64, 3) and a.dtype == np.uint8
  assert 0.1 < mask_a.mean() < 0.6  # a face, not the whole image
  assert not np.array_equal(a, synthetic.draw_face(4, 64, seed=1)[0])


def test_degrade_shapes_ranges_and_face_confinement(smoke_config):
  spec = degrade.DegradationSpec(hr_size=64, lr_size=8, sharp_fraction=0.0, hflip=False,
                                 mask_feather=0.0)
  hr, mask = synthetic.draw_face(0, 64)
  out = degrade.degrade(hr, mask, spec, np.random.default_rng(5))
  assert out['lr'].shape == (8, 8, 3) and out['hr'].shape == (64, 64, 3)
  assert out['mask'].shape == (64, 64, 1)
  for key in ('lr', 'hr', 'hr_blur'):
    assert out[key].dtype == np.float32 and -1 <= out[key].min() and out[key].max() <= 1
  outside = mask < 0.5
  np.testing.assert_allclose(out['hr_blur'][outside], out['hr'][outside], atol=1e-6)
  assert np.abs(out['hr_blur'] - out['hr']).max() > 0.05  # the face is blurred
  whole = degrade.degrade(hr, mask, spec.__class__(**{**spec.__dict__, 'blur_region': 'whole'}),
                          np.random.default_rng(5))
  assert np.abs(whole['hr_blur'][outside] - whole['hr'][outside]).max() > 0.05
  zero = degrade.degrade(hr, mask, spec.__class__(**{**spec.__dict__, 'blur_region': 'zero_flow'}),
                         np.random.default_rng(5))
  far_outside = np.ones((64, 64), bool)
  far_outside[(mask > 0.5).any(1)] = False  # rows without any face pixel keep their flow zero
  np.testing.assert_allclose(zero['hr_blur'][far_outside], zero['hr'][far_outside], atol=1e-6)
  gray = degrade.degrade(hr, mask, spec.__class__(**{**spec.__dict__, 'grayscale_input': True}),
                         np.random.default_rng(5))
  assert gray['lr'].shape == (8, 8, 1)


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


@pytest.mark.parametrize('frame_share, photo_share', [(0.0, 0.0), (0.5, 0.0), (0.5, 0.7)])
def test_pipeline_is_identical_with_and_without_workers(smoke_config, frame_share, photo_share):
  smoke_config.data.frame_share = frame_share
  smoke_config.data.photo.share = photo_share
  smoke_config.data.num_workers = 0
  serial = _take(iter(pipeline.make_train_dataset(smoke_config)), 3)
  smoke_config.data.num_workers = 2
  parallel = _take(iter(pipeline.make_train_dataset(smoke_config)), 3)
  for a, b in zip(serial, parallel):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize('frame_share, photo_share', [(0.0, 0.0), (0.5, 0.0), (0.5, 0.7)])
def test_pipeline_resumes_from_a_saved_iterator_state(smoke_config, frame_share, photo_share):
  smoke_config.data.frame_share = frame_share
  smoke_config.data.photo.share = photo_share
  smoke_config.data.num_workers = 0
  iterator = iter(pipeline.make_train_dataset(smoke_config))
  _take(iterator, 2)
  state = iterator.get_state()
  expected = _take(iterator, 2)
  resumed = iter(pipeline.make_train_dataset(smoke_config))
  resumed.set_state(state)
  for a, b in zip(expected, _take(resumed, 2)):
    np.testing.assert_array_equal(a['lr'], b['lr'])


def test_host_shards_concatenate_to_the_one_host_global_batch(smoke_config):
  smoke_config.data.num_workers = 0
  smoke_config.train.batch_size = 4
  whole = _take(iter(pipeline.make_train_dataset(smoke_config)), 2)
  hosts = [_take(iter(pipeline.make_train_dataset(smoke_config, p, 2)), 2) for p in range(2)]
  for step in range(2):
    assert hosts[0][step]['hr'].shape[0] == 2
    for key in whole[step]:
      np.testing.assert_array_equal(
          np.concatenate([hosts[0][step][key], hosts[1][step][key]]), whole[step][key])
