"""Restoring faces in frames, folders and videos: the Restorer API and ``python -m jfsr.restore``."""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jfsr.data.synthetic import draw_face

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
  """A smoke run's workdir with one checkpoint (an untrained generator restores just as well)."""
  import jax
  from jfsr import checkpointing, config_loading
  from jfsr.data import pipeline
  from jfsr.train_state import create_train_state
  config = config_loading.load_config('smoke')
  workdir = tmp_path_factory.mktemp('restore') / 'run'
  state = jax.jit(lambda key: create_train_state(config, key))(jax.random.PRNGKey(0))
  mngr = checkpointing.manager(workdir, 2)
  checkpointing.save(mngr, 3, state, iter(pipeline.make_train_dataset(config)), config)
  mngr.wait_until_finished()
  return workdir


def framed_face(index=0, size=96, frame_shape=(240, 320)):
  """A drawn face (one OpenCV's cascade finds) in a larger grey frame."""
  face, _ = draw_face(index, size)
  frame = np.full((*frame_shape, 3), 90, np.uint8)
  frame[60:60 + size, 100:100 + size] = face
  return frame


def run_restore(*args, check=True, env_path=None):
  """``python -m jfsr.restore ARGS``; ``env_path`` replaces PATH (e.g. to hide ffmpeg)."""
  command = [sys.executable, '-m', 'jfsr.restore', *map(str, args)]
  env = {**os.environ, 'PATH': env_path} if env_path else None
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=env)
  if check:
    assert result.returncode == 0, result.stderr[-3000:]
  return result


def _similarity(angle_deg, scale, tx, ty):
  a, b = scale * np.cos(np.radians(angle_deg)), scale * np.sin(np.radians(angle_deg))
  return np.array([[a, -b, tx], [b, a, ty]])


def test_paste_changes_only_the_pixels_under_the_face_ellipse():
  from jfsr.faces import alignment, blend
  rng = np.random.default_rng(0)
  frame = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
  before = frame.copy()
  size = 32
  # frame -> face: rotated 30 degrees, face 40 px across in the frame, partly past its top edge
  face_to_frame = _similarity(30, 40 / size, 50, -8)
  frame_to_face = alignment.invert(face_to_frame)
  blend.paste(frame, np.full((size, size, 3), 255, np.uint8), frame_to_face)
  # Where each frame pixel lands in the face, and its radius in the mask's ellipse (analytic).
  ys, xs = np.mgrid[0:60, 0:80]
  u = alignment.apply_transform(frame_to_face, np.stack([xs.ravel(), ys.ravel()], 1))
  rx = ((u[:, 0] + 0.5) / size - blend.MASK_CENTRE[0]) / blend.MASK_AXES[0]
  ry = ((u[:, 1] + 0.5) / size - blend.MASK_CENTRE[1]) / blend.MASK_AXES[1]
  radius = np.hypot(rx, ry).reshape(60, 80)
  outside = radius > 1 + 3 / (size * min(blend.MASK_AXES))  # beyond the ellipse + cubic support
  assert outside.sum() > 3000 and (radius < 0.5).sum() > 50
  np.testing.assert_array_equal(frame[outside], before[outside])  # bit for bit
  assert (frame[radius < 0.5] == 255).all()  # the middle of the face: all of the patch


@pytest.fixture(scope='module')
def restorer(checkpoint):
  from jfsr.faces.detection import Detector
  from jfsr.restoration import Restorer
  return Restorer.from_checkpoint(checkpoint, batch_size=4, detector=Detector('haar', 16))


def bicubic_generator(hr_size):
  """A stand-in generator that is a bicubic upscale, so a correct warp back puts the frame's
  own (enlarged) face where it was (mirror-symmetric: the flip average changes nothing)."""
  def generate(inputs):
    pixels = np.clip(np.round((inputs + 1) * 127.5), 0, 255).astype(np.uint8)
    return np.stack([np.asarray(Image.fromarray(x).resize((hr_size,) * 2,
                                                          Image.Resampling.BICUBIC))
                     for x in pixels])
  return generate


