"""JAX's persistent compilation cache, on by default for the project's commands."""

from __future__ import annotations

import jax

from jfsr.pretrained.cache import cache_dir

MAX_BYTES = 1 << 30  # least recently used entries go past this (a CPU train step: about 1 MB)


def enable() -> None:
  """Keeps compiled steps across runs (a restart skips most of the compile) in
  ``$JFSR_CACHE/xla``, at most :data:`MAX_BYTES` of them, unless the user already chose a
  cache with ``JAX_COMPILATION_CACHE_DIR`` (whose size is then the user's to bound)."""
  if not jax.config.jax_compilation_cache_dir:
    jax.config.update('jax_compilation_cache_dir', str(cache_dir() / 'xla'))
    if jax.config.jax_compilation_cache_max_size == -1:
      jax.config.update('jax_compilation_cache_max_size', MAX_BYTES)
