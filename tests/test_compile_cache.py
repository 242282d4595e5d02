"""The persistent compilation cache: on in the project's cache folder, bounded in size, and
left alone where the user chose a folder of their own."""

import json
import os
import subprocess
import sys

import pytest

# Enabled once JAX is imported (a library caller) and, as the commands do, before (through
# the environment JAX reads its settings from).
PROBE = '''
import json, jax, jax.numpy as jnp
from jfsr import compile_cache
compile_cache.enable()
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
jax.jit(lambda x: x * 3 + 1)(jnp.ones(7)).block_until_ready()
print(json.dumps([jax.config.jax_compilation_cache_dir, jax.config.jax_compilation_cache_max_size]))
'''


PROBE_BEFORE_JAX = PROBE.replace('import json, jax, jax.numpy as jnp\nfrom jfsr import compile_cache\n'
                                 'compile_cache.enable()\n',
                                 'from jfsr import compile_cache\ncompile_cache.enable()\n'
                                 'import json, jax, jax.numpy as jnp\n')
assert PROBE_BEFORE_JAX != PROBE


@pytest.fixture(params=[PROBE, PROBE_BEFORE_JAX], ids=['after-jax-import', 'before-jax-import'])
def probe_script(request):
  return request.param


def _run_probe(env_overrides, script=PROBE) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if not k.startswith('JAX_COMPILATION_CACHE')}
  env.update(env_overrides, JAX_PLATFORMS='cpu')
  result = subprocess.run([sys.executable, '-c', script], env=env, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  return result


def _probe(env_overrides, script=PROBE):
  """``[cache folder, max size]`` as a fresh process that enabled the cache sees them."""
  return json.loads(_run_probe(env_overrides, script).stdout.strip().splitlines()[-1])


def test_the_cache_lives_in_the_project_folder_bounded_and_is_written(tmp_path, probe_script):
  from jfsr.compile_cache import MAX_BYTES
  folder, max_size = _probe({'JFSR_CACHE': str(tmp_path)}, probe_script)
  assert (folder, max_size) == (str(tmp_path / 'xla'), MAX_BYTES)
  assert any(p.name.startswith('jit_') for p in (tmp_path / 'xla').iterdir())


def test_a_cache_folder_the_user_chose_keeps_the_users_size_policy(tmp_path, probe_script):
  folder, max_size = _probe({'JFSR_CACHE': str(tmp_path / 'ours'),
                             'JAX_COMPILATION_CACHE_DIR': str(tmp_path / 'theirs')}, probe_script)
  assert (folder, max_size) == (str(tmp_path / 'theirs'), -1)
  assert not (tmp_path / 'ours').exists()


def test_an_entry_left_without_its_access_time_does_not_stop_new_writes(tmp_path):
  # An entry written while no bound was set (an older jfsr, or a process killed between the
  # entry and its access-time file) has no KEY-atime; JAX 0.10's eviction sweep reads every
  # entry's, and failed every later write (jax-ml/jax#39880) with only a warning.
  folder = tmp_path / 'xla'
  folder.mkdir()
  (folder / 'jit_left_behind-0123-cache').write_bytes(b'\0' * 64)
  result = _run_probe({'JFSR_CACHE': str(tmp_path)})
  assert 'Error writing persistent compilation cache' not in result.stderr
  assert (folder / 'jit_left_behind-0123-cache').exists()  # far below the bound: kept
  written = {p.name for p in folder.iterdir()} - {'jit_left_behind-0123-cache'}
  assert any(name.startswith('jit_') and name.endswith('-cache') for name in written), written