def test_faces_go_to_the_template_and_come_back_where_they_were(smoke_config):
  from jfsr.faces import alignment
  from jfsr.faces.detection import FoundFace
  from jfsr.restoration import Restorer
  from jfsr.restoration.restorer import enlarge, pixel_scale

  smoke_config.data.lr_size, smoke_config.data.hr_size = 16, 64
  restorer = Restorer(smoke_config, None, generate=bicubic_generator(64))
  face_image, _ = draw_face(2, 64)
  # The face placed in a frame by a known similarity: rotated 25 degrees, 20 px across.
  face_to_frame = _similarity(25, 20 / 64, 40, 10)
  frame = alignment.warp(face_image, face_to_frame, (80, 60))
  landmarks = alignment.apply_transform(face_to_frame, alignment.template_points(64))
  found = FoundFace((0, 0, 1, 1), 1.0, landmarks, 'test')
  plan = restorer.plan(found)
  # frame -> model input = (64 -> 16 px) o (frame -> face image): exact for exact landmarks
  expected = alignment.compose(np.array([[0.25, 0, -0.375], [0, 0.25, -0.375]]),
                               alignment.invert(face_to_frame))
  np.testing.assert_allclose(plan.to_model, expected, atol=1e-9)
  assert plan.side == pytest.approx(20) and plan.restored
  # The model's input is the face as drawn, 16 px across (up to resampling).
  model_input = alignment.warp(frame, plan.to_model, 16).astype(float)
  drawn = np.asarray(Image.fromarray(face_image).resize((16, 16), Image.Resampling.BOX))
  assert np.abs(model_input - drawn)[3:13, 3:13].mean() < 12

  # Back in the frame: a bright blob on a dark face comes out where the known transform
  # puts it, to a fraction of an output pixel (half a frame pixel off would be 2 px).
  spot = np.array([27.0, 30.0])  # in the 64-px face, inside the mask's ellipse
  yy, xx = np.mgrid[0:64, 0:64]
  blob = np.exp(-((xx - spot[0]) ** 2 + (yy - spot[1]) ** 2) / (2 * 6.0 ** 2)) * 250
  blob_frame = alignment.warp(np.repeat(blob[..., None], 3, -1).astype(np.uint8),
                              face_to_frame, (80, 60), border='constant')
  result = restorer.restore_frame(blob_frame, found=[found], upscale=4)
  weights = result.image[..., 0].astype(float)
  weights = np.where(weights > 60, weights, 0)
  centroid = [(weights * np.mgrid[0:240, 0:320][1]).sum() / weights.sum(),
              (weights * np.mgrid[0:240, 0:320][0]).sum() / weights.sum()]
  expected_at = alignment.apply_transform(pixel_scale(4), alignment.apply_transform(
      face_to_frame, spot))[0]
  np.testing.assert_allclose(centroid, expected_at, atol=0.5)
  assert (result.image != enlarge(blob_frame, 4)).any()


def test_a_frame_without_faces_comes_back_unchanged_or_only_enlarged(restorer):
  rng = np.random.default_rng(1)
  frame = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
  same = restorer.restore_frame(frame, found=[])
  assert same.scale == 1 and same.faces == []
  np.testing.assert_array_equal(same.image, frame)
  enlarged = restorer.restore_frame(frame, found=[], upscale=3)
  import cv2
  np.testing.assert_array_equal(enlarged.image, cv2.resize(frame, (120, 90),
                                                           interpolation=cv2.INTER_CUBIC))


def test_large_faces_are_left_unless_forced_and_the_scale_follows_the_faces(restorer):
  from jfsr.faces import alignment
  from jfsr.faces.detection import FoundFace
  from jfsr.restoration.restorer import choose_upscale
  lr = restorer.lr_size
  small = FoundFace((0, 0, 1, 1), 1.0, alignment.template_points(lr) + 5, 'test')
  large = FoundFace((0, 0, 1, 1), 1.0, alignment.template_points(10 * lr), 'test')
  assert restorer.plan(small).restored and restorer.plan(small).side == pytest.approx(lr)
  assert not restorer.plan(large).restored and restorer.plan(large, force=True).restored
  assert choose_upscale([], 32, 8) == 1
  assert choose_upscale([4, 4, 5], 32, 8) == 8
  assert choose_upscale([16], 32, 8) == 2
  assert choose_upscale([100], 32, 8) == 1
  frame = np.zeros((40, 40, 3), np.uint8)
  result = restorer.restore_frame(frame, found=[small, large])
  assert [f.restored for f in result.faces] == [True, False] and result.scale == restorer.factor


