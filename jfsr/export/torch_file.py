"""Writes PyTorch ``torch.save`` state dicts (the zip format) without importing torch, in a
form that ``torch.load(path)`` (``weights_only=True``) accepts: the pickle is assembled
opcode by opcode from the few globals :mod:`jfsr.pretrained.torch_state_dict` (the reader)
resolves, so that reader loads it back too.
"""

from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from jfsr.pretrained.torch_state_dict import STORAGE_DTYPES

_NUMPY_STORAGES = {np.dtype(v): k for k, v in STORAGE_DTYPES.items()}


def _pickle_str(text: str) -> bytes:
  data = text.encode('utf-8')
  return pickle.BINUNICODE + struct.pack('<I', len(data)) + data


def _pickle_int(value: int) -> bytes:
  if 0 <= value < 2 ** 31:
    return pickle.BININT + struct.pack('<i', value)
  return pickle.LONG1 + bytes([8]) + struct.pack('<q', value)


def _pickle_ints(values) -> bytes:
  return pickle.MARK + b''.join(_pickle_int(int(v)) for v in values) + pickle.TUPLE


def _pickle_global(module: str, name: str) -> bytes:
  return pickle.GLOBAL + f'{module}\n{name}\n'.encode()


_EMPTY_ORDERED_DICT = _pickle_global('collections', 'OrderedDict') + pickle.EMPTY_TUPLE + pickle.REDUCE


def _tensor_pickle(key: str, array: np.ndarray) -> bytes:
  """``_rebuild_tensor_v2(storage, 0, shape, contiguous strides, False, OrderedDict())``."""
  storage = (pickle.MARK + _pickle_str('storage')
             + _pickle_global('torch', _NUMPY_STORAGES[array.dtype]) + _pickle_str(key)
             + _pickle_str('cpu') + _pickle_int(array.size) + pickle.TUPLE + pickle.BINPERSID)
  strides = [s // array.itemsize for s in array.strides] if array.ndim else []
  return (_pickle_global('torch._utils', '_rebuild_tensor_v2') + pickle.MARK + storage
          + _pickle_int(0) + _pickle_ints(array.shape) + _pickle_ints(strides)
          + pickle.NEWFALSE + _EMPTY_ORDERED_DICT + pickle.TUPLE + pickle.REDUCE)


def save_state_dict(state: dict, path: str | Path) -> None:
  """Writes ``{name: array}`` (or nested dicts of them, e.g. one state dict per network)
  as a ``torch.save`` zip archive, without importing torch.

  Arrays keep their dtype (float32, int64, ...); each becomes one contiguous storage.
  The pickle is assembled opcode by opcode (protocol 2) from the same few globals
  the reader accepts, so the file loads with ``torch.load`` under ``weights_only=True``.
  """
  path = Path(path)
  storages: list[np.ndarray] = []

  def dict_pickle(mapping: dict, where: str) -> bytes:
    items = []
    for name, value in mapping.items():
      if isinstance(value, dict):
        items.append(_pickle_str(name) + dict_pickle(value, f'{where}{name}.'))
        continue
      array = np.array(value, order='C')  # (ascontiguousarray would make scalars 1-d)
      if array.dtype not in _NUMPY_STORAGES:
        raise ValueError(f'{where}{name}: dtype {array.dtype} has no torch storage type')
      items.append(_pickle_str(name) + _tensor_pickle(str(len(storages)), array))
      storages.append(array)
    return _EMPTY_ORDERED_DICT + pickle.MARK + b''.join(items) + pickle.SETITEMS

  data_pkl = pickle.PROTO + bytes([2]) + dict_pickle(state, '') + pickle.STOP
  prefix = path.stem or 'archive'
  with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as archive:
    archive.writestr(f'{prefix}/data.pkl', data_pkl)
    archive.writestr(f'{prefix}/byteorder', 'little')
    for key, array in enumerate(storages):
      archive.writestr(f'{prefix}/data/{key}', array.astype(array.dtype.newbyteorder('<')).tobytes())
    archive.writestr(f'{prefix}/version', '3\n')
