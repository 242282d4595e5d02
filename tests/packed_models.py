"""Packed generators (``.npz``) damaged or crafted in the ways a user or an attacker could
hand one to ``--model FILE``: shared by the loader's tests and the bad-input table."""

import io
import json
import zipfile
from pathlib import Path

import numpy as np

CASES = ('a flipped byte', 'truncated', 'a 2**31-value array', 'a missing parameter',
         'a wrong shape', 'no config', 'NaN parameters', 'a config of 3-pixel inputs',
         'text named .npz', 'an array followed by 64 MiB of zeros')


def shipped_arrays() -> tuple[bytes, dict, dict]:
  """The shipped model's bytes, arrays and record, as ``pack`` wrote them."""
  from jfsr.pretrained import generators
  data = (generators.MODELS_DIR / generators.SHIPPED['cpu-x16'].filename).read_bytes()
  with np.load(io.BytesIO(data), allow_pickle=False) as archive:
    arrays = {k: archive[k] for k in archive.files}
  meta = json.loads(arrays.pop('meta').tobytes().decode())
  return data, arrays, meta


def write_npz(path: Path, arrays: dict, meta: dict) -> Path:
  np.savez_compressed(path, **arrays, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
  return path


def huge_member(path: Path, arrays: dict, meta: dict, name: str) -> Path:
  """A file whose member ``name`` declares 2**31 float32 values but holds 16 bytes."""
  write_npz(path, {k: v for k, v in arrays.items() if k != name}, meta)
  header = io.BytesIO()
  np.lib.format.write_array_header_1_0(
      header, {'descr': '<f4', 'fortran_order': False, 'shape': (2 ** 31,)})
  with zipfile.ZipFile(path, 'a') as archive:
    archive.writestr(f'{name}.npy', np.lib.format.magic(1, 0) + header.getvalue() + b'\0' * 16)
  return path


def trailing_zeros(path: Path, arrays: dict, meta: dict, name: str) -> Path:
  """A file whose member ``name`` holds its real array, then 64 MiB of zeros (a few hundred
  kB compressed; its sizes honest): a bomb that the arrays' own headers do not show."""
  write_npz(path, {k: v for k, v in arrays.items() if k != name}, meta)
  member = io.BytesIO()
  np.lib.format.write_array(member, arrays[name], allow_pickle=False)
  with zipfile.ZipFile(path, 'a', compression=zipfile.ZIP_DEFLATED) as archive:
    archive.writestr(f'{name}.npy', member.getvalue() + bytes(64 << 20))
  return path


def damaged(path: Path, case: str) -> Path:
  """Writes the shipped model at ``path`` damaged as ``case`` (one of :data:`CASES`)."""
  data, arrays, meta = shipped_arrays()
  name = 'params/sharp_dec1/kernel' if 'params/sharp_dec1/kernel' in arrays else sorted(
      k for k in arrays if k.startswith('params/'))[0]
  if case == 'a flipped byte':
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0xFF
    path.write_bytes(bytes(flipped))
  elif case == 'truncated':
    path.write_bytes(data[:len(data) // 3])
  elif case == 'a 2**31-value array':
    huge_member(path, arrays, meta, name)
  elif case == 'a missing parameter':
    write_npz(path, {k: v for k, v in arrays.items() if k != name}, meta)
  elif case == 'a wrong shape':
    write_npz(path, {**arrays, name: arrays[name][..., :1]}, meta)
  elif case == 'no config':
    write_npz(path, arrays, {k: v for k, v in meta.items() if k != 'config'})
  elif case == 'NaN parameters':
    write_npz(path, {**arrays, name: np.full_like(arrays[name], np.nan)}, meta)
  elif case == 'a config of 3-pixel inputs':
    config = dict(meta['config'], data=dict(meta['config']['data'], lr_size=3))
    write_npz(path, arrays, dict(meta, config=config))
  elif case == 'text named .npz':
    path.write_text('not a model')
  elif case == 'an array followed by 64 MiB of zeros':
    trailing_zeros(path, arrays, meta, name)
  else:
    raise ValueError(f'unknown case {case!r}')
  return path
