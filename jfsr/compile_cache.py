"""JAX's persistent compilation cache, on by default for the project's commands."""

from __future__ import annotations

import os
import pathlib
import sys

from jfsr import files
from jfsr.pretrained.cache import cache_dir

MAX_BYTES = 1 << 30  # least recently used entries go past this (a CPU train step: about 1 MB)


def enable() -> None:
  """Keeps compiled steps across runs (a restart skips most of the compile) in
  ``$JFSR_CACHE/xla``, at most :data:`MAX_BYTES` of them, unless the user already chose a
  cache with ``JAX_COMPILATION_CACHE_DIR`` (whose size is then the user's to bound).

  Before JAX is imported this only sets the environment JAX reads its settings from, so a
  command that stops at a wrong flag or path never pays for importing JAX."""
  folder = cache_dir() / 'xla'
  if 'jax' not in sys.modules:
    if not os.environ.get('JAX_COMPILATION_CACHE_DIR'):
      os.environ['JAX_COMPILATION_CACHE_DIR'] = str(folder)
      if 'JAX_COMPILATION_CACHE_MAX_SIZE' not in os.environ:
        os.environ['JAX_COMPILATION_CACHE_MAX_SIZE'] = str(MAX_BYTES)
        stamp_unstamped_entries(folder)
    return
  import jax
  if not jax.config.jax_compilation_cache_dir:
    jax.config.update('jax_compilation_cache_dir', str(folder))
    if jax.config.jax_compilation_cache_max_size == -1:
      jax.config.update('jax_compilation_cache_max_size', MAX_BYTES)
      stamp_unstamped_entries(folder)


def stamp_unstamped_entries(folder: pathlib.Path) -> int:
  """Gives every entry of the bounded cache ``folder`` that lacks one an access time of 0
  (least recently used: evicted first); returns how many it stamped.

  With a bound, JAX keeps ``KEY-atime`` beside each ``KEY-cache`` and its eviction sweep
  reads all of them before each write; in jax 0.10 one entry without it (written while no
  bound was set, as jfsr did before it set one, or by a process killed between the two
  files) fails every later write with only a warning (jax-ml/jax#39880, fixed upstream
  by reading a missing time as 0, which is what this writes). Needed until the pinned
  jax has that fix.
  """
  if not folder.is_dir():
    return 0
  stamped = 0
  for entry in folder.glob('*-cache'):
    access_time = entry.with_name(entry.name.removesuffix('-cache') + '-atime')
    if not access_time.exists():
      files.write_data(access_time, (0).to_bytes(8, 'little'))
      stamped += 1
  return stamped
