"""MTCNN's weights: ``pnet.pt`` / ``rnet.pt`` / ``onet.pt`` of the facenet-pytorch wheel -> Flax.

The cached file is the wheel itself (1.9 MB); the three state dicts are read
out of it with jfsr's own torch-format reader (no torch).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jfsr.models import mtcnn_networks as mtcnn
from jfsr.pretrained import cache
from jfsr.pretrained.torch_state_dict import load_state_dict

MEMBERS = {name: f'facenet_pytorch/data/{name}.pt' for name in mtcnn.NETWORKS}
INPUT_SIZES = {'pnet': 12, 'rnet': 24, 'onet': 48}


def convert(state_dict: dict, name: str) -> dict:
  """A torch state dict of network ``name`` -> its Flax ``{'params': ...}``; checks every shape."""
  params: dict = {}
  for key, value in state_dict.items():
    module, kind = key.rsplit('.', 1)
    value = np.asarray(value, np.float32)
    if kind == 'weight' and value.ndim == 4:  # (out, in, kh, kw) -> (kh, kw, in, out)
      value = value.transpose(2, 3, 1, 0)
    elif kind == 'weight' and value.ndim == 2:  # (out, in) -> (in, out)
      value = value.T
    leaf = 'weight' if module.startswith('prelu') else {'weight': 'kernel', 'bias': 'bias'}[kind]
    params.setdefault(module, {})[leaf] = value
  size = INPUT_SIZES[name]
  expected = jax.eval_shape(mtcnn.NETWORKS[name]().init, jax.random.key(0),
                            jnp.zeros((1, size, size, 3)))['params']
  got = jax.tree.map(np.shape, params)
  want = jax.tree.map(lambda s: s.shape, expected)
  if got != want:
    raise ValueError(f'not the MTCNN {name}: the file holds {got}, the network needs {want}')
  return {'params': params}


def load_mtcnn(path: str | Path | None = None) -> dict[str, dict]:
  """``{'pnet': variables, 'rnet': ..., 'onet': ...}`` from the facenet-pytorch wheel at
  ``path`` (default: the cached ``mtcnn`` file)."""
  with zipfile.ZipFile(path or cache.locate('mtcnn')) as wheel:
    return {name: convert(load_state_dict(wheel.read(member)), name)
            for name, member in MEMBERS.items()}
