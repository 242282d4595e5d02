"""A generator grown by one U-Net level: a 2^k output model's weights placed in a 2^(k+1) one.

``Generator`` has log2(output_size) encoder levels, so the 32² -> 256² model has one level
more than the 16² -> 128² model, innermost, and nothing else differs in shape but the
decoder layer that first reads it. Growing keeps every shared layer (the upsampler, the
blur decoder, encoder levels 1..k, the sharp decoder from its second block out) and starts
the new innermost path fresh, with the weights that join it to the old network at zero: at
inference the grown generator computes what the smaller one computes on the same input, and
training opens the new path from there.
"""

from __future__ import annotations

import re
from typing import Any

import jax
import numpy as np

Variables = dict[str, Any]

_ENCODER = re.compile(r'enc(\d+)(_bn)?$')
_SHARP = re.compile(r'sharp_dec(\d+)(_bn|_dropout)?$')


def num_levels(variables: Variables) -> int:
  """The number of encoder levels of a generator's variables."""
  return max(int(m.group(1)) for name in variables['params']
             if (m := _ENCODER.match(name)))


def _renamed(name: str) -> str:
  """A smaller generator's layer name in the generator one level deeper."""
  sharp = _SHARP.match(name)
  if sharp:
    return f'sharp_dec{int(sharp.group(1)) + 1}{sharp.group(2) or ""}'
  return name


def grow_one_level(small: Variables, fresh: Variables) -> Variables:
  """``fresh`` (a newly initialised generator one level deeper than ``small``) with every
  layer it shares with ``small`` taken from ``small``.

  The sharp decoder's blocks shift by one (block i of the small model is block i + 1 of
  the grown one). Block 2 of the grown model reads the new block 1's output concatenated
  with encoder level k; its kernel gets zeros on the first (new) input channels and the
  small model's block-1 kernel on the rest, so the new path adds nothing until trained.

  Raises ValueError when ``fresh`` is not ``small`` with exactly one more level.
  """
  levels = num_levels(small)
  if num_levels(fresh) != levels + 1:
    raise ValueError(f'a generator of {levels} levels grows into one of {levels + 1}, '
                     f'not {num_levels(fresh)}')
  grown = {collection: dict(layers) for collection, layers in fresh.items()}
  for collection, layers in small.items():
    for name, layer in layers.items():
      target = _renamed(name)
      want = grown[collection][target]
      if target == 'sharp_dec2':
        layer = dict(layer, kernel=_widen_inputs(layer['kernel'], want['kernel'].shape))
      shapes = jax.tree.map(np.shape, layer)
      if shapes != jax.tree.map(np.shape, want):
        raise ValueError(f'{collection}/{name} has shapes {shapes}, the grown generator\'s '
                         f'{target} {jax.tree.map(np.shape, want)}: the widths differ '
                         '(model.ngf, model.upsampler_features)')
      grown[collection][target] = jax.tree.map(np.asarray, layer)
  return grown


def _widen_inputs(kernel, shape) -> np.ndarray:
  """``kernel`` (4, 4, C, F) as (4, 4, C + extra, F), the extra input channels first, zero."""
  kernel = np.asarray(kernel)
  extra = shape[2] - kernel.shape[2]
  if extra <= 0 or kernel.shape[:2] + kernel.shape[3:] != tuple(shape[:2]) + tuple(shape[3:]):
    raise ValueError(f'sharp_dec1 kernel {kernel.shape} cannot widen into {tuple(shape)}')
  zeros = np.zeros(kernel.shape[:2] + (extra,) + kernel.shape[3:], kernel.dtype)
  return np.concatenate([zeros, kernel], axis=2)