def test_landmark_smoothing_reduces_jitter_and_follows_real_moves():
  from jfsr.faces.detection import FoundFace
  from jfsr.faces.tracking import LandmarkSmoother
  rng = np.random.default_rng(0)
  truth = {'a': np.array([[10.0, 10], [20, 10], [15, 15], [11, 20], [19, 20]])}
  truth['b'] = truth['a'] + 100  # a second face, far away: its own track
  smoother = LandmarkSmoother(0.6)
  raw, smooth = {k: [] for k in truth}, {k: [] for k in truth}
  for _ in range(200):
    faces = []
    for name, points in truth.items():
      noisy = points + rng.normal(0, 1.5, points.shape)
      box = (*(points.min(0) - 5), *(points.max(0) + 5))
      faces.append(FoundFace(box, 1.0, noisy, 'test'))
      raw[name].append(noisy)
    smooth_faces = smoother.update(faces)
    for name, face in zip(truth, smooth_faces):
      smooth[name].append(face.landmarks)
  for name in truth:
    jitter_raw = np.diff(np.stack(raw[name][20:]), axis=0).std()
    jitter = np.diff(np.stack(smooth[name][20:]), axis=0).std()
    assert jitter < 0.6 * jitter_raw  # theory: sqrt(0.4 / 1.6) = 0.5
    error = np.abs(np.stack(smooth[name][20:]) - truth[name]).mean()
    assert error < 0.8 * np.abs(np.stack(raw[name][20:]) - truth[name]).mean()
  # A jump of several face widths is followed at once, not averaged.
  moved = truth['a'] + 80
  tracks = {face.track for face in smooth_faces}
  (face,) = smoother.update([FoundFace((*(moved.min(0) - 5), *(moved.max(0) + 5)), 1.0, moved,
                                       'test')])
  np.testing.assert_array_equal(face.landmarks, moved)
  assert len(tracks) == 2 and face.track not in tracks  # a jump starts a new track


def test_output_smoothing_averages_each_track_over_time_and_restarts_with_it():
  """Per track, the output is (1 - w) * new + w * the average so far (checked against that
  recursion written out); a new track, a face left as it was and an untracked face start
  afresh or pass through."""
  from jfsr.faces.detection import FoundFace
  from jfsr.faces.tracking import OutputSmoother
  rng = np.random.default_rng(0)
  face = lambda track: FoundFace((0, 0, 1, 1), 1.0, np.zeros((5, 2)), 'test', track)
  smoother, weight = OutputSmoother(0.7), 0.7
  still = rng.integers(60, 200, (8, 8, 3)).astype(np.float64)
  expected, outputs, noisy = None, [], []
  for _ in range(30):
    frame = np.clip(still + rng.normal(0, 20, still.shape), 0, 255).astype(np.uint8)
    noisy.append(frame)
    (out, other) = smoother.update([face(3), face(None)], [frame, frame])
    expected = frame.astype(np.float64) if expected is None else (
        weight * expected + (1 - weight) * frame)
    np.testing.assert_allclose(out, np.rint(expected), atol=1)
    np.testing.assert_array_equal(other, frame)
    outputs.append(out.astype(np.float64))
  change = lambda frames: np.mean([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])
  assert change(outputs[5:]) < 0.5 * change([f.astype(np.float64) for f in noisy[5:]])
  fresh = rng.integers(0, 255, (8, 8, 3)).astype(np.uint8)
  (out,) = smoother.update([face(4)], [fresh])  # a new track: no past
  np.testing.assert_array_equal(out, fresh)
  assert smoother.update([face(4)], [None]) == [None]
  (out,) = smoother.update([face(4)], [fresh])  # its average was dropped with the gap
  np.testing.assert_array_equal(out, fresh)


def test_benchmark_scenes_map_back_onto_their_ground_truth():
  """The alignment benchmark scores restored frames on the ground truth through the known
  transform: the plain enlarged frame must land on it, a transform off by a pixel not."""
  import dataclasses
  from jfsr.measures import scenes
  from jfsr.restoration.restorer import enlarge
  truth = draw_face(3, 128)[0]
  scene = scenes.make_scene(truth, 16, 8, (20, 30), np.random.default_rng(0))
  assert scene.frame.shape == (48, 48, 3) and 20 <= abs(scene.rotation) < 30
  enlarged = enlarge(scene.frame, 8)

  def error(s):
    return np.abs(scenes.back_onto_truth(enlarged, s, 8).astype(float) - truth)[16:112, 16:112].mean()
  shifted = dataclasses.replace(scene, face_to_frame=scene.face_to_frame + [[0, 0, 1], [0, 0, 0]])
  assert error(scene) < 20 and error(scene) < 0.7 * error(shifted), (error(scene), error(shifted))


