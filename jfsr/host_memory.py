"""Host memory reuse for XLA:CPU: keep freed buffers instead of returning them to the OS.

XLA:CPU allocates every step's temporaries and outputs with ``malloc`` and frees
them when the step ends. glibc serves blocks over 32 MiB with a fresh ``mmap``
and unmaps them on ``free``, so each step faults in all its memory again: the
default train step at batch 8 took 3.1 million page faults and 7-8 s of kernel
time per step on the 2-core development CPU (README, Benchmarks). Served from
the heap and never trimmed, the same pages are reused from the second step on.

The price is that the process keeps its peak heap until it exits, which is what
a training or evaluation process wants anyway. ``JFSR_KEEP_FREED_MEMORY=0``
leaves glibc's defaults alone (for A/B measurements, or to share a host).
"""

from __future__ import annotations

import ctypes
import os
import sys

from absl import logging

# mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8

OPT_OUT_VARIABLE = 'JFSR_KEEP_FREED_MEMORY'


def keep_freed_memory() -> bool:
  """On glibc, serve every allocation from one heap and never trim it; True if applied.

  Call it early, before the first step runs (later calls still help: blocks
  already mapped stay mapped, new ones come from the heap). A no-op returning
  False elsewhere (macOS, musl) or when ``JFSR_KEEP_FREED_MEMORY=0``.
  """
  if os.environ.get(OPT_OUT_VARIABLE, '1') == '0' or not sys.platform.startswith('linux'):
    return False
  try:
    libc = ctypes.CDLL('libc.so.6')
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return False
  mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
  applied = (mallopt(_M_MMAP_MAX, 0)  # no mmap-per-block: big blocks come from the heap too
             and mallopt(_M_TRIM_THRESHOLD, -1)  # never give the heap's top back
             and mallopt(_M_ARENA_MAX, 1))  # one arena: the others would still mmap big blocks
  if not applied:
    logging.warning('mallopt refused the host-memory settings; glibc defaults stay')
  return bool(applied)
