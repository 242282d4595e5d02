"""Running ``python -m jfsr.main`` as a subprocess on the smoke config, reading its
checkpoints back, and watching its processes: shared by the end-to-end test files."""

import functools
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

REPO = Path(__file__).resolve().parent.parent
SMOKE = ['--config', 'configs/celebahq.py:smoke', '--config.train.num_steps=6',
         '--config.train.checkpoint_every_steps=2', '--config.train.batch_size=4']


def run_main(workdir, *extra, check=True):
  command = [sys.executable, '-m', 'jfsr.main', *SMOKE, '--workdir', str(workdir), *extra]
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
  if check and result.returncode != 0:
    raise AssertionError(f'{command} failed:\n{result.stderr[-5000:]}')
  return result


def run_evaluate(workdir, *extra, check=True):
  """``python -m jfsr.evaluate --workdir WORKDIR`` (the run's saved config) as a subprocess."""
  command = [sys.executable, '-m', 'jfsr.evaluate', '--workdir', str(workdir), *extra]
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


def child_pids(pid: int) -> set[int]:
  """Live child processes of ``pid`` (from /proc)."""
  found = set()
  for entry in Path('/proc').iterdir():
    if entry.name.isdigit():
      try:
        fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
      except OSError:
        continue
      if int(fields[1]) == pid and fields[0] != 'Z':
        found.add(int(entry.name))
  return found


def alive(pid: int) -> bool:
  try:
    state = (Path('/proc') / str(pid) / 'stat').read_text().rsplit(')', 1)[1].split()[0]
  except OSError:
    return False
  return state != 'Z'


def all_gone(pids) -> bool:
  """Waits up to 10 s for the processes to end (a killed parent's workers go within moments)."""
  for _ in range(100):
    if not any(alive(pid) for pid in pids):
      return True
    time.sleep(0.1)
  return False


def restored_here(workdir, step, config):
  """The state of ``workdir``'s checkpoint ``step``, restored onto this process's devices."""
  from jfsr import checkpointing, train_step
  from jfsr.data import pipeline
  from jfsr.train_state import create_train_state
  abstract = jax.eval_shape(functools.partial(create_train_state, config), jax.random.PRNGKey(0))
  mngr = checkpointing.manager(workdir, 3)
  state, _ = checkpointing.restore(mngr, step, abstract, iter(pipeline.make_train_dataset(config)),
                                   train_step.replicated(train_step.make_mesh()))
  return jax.device_get(state)
