"""The generator as a serialized StableHLO program (``jax.export``), runnable without jfsr.

The file holds the inference-mode generator with its weights as constants: input a float32
``(batch, lr, lr, 3)`` NHWC array of RGB in [-1, 1] (``uint8 / 127.5 - 1``), any batch size
(the batch dimension is symbolic), output the sharp face, float32 ``(batch, hr, hr, 3)`` in
[-1, 1] (``round((y + 1) * 127.5)`` gives uint8). NHWC because that is the network's own
layout: no transposes are added to it. It is lowered for CPU, CUDA and TPU at once (its
``platforms`` say so), so the same file runs on each:

    from jax import export
    with open('cpu-x16.stablehlo', 'rb') as f:
      restore = export.deserialize(bytearray(f.read()))
    faces = restore.call(lr)            # lr: float32 (n, 16, 16, 3) in [-1, 1]

The transposed convolutions are traced the way the exporting machine computes them
(``model.convt_impl='auto'``): the same function either way, computed as one matmul per tap
when exported on a CPU.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from jfsr import inference
from jfsr.errors import JfsrError

PLATFORMS = ('cpu', 'cuda', 'tpu')


def serialize(config: ml_collections.ConfigDict, variables: dict,
              platforms: tuple[str, ...] = PLATFORMS) -> bytes:
  """The generator of ``config`` with ``variables`` as one serialized ``jax.export`` program."""
  if config.model.noise_std > 0:
    raise JfsrError('the noise ("w/N") generator draws noise between its layers; export a '
                    'model without it')
  sample = inference.make_sampler(config)

  def restore(lr):
    return sample(variables, lr)['out_sharp']
  batch, = jax.export.symbolic_shape('batch')
  channels = 1 if config.data.grayscale_input else 3
  size = config.data.lr_size
  exported = jax.export.export(jax.jit(restore), platforms=platforms)(
      jax.ShapeDtypeStruct((batch, size, size, channels), jnp.float32))
  return bytes(exported.serialize())