def test_flicker_is_zero_for_the_moving_truth_and_counts_a_change_between_frames():
  """The flicker measure on known outputs: the true face drawn where each frame of a moving
  clip has it changes by (almost) nothing on the face's own pixels, at a high PSNR; the same
  with every other frame 8 grey levels brighter flickers by 8 and loses PSNR as 8 levels do."""
  from jfsr.faces import alignment
  from jfsr.measures import flicker
  truth = draw_face(2, 128)[0]
  clip = flicker.moving_clip(truth, 16, 8, 6, np.random.default_rng(0))
  shape = (clip[0].frame.shape[1] * 8, clip[0].frame.shape[0] * 8)
  drawn = [alignment.warp(truth, alignment.compose(alignment.pixel_scale(8), s.face_to_frame),
                          shape, border='constant') for s in clip]
  still, psnr = flicker.flicker_and_psnr(drawn, clip, 8)
  assert still < 1 and psnr > 35, (still, psnr)
  brighter = [np.clip(f.astype(int) + 8 * (t % 2), 0, 255).astype(np.uint8)
              for t, f in enumerate(drawn)]
  changing, brighter_psnr = flicker.flicker_and_psnr(brighter, clip, 8)
  assert changing == pytest.approx(8, abs=1), changing
  assert brighter_psnr < psnr - 5 and brighter_psnr > 20 * np.log10(255 / 8)


@pytest.mark.parametrize('kind', ['group', 'border'])
def test_every_face_of_a_photo_maps_back_onto_its_own_ground_truth(kind):
  """Group and border photos: each face, mapped back from the enlarged photo through its
  own transform, lands on its own drawn face (not on a neighbour's), every face sits in its
  rotation bucket and size range, and a border photo's picture runs out of its frame."""
  from jfsr.measures import scenes
  from jfsr.restoration.restorer import enlarge
  truths = [draw_face(i, 128)[0] for i in range(7)]
  photos = scenes.make_photos(kind, truths, 16, 8, np.random.default_rng(2),
                              scenes.CONDITIONS['noblur'], sides=(16, 24))
  placed = [s for photo in photos for s in photo.scenes]
  assert len(placed) == 7 and len(photos) == (1 if kind == 'group' else 7)
  middle = (slice(16, 112), slice(16, 112))
  for index, scene in enumerate(placed):
    photo = next(p for p in photos if any(s is scene for s in p.scenes))
    mapped = scenes.back_onto_truth(enlarge(photo.frame, 8), scene, 8).astype(float)
    errors = [np.abs(mapped - t)[middle].mean() for t in truths]
    assert int(np.argmin(errors)) == index and errors[index] < 20, errors
    low, high = scenes.ROTATION_BUCKETS[index % 3]
    assert low <= abs(scene.rotation) < high
    assert 16 - 1e-6 <= scenes.face_side(scene, 128) <= 24 + 1e-6
    if kind == 'border':
      from jfsr.faces import alignment
      size = photo.frame.shape[1::-1]
      corners = alignment.apply_transform(scene.face_to_frame, np.array(
          [[0, 0], [128, 0], [0, 128], [128, 128]], float))
      landmarks = scenes.true_face(scene, 128).landmarks
      assert ((corners < 0) | (corners > size)).any()
      assert ((landmarks > 0) & (landmarks < size)).all()


def test_false_detections_are_shared_by_the_faces_of_their_photo():
  """Per face: a photo's detections that match none of its faces, over its faces."""
  from jfsr.measures.in_frames import false_per_face
  a, b, c = object(), object(), object()
  photo_of = np.array([0, 0, 0, 1])
  shares = false_per_face([[a, b, c, object()], [object()]], [a, None, b, None], photo_of)
  np.testing.assert_allclose(shares, [2 / 3, 2 / 3, 2 / 3, 1.0])


def test_benchmark_counts_a_face_found_by_landmark_distance_and_measures_its_error():
  """A detection counts as the face when its landmarks' centre is within a quarter face of
  the true one; the matched detection's error is the similarity between the point sets."""
  from jfsr.faces import alignment
  from jfsr.faces.detection import FoundFace
  from jfsr.measures import scenes
  truth = draw_face(3, 128)[0]
  scene = scenes.make_scene(truth, 16, 8, (0, 10), np.random.default_rng(1))
  true = scenes.true_face(scene, 128).landmarks
  side = scenes.face_side(scene, 128)
  centre = true.mean(0)

  def found(points):
    return FoundFace((0, 0, 1, 1), 1.0, points, 'mtcnn')
  near = found(true + [0.2 * side, 0])
  far = found(true + [0.3 * side, 0])
  assert scenes.match([far], scene, 128) is None and not scenes.hit([], scene, 128)
  assert scenes.match([far, near], scene, 128) is near
  # A known error: turned 5 degrees and scaled 1.1x about the centre, shifted 0.05 side.
  a, b = 1.1 * np.cos(np.radians(5)), 1.1 * np.sin(np.radians(5))
  moved = (true - centre) @ np.array([[a, -b], [b, a]]).T + centre + [0.05 * side, 0]
  error = scenes.landmark_error(moved, true, side)
  assert error['roll'] == pytest.approx(5, abs=1e-6)
  assert error['scale'] == pytest.approx(np.log(1.1), abs=1e-9)
  assert error['shift'] == pytest.approx(0.05, abs=1e-9)
  assert error['point'] == pytest.approx(0, abs=1e-9)
  assert alignment.similarity_transform(true, true)[0, 0] == pytest.approx(1)


