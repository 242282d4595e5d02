"""Nothing a user has is lost, the other side: what ``--overwrite`` replaces (a result, a
link, an exported file) and what it never touches (inputs, a link's target). The refusals
themselves are cases of the bad-input table (``tests/test_bad_inputs.py``)."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from jfsr.data.synthetic import draw_face

REPO = Path(__file__).resolve().parent.parent


def digest(path: Path) -> str:
  return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(*folders: Path) -> dict[Path, str]:
  """Every file under ``folders`` (links not followed) -> its bytes' hash, or the link's
  target."""
  found = {}
  for folder in folders:
    for path in sorted(folder.rglob('*')) if folder.is_dir() else [folder]:
      if path.is_symlink():
        found[path] = 'link -> ' + os.readlink(path)
      elif path.is_file():
        found[path] = digest(path)
  return found


def command(module: str, *args) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, '-m', module, *map(str, args)], cwd=REPO,
                        capture_output=True, text=True, timeout=600,
                        env={**os.environ, 'JFSR_ALLOCATOR': 'system'})


def assert_refused(result: subprocess.CompletedProcess, words: str) -> None:
  assert result.returncode != 0, result.stdout[-2000:]
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert len(errors) == 1 and words in errors[0], result.stderr[-3000:]


def face_png(path: Path, index: int = 0) -> Path:
  Image.fromarray(draw_face(index, 48)[0]).save(path)
  return path


@pytest.fixture
def folders(tmp_path):
  inputs, output = tmp_path / 'in', tmp_path / 'out'
  inputs.mkdir()
  output.mkdir()
  return inputs, output


def test_overwrite_replaces_an_existing_result_whole(folders):
  inputs, output = folders
  face_png(inputs / 'a.png')
  (output / 'a.png').write_bytes(b'a file of the user')
  before = snapshot(inputs)
  result = command('jfsr.restore', '--model', 'cpu-x16', '--aligned', '--input', inputs,
                   '--output', output, '--overwrite')
  assert result.returncode == 0, result.stderr[-3000:]
  assert Image.open(output / 'a.png').size == (128, 128)
  assert not [p for p in output.iterdir() if p.name.startswith('.')]  # no temporary left
  assert snapshot(inputs) == before


def test_overwrite_replaces_a_link_in_the_output_folder_never_its_target(folders, tmp_path):
  inputs, output = folders
  face_png(inputs / 'a.png')
  elsewhere = tmp_path / 'precious.png'
  elsewhere.write_bytes(b'not to be touched')
  (output / 'a.png').symlink_to(elsewhere)
  before = snapshot(elsewhere)
  result = command('jfsr.restore', '--model', 'cpu-x16', '--aligned', '--input', inputs,
                   '--output', output, '--overwrite')
  assert result.returncode == 0, result.stderr[-3000:]
  assert not (output / 'a.png').is_symlink() and digest(elsewhere) == before[elsewhere]


def test_an_unwritable_output_is_refused_before_any_work(folders):
  if os.geteuid() == 0:
    pytest.skip('root writes into read-only folders: the check cannot be shown as root')
  inputs, output = folders
  face_png(inputs / 'a.png')
  output.chmod(0o500)
  try:
    assert_refused(command('jfsr.restore', '--model', 'cpu-x16', '--aligned', '--input',
                           inputs, '--output', output / 'sub'), 'cannot write')
  finally:
    output.chmod(0o700)


def test_export_overwrite_replaces_the_file_whole(tmp_path):
  from jfsr.pretrained import generators
  model = tmp_path / 'model.npz'
  model.write_bytes((generators.MODELS_DIR / generators.SHIPPED['cpu-x16'].filename).read_bytes())
  existing = tmp_path / 'g.pth'
  existing.write_bytes(b'the user\'s file')
  result = command('jfsr.export', '--model', model, '--output', existing, '--overwrite')
  assert result.returncode == 0, result.stderr[-3000:]
  import zipfile
  with zipfile.ZipFile(existing) as archive:  # a whole torch archive, named after the file
    assert 'g/data.pkl' in archive.namelist()
  assert sorted(p.name for p in tmp_path.iterdir()) == ['g.pth', 'model.npz']



@pytest.mark.parametrize('signal_name', ['SIGINT', 'SIGTERM'])
def test_an_interrupted_restore_ends_with_its_summary_and_leaves_whole_files(folders,
                                                                             signal_name):
  """Stopped while it works through a folder (``--batch_size 1``: a result at a time):
  status 130, the summary and one error line, no traceback, each result there whole, no
  private folder left."""
  import signal
  import time
  inputs, output = folders
  for index in range(40):
    face_png(inputs / f'{index:02d}.png', index)
  process = subprocess.Popen(
      [sys.executable, '-m', 'jfsr.restore', '--model', 'cpu-x16', '--aligned', '--batch_size',
       '1', '--input', inputs, '--output', output], cwd=REPO, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True, env={**os.environ, 'JFSR_ALLOCATOR': 'system'})
  deadline = time.monotonic() + 300
  while not list(output.glob('*.png')) and time.monotonic() < deadline:
    time.sleep(0.1)
  process.send_signal(getattr(signal, signal_name))
  stdout, stderr = process.communicate(timeout=120)
  assert process.returncode == 130, stderr[-3000:]
  assert 'Traceback' not in stderr, stderr[-3000:]
  errors = [line for line in stderr.splitlines() if line.startswith('error:')]
  assert len(errors) == 1 and 'interrupted' in errors[0], stderr[-3000:]
  written = sorted(output.iterdir())
  assert f'processed {len(written)}' in stdout, stdout
  assert 0 < len(written) < 40 and all(p.suffix == '.png' for p in written), written
  for path in written:
    Image.open(path).load()  # whole


def test_a_killed_runs_leftovers_are_removed_by_the_next_run(folders):
  """A restore killed with SIGKILL leaves its private folder; the next restore into that
  folder removes it (its process is gone) and leaves a running writer's alone."""
  inputs, output = folders
  face_png(inputs / 'a.png')
  dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                        capture_output=True, text=True, check=True).stdout.strip()
  leftover = output / f'.jfsr-{dead}-0.partial'
  leftover.mkdir()
  (leftover / 'a.png').write_bytes(b'half a result')
  running = output / f'.jfsr-{os.getppid()}-0.partial'
  running.mkdir()
  result = command('jfsr.restore', '--model', 'cpu-x16', '--aligned', '--input', inputs,
                   '--output', output)
  assert result.returncode == 0, result.stderr[-3000:]
  assert not leftover.exists() and running.is_dir() and (output / 'a.png').is_file()


def test_two_restores_into_one_folder_never_replace_each_others_results(tmp_path):
  """Inputs A/x.png and B/x.png restored at once into one folder, no --overwrite: one
  result is written, and the other run says it was not (refused up front, or skipped when
  the file appeared while it worked); neither ends with 0 having lost the other's file."""
  output = tmp_path / 'out'
  runs = []
  for name, index in (('A', 0), ('B', 5)):
    (tmp_path / name).mkdir()
    face_png(tmp_path / name / 'x.png', index)
  for name in ('A', 'B'):
    runs.append(subprocess.Popen(
        [sys.executable, '-m', 'jfsr.restore', '--model', 'cpu-x16', '--aligned', '--input',
         tmp_path / name, '--output', output], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, 'JFSR_ALLOCATOR': 'system'}))
  done = [(run.wait(timeout=600), run.stderr.read()) for run in runs]
  assert sorted(code == 0 for code, _ in done) == [False, True], done
  loser = next(err for code, err in done if code != 0)
  assert 'x.png' in loser and 'Traceback' not in loser, loser
  assert sorted(p.name for p in output.iterdir()) == ['x.png']
