"""The web demo (``python -m jfsr.demo``): its HTTP answers, and the page driven in headless
Chromium, showing the same pixels as ``jfsr.restore``."""

import base64
import io
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = shutil.which('chromium'), shutil.which('chromedriver')


def astronaut(path: Path, side: int = 64) -> Path:
  """scikit-image's astronaut (public domain) shrunk so that her face is ~19 px: restored."""
  from skimage import data
  Image.fromarray(data.astronaut()).resize((side, side), Image.Resampling.BICUBIC).save(path)
  return path


def from_data_url(url: str) -> np.ndarray:
  assert url.startswith('data:image/png;base64,'), url[:40]
  return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(',', 1)[1]))))


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
  """A demo server on a free port (Haar detection, so the CLI compared with finds the same
  faces on any machine); yields its URL."""
  log = tmp_path_factory.mktemp('demo') / 'server.log'
  with open(log, 'w') as stderr:
    process = subprocess.Popen(
        [sys.executable, '-m', 'jfsr.demo', '--port', '0', '--detector', 'haar',
         '--max_upload_mb', '1'], cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True)
  try:
    line = process.stdout.readline()
    assert line.startswith('jfsr demo: http://127.0.0.1:'), (line, log.read_text()[-3000:])
    yield line.split()[2]
  finally:
    process.terminate()
    process.wait(timeout=60)


def cli_restore(photo: Path, output: Path, *flags: str) -> np.ndarray:
  result = subprocess.run([sys.executable, '-m', 'jfsr.restore',  # the default model, too
                           '--detector', 'haar', '--input', str(photo), '--output', str(output),
                           *flags], cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return np.asarray(Image.open(output / f'{photo.stem}.png'))


def post(url: str, data: bytes, name: str, query: str = '', **headers: str) -> tuple[int, dict]:
  request = urllib.request.Request(url + 'restore' + query, data=data, method='POST',
                                   headers={'X-Filename': name, **headers})
  try:
    with urllib.request.urlopen(request, timeout=600) as response:
      return response.status, json.loads(response.read())
  except urllib.error.HTTPError as error:
    return error.code, json.loads(error.read())


def test_server_answers_like_the_cli_and_refuses_bad_uploads_in_words(demo, tmp_path):
  """Without a browser: the restored image equals the CLI's, the panels and the per-face
  words are there, and non-images, empty and oversized files get a message and a 4xx."""
  with urllib.request.urlopen(demo + 'info', timeout=60) as response:
    info = json.loads(response.read())
  assert info['model'] == 'cpu-x16-photos + cpu-x32'  # the default models, by face size
  assert [(m['name'], m['lr_size'], m['hr_size']) for m in info['models']] == [
      ('cpu-x16-photos', 16, 128), ('cpu-x32', 32, 256)]
  photo = astronaut(tmp_path / 'astronaut.png')
  status, answer = post(demo, photo.read_bytes(), 'astronaut.png')
  assert status == 200, answer
  expected = cli_restore(photo, tmp_path / 'cli')
  np.testing.assert_array_equal(from_data_url(answer['panels']['restored']), expected)
  assert from_data_url(answer['panels']['bicubic']).shape == expected.shape
  assert answer['faces'].startswith('restored by cpu-x16-photos (') and answer['restored_faces'] == 1
  assert answer['download_name'] == 'astronaut_restored.png'
  # The fidelity slider's value: the CLI's --fidelity, pixel for pixel; out of range, refused.
  status, sharp = post(demo, photo.read_bytes(), 'astronaut.png', '?fidelity=0')
  assert status == 200, sharp
  np.testing.assert_array_equal(from_data_url(sharp['panels']['restored']),
                                cli_restore(photo, tmp_path / 'cli0', '--fidelity', '0'))
  assert (from_data_url(sharp['panels']['restored']) != expected).any()
  for bad in ('1.5', 'nan', 'much'):
    status, refused = post(demo, photo.read_bytes(), 'astronaut.png', f'?fidelity={bad}')
    assert status == 400 and 'fidelity' in refused['error'], (bad, refused)
  # Two uploads at once: served one after the other, both answered in full.
  from concurrent.futures import ThreadPoolExecutor
  with ThreadPoolExecutor(2) as pool:
    answers = list(pool.map(lambda _: post(demo, photo.read_bytes(), 'astronaut.png'), range(2)))
  for status, both in answers:
    assert status == 200
    np.testing.assert_array_equal(from_data_url(both['panels']['restored']), expected)
  # A short video: restored whole, offered for download, its first frame shown.
  import cv2
  clip = tmp_path / 'clip.mp4'
  writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*'mp4v'), 10, (96, 64))
  frame = np.full((64, 96, 3), 90, np.uint8)
  for shift in range(6):
    moved = frame.copy()
    moved[:, 10 + shift:74 + shift] = np.asarray(Image.open(photo))
    writer.write(cv2.cvtColor(moved, cv2.COLOR_RGB2BGR))
  writer.release()
  status, answer = post(demo, clip.read_bytes(), 'clip.mp4')
  assert status == 200, answer
  assert answer['kind'] == 'video' and 'processed 6' in answer['summary']
  with urllib.request.urlopen(demo + answer['download'].lstrip('/'), timeout=60) as response:
    (tmp_path / 'restored.mp4').write_bytes(response.read())
  capture = cv2.VideoCapture(str(tmp_path / 'restored.mp4'))
  assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
  assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 96 * answer['scale']
  capture.release()
  status, answer = post(demo, b'not an image', 'notes.png')
  assert status == 400 and 'notes.png is not an image' in answer['error']
  status, answer = post(demo, b'', 'empty.png')
  assert status == 400 and 'empty' in answer['error']
  status, answer = post(demo, bytes(1_500_000), 'big.png')
  assert status == 413 and 'the limit is 1 MB' in answer['error']