def test_cli_on_a_folder_counts_leaves_large_faces_untouched_and_matches_the_api(checkpoint,
                                                                               tmp_path):
  from jfsr.faces.detection import Detector
  from jfsr.restoration import Restorer
  inputs, output = tmp_path / 'in', tmp_path / 'out'
  inputs.mkdir()
  frame = framed_face()
  Image.fromarray(frame).save(inputs / 'face.png')
  Image.fromarray(np.full((30, 40), 128, np.uint8)).save(inputs / 'grey.png')  # no face
  rgba = np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)])
  Image.fromarray(rgba, 'RGBA').save(inputs / 'alpha.png')
  exif = Image.Exif()
  exif[0x0112] = 6  # EXIF orientation: rotate 90° clockwise to display
  Image.fromarray(np.zeros((30, 50, 3), np.uint8)).save(inputs / 'rotated.jpg', exif=exif)
  (inputs / 'notes.txt').write_text('not an image')
  inputs_before = {p.name: p.read_bytes() for p in inputs.iterdir()}
  common = ['--checkpoint', checkpoint, '--input', inputs, '--detector', 'haar']
  # Defaults: the drawn faces are far larger than the model's 4-pixel input: left as they were.
  result = run_restore(*common, '--output', output)
  assert ('processed 4, skipped 1 (unreadable or too large), without a face 2; faces restored 0, left as '
          'they were 2') in result.stdout
  assert 'notes.txt' in result.stderr
  assert sorted(p.name for p in output.iterdir()) == ['alpha.png', 'face.png', 'grey.png',
                                                      'rotated.png']
  np.testing.assert_array_equal(np.asarray(Image.open(output / 'face.png')), frame)
  assert np.asarray(Image.open(output / 'rotated.png')).shape == (50, 30, 3)  # displayed upright
  # --force restores them; the API and the CLI give the same pixels.
  result = run_restore(*common, '--output', tmp_path / 'forced', '--force', '--upscale', 2)
  assert 'without a face 2; faces restored 2, left as they were 0' in result.stdout
  cli = np.asarray(Image.open(tmp_path / 'forced' / 'face.png'))
  api = Restorer.from_checkpoint(checkpoint, detector=Detector('haar', 8)).restore_frame(
      frame, upscale=2, force=True)
  np.testing.assert_array_equal(cli, api.image)
  from jfsr.restoration.restorer import enlarge
  assert not np.array_equal(cli, enlarge(frame, 2))
  # The single pass (no averaging, no back-projection), by flags and by the API.
  run_restore(*common, '--output', tmp_path / 'single', '--force', '--upscale', 2,
              '--alignments', 1, '--noflip_average', '--back_projection', 0)
  single = np.asarray(Image.open(tmp_path / 'single' / 'face.png'))
  api = Restorer.from_checkpoint(checkpoint, detector=Detector('haar', 8), alignments=1,
                                 flip_average=False, back_projection_iterations=0)
  np.testing.assert_array_equal(single, api.restore_frame(frame, upscale=2, force=True).image)
  assert not np.array_equal(single, cli)
  assert {p.name: p.read_bytes() for p in inputs.iterdir()} == inputs_before


def test_cli_compare_shows_what_the_model_saw(checkpoint, tmp_path):
  Image.fromarray(framed_face()).save(tmp_path / 'face.png')
  run_restore('--checkpoint', checkpoint, '--input', tmp_path / 'face.png', '--output',
              tmp_path / 'c', '--detector', 'haar', '--force', '--upscale', 2, '--compare')
  shown = np.asarray(Image.open(tmp_path / 'c' / 'face.png')).astype(int)
  assert shown.shape == (480, 3 * 640, 3)
  seen, bicubic, restored = shown[:, :640], shown[:, 640:1280], shown[:, 1280:]
  changed = (restored != bicubic).any(-1)
  assert changed.sum() > 1000
  # The first panel is the model's 4x4 input, pasted where the face is: blocky, not bicubic.
  assert np.abs(seen - bicubic)[changed].mean() > 5
  # Both panels change the face's place only: the first under its elliptical mask, the
  # restored one over its square too (back-projection), which holds the ellipse.
  def box(mask):
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()])
  ellipse, square = box((seen != bicubic).any(-1)), box(changed)
  assert (square[:2] <= ellipse[:2]).all() and (square[2:] >= ellipse[2:]).all()
  assert ((square[2:] - square[:2]) < 1.5 * (ellipse[2:] - ellipse[:2])).all()


