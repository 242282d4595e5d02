"""Restoring faces in frames, folders and videos: the Restorer API and ``python -m jfsr.restore``."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jfsr import faces
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
  state = create_train_state(config, jax.random.PRNGKey(0))
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


def run_restore(*args, check=True):
  command = [sys.executable, '-m', 'jfsr.restore', *map(str, args)]
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
  if check:
    assert result.returncode == 0, result.stderr[-3000:]
  return result


def test_feather_mask_and_paste_touch_only_the_face_square():
  mask = faces.feather_mask(40, 0.2)
  assert mask[20, 20] == 1 and mask[0, 0] < 0.2 and mask.min() > 0
  rng = np.random.default_rng(0)
  frame = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
  before = frame.copy()
  face = faces.Face(top=-5, left=30, size=40, score=1.0)  # partly outside the frame
  faces.paste(frame, np.full((32, 32, 3), 255, np.uint8), face)
  inside = np.zeros(frame.shape[:2], bool)
  inside[0:35, 30:60] = True
  np.testing.assert_array_equal(frame[~inside], before[~inside])
  np.testing.assert_array_equal(frame[15, 50], 255)  # the middle of the square: all patch


def test_restorer_pastes_faces_and_leaves_the_rest(checkpoint):
  from jfsr.restorer import Restorer
  restorer = Restorer.from_checkpoint(checkpoint, batch_size=4)
  assert (restorer.step, restorer.lr_size, restorer.hr_size) == (3, 4, 32)
  frame = framed_face()
  out, found = restorer.restore_frame(frame, upscale=1)
  assert len(found) == 1
  face = found[0]
  inside = np.zeros(frame.shape[:2], bool)
  inside[max(face.top, 0):face.top + face.size, max(face.left, 0):face.left + face.size] = True
  np.testing.assert_array_equal(out[~inside], frame[~inside])
  assert not np.array_equal(out[inside], frame[inside])
  # Crops of any size come back at the model's output size.
  assert restorer.restore_crops([frame[:50, :70], frame]).shape == (2, 32, 32, 3)


def test_cli_on_a_folder_counts_and_handles_odd_images(checkpoint, tmp_path):
  from jfsr.restorer import Restorer
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
  result = run_restore('--checkpoint', checkpoint, '--input', inputs, '--output', output,
                       '--upscale', 2)
  assert 'processed 4, skipped 1 (unreadable), without a face 2, faces restored 2' in result.stdout
  assert 'notes.txt' in result.stderr
  assert sorted(p.name for p in output.iterdir()) == ['alpha.png', 'face.png', 'grey.png',
                                                      'rotated.png']
  assert np.asarray(Image.open(output / 'rotated.png')).shape == (100, 60, 3)  # displayed upright
  # The API and the CLI give the same pixels.
  cli = np.asarray(Image.open(output / 'face.png'))
  api, _ = Restorer.from_checkpoint(checkpoint, batch_size=16).restore_frame(frame, upscale=2)
  np.testing.assert_array_equal(cli, api)


def test_cli_aligned_mode_and_compare(checkpoint, tmp_path):
  inputs = tmp_path / 'crops'
  inputs.mkdir()
  Image.fromarray(draw_face(1, 50)[0][:, :45]).save(inputs / 'crop.png')
  run_restore('--checkpoint', checkpoint, '--input', inputs / 'crop.png', '--output',
              tmp_path / 'a', '--aligned')
  assert np.asarray(Image.open(tmp_path / 'a' / 'crop.png')).shape == (32, 32, 3)
  run_restore('--checkpoint', checkpoint, '--input', inputs / 'crop.png', '--output',
              tmp_path / 'b', '--aligned', '--compare', '--format', 'jpg')
  assert np.asarray(Image.open(tmp_path / 'b' / 'crop.jpg')).shape == (32, 96, 3)


def test_cli_on_a_video(checkpoint, tmp_path):
  import cv2
  path = tmp_path / 'clip.mp4'
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 12, (320, 240))
  for i in range(5):
    writer.write(cv2.cvtColor(framed_face() if i != 2 else np.zeros((240, 320, 3), np.uint8),
                              cv2.COLOR_RGB2BGR))
  writer.release()
  result = run_restore('--checkpoint', checkpoint, '--input', path, '--output', tmp_path / 'o',
                       '--upscale', 2, '--frames_per_chunk', 2)
  assert 'processed 5, skipped 0 (unreadable), without a face 1, faces restored 4' in result.stdout
  capture = cv2.VideoCapture(str(tmp_path / 'o' / 'clip.mp4'))
  assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
  assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12)
  assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 480)


def test_cli_refuses_to_write_into_the_input_folder_and_needs_a_checkpoint(checkpoint, tmp_path):
  Image.fromarray(framed_face()).save(tmp_path / 'face.png')
  result = run_restore('--checkpoint', checkpoint, '--input', tmp_path, '--output', tmp_path,
                       check=False)
  assert result.returncode != 0 and 'is the input folder' in result.stderr
  assert sorted(p.name for p in tmp_path.iterdir()) == ['face.png']
  result = run_restore('--checkpoint', tmp_path / 'nothing', '--input', tmp_path, '--output',
                       tmp_path / 'o', check=False)
  assert result.returncode != 0 and 'holds no checkpoint' in result.stderr
  assert 'Traceback' not in result.stderr


def test_progress_rate_starts_after_the_first_batch():
  import io
  from jfsr.video import Progress
  stream = io.StringIO()
  progress = Progress(10, 'frames', stream)
  progress.update(2)  # the first batch (compile) sets the clock: no rate yet
  assert stream.getvalue() == '\r2/10 frames'
  progress.update(3)
  last = stream.getvalue().split('\r')[-1]
  assert last.startswith('5/10 frames, ') and 'frames/s, ETA ' in last
  progress.close()
