"""Checkpoints that fail well: a damaged step is one line naming it (restore, evaluate), and
training resumes from the newest step that reads, keeping the broken one aside."""

import shutil
import subprocess
import sys

import pytest

from main_runs import REPO, run_main, saved_state


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """A smoke run with checkpoints of steps 2 and 4 (step 6 is trained later)."""
  workdir = tmp_path_factory.mktemp('broken') / 'run'
  run_main(workdir, '--config.train.num_steps=4')
  return workdir


def damaged_copy(run, tmp_path, how: str):
  """A copy of ``run`` whose step 4 has every array data file of its state truncated, zeroed
  or removed (the arrays are spread over files by content hash), or its config removed."""
  copy = tmp_path / 'run'
  shutil.copytree(run, copy)
  state = copy / 'checkpoints' / '4' / 'state'
  data = [p for p in state.rglob('*') if p.is_file() and p.parent.name == 'd']
  assert data
  for path in data:
    if how == 'truncated':
      path.write_bytes(path.read_bytes()[:path.stat().st_size // 3])
    elif how == 'zeroed':
      path.write_bytes(bytes(path.stat().st_size))
    elif how == 'missing':
      path.unlink()
  if how == 'no config':
    shutil.rmtree(copy / 'checkpoints' / '4' / 'config')
  return copy


def one_error_line(result) -> str:
  assert result.returncode != 0, result.stderr[-3000:]
  assert 'Traceback' not in result.stderr, result.stderr[-6000:]
  (line,) = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  return line


def restore_from(copy, tmp_path):
  return subprocess.run(
      [sys.executable, '-m', 'jfsr.restore', '--checkpoint', str(copy), '--aligned', '--input',
       str(REPO / 'docs' / 'teaser.png'), '--output', str(tmp_path / 'out')],
      cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize('how', ['zeroed', 'missing', 'no config'])
def test_restoring_from_a_broken_step_is_one_line(run, tmp_path, how):
  line = one_error_line(restore_from(damaged_copy(run, tmp_path, how), tmp_path))
  assert 'step 4' in line and 'older checkpoints: 2' in line, line
  assert not (tmp_path / 'out').exists() or not any((tmp_path / 'out').iterdir())


def test_a_truncated_step_is_one_line_everywhere_and_training_resumes_before_it(run, tmp_path):
  copy = damaged_copy(run, tmp_path, 'truncated')
  line = one_error_line(restore_from(copy, tmp_path))
  assert 'step 4' in line and 'older checkpoints: 2' in line, line
  evaluation = subprocess.run([sys.executable, '-m', 'jfsr.evaluate', '--workdir', str(copy)],
                              cwd=REPO, capture_output=True, text=True, timeout=600)
  assert 'step 4' in one_error_line(evaluation)
  # Training with the same workdir: step 4 set aside (kept), resumed from 2, on to 6.
  resumed = run_main(copy)
  assert 'cannot be read' in resumed.stderr and 'kept as' in resumed.stderr
  assert 'resumed from the checkpoint of step 2' in resumed.stderr
  assert (copy / 'checkpoints' / '4.broken').is_dir()
  assert int(saved_state(copy, 6)['step']) == 6
