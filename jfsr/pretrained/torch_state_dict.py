"""Reads PyTorch ``torch.save`` state dicts into numpy arrays, without importing torch.

Two on-disk formats exist: the zip archive written since PyTorch 1.6
(``archive/data.pkl`` plus one raw file per storage) and the older "legacy"
stream (three small pickles, the object pickle, the list of storage keys, then
each storage's element count and raw bytes). torchvision's ``vgg19-dcbb9e9d.pth``
is a legacy file. Both pickles refer to tensors through persistent ids and
``torch._utils._rebuild_tensor_v2``; every pickle in a file, the legacy header's
included, goes through a restricted unpickler that resolves only those names, so
loading runs no code from the file. (Writing one is :mod:`jfsr.export.torch_file`'s.)
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

STORAGE_DTYPES = {
    'FloatStorage': np.float32, 'DoubleStorage': np.float64, 'HalfStorage': np.float16,
    'LongStorage': np.int64, 'IntStorage': np.int32, 'ShortStorage': np.int16,
    'CharStorage': np.int8, 'ByteStorage': np.uint8, 'BoolStorage': np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
  def __init__(self, name: str):
    self.dtype = np.dtype(STORAGE_DTYPES[name])


def _rebuild_tensor(storage, offset, size, stride, *unused):
  if not size:
    return np.array(storage[offset], copy=True)
  itemsize = storage.dtype.itemsize
  view = np.lib.stride_tricks.as_strided(
      storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride))
  return np.array(view, copy=True)


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
  return data


class _Unpickler(pickle.Unpickler):
  """Resolves only the handful of globals a state dict uses."""

  def __init__(self, file, load_storage):
    super().__init__(file)
    self._load_storage = load_storage

  def find_class(self, module, name):
    if module == 'collections' and name == 'OrderedDict':
      return collections.OrderedDict
    if module == 'torch._utils' and name == '_rebuild_tensor_v2':
      return _rebuild_tensor
    if module == 'torch._utils' and name == '_rebuild_parameter':
      return _rebuild_parameter
    if module == 'torch' and name in STORAGE_DTYPES:
      return _StorageType(name)
    raise pickle.UnpicklingError(f'unsupported global {module}.{name} in a state dict')

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and pid and pid[0] == 'storage'):
      raise pickle.UnpicklingError(f'unsupported persistent id {pid!r}')
    storage_type, key = pid[1], str(pid[2])
    return self._load_storage(key, storage_type.dtype)


def _load_zip(path: Path | io.BytesIO) -> dict:
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    pickle_name = next((n for n in names if n.endswith('/data.pkl') or n == 'data.pkl'), None)
    if pickle_name is None:
      raise ValueError(f'{path}: a zip file without data.pkl is not a torch checkpoint')
    prefix = pickle_name[:-len('data.pkl')]

    def load_storage(key, dtype):
      return np.frombuffer(archive.read(f'{prefix}data/{key}'), dtype=dtype)

    return _Unpickler(io.BytesIO(archive.read(pickle_name)), load_storage).load()


class _PlainUnpickler(pickle.Unpickler):
  """Plain data only (numbers, strings, lists, dicts): the legacy format's header pickles."""

  def find_class(self, module, name):
    raise pickle.UnpicklingError(f'unexpected global {module}.{name} in a weight file header')

  def persistent_load(self, pid):
    raise pickle.UnpicklingError('unexpected persistent id in a weight file header')


def _load_legacy(path: Path | io.BytesIO) -> dict:
  with (path if isinstance(path, io.BytesIO) else open(path, 'rb')) as f:
    plain = lambda: _PlainUnpickler(f).load()
    magic = plain()
    if magic != _LEGACY_MAGIC:
      raise ValueError(f'{path}: not a PyTorch checkpoint (bad magic number)')
    plain()  # protocol version
    plain()  # system info (byte order, type sizes)
    dtypes: dict[str, np.dtype] = {}

    def load_storage(key, dtype):
      dtypes[key] = dtype
      return key  # placeholder, filled in once the raw storages are read

    # The object pickle comes before the storages' bytes: keep the keys, read
    # the bytes, then rebuild tensors from them.
    placeholder_state = _PlaceholderUnpickler(f, load_storage).load()
    keys = plain()
    storages = {}
    for key in keys:
      (count,) = struct.unpack('<q', f.read(8))
      dtype = dtypes[key]
      storages[key] = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype)
  return {name: _materialise(spec, storages) for name, spec in placeholder_state.items()}


class _PlaceholderUnpickler(_Unpickler):
  """Legacy pass: records tensor specs, since storage bytes follow the pickle."""

  def find_class(self, module, name):
    if module == 'torch._utils' and name == '_rebuild_tensor_v2':
      return lambda storage, offset, size, stride, *rest: ('tensor', storage, offset, size, stride)
    if module == 'torch._utils' and name == '_rebuild_parameter':
      return _rebuild_parameter
    return super().find_class(module, name)


def _materialise(spec, storages):
  if isinstance(spec, tuple) and spec and spec[0] == 'tensor':
    _, key, offset, size, stride = spec
    return _rebuild_tensor(storages[key], offset, size, stride)
  return spec


class _ScriptModule:
  """A TorchScript module's pickled attributes (tensors, ints, lists, sub-modules)."""

  def __init__(self, *unused):
    pass


class _ScriptUnpickler(_Unpickler):
  """TorchScript archives pickle ``__torch__.*`` module objects and a few list builders."""

  def find_class(self, module, name):
    if module == '__torch__' or module.startswith('__torch__.'):
      return type(name, (_ScriptModule,), {})
    if module == 'torch.jit._pickle' and name.startswith('build_'):
      return lambda values: values
    return super().find_class(module, name)


def load_torchscript_attributes(path: str | Path) -> dict:
  """Every attribute of a ``torch.jit.save``-d module, flattened to dotted names
  (``net.layers.conv.weight`` -> numpy array, ``net.layers.conv.stride`` -> 2). The
  module's code is not run, nor even read."""
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(f'no such file: {path}')
  with zipfile.ZipFile(path) as archive:
    pickle_name = next((n for n in archive.namelist() if n.endswith('/data.pkl')), None)
    if pickle_name is None:
      raise ValueError(f'{path}: not a TorchScript archive (no data.pkl)')
    prefix = pickle_name[:-len('data.pkl')]

    def load_storage(key, dtype):
      return np.frombuffer(archive.read(f'{prefix}data/{key}'), dtype=dtype)

    root = _ScriptUnpickler(io.BytesIO(archive.read(pickle_name)), load_storage).load()

  flat = {}

  def walk(node, prefix):
    for key, value in vars(node).items():
      if isinstance(value, _ScriptModule):
        walk(value, f'{prefix}{key}.')
      else:
        flat[prefix + key] = value
  walk(root, '')
  return flat


def load_state_dict(path: str | Path | bytes) -> dict[str, np.ndarray]:
  """Loads a ``torch.save``-d state dict (zip or legacy format), from a path or from the
  file's bytes, as numpy arrays."""
  if isinstance(path, bytes):
    data = io.BytesIO(path)
    is_zip = zipfile.is_zipfile(data)
    data.seek(0)
    state = _load_zip(data) if is_zip else _load_legacy(data)
  else:
    path = Path(path)
    if not path.is_file():
      raise FileNotFoundError(f'no such file: {path}')
    state = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
  if 'state_dict' in state and isinstance(state['state_dict'], dict):
    state = state['state_dict']
  return {str(k): np.asarray(v) for k, v in state.items()}


# --- Writing ------------------------------------------------------------------
