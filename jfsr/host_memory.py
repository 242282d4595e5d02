"""Host memory for XLA:CPU: back big blocks with transparent huge pages (glibc).

XLA:CPU allocates each step's temporaries with ``malloc`` and frees them when the
step ends; glibc maps every block over 32 MiB afresh and unmaps it on ``free``, so
each step faults all its memory in again, 4 KiB at a time: 2.7-3.1 million page
faults and 5-7 s of kernel time per default train step at batch 8 on the 2-core
development CPU. glibc's ``glibc.malloc.hugetlb=1`` tunable makes it ask for
transparent huge pages on those mappings (``madvise``): 2 MiB faults, ~70x fewer,
and the step 1.1x faster (README, Benchmarks). Memory use is unchanged.

glibc reads tunables only when a process starts, so the command-line entry points
call :func:`restart_with_huge_pages` before anything else: it re-executes the
same command once with the tunable added to ``GLIBC_TUNABLES``. It does nothing
off Linux, when the tunable is already set (by the user, or by the first start),
or when ``JFSR_HUGE_PAGES=0``.

Keeping freed blocks instead (``mallopt``: no per-block mappings, no trimming)
removed the faults entirely and was faster still when it worked, but the single
heap fragmented: resident memory grew by ~5 GB at random steps, once to 21 GB at
batch 8. Bounded memory matters more.
"""

from __future__ import annotations

import os
import sys

TUNABLE = 'glibc.malloc.hugetlb=1'
OPT_OUT_VARIABLE = 'JFSR_HUGE_PAGES'


def huge_pages_requested(environ=os.environ) -> bool:
  """Whether glibc was told (at this process's start) to use huge pages for big blocks."""
  return TUNABLE in environ.get('GLIBC_TUNABLES', '').split(':')


def restart_with_huge_pages() -> None:
  """Re-executes this command (same interpreter, same arguments) with
  :data:`TUNABLE` in ``GLIBC_TUNABLES``; returns if that is not needed or not
  wanted. Call it first thing in a ``__main__`` block, never from a library."""
  if (not sys.platform.startswith('linux') or huge_pages_requested()
      or os.environ.get(OPT_OUT_VARIABLE, '1') == '0'):
    return
  existing = os.environ.get('GLIBC_TUNABLES')
  os.environ['GLIBC_TUNABLES'] = f'{existing}:{TUNABLE}' if existing else TUNABLE
  sys.stdout.flush()
  sys.stderr.flush()
  os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