def test_cli_aligned_mode_writes_the_models_input_beside_its_output(checkpoint, tmp_path):
  from jfsr.restoration import Restorer
  crop = draw_face(1, 50)[0][:, :45]
  Image.fromarray(crop).save(tmp_path / 'crop.png')
  run_restore('--checkpoint', checkpoint, '--input', tmp_path / 'crop.png', '--output',
              tmp_path / 'b', '--aligned', '--compare')
  shown = np.asarray(Image.open(tmp_path / 'b' / 'crop.png'))
  assert shown.shape == (32, 64, 3)
  restorer = Restorer.from_checkpoint(checkpoint)
  model_input = restorer.model_input(crop)  # 4x4, shown 8x larger, pixel for pixel
  np.testing.assert_array_equal(shown[:, :32], model_input.repeat(8, 0).repeat(8, 1))
  np.testing.assert_array_equal(shown[:, 32:], restorer.restore_crops([crop])[0])


def test_cli_on_a_video(checkpoint, tmp_path):
  import cv2
  path = tmp_path / 'clip.mp4'
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 12, (320, 240))
  for i in range(5):
    writer.write(cv2.cvtColor(framed_face() if i != 2 else np.zeros((240, 320, 3), np.uint8),
                              cv2.COLOR_RGB2BGR))
  writer.release()
  result = run_restore('--checkpoint', checkpoint, '--input', path, '--output', tmp_path / 'o',
                       '--upscale', 2, '--frames_per_chunk', 2, '--detector', 'haar', '--force',
                       '--output_smoothing', 0.5, env_path='/nonexistent')
  assert ('processed 5, skipped 0 (unreadable or too large), without a face 1; faces restored 4'
          in result.stdout)
  assert 'without audio: ffmpeg is not installed here' in result.stdout
  assert sorted(p.name for p in (tmp_path / 'o').iterdir()) == ['clip.mp4']
  capture = cv2.VideoCapture(str(tmp_path / 'o' / 'clip.mp4'))
  assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
  assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12)
  assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 480)


def test_audio_is_muxed_by_ffmpeg_when_there_is_one(tmp_path, monkeypatch):
  from jfsr.restoration import video
  fake = tmp_path / 'bin' / 'ffmpeg'
  fake.parent.mkdir()
  fake.write_text('#!/bin/sh\necho "$@" > "${0%/*}/args"\n'
                  'for last in "$@"; do :; done\necho muxed > "$last"\n')
  fake.chmod(0o755)
  monkeypatch.setenv('PATH', str(fake.parent))
  (tmp_path / 'frames.mp4').write_text('frames')
  how = video.add_audio(tmp_path / 'frames.mp4', tmp_path / 'in.mov', tmp_path / 'out.mp4')
  assert 'muxed by ffmpeg' in how and not (tmp_path / 'frames.mp4').exists()
  assert (tmp_path / 'out.mp4').read_text() == 'muxed\n'
  args = (fake.parent / 'args').read_text().split()
  assert args[args.index('-map') + 1] == '0:v:0' and '1:a:0?' in args  # audio if it has any
  assert args[args.index('-c:v') + 1] == 'copy'  # the frames are not encoded again


def test_cli_refuses_to_write_into_the_input_folder_and_one_model_at_most(checkpoint, tmp_path):
  Image.fromarray(framed_face()).save(tmp_path / 'face.png')
  result = run_restore('--checkpoint', checkpoint, '--input', tmp_path, '--output', tmp_path,
                       check=False)
  assert result.returncode != 0 and 'is the input folder' in result.stderr
  assert sorted(p.name for p in tmp_path.iterdir()) == ['face.png']
  result = run_restore('--checkpoint', tmp_path / 'nothing', '--input', tmp_path, '--output',
                       tmp_path / 'o', check=False)
  assert result.returncode != 0 and 'holds no checkpoint' in result.stderr
  result = run_restore('--model', 'cpu-x16', '--checkpoint', checkpoint, '--input', tmp_path,
                       '--output', tmp_path / 'o', check=False)
  assert result.returncode != 0 and 'give exactly one of --model' in result.stderr
  assert 'Traceback' not in result.stderr


