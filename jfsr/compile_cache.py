"""JAX's persistent compilation cache, on by default for the project's commands."""

from __future__ import annotations

import jax

from jfsr.pretrained.cache import cache_dir


def enable() -> None:
  """Keeps compiled steps across runs (a restart skips most of the compile) in
  ``$JFSR_CACHE/xla``, unless the user already chose a cache with
  ``JAX_COMPILATION_CACHE_DIR``."""
  if not jax.config.jax_compilation_cache_dir:
    jax.config.update('jax_compilation_cache_dir', str(cache_dir() / 'xla'))