def test_only_its_own_page_drives_the_demo(demo, tmp_path):
  """Another page's POST (a cross-origin Origin, or Sec-Fetch-Site: cross-site) and a request
  under another host name (DNS rebinding) are refused with 403 before any work; a video
  longer than the limit is refused by its decoded frames, whatever its header says."""
  import cv2
  photo = astronaut(tmp_path / 'astronaut.png').read_bytes()
  status, answer = post(demo, photo, 'astronaut.png', Origin='http://evil.example')
  assert status == 403 and 'other pages' in answer['error'], answer
  status, answer = post(demo, photo, 'astronaut.png', **{'Sec-Fetch-Site': 'cross-site'})
  assert status == 403, answer
  status, answer = post(demo, photo, 'astronaut.png', Host='evil.example')
  assert status == 403 and 'evil.example' in answer['error'], answer
  request = urllib.request.Request(demo + 'info', headers={'Host': 'evil.example:80'})
  with pytest.raises(urllib.error.HTTPError) as refused:
    urllib.request.urlopen(request, timeout=60)
  assert refused.value.code == 403
  port = demo.rstrip('/').rsplit(':', 1)[1]
  status, answer = post(demo, photo, 'astronaut.png', Origin=f'http://127.0.0.1:{port}')
  assert status == 200, answer  # the page's own requests carry its origin
  webm = tmp_path / 'long.webm'
  writer = cv2.VideoWriter(str(webm), cv2.VideoWriter_fourcc(*'VP80'), 25, (32, 32))
  for index in range(400):
    writer.write(np.full((32, 32, 3), index % 200, np.uint8))
  writer.release()
  status, answer = post(demo, webm.read_bytes(), 'long.webm')
  assert status == 400 and 'more than 300 frames' in answer['error'], answer


def test_frames_are_counted_by_decoding(tmp_path):
  import cv2
  from jfsr.restoration import video
  clip = tmp_path / 'clip.webm'
  writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*'VP80'), 25, (32, 32))
  for index in range(40):
    writer.write(np.full((32, 32, 3), index, np.uint8))
  writer.release()
  assert video.count_frames(clip, 100) == 40
  assert video.count_frames(clip, 10) == 11  # stops just past the limit


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason='no system Chromium with its chromedriver (Debian: apt-get install '
                    'chromium chromium-driver); the browser test cannot run')