def test_progress_rate_starts_after_the_first_batch():
  import io
  from jfsr.restoration.video import Progress
  stream = io.StringIO()
  progress = Progress(10, 'frames', stream)
  progress.update(2)  # the first batch (compile) sets the clock: no rate yet
  assert stream.getvalue() == '\r2/10 frames'
  progress.update(3)
  last = stream.getvalue().split('\r')[-1]
  assert last.startswith('5/10 frames, ') and 'frames/s, ETA ' in last
  progress.close()


def test_the_output_size_bound_lowers_the_scale_and_skips_larger_inputs(tmp_path):
  from jfsr.restoration.restorer import FrameTooLargeError, bounded_scale
  assert bounded_scale(8, (240, 320, 3), 64_000_000) == 8
  assert bounded_scale(8, (240, 320, 3), 1_000_000) == 3  # 720x960 = 0.69 MP; x4 is 1.23 MP
  assert bounded_scale(8, (3000, 4000, 3), 64_000_000) == 2
  with pytest.raises(FrameTooLargeError, match='144 MP'):
    bounded_scale(1, (12000, 12000, 3), 64_000_000)
  inputs, output = tmp_path / 'in', tmp_path / 'out'
  inputs.mkdir()
  Image.fromarray(framed_face()).save(inputs / 'small.png')
  Image.fromarray(np.zeros((1100, 1000, 3), np.uint8)).save(inputs / 'large.png')
  result = run_restore('--model', 'cpu-x16', '--input', inputs, '--output', output,
                       '--upscale', '8', '--max_output_mp', '1', '--detector', 'haar')
  assert 'small.png: enlarged x3 instead of x8' in result.stderr
  assert 'skipped' in result.stderr and 'large.png' in result.stderr
  assert Image.open(output / 'small.png').size == (960, 720)
  assert 'skipped 1' in result.stdout and not (output / 'large.png').exists()


def test_benchmark_conditions_change_only_what_they_name():
  """Every condition degrades the same scene (same placement, background and blur draws):
  JPEG is PIL's round trip of the PNG frame, noise has its spread, 'noblur' and 'blur2x'
  change the blur alone, the kernels the shrink alone."""
  import io
  from PIL import Image
  from jfsr.measures import scenes
  truth = draw_face(3, 128)[0]

  def scene(name):
    return scenes.make_scene(truth, 16, 8, (10, 20), np.random.default_rng(4),
                                scenes.CONDITIONS[name], np.random.default_rng(9))
  png = scene('png')
  buffer = io.BytesIO()
  Image.fromarray(png.frame).save(buffer, 'JPEG', quality=75)
  np.testing.assert_array_equal(scene('jpeg75').frame, np.asarray(Image.open(buffer)))
  noisy = scene('noise4').frame.astype(float) - png.frame
  assert 3.5 < noisy.std() < 4.5
  for name in scenes.CONDITIONS:
    other = scene(name)
    np.testing.assert_array_equal(other.face_to_frame, png.face_to_frame)
    assert (name == 'png') == np.array_equal(other.frame, png.frame), name
  sharpness = lambda frame: np.abs(np.diff(frame.astype(float), axis=1)).mean()
  assert sharpness(scene('noblur').frame) > sharpness(png.frame) > sharpness(scene('blur2x').frame)


def test_compare_panels_keep_within_the_output_bound():
  """With ``compare`` the three panels together stay within ``max_output_pixels``."""
  from jfsr.config_defaults import base_config
  from jfsr.faces.detection import FoundFace
  from jfsr.faces import alignment
  from jfsr.restoration.restorer import Restorer
  config = base_config()
  config.data.hr_size, config.data.lr_size = 64, 8
  grey = lambda inputs: np.full((len(inputs), 64, 64, 3), 128, np.uint8)
  frame = np.random.default_rng(2).integers(0, 256, (60, 80, 3), dtype=np.uint8)
  face = FoundFace((0, 0, 1, 1), 1.0, alignment.template_points(8) + 20.0, 'given')
  bound = 60 * 80 * 16  # x4 for one panel
  restorer = Restorer(config, None, generate=grey, max_output_pixels=bound)
  plain = restorer.restore_frame(frame, [face], upscale=8, force=True)
  compared = restorer.restore_frame(frame, [face], upscale=8, force=True, compare=True)
  assert plain.scale == 4 and plain.image.shape[0] * plain.image.shape[1] <= bound
  assert compared.compare.shape[0] * compared.compare.shape[1] <= bound
  assert compared.scale == 2 and compared.scale_wanted == 8


