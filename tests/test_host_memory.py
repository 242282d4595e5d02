"""jfsr.host_memory: a freed big block is reused without new page faults (glibc only)."""

import os
import subprocess
import sys

import pytest

# Allocates, touches and frees a 64 MiB block twice in a fresh process (after
# applying the setting or not) and prints the page faults of the second round.
_PROGRAM = """
import ctypes, resource
from jfsr import host_memory
print(host_memory.keep_freed_memory())
libc = ctypes.CDLL('libc.so.6')
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
size = 64 << 20
faults = []
for _ in range(2):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  block = libc.malloc(size)
  libc.memset(block, 1, size)
  libc.free(block)
  faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(faults[1])
"""


def _second_round_faults(keep: str) -> tuple[bool, int]:
  env = dict(os.environ, JFSR_KEEP_FREED_MEMORY=keep)
  out = subprocess.run([sys.executable, '-c', _PROGRAM], env=env, check=True, text=True,
                       capture_output=True).stdout.split()
  return out[0] == 'True', int(out[1])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc mallopt only')
def test_freed_blocks_are_reused_without_page_faults():
  applied, faults_kept = _second_round_faults('1')
  opted_out, faults_default = _second_round_faults('0')
  assert applied and not opted_out
  pages = (64 << 20) // os.sysconf('SC_PAGE_SIZE')
  assert faults_default > pages // 2  # glibc's default: a fresh mapping, faulted in again
  assert faults_kept < pages // 100   # kept: the same pages, already resident
