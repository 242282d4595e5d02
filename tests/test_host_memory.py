"""jfsr.host_memory: which allocator settings a restart adds, that the restart keeps the
command, and that freed big blocks then come back without faulting in again."""

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jfsr import host_memory

TUNABLE = host_memory.HUGE_PAGES_TUNABLE


@pytest.mark.parametrize('environ, jemalloc, added', [
    ({}, None, {'GLIBC_TUNABLES': TUNABLE}),
    ({'GLIBC_TUNABLES': 'glibc.malloc.arena_max=2'}, None,
     {'GLIBC_TUNABLES': f'glibc.malloc.arena_max=2:{TUNABLE}'}),
    ({}, 'libjemalloc.so.2', {'LD_PRELOAD': 'libjemalloc.so.2',
                              'MALLOC_CONF': host_memory.JEMALLOC_CONF}),
    ({'MALLOC_CONF': 'narenas:2'}, 'libjemalloc.so.2',
     {'LD_PRELOAD': 'libjemalloc.so.2', 'MALLOC_CONF': 'narenas:2'}),
    # Already restarted, the user's own choice, or opted out: nothing to add.
    ({'GLIBC_TUNABLES': TUNABLE}, None, None),
    ({'LD_PRELOAD': 'libjemalloc.so.2'}, 'libjemalloc.so.2', None),
    ({'LD_PRELOAD': '/opt/libtcmalloc.so'}, 'libjemalloc.so.2', None),
    ({'JFSR_ALLOCATOR': 'system'}, 'libjemalloc.so.2', None),
])
def test_allocator_environment(environ, jemalloc, added):
  assert host_memory.allocator_environment(environ, jemalloc) == added


# Restarts, then prints its arguments, the allocator it runs with and the page
# faults of a second 64 MiB malloc-touch-free round (the first maps fresh memory).
_PROGRAM = """
import ctypes, os, resource, sys
from jfsr import host_memory
host_memory.restart_with_fast_allocator()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
for _ in range(2):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  block = libc.malloc(64 << 20)
  libc.memset(block, 1, 64 << 20)
  libc.free(block)
  faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(repr(sys.argv[1:]), '|', host_memory.describe_allocator(), '|', faults)
"""


def _run(tmp_path, **env) -> tuple[str, str, int]:
  script = tmp_path / 'probe.py'
  script.write_text(_PROGRAM)
  environ = {k: v for k, v in os.environ.items()
             if k not in ('GLIBC_TUNABLES', 'LD_PRELOAD', 'MALLOC_CONF', 'JFSR_ALLOCATOR',
                          'JAX_PLATFORMS', host_memory.DECISION_VARIABLE)}
  out = subprocess.run([sys.executable, str(script), 'a b', '--flag=1'], env={**environ, **env},
                       check=True, text=True, capture_output=True).stdout
  arguments, allocator, faults = out.split(' | ')
  return arguments, allocator, int(faults)


def _fast_path_expected() -> bool:
  # jemalloc retains freed pages; glibc's huge pages need THP in 'madvise' mode.
  thp = Path('/sys/kernel/mm/transparent_hugepage/enabled')
  return bool(ctypes.util.find_library('jemalloc')) or (thp.exists() and '[madvise]' in thp.read_text())


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc/jemalloc settings')
def test_restart_keeps_the_command_and_cuts_page_faults(tmp_path):
  arguments, allocator, faults_fast = _run(tmp_path)
  assert arguments == "['a b', '--flag=1']"
  assert allocator in ('glibc, huge pages', f'jemalloc ({host_memory.JEMALLOC_CONF})')
  arguments, allocator, faults_system = _run(tmp_path, JFSR_ALLOCATOR='system')
  assert arguments == "['a b', '--flag=1']" and allocator == 'as started'
  if _fast_path_expected():
    pages = (64 << 20) // os.sysconf('SC_PAGE_SIZE')
    assert faults_system > pages // 2  # glibc maps the block afresh and faults it in again
    assert faults_fast < pages // 20


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc/jemalloc settings')
def test_no_restart_when_the_step_runs_on_an_accelerator(tmp_path):
  arguments, allocator, _ = _run(tmp_path, JAX_PLATFORMS='cuda')
  assert arguments == "['a b', '--flag=1']" and allocator == 'as started'


@pytest.mark.parametrize('environ, devices, plugins, platform', [
    ({'JAX_PLATFORMS': 'cpu'}, ['/dev/nvidia0'], {'jax_cuda12_plugin'}, 'cpu'),
    ({'JAX_PLATFORMS': 'cuda,cpu'}, [], set(), 'cuda'),
    ({'JAX_PLATFORMS': 'tpu'}, [], set(), 'tpu'),
    ({}, [], {'jax_cuda12_plugin', 'libtpu'}, 'cpu'),  # plugins but no device files
    ({}, ['/dev/nvidia0'], set(), 'cpu'),  # a GPU that no installed JAX plugin drives
    ({}, ['/dev/nvidia0'], {'jax_cuda12_plugin'}, 'gpu'),
    ({}, ['/dev/accel0'], {'libtpu'}, 'tpu'),
    ({}, ['/dev/vfio/0'], {'libtpu'}, 'tpu'),
])
def test_step_platform_is_found_without_importing_jax(monkeypatch, environ, devices, plugins,
                                                      platform):
  import fnmatch
  monkeypatch.setattr(host_memory.glob, 'glob',
                      lambda pattern: [d for d in devices if fnmatch.fnmatch(d, pattern)])
  monkeypatch.setattr(host_memory, '_installed', lambda *names: bool(plugins & set(names)))
  found, why = host_memory.step_platform(environ)
  assert found == platform and why
