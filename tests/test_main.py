"""End to end through ``python -m jfsr.main``: train, resume, survive a kill, fail clearly.

Each run is a real subprocess on the ``smoke`` config (4 simulated CPU devices
from conftest's XLA_FLAGS).
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
import pytest

import jax

REPO = Path(__file__).resolve().parent.parent
SMOKE = ['--config', 'configs/celebahq.py:smoke', '--config.train.num_steps=6',
         '--config.train.checkpoint_every_steps=2', '--config.train.batch_size=4']


def run_main(workdir, *extra, check=True):
  command = [sys.executable, '-m', 'jfsr.main', *SMOKE, '--workdir', str(workdir), *extra]
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
  if check and result.returncode != 0:
    raise AssertionError(f'{command} failed:\n{result.stderr[-5000:]}')
  return result


def saved_state(workdir, step):
  return ocp.StandardCheckpointer().restore(Path(workdir) / 'checkpoints' / str(step) / 'state')


def assert_trees_equal(a, b):
  flat_a, tree_a = jax.tree.flatten(a)
  flat_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(flat_a, flat_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """An uninterrupted 6-step run."""
  workdir = tmp_path_factory.mktemp('runs') / 'uninterrupted'
  result = run_main(workdir)
  return workdir, result


def test_train_writes_checkpoints_logs_and_samples(trained):
  workdir, result = trained
  steps = sorted(int(p.name) for p in (workdir / 'checkpoints').iterdir() if p.name.isdigit())
  assert steps == [2, 4, 6]
  assert list(workdir.glob('events.out.tfevents.*')), 'no TensorBoard event file'
  assert (workdir / 'samples' / 'step_0000006.png').is_file()
  assert 'parameters: generator 82,642' in result.stderr
  state = saved_state(workdir, 6)
  assert int(state['step']) == 6
  assert set(state) >= {'generator', 'global_d', 'local_d', 'rng', 'step'}


def test_second_invocation_resumes_at_the_saved_step(trained, tmp_path):
  workdir, _ = trained
  result = run_main(workdir, '--config.train.num_steps=8')
  assert 'resumed from the checkpoint of step 6' in result.stderr
  assert 'step 7/8' in result.stderr and 'step 1/8' not in result.stderr
  assert int(saved_state(workdir, 8)['step']) == 8


def test_killed_run_resumes_to_the_same_parameters(trained, tmp_path):
  reference_workdir, _ = trained
  workdir = tmp_path / 'killed'
  command = [sys.executable, '-m', 'jfsr.main', *SMOKE, '--workdir', str(workdir)]
  process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
  killed = False
  for line in process.stderr:
    if 'step 3/6' in line:  # the checkpoint of step 2 exists, the one of step 4 does not yet
      process.send_signal(signal.SIGKILL)
      killed = True
      break
  process.wait(timeout=600)
  assert killed and process.returncode == -signal.SIGKILL
  result = run_main(workdir)
  assert 'resumed from the checkpoint of step' in result.stderr
  assert_trees_equal(saved_state(workdir, 6), saved_state(reference_workdir, 6))


@pytest.mark.parametrize('arguments, message', [
    (['--config', 'configs/celebahq.py:nosuch'], "unknown variant 'nosuch'"),
    (['--config.train.batch_size=abc'], 'batch_size'),
    (['--config.train.batch_size=6'], 'train.batch_size=6 must be a positive multiple of the 4'),
    (['--mode', 'eval'], '--mode eval is reserved'),
])
def test_bad_input_gets_a_one_line_error(tmp_path, arguments, message):
  result = run_main(tmp_path / 'run', *arguments, check=False)
  assert result.returncode != 0
  assert message in result.stderr
  assert 'Traceback' not in result.stderr


def test_missing_workdir_parent_is_refused(tmp_path):
  result = run_main(tmp_path / 'no' / 'such' / 'dir', check=False)
  assert result.returncode != 0
  assert 'the parent directory' in result.stderr and 'does not exist' in result.stderr
  assert 'Traceback' not in result.stderr


def test_incompatible_checkpoint_is_refused(trained):
  workdir, _ = trained
  result = run_main(workdir, '--config.model.ngf=8', check=False)
  assert result.returncode != 0
  assert "model.ngf: 4 saved, 8 now" in result.stderr
  assert 'Traceback' not in result.stderr


def test_non_finite_loss_stops_with_the_step_and_term(tmp_path):
  result = run_main(tmp_path / 'nan', '--config.optimizer.learning_rate=1e30', check=False)
  assert result.returncode != 0
  assert 'non-finite' in result.stderr and 'step ' in result.stderr
  assert 'Traceback' not in result.stderr


def test_unknown_config_field_is_one_line(tmp_path):
  result = run_main(tmp_path / 'run', '--config.train.nosuch=1', check=False)
  assert result.returncode != 0
  assert 'the config has no field' in result.stderr and 'nosuch' in result.stderr
  assert 'Traceback' not in result.stderr


def test_resume_with_another_worker_count_repositions_by_step(trained, tmp_path):
  reference_workdir, _ = trained
  workdir = tmp_path / 'workers'
  run_main(workdir, '--config.train.num_steps=2', '--config.data.num_workers=0')
  result = run_main(workdir, '--config.data.num_workers=2')
  assert 'repositioning the data by step' in result.stderr
  assert_trees_equal(saved_state(workdir, 6), saved_state(reference_workdir, 6))
