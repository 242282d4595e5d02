"""What the host CPU offers that changes how jfsr computes on it."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def has_matrix_units(cpuinfo: str = '/proc/cpuinfo') -> bool:
  """Whether the CPU reports AMX bfloat16 tiles (Linux's ``amx_bf16`` flag), on which
  XLA:CPU runs bfloat16 matrix products (:mod:`jfsr.models.matrix_units`)."""
  try:
    text = Path(cpuinfo).read_text(errors='replace')
  except OSError:
    return False
  return any(line.startswith('flags') and 'amx_bf16' in line.split()
             for line in text.splitlines())
