"""A ``jfsr.export --to onnx`` file run by onnxruntime, as the ``Restorer``'s generator.

The ONNX file carries the model's config in its metadata, so it is all that restoring
needs besides the face detector. The noise ("w/N") generator's noise inputs are fed
zeros (its mean), so such a model restores a little differently from the JAX path, which
draws fixed noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jfsr import config_loading, grids
from jfsr.errors import JfsrError, UsageError


class OnnxGenerator:
  """``(n, lr, lr, C)`` float32 in [-1, 1] -> ``(n, hr, hr, 3)`` uint8, in onnxruntime."""

  def __init__(self, path: str | Path, threads: int | None = None):
    try:
      import onnxruntime
    except ImportError:
      raise JfsrError('--onnx needs onnxruntime: pip install onnxruntime') from None
    from jfsr.export.onnx import read_metadata
    path = Path(path).expanduser()
    if not path.is_file():
      raise UsageError(f'--onnx {path}: no such file')
    options = onnxruntime.SessionOptions()
    if threads:
      options.intra_op_num_threads = threads
    try:  # onnxruntime parses the file once; its metadata holds the config
      self.runtime = onnxruntime.InferenceSession(str(path), options,
                                                  providers=['CPUExecutionProvider'])
    except Exception as error:  # onnxruntime raises its own kinds for a bad file
      reason = str(error).splitlines()[0] if str(error) else type(error).__name__
      raise JfsrError(f'--onnx {path}: not a readable ONNX file ({reason})') from None
    saved, self.step = read_metadata(self.runtime.get_modelmeta().custom_metadata_map)
    self.config = config_loading.saved_config(saved, f'--onnx {path}')
    self._noise_inputs = [i for i in self.runtime.get_inputs() if i.name != 'lr']

  def __call__(self, lr: np.ndarray) -> np.ndarray:
    feed = {'lr': np.asarray(lr, np.float32)}
    for noise in self._noise_inputs:
      feed[noise.name] = np.zeros([len(lr), *noise.shape[1:]], np.float32)
    return grids.to_uint8(self.runtime.run(['sharp'], feed)[0])
