"""The launch scripts: shellcheck-clean, --dry-run prints exactly what a real run executes,
and a missing setting stops them before any cloud call."""

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAUNCH = REPO / 'launch'
TPU_ENV = {'JFSR_PROJECT': 'proj', 'JFSR_ZONE': 'us-central2-b', 'JFSR_TPU_NAME': 'jfsr-v4',
           'JFSR_TPU_TYPE': 'v4-32', 'JFSR_WORKDIR': 'gs://bucket/run 1'}
TRICKY = "--config.data.root=/data/it's here"


def shellcheck() -> str:
  found = shutil.which('shellcheck') or str(Path(sys.executable).parent / 'shellcheck')
  assert Path(found).exists(), 'shellcheck not installed (pip install -e .[test])'
  return found


def test_scripts_pass_shellcheck():
  scripts = sorted(str(p) for p in LAUNCH.glob('*.sh'))
  assert len(scripts) == 3
  result = subprocess.run([shellcheck(), '-x', *scripts], cwd=REPO, capture_output=True, text=True)
  assert result.returncode == 0, result.stdout


@pytest.fixture
def fake_tools(tmp_path):
  """``gcloud`` and ``git`` stand-ins on PATH that record their arguments as JSON lines."""
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  calls = tmp_path / 'calls.jsonl'
  for tool in ('gcloud', 'git'):
    script = bin_dir / tool
    script.write_text(f'#!{sys.executable}\nimport json, sys\n'
                      f'open({str(calls)!r}, "a").write(json.dumps(sys.argv) + "\\n")\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)

  def recorded():
    if not calls.exists():
      return []
    return [[Path(argv[0]).name, *argv[1:]] for argv in map(json.loads, calls.read_text().splitlines())]
  env = dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', TMPDIR=str(tmp_path))
  return env, recorded


def launch(script, *args, env):
  return subprocess.run(['bash', str(LAUNCH / script), *args], env=env, capture_output=True,
                        text=True, timeout=60)


@pytest.mark.parametrize('command', ['create', 'setup', 'train', 'logs', 'stop', 'eval', 'delete'])
def test_tpu_dry_run_prints_exactly_what_a_real_run_executes(fake_tools, command):
  env, recorded = fake_tools
  env.update(TPU_ENV)
  dry = launch('tpu_vm.sh', '--dry-run', command, '--', TRICKY, env=env)
  assert dry.returncode == 0, dry.stderr
  assert recorded() == [], 'a dry run called a tool'
  printed = [shlex.split(line) for line in dry.stdout.splitlines()]
  real = launch('tpu_vm.sh', command, '--', TRICKY, env=env)
  assert real.returncode == 0, real.stderr
  assert recorded() == printed
  for argv in printed:
    if argv[0] == 'gcloud':
      assert argv[1:4] == ['compute', 'tpus', 'tpu-vm']
      assert '--project=proj' in argv and '--zone=us-central2-b' in argv


def remote_command(argv):
  (command,) = [a[len('--command='):] for a in argv if a.startswith('--command=')]
  return shlex.split(command)


@pytest.mark.parametrize('command, workers, python_command', [
    ('train', '--worker=all', ['-m', 'jfsr.main', '--config=configs/celebahq.py',
                               '--workdir=gs://bucket/run 1', '--distributed=on', TRICKY]),
    # The one evaluation entry point, on the run's workdir (its saved config).
    ('eval', '--worker=0', ['-m', 'jfsr.evaluate', '--workdir=gs://bucket/run 1', TRICKY]),
])
def test_tpu_train_and_eval_run_their_command_on_their_workers(fake_tools, command, workers,
                                                               python_command):
  """``train`` starts the same ``jfsr.main`` on every worker, ``eval`` runs ``jfsr.evaluate``
  on worker 0; the flags after ``--`` are passed on."""
  env, _ = fake_tools
  env.update(TPU_ENV)
  (line,) = launch('tpu_vm.sh', '--dry-run', command, '--', TRICKY, env=env).stdout.splitlines()
  argv = shlex.split(line)
  assert workers in argv
  words = remote_command(argv)
  start = words.index('.venv/bin/python')
  end = words.index('>') if '>' in words else len(words)
  assert words[start + 1:end] == python_command


def test_tpu_create_picks_the_runtime_of_the_tpu_type(fake_tools):
  env, _ = fake_tools
  env.update(TPU_ENV, JFSR_TPU_TYPE='v5litepod-16')
  out = launch('tpu_vm.sh', '--dry-run', 'create', env=env).stdout
  assert '--accelerator-type=v5litepod-16 --version=v2-alpha-tpuv5-lite' in out


@pytest.mark.parametrize('command, unset, message', [
    ('create', 'JFSR_PROJECT', 'set JFSR_PROJECT'),
    ('create', 'JFSR_TPU_TYPE', 'set JFSR_TPU_TYPE'),
    ('train', 'JFSR_WORKDIR', 'set JFSR_WORKDIR'),
    ('delete', 'JFSR_TPU_NAME', 'set JFSR_TPU_NAME'),
])
def test_tpu_missing_setting_stops_before_any_call(fake_tools, command, unset, message):
  env, recorded = fake_tools
  env.update(TPU_ENV)
  del env[unset]
  for args in (('--dry-run', command), (command,)):
    result = launch('tpu_vm.sh', *args, env=env)
    assert result.returncode == 2 and message in result.stderr
  assert recorded() == []


def test_tpu_refuses_a_local_workdir(fake_tools):
  env, recorded = fake_tools
  env.update(TPU_ENV, JFSR_WORKDIR='/home/me/run')
  result = launch('tpu_vm.sh', 'train', env=env)
  assert result.returncode == 2 and 'use a gs:// path' in result.stderr
  assert recorded() == []


def test_gpu_node_dry_run(fake_tools):
  env, _ = fake_tools
  python = str(REPO / '.venv' / 'bin' / 'python')
  env.update(JFSR_WORKDIR='/runs/a')
  out = launch('gpu_node.sh', '--dry-run', 'train', '--', TRICKY, env=env).stdout
  assert shlex.split(out) == [python, '-m', 'jfsr.main', '--config=configs/celebahq.py',
                              '--workdir=/runs/a', '--distributed=off', TRICKY]
  env.update(JFSR_NUM_NODES='2', JFSR_NODE_RANK='1', JFSR_COORDINATOR='10.0.0.1:1234')
  out = launch('gpu_node.sh', '--dry-run', 'train', env=env).stdout
  assert shlex.split(out)[-3:] == ['--coordinator_address=10.0.0.1:1234', '--num_processes=2',
                                   '--process_id=1']
  out = launch('gpu_node.sh', '--dry-run', 'setup', env=env).stdout.splitlines()
  assert shlex.split(out[1])[-1] == 'jax[cuda12]==0.10.2'


@pytest.mark.parametrize('settings, message', [
    ({}, 'set JFSR_WORKDIR'),
    ({'JFSR_WORKDIR': 'w', 'JFSR_NUM_NODES': '2'}, 'set JFSR_NODE_RANK JFSR_COORDINATOR'),
    ({'JFSR_WORKDIR': 'w', 'JFSR_NUM_NODES': '2', 'JFSR_NODE_RANK': '2',
      'JFSR_COORDINATOR': 'h:1'}, 'JFSR_NODE_RANK=2: 0 .. 1'),
])
def test_gpu_node_bad_settings(fake_tools, settings, message):
  env, _ = fake_tools
  env.update(settings)
  result = launch('gpu_node.sh', 'train', env=env)
  assert result.returncode == 2 and message in result.stderr and not result.stdout


def test_launch_pins_the_jax_version_of_pyproject():
  pins = (REPO / 'pyproject.toml').read_text()
  for script in ('tpu_vm.sh', 'gpu_node.sh'):
    version = next(line.split('=')[1] for line in (LAUNCH / script).read_text().splitlines()
                   if line.startswith('JAX_VERSION='))
    assert f'"jax=={version.split()[0]}"' in pins, script