def test_odd_sized_video_frames_lose_no_pixel(tmp_path):
  """The MPEG-4 writer takes even sides: an odd frame is padded by its edge, not cropped."""
  import cv2
  from jfsr.files import VideoWriter
  frame = np.zeros((21, 31, 3), np.uint8)
  frame[:, -1] = 255  # the last column, which cropping would drop
  writer = VideoWriter(tmp_path / 'odd.mp4', 10)
  for _ in range(3):
    writer.write(frame)
  writer.close()
  capture = cv2.VideoCapture(str(tmp_path / 'odd.mp4'))
  ok, read = capture.read()
  capture.release()
  assert ok and read.shape == (22, 32, 3)
  assert read[:21, 30].mean() > 200 and read[:21, :28].mean() < 30


def test_a_video_written_short_is_not_published(tmp_path):
  """The read-back before publishing: a video with fewer frames than were written (a full
  disk truncates it; OpenCV's writer only logs the failure) is refused."""
  from jfsr.files import VideoWriter
  from jfsr.restoration.video import VideoError, check_readable
  path = tmp_path / 'frames.mp4'
  writer = VideoWriter(path, 10)
  for index in range(12):
    writer.write(np.random.default_rng(index).integers(0, 256, (48, 64, 3), dtype=np.uint8))
  writer.close()
  check_readable(path, 12, tmp_path / 'out.mp4')
  path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
  with pytest.raises(VideoError, match='could not be written whole'):
    check_readable(path, 12, tmp_path / 'out.mp4')


def test_an_image_grown_past_the_bound_after_probing_is_skipped_by_name(tmp_path, caplog):
  """A folder run probes headers first; a file replaced by a larger one before it is decoded
  is skipped, named and counted, and the rest go on."""
  from jfsr import restore as restore_cli
  from jfsr.restoration.summary import Summary
  from jfsr.restoration.video import Progress
  small, grown = tmp_path / 'a.png', tmp_path / 'b.png'
  for path in (small, grown):
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(path)
  Image.fromarray(np.zeros((400, 400, 3), np.uint8)).save(grown)  # replaced after the probe
  summary = Summary()
  with caplog.at_level('WARNING'):  # --max_output_mp 0.01 (10,000 pixels): a.png fits, b.png no longer
    read = restore_cli.read_images([small, grown], summary, Progress(2, 'images', io.StringIO()),
                                   max_output_mp=0.01)
  assert [path for path, _, _ in read] == [small] and summary.skipped == 1
  assert any('b.png' in r.getMessage() and 'max_output_mp' in r.getMessage()
             for r in caplog.records)


def test_detection_measure_counts_found_and_false_faces_by_bucket():
  """Every face of two group photos given by its true landmarks except the faces chosen
  to be missed, plus one far-off detection per photo: found rates by rotation and size
  are those of the faces kept, counted by hand, and false detections one per photo."""
  from jfsr.faces.detection import FoundFace
  from jfsr.measures import scenes
  from jfsr.measures.detection import scored
  truths = [draw_face(i, 128)[0] for i in range(24)]
  photos = scenes.make_photos('group', truths, 16, 8, np.random.default_rng(2))
  faces = [s for p in photos for s in p.scenes]
  missed = {1, 2, 5, 11, 17}
  far = FoundFace((0, 0, 2, 2), 1.0, np.full((5, 2), -100.0), 'mtcnn')
  found, k = [], 0
  for photo in photos:
    found.append([far])
    for scene in photo.scenes:
      if k not in missed:
        found[-1].append(scenes.true_face(scene, 128))
      k += 1
  result = scored(photos, found, np.array([0.5, 1.5]), 128, (12, 18, 24))
  kept = np.array([k not in missed for k in range(len(faces))])
  rotations = np.abs([s.rotation for s in faces])
  sides = np.array([scenes.face_side(s, 128) for s in faces])
  for label, chosen in {'0-10 deg': rotations < 10, '20-30 deg': rotations >= 20,
                        '12-18 px': sides < 18, '18-24 px': sides >= 18,
                        'all': np.ones(len(faces), bool)}.items():
    assert result['buckets'][label]['found'] == pytest.approx(kept[chosen].mean())
    assert result['buckets'][label]['faces'] == chosen.sum()
  assert result['buckets']['all']['point error'] == pytest.approx(0, abs=1e-9)
  assert result['false_per_photo'] == 1.0 and result['seconds_per_photo'] == 1.0
