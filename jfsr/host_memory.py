"""Host memory for XLA:CPU: an allocator that does not fault every step's memory in again.

XLA:CPU allocates each step's temporaries with ``malloc`` and frees them when the
step ends. glibc maps every block over 32 MiB afresh and unmaps it on ``free``, so
each step faults all its memory in again, 4 KiB at a time. Two settings avoid that:
jemalloc with purging off (``MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1``: freed
pages stay mapped and are reused), or glibc with ``glibc.malloc.hugetlb=1`` (transparent
huge pages on those mappings, 2 MiB faults). Their step times, page faults and peak
memory against glibc as it is: docs/benchmarks.md.

Both settings act only when a process starts, so the command-line entry points
call :func:`restart_with_fast_allocator` first: it re-executes the same command
once with jemalloc preloaded where the system has it (``apt install
libjemalloc2``), else with the glibc tunable. ``JFSR_ALLOCATOR=system`` (or an
``LD_PRELOAD``/``GLIBC_TUNABLES`` of the user's own) leaves the process alone.

The gain was measured for XLA:CPU only, so the restart happens only where the
step will run on the CPU, decided before JAX is imported (:func:`step_platform`):
``JAX_PLATFORMS`` when it is set, else whether this host has an accelerator that
an installed JAX plugin drives (NVIDIA device files and a CUDA plugin; TPU device
files and libtpu). The decision is logged by the trainer (:func:`decision`).
"""

from __future__ import annotations

import ctypes.util
import glob
import importlib.util
import os
import sys

HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1'
JEMALLOC_CONF = 'dirty_decay_ms:-1,muzzy_decay_ms:-1'
DECISION_VARIABLE = 'JFSR_ALLOCATOR_DECISION'
CUDA_PLUGINS = ('jax_cuda13_plugin', 'jax_cuda12_plugin')


def _installed(*modules: str) -> bool:
  return any(importlib.util.find_spec(m) is not None for m in modules)


def step_platform(environ=os.environ) -> tuple[str, str]:
  """``(platform, why)``: where JAX will run the step, 'cpu' or the accelerator's name,
  found without importing JAX."""
  requested = environ.get('JAX_PLATFORMS', '').strip()
  if requested:
    first = requested.split(',')[0].strip().lower()
    return ('cpu' if first == 'cpu' else first), f'JAX_PLATFORMS={requested}'
  if glob.glob('/dev/nvidia[0-9]*') and _installed(*CUDA_PLUGINS):
    return 'gpu', 'NVIDIA devices and a JAX CUDA plugin'
  if (glob.glob('/dev/accel[0-9]*') or glob.glob('/dev/vfio/[0-9]*')) and _installed('libtpu'):
    return 'tpu', 'TPU devices and libtpu'
  return 'cpu', 'no accelerator that an installed JAX plugin drives'


def allocator_environment(environ, jemalloc: str | None) -> dict[str, str] | None:
  """The variables to add for a restart, or None when this process needs none."""
  if (environ.get('JFSR_ALLOCATOR') == 'system' or environ.get('LD_PRELOAD')
      or HUGE_PAGES_TUNABLE in environ.get('GLIBC_TUNABLES', '').split(':')):
    return None
  if jemalloc:
    return {'LD_PRELOAD': jemalloc, 'MALLOC_CONF': environ.get('MALLOC_CONF', JEMALLOC_CONF)}
  tunables = environ.get('GLIBC_TUNABLES')
  return {'GLIBC_TUNABLES': f'{tunables}:{HUGE_PAGES_TUNABLE}' if tunables else HUGE_PAGES_TUNABLE}


def describe_allocator(environ=os.environ) -> str:
  """Which allocator setting this process started with (for benchmark records)."""
  if 'jemalloc' in environ.get('LD_PRELOAD', ''):
    return f"jemalloc ({environ.get('MALLOC_CONF', 'its defaults')})"
  if HUGE_PAGES_TUNABLE in environ.get('GLIBC_TUNABLES', '').split(':'):
    return 'glibc, huge pages'
  return 'as started'


def restart_with_fast_allocator() -> None:
  """Re-executes this command (same interpreter and arguments) with the allocator
  settings above; returns when none are needed. Call it first thing in a
  ``__main__`` block or console-script entry, never from a library."""
  if not sys.platform.startswith('linux') or DECISION_VARIABLE in os.environ:
    return
  platform, why = step_platform()
  if platform != 'cpu':
    os.environ[DECISION_VARIABLE] = f'left as started: the step runs on {platform} ({why})'
    return
  added = allocator_environment(os.environ, ctypes.util.find_library('jemalloc'))
  if added is None:
    os.environ[DECISION_VARIABLE] = (f'{describe_allocator()}: the user\'s own setting or '
                                     'JFSR_ALLOCATOR')
    return
  os.environ.update(added)
  os.environ[DECISION_VARIABLE] = (f'{describe_allocator()}: the step runs on the CPU ({why}); '
                                   'JFSR_ALLOCATOR=system opts out')
  sys.stdout.flush()
  sys.stderr.flush()
  os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def decision(environ=os.environ) -> str:
  """What :func:`restart_with_fast_allocator` decided for this command, and why."""
  return environ.get(DECISION_VARIABLE,
                     f'{describe_allocator(environ)} (no restart was asked for)')
