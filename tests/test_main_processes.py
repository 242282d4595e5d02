"""End to end through ``python -m jfsr.main``, runs of their own: SIGTERM, bad input, help, and
two processes training like one (each a real subprocess on the ``smoke`` config)."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from main_runs import REPO, SMOKE, all_gone, child_pids, restored_here, run_main, saved_state
from tree_checks import assert_same_state


def _start_with_a_worker(workdir):
  """A long smoke run with one grain worker process; returns it once step 3 is logged, with
  the worker's pid."""
  command = [sys.executable, '-m', 'jfsr.main', *SMOKE, '--workdir', str(workdir),
             '--config.train.num_steps=100000', '--config.train.checkpoint_every_steps=100000',
             '--config.data.num_workers=1']
  process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
  lines = []
  for line in process.stderr:
    lines.append(line)
    if 'step 3/100000' in line:
      break
  workers = child_pids(process.pid)
  assert workers, ''.join(lines[-30:])
  return process, workers, lines


def test_sigterm_saves_the_current_step_and_leaves_no_worker(tmp_path):
  process, workers, _ = _start_with_a_worker(tmp_path / 'stopped')
  process.send_signal(signal.SIGTERM)
  rest = process.stderr.read()
  process.wait(timeout=300)
  assert process.returncode == 0, rest[-3000:]
  assert all_gone(workers), 'a data worker outlived the trainer'
  message = [l for l in rest.splitlines() if 'SIGTERM received: saved the checkpoint of step' in l]
  assert message, rest[-3000:]
  saved = int(message[0].split('checkpoint of step ')[1].split()[0])
  # The step it was in when the signal came, not the last periodic checkpoint (none yet).
  assert saved >= 3 and int(saved_state(tmp_path / 'stopped', saved)['step']) == saved


def test_ctrl_c_saves_like_sigterm_and_exits_130(tmp_path):
  """SIGINT saves the step it came in and exits with 130, in one warning line and no
  traceback; the next start removes an unfinished save's temporary folder, saying so."""
  process, workers, _ = _start_with_a_worker(tmp_path / 'stopped')
  process.send_signal(signal.SIGINT)
  rest = process.stderr.read()
  process.wait(timeout=300)
  assert process.returncode == 130, rest[-3000:]
  assert 'Traceback' not in rest and 'KeyboardInterrupt' not in rest, rest[-3000:]
  assert all_gone(workers), 'a data worker outlived the trainer'
  (message,) = [l for l in rest.splitlines() if 'SIGINT received: saved the checkpoint' in l]
  saved = int(message.split('checkpoint of step ')[1].split()[0])
  assert saved >= 3 and int(saved_state(tmp_path / 'stopped', saved)['step']) == saved
  stale = tmp_path / 'stopped' / 'checkpoints' / f'{saved + 1}.orbax-checkpoint-tmp-1234'
  stale.mkdir()
  (stale / 'half-written').write_bytes(b'x')
  result = run_main(tmp_path / 'stopped', f'--config.train.num_steps={saved + 1}')
  assert f'removed {stale}' in result.stderr and not stale.exists()
  assert f'resumed from the checkpoint of step {saved}' in result.stderr


def test_a_failed_checkpoint_save_is_one_line_naming_the_step():
  from jfsr import checkpointing

  class FullDisk:
    directory = '/runs/x/checkpoints'

    def wait_until_finished(self):
      pass

    def check_for_errors(self):
      raise OSError(28, 'No space left on device')
  with pytest.raises(checkpointing.CheckpointSaveError) as caught:
    checkpointing.check_saved(FullDisk(), 250, wait=True)
  message = str(caught.value)
  assert 'step 250' in message and 'No space left on device' in message
  assert 'resume' in message and '\n' not in message


@pytest.mark.parametrize('arguments, message', [
    (['--config', 'configs/celebahq.py:nosuch'], "unknown variant 'nosuch'"),
    (['--config.train.batch_size=abc'], 'batch_size'),
    (['--config.train.batch_size=6'], 'train.batch_size=6 must be a positive multiple of the 4'),
    (['--config.eval.num_images=9'], 'eval.num_images=9 is more than the test split holds'),
    (['--config', 'configs/nosuch.py'], 'configs/nosuch.py: cannot be loaded'),
    (['--config.train.num_steps=-5'], 'train.num_steps=-5: a positive count, or -1'),
    (['--config.data.frame_share=2'], 'data.frame_share=2'),
    (['--config.perceptual.taps=max'], "perceptual.taps='max': must be one of 'relu', 'pool'"),
])
def test_bad_input_gets_a_one_line_error(tmp_path, arguments, message):
  result = run_main(tmp_path / 'run', *arguments, check=False)
  assert result.returncode != 0
  assert message in result.stderr
  assert 'Traceback' not in result.stderr
  assert len([l for l in result.stderr.splitlines() if l.startswith('error:')]) == 1


