"""The README's commands, run as written.

The first code block's first line is what a new user runs on a fresh clone: it installs jfsr
and trains the demo model. Its install part is the one ``.ci/run`` performs before the tests
(checked here word for word), and the rest runs here in a fresh copy of the tracked files,
with no ``runs/`` and no state of the working tree, cut short to a few steps. Every other
``python -m jfsr...`` command of the README's shell blocks runs to its ``--help``, and each
flag it spells must be one that command lists.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / 'README.md'
INSTALL = ('python3 -m venv .venv', '. .venv/bin/activate', "pip install -e '.[test]'")


def shell_blocks(text: str) -> list[list[str]]:
  """The commands of each ```bash block: one per line, comments dropped."""
  blocks = re.findall(r'```bash\n(.*?)```', text, flags=re.S)
  return [[line.split(' #')[0].strip() for line in block.splitlines()
           if line.strip() and not line.lstrip().startswith('#')] for block in blocks]


def steps(line: str) -> list[str]:
  return [part.strip() for part in line.split('&&')]


def first_command() -> list[str]:
  return steps(shell_blocks(README.read_text())[0][0])


def test_the_first_line_installs_as_ci_does():
  install = tuple(first_command()[:len(INSTALL)])
  assert install == INSTALL
  ci = (REPO / '.ci' / 'run').read_text()
  assert ' && '.join(INSTALL).replace("pip install", "pip install -q") in ci


def tracked_copy(target: Path) -> Path:
  """The checkout's tracked files (as a fresh clone has them) under ``target``."""
  listed = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO, capture_output=True, check=True)
  for name in listed.stdout.decode().split('\0'):
    if name and (REPO / name).is_file():
      (target / name).parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(REPO / name, target / name)
  return target


def test_the_first_command_trains_the_demo_model_on_a_fresh_clone(tmp_path):
  if not (REPO / '.git').exists():
    pytest.skip('not a git checkout: no list of tracked files to copy')
  clone = tracked_copy(tmp_path / 'clone')
  assert not (clone / 'runs').exists()
  commands = first_command()[len(INSTALL):]
  assert commands[-1].startswith('python -m jfsr.main'), commands
  commands[-1] += ' --config.train.num_steps=3'
  env = {**os.environ, 'PYTHONPATH': str(clone), 'JFSR_ALLOCATOR': 'system'}
  env['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}{env["PATH"]}'
  # One CPU device, as on a new user's machine (the suite simulates four).
  env['XLA_FLAGS'] = ' '.join(flag for flag in env.get('XLA_FLAGS', '').split()
                              if 'device_count' not in flag)
  result = subprocess.run(['bash', '-c', 'set -e; ' + ' && '.join(commands)], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=900)
  report = f'exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}'
  assert result.returncode == 0, report
  workdir = shlex.split(commands[-1])[shlex.split(commands[-1]).index('--workdir') + 1]
  assert re.search(rf'done: 3 steps in \S*{re.escape(workdir)}', result.stderr), report
  assert 'python -m jfsr.evaluate --workdir' in result.stderr, report
  assert (clone / workdir / 'checkpoints' / '3').is_dir(), report


def readme_jfsr_commands() -> list[tuple[str, list[str]]]:
  """``(module, flags)``: every module run as ``python -m jfsr.X`` in the README's shell
  blocks, with every flag its commands there spell."""
  found: dict[str, set[str]] = {}
  for block in shell_blocks(README.read_text()):
    for line in block:
      for step in steps(line):
        words = shlex.split(step)
        if words[:2] == ['python', '-m'] and words[2].startswith('jfsr.'):
          found.setdefault(words[2], set()).update(
              w.split('=')[0] for w in words[3:] if w.startswith('--'))
  return [(module, sorted(names)) for module, names in found.items()]


@pytest.mark.parametrize('module, flags', readme_jfsr_commands(),
                         ids=lambda value: value if isinstance(value, str) else ' '.join(value))
def test_each_readme_command_knows_its_flags(module, flags):
  result = subprocess.run([sys.executable, '-m', module, '--help'], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  listed = set(re.findall(r'--(?:\[no\])?([\w.]+)', result.stdout))
  for flag in flags:
    name = flag[2:]
    if name.startswith('config.'):
      continue  # a config field, checked by the config's own validation at start-up
    assert name in listed or name.removeprefix('no') in listed, (module, flag)
