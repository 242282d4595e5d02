"""jfsr.host_memory: the restart adds glibc's huge-page tunable once, keeps the command,
and (where the kernel offers transparent huge pages) big blocks fault in 2 MiB at a time."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Restarts with huge pages, then prints its arguments, GLIBC_TUNABLES and the page
# faults of touching a fresh 64 MiB malloc block (mapped afresh by glibc).
_PROGRAM = """
import ctypes, os, resource, sys
from jfsr import host_memory
host_memory.restart_with_huge_pages()
libc = ctypes.CDLL('libc.so.6')
libc.malloc.restype = ctypes.c_void_p
libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
libc.memset(libc.malloc(64 << 20), 1, 64 << 20)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(repr(sys.argv[1:]), os.environ.get('GLIBC_TUNABLES'), faults)
"""


def _run(tmp_path, **env) -> tuple[str, str, int]:
  script = tmp_path / 'probe.py'
  script.write_text(_PROGRAM)
  environ = {k: v for k, v in os.environ.items() if k not in ('GLIBC_TUNABLES', 'JFSR_HUGE_PAGES')}
  out = subprocess.run([sys.executable, str(script), 'a b', '--flag=1'], env={**environ, **env},
                       check=True, text=True, capture_output=True).stdout.split(None)
  return ' '.join(out[:-2]), out[-2], int(out[-1])


def _huge_pages_on_request() -> bool:
  # 'madvise' mode: a mapping gets huge pages only if asked (with 'always' it gets them anyway).
  path = Path('/sys/kernel/mm/transparent_hugepage/enabled')
  return path.exists() and '[madvise]' in path.read_text()


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc tunables only')
def test_restart_adds_the_tunable_once_and_keeps_the_arguments(tmp_path):
  arguments, tunables, _ = _run(tmp_path)
  assert arguments == "['a b', '--flag=1']"
  assert tunables == 'glibc.malloc.hugetlb=1'
  _, tunables, _ = _run(tmp_path, GLIBC_TUNABLES='glibc.malloc.arena_max=2')
  assert tunables == 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'
  _, tunables, _ = _run(tmp_path, JFSR_HUGE_PAGES='0')
  assert tunables == 'None'


@pytest.mark.skipif(not (sys.platform.startswith('linux') and _huge_pages_on_request()),
                    reason="needs transparent huge pages in 'madvise' mode")
def test_huge_pages_cut_the_page_faults_of_big_blocks(tmp_path):
  pages = (64 << 20) // os.sysconf('SC_PAGE_SIZE')
  _, _, faults_default = _run(tmp_path, JFSR_HUGE_PAGES='0')
  _, _, faults_huge = _run(tmp_path)
  assert faults_default > pages // 2
  assert faults_huge < pages // 20