@pytest.mark.parametrize('arguments, message', [
    (['--steps=two'], 'give checkpoint steps as integers'),
    ([], 'holds no checkpoint'),
])
def test_evaluating_a_run_without_checkpoints_is_a_one_line_error(tmp_path, arguments, message):
  result = subprocess.run([sys.executable, '-m', 'jfsr.evaluate', '--workdir',
                           str(tmp_path / 'run'), *arguments], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode != 0 and message in result.stderr
  assert 'Traceback' not in result.stderr
  assert len([l for l in result.stderr.splitlines() if l.startswith('error:')]) == 1


def test_a_workdir_under_a_file_is_refused(tmp_path):
  """Missing parents are created (the README's first command, tests/test_readme.py); a file
  where a parent folder must be is refused in one line."""
  blocker = tmp_path / 'notes'
  blocker.write_text('a file of the user')
  result = run_main(blocker / 'dir', check=False)
  assert result.returncode != 0
  assert f'({blocker} is a file)' in result.stderr
  assert 'Traceback' not in result.stderr and blocker.read_text() == 'a file of the user'


def test_non_finite_loss_stops_with_the_step_and_term(tmp_path):
  result = run_main(tmp_path / 'nan', '--config.optimizer.learning_rate=1e30', check=False)
  assert result.returncode != 0
  assert 'non-finite' in result.stderr and 'step ' in result.stderr
  assert 'Traceback' not in result.stderr


def test_unknown_config_field_is_one_line(tmp_path):
  result = run_main(tmp_path / 'run', '--config.train.bach_size=1', check=False)
  assert result.returncode != 0
  (line,) = [line for line in result.stderr.splitlines() if line.strip()]
  assert line.startswith("error: the config has no field 'bach_size'")
  assert 'Did you mean "batch_size"' in line and '\\n' not in line and "\\'" not in line


@pytest.mark.parametrize('module, source, flag', [
    ('jfsr.main', 'jfsr/main.py', '--workdir'),
    ('jfsr.restore', 'jfsr/restore.py', '--input'),
    ('jfsr.evaluate', 'jfsr/evaluate/__init__.py', '--workdir'),
    ('jfsr.export', 'jfsr/export/__init__.py', '--to'),
    ('jfsr.demo', 'jfsr/demo/__init__.py', '--port'),
])
def test_help_is_the_commands_own_and_exits_0(module, source, flag):
  import ast
  result = subprocess.run([sys.executable, '-m', module, '--help'], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  doc = ast.get_docstring(ast.parse((REPO / source).read_text()))
  assert doc.splitlines()[0] in result.stdout and flag in result.stdout


# --- Multi-process: 2 processes x 2 CPU devices against 1 process x 4 devices --

def free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def run_processes(workdir, *extra, num_processes=2, overrides_of=lambda rank: ()):
  """``num_processes`` mains joined through a local coordinator, 2 CPU devices each."""
  port = free_port()
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2',
             JAX_PLATFORMS='cpu')
  processes = [subprocess.Popen(
      [sys.executable, '-m', 'jfsr.main', *SMOKE, '--workdir', str(workdir), *extra,
       *overrides_of(rank), f'--coordinator_address=localhost:{port}',
       f'--num_processes={num_processes}', f'--process_id={rank}'],
      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for rank in range(num_processes)]
  outputs = [p.communicate(timeout=600) for p in processes]
  return [(p.returncode, err) for p, (_, err) in zip(processes, outputs)]


# As in test_train_step: SGD (a wrong reduction shows; Adam would normalise it
# away), 2 examples per device, two steps.
# pix2pix's initialisation: under PyTorch's (the default) the smoke network amplifies float
# rounding, which differs with how the batch is split (see tests/test_train_step.py).
# The local D from the first step: every step then goes through all three networks' reductions,
# and each process traces and compiles one step instead of two.
SGD = ('--config.optimizer.name=sgd', '--config.optimizer.learning_rate=0.05',
       '--config.train.batch_size=8', '--config.train.num_steps=2', '--config.model.init=pix2pix',
       '--config.loss.local_d_start_epoch=0')


def test_two_processes_train_like_one_process_with_as_many_devices(tmp_path, smoke_config):
  results = run_processes(tmp_path / 'two', *SGD, '--config.eval.every_steps=2')
  for rank, (code, err) in enumerate(results):
    assert code == 0, f'process {rank} failed:\n{err[-5000:]}'
  assert 'process 1 of 2 joined' in results[1][1]
  # Evaluation ran on both processes; process 0 wrote it.
  assert all('step 2, 8 test faces: PSNR' in err for _, err in results)
  assert json.loads((tmp_path / 'two' / 'eval' / '2' / 'metrics.json').read_text())['num_images'] == 8
  run_main(tmp_path / 'one', *SGD)

  config = smoke_config
  config.optimizer.name = 'sgd'
  config.train.batch_size = 8
  config.model.init = 'pix2pix'
  config.loss.local_d_start_epoch = 0
  two = restored_here(tmp_path / 'two', 2, config)  # also: a 2-process checkpoint restores here
  one = restored_here(tmp_path / 'one', 2, config)
  assert int(two.step) == 2
  assert_same_state(one, two)

  # ... and one process picks the 2-process run up where it stopped.
  result = run_main(tmp_path / 'two', *SGD, '--config.train.num_steps=4')
  assert 'resumed from the checkpoint of step 2' in result.stderr
  assert int(saved_state(tmp_path / 'two', 4)['step']) == 4


def test_processes_with_different_configs_stop_at_start(tmp_path):
  results = run_processes(tmp_path / 'split', overrides_of=lambda rank: (
      f'--config.loss.lambda_l1={10 * (rank + 1)}',))
  for code, err in results:
    assert code != 0
    assert 'the processes were started with different configs' in err
    assert 'Traceback' not in err
  assert not (tmp_path / 'split' / 'checkpoints').exists()