def test_page_in_headless_chromium_shows_the_clis_pixels_and_errors(demo, tmp_path):
  """Upload a face through the page's file input, wait for the result, and read the image
  the page shows: the same pixels as ``jfsr.restore``. A text file named .png shows its
  error on the page."""
  webdriver = pytest.importorskip('selenium.webdriver', reason='selenium is not installed')
  from selenium.webdriver.common.by import By
  from selenium.webdriver.support.ui import WebDriverWait
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for argument in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                   '--no-first-run', '--disable-background-networking',
                   '--disable-component-update', '--disable-sync', '--window-size=1280,1000',
                   f'--user-data-dir={tmp_path / "profile"}'):
    options.add_argument(argument)
  driver = webdriver.Chrome(options=options,
                            service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
  try:
    started = time.monotonic()
    driver.get(demo)
    WebDriverWait(driver, 60).until(
        lambda d: 'cpu-x16' in d.find_element(By.ID, 'model').text)
    photo = astronaut(tmp_path / 'astronaut.png')
    driver.find_element(By.ID, 'file').send_keys(str(photo))
    WebDriverWait(driver, 300).until(
        lambda d: d.find_element(By.ID, 'status').text == 'done'
        or d.find_element(By.ID, 'error').is_displayed())
    assert not driver.find_element(By.ID, 'error').is_displayed(), \
        driver.find_element(By.ID, 'error').text
    assert driver.find_element(By.ID, 'restored').is_displayed()
    shown = from_data_url(driver.find_element(By.ID, 'restored').get_attribute('src'))
    assert 'faces restored 1' in driver.find_element(By.ID, 'summary').text
    assert driver.find_element(By.ID, 'download').get_attribute('download') == \
        'astronaut_restored.png'
    bad = tmp_path / 'notes.png'
    bad.write_text('this is text, not a picture')
    driver.find_element(By.ID, 'file').send_keys(str(bad))
    WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, 'error').is_displayed())
    assert 'notes.png is not an image' in driver.find_element(By.ID, 'error').text
    assert not driver.find_element(By.ID, 'result').is_displayed()
    print(f'browser part: {time.monotonic() - started:.1f} s')
  finally:
    driver.quit()
  np.testing.assert_array_equal(shown, cli_restore(photo, tmp_path / 'cli'))


def _grey_demo(max_output_pixels: int):
  from jfsr.config_defaults import base_config
  from jfsr.demo.server import DemoApp
  from jfsr.restoration.options import RestoreOptions
  from jfsr.restoration.restorer import Restorer
  config = base_config()
  config.data.hr_size, config.data.lr_size = 64, 8
  grey = lambda inputs: np.full((len(inputs), 64, 64, 3), 128, np.uint8)
  options = RestoreOptions(detector='haar', max_output_pixels=max_output_pixels)
  return DemoApp(Restorer(config, None, options=options, generate=grey), 'grey')


def test_a_video_above_the_output_bound_is_a_400_not_a_500(tmp_path):
  import cv2
  from jfsr.demo.server import UploadError
  clip = tmp_path / 'clip.mp4'
  writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*'mp4v'), 10, (64, 48))
  for _ in range(3):
    writer.write(np.full((48, 64, 3), 90, np.uint8))
  writer.release()
  demo = _grey_demo(max_output_pixels=1000)  # a 64x48 frame is above it even as it is
  try:
    with pytest.raises(UploadError, match='output bound'):
      demo.restore('clip.mp4', clip.read_bytes())
  finally:
    demo.close()


def test_binding_beyond_this_computer_warns_and_accepts_any_host_name(caplog):
  from jfsr.demo.server import make_server
  demo = _grey_demo(max_output_pixels=10_000)
  with caplog.at_level('WARNING'):
    server = make_server(demo, '0.0.0.0', 0)
  try:
    assert any('no authentication' in r.getMessage() for r in caplog.records)
  finally:
    server.server_close()
    demo.close()


def test_stalled_connections_time_out_and_their_number_is_bounded(monkeypatch):
  """A connection that sends nothing holds its slot only until the socket timeout; while the
  slots are full, a further connection is closed unanswered."""
  import socket
  import threading
  from jfsr.demo import server as demo_server
  monkeypatch.setattr(demo_server, 'MAX_CONNECTIONS', 1)
  monkeypatch.setattr(demo_server, 'CONNECTION_TIMEOUT_S', 1.5)
  demo = _grey_demo(max_output_pixels=10_000)
  server = demo_server.make_server(demo, '127.0.0.1', 0)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  url = f'http://127.0.0.1:{server.server_address[1]}/info'
  try:
    stalled = socket.create_connection(server.server_address)  # sends nothing
    time.sleep(0.3)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
      urllib.request.urlopen(url, timeout=5).read()
    time.sleep(2.0)  # the stalled connection's timeout has passed: its slot is free
    with urllib.request.urlopen(url, timeout=5) as response:
      assert json.loads(response.read())['model'] == 'grey'
    stalled.close()
  finally:
    server.shutdown()
    server.server_close()
    demo.close()
