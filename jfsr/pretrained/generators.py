r"""Trained generators that ship inside the package: restore faces with no training, no download.

A shipped model is one ``.npz`` file in ``jfsr/pretrained/models/``: the generator's
parameters in float16 and its BatchNorm statistics in float32 (nothing else of the
training state), and under ``meta`` a JSON record with the full config it was trained
with, the step, what it was trained on, its evaluation table and, for a run that started
from another shipped model, that model's hash and steps (``started_from``, ``steps_in_all``).
:data:`SHIPPED` names each file with its SHA-256, checked at every load.

    python -m jfsr.pretrained list                     # shipped models first, by NAME
    python -m jfsr.pretrained pack --checkpoint WORKDIR[/checkpoints/STEP] --name NAME \
        --description '...'       # writes models/NAME.npz; prints its hash and golden output

and then ``Restorer.from_pretrained(NAME)``, ``python -m jfsr.restore --model NAME``,
``python -m jfsr.evaluate --model NAME --workdir OUT``, ``python -m jfsr.export --model
NAME``, or ``--config.model.generator_init=NAME`` to start training from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from jfsr.errors import JfsrError, UsageError

MODELS_DIR = Path(__file__).resolve().parent / 'models'
# What jfsr.restore and jfsr.demo restore with when no model is named: together, each face
# going to the one whose input size suits it (jfsr.restoration.restorer).
DEFAULT_MODELS = ('cpu-x16-photos', 'cpu-x32')


@dataclasses.dataclass(frozen=True)
class ShippedModel:
  filename: str
  sha256: str
  description: str


SHIPPED: dict[str, ShippedModel] = {
    # python -m jfsr.pretrained pack --checkpoint runs/frames/checkpoints/750 --name cpu-x16:
    # configs/experiments/cpu_x16.py:frames from the previous cpu-x16 (SHA-256 44ccbb38...,
    # itself 1,500 steps of :continue from 6,250 of :base/:ema), recorded in its meta as
    # started_from. docs/training.md ("Shipped models") has its tables and curves.
    'cpu-x16': ShippedModel(
        'cpu-x16.npz', '0611d1e97ede879cf94e93bd037f187cc23c6c3cfead374aaa0655403ffcecab',
        "16->128 faces, widths/4: the authors' recipe (6,250 steps), 1,500 with the local "
        'discriminator only, 750 with half the examples made as photos give them (faces '
        "rolled, blurred and shrunk in frames); the generator's moving average. Aligned "
        'test faces: PSNR +1.49 dB over bicubic, SSIM +0.076, FID 0.39x'),
    # python -m jfsr.pretrained pack --checkpoint runs/photos/checkpoints/250
    # --name cpu-x16-photos: configs/experiments/cpu_x16.py:photos from cpu-x16 (SHA-256
    # 0611d1e9..., in its meta as started_from), chosen by the rule of docs/training.md
    # (stage 4). The default of jfsr.restore and jfsr.demo.
    'cpu-x16-photos': ShippedModel(
        'cpu-x16-photos.npz', '813a388a5c9775a907ffb140ba94ae295121f1adde9a5989abdf71061ee40676',
        '16->128 faces, widths/4: cpu-x16 carried on 250 steps with half the examples '
        'degraded as photos are (blur lengths x0-2, defocus, shrink kernels, noise, JPEG '
        "30-95); the generator's moving average. Held-out faces in frames: +1.17 / +0.30 / "
        '+0.84 dB over bicubic as trained / JPEG 75 / blur x2'),
    # python -m jfsr.pretrained pack --checkpoint runs/x32/checkpoints/300 --name cpu-x32:
    # configs/experiments/cpu_x32.py from cpu-x16-photos grown by one U-Net level (SHA-256
    # 813a388a..., in its meta as started_from), chosen by the rule of docs/training.md.
    'cpu-x32': ShippedModel(
        'cpu-x32.npz', '51dc6ba6e25ad6097d26603db2157cfd1677bc26748919fc866549076443ecca',
        "32->256 faces (the paper's task), widths/4: cpu-x16-photos grown by one U-Net level "
        'and carried on 300 steps at the paper\'s sizes with the photo recipe; the '
        "generator's moving average. Held-out aligned faces: +0.78 dB over bicubic"),
}


def golden_input(lr_size: int) -> np.ndarray:
  """A fixed ``lr_size`` x ``lr_size`` RGB gradient: the input on which a shipped model's
  recorded output (``tests/test_shipped.py``) is checked; ``pack`` prints the figures."""
  y, x = np.mgrid[:lr_size, :lr_size] * (256 // lr_size)
  return np.stack([y, x, (y + x) // 2], -1).astype(np.uint8)


class UnknownModelError(JfsrError, ValueError):
  """A file that is not a packed generator, or damaged."""


class NoSuchModelError(UnknownModelError, UsageError):
  """No shipped model of that name, nor a packed file at that path (exit status 2)."""


def _flatten(tree: dict, prefix: str = '') -> dict[str, np.ndarray]:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f'{prefix}{key}/'))
    else:
      flat[f'{prefix}{key}'] = np.asarray(value)
  return flat


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
  tree: dict = {}
  for path, value in flat.items():
    node = tree
    *parents, leaf = path.split('/')
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = value
  return tree


def pack(variables: dict, config_dict: dict, step: int, path: str | Path,
         overwrite: bool = False, **info) -> str:
  """Writes a generator (``{'params', 'batch_stats'}``) as a shipped-model file
  (:func:`jfsr.files.write_atomically`: never over a file that is there, unless
  ``overwrite``); returns its SHA-256. ``info`` (what it was trained on, its metrics, ...)
  goes into ``meta``."""
  from jfsr import files
  arrays = {f'params/{k}': v.astype(np.float16)
            for k, v in _flatten(variables['params']).items()}
  arrays.update({f'batch_stats/{k}': v.astype(np.float32)
                 for k, v in _flatten(variables['batch_stats']).items()})
  manifest = {name: [list(a.shape), a.dtype.str] for name, a in sorted(arrays.items())}
  meta = {'config': config_dict, 'step': step, 'manifest': manifest,
          'arrays_sha256': arrays_digest(arrays), **info}
  arrays['meta'] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **arrays)
  data = buffer.getvalue()
  files.write_data(path, data, overwrite)
  return hashlib.sha256(data).hexdigest()


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
  """SHA-256 over the arrays' names, shapes, dtypes and bytes, in name order."""
  digest = hashlib.sha256()
  for name in sorted(arrays):
    array = np.ascontiguousarray(arrays[name])
    digest.update(f'{name}|{array.shape}|{array.dtype.str}|'.encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


MAX_META_BYTES = 4 << 20


def _declared_arrays(archive: zipfile.ZipFile) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
  """Each ``.npy`` member's shape and dtype, read from its header alone (no data). A member
  whose size (as the archive declares it, which bounds what is ever decompressed of it) is
  not exactly its header and its array is refused: nothing rides along unread."""
  declared = {}
  for info in archive.infolist():
    if not info.filename.endswith('.npy'):
      raise ValueError(f'unexpected member {info.filename}')
    with archive.open(info) as f:
      version = np.lib.format.read_magic(f)
      read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                     else np.lib.format.read_array_header_2_0)
      shape, _, dtype = read_header(f)
      expected_size = f.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if info.file_size != expected_size:
      raise ValueError(f'member {info.filename} holds {info.file_size:,} bytes where its '
                       f'array needs {expected_size:,}')
    declared[info.filename[:-len('.npy')]] = (tuple(shape), dtype)
  return declared


def read(path: str | Path, sha256: str | None = None) -> tuple[dict, dict]:
  """``(variables as float32, meta)`` of a packed file, checked before any array is read:
  the file's hash if given; then its record, whose config must pass the config checks; then
  every array's declared name, shape and dtype (from its header) against the generator that
  config builds, so that a missing, extra, reshaped or oversized array is refused before
  memory is given to it; then the arrays' CRCs, digest (files packed with one) and
  finiteness. Every failure is one :class:`UnknownModelError` line."""
  path = Path(path)
  data = path.read_bytes()
  if sha256 and hashlib.sha256(data).hexdigest() != sha256:
    raise UnknownModelError(f'{path}: SHA-256 {hashlib.sha256(data).hexdigest()} is not the '
                            f'shipped {sha256}; the file is damaged (reinstall jfsr)')
  not_packed = f'{path} is not a packed jfsr generator'
  try:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
      declared = _declared_arrays(archive)
      meta_shape, meta_dtype = declared.pop('meta', ((), None))
      if meta_dtype != np.uint8 or len(meta_shape) != 1 or meta_shape[0] > MAX_META_BYTES:
        raise ValueError('no readable meta record')
      meta = json.loads(np.load(io.BytesIO(archive.read('meta.npy')),
                                allow_pickle=False).tobytes().decode())
      config = _checked_config(meta, path)
      _check_shapes(declared, config, meta.get('manifest'), path)
      flat = {name: np.load(io.BytesIO(archive.read(f'{name}.npy')), allow_pickle=False)
              for name in declared}
  except UnknownModelError:
    raise
  except (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError) as error:
    reason = 'damaged (a CRC check failed)' if 'CRC' in str(error) else str(error)
    raise UnknownModelError(f'{not_packed} or is damaged: {reason}') from None
  if 'arrays_sha256' in meta and arrays_digest(flat) != meta['arrays_sha256']:
    raise UnknownModelError(f'{path}: its arrays do not match the digest recorded when it was '
                            'packed; the file was altered')
  bad = sorted(name for name, array in flat.items() if not np.isfinite(array).all())
  if bad:
    raise UnknownModelError(f'{path}: {len(bad)} arrays hold NaN or infinite values '
                            f'({bad[0]}, ...); the model would restore nothing')
  tree = _unflatten({k: v.astype(np.float32) for k, v in flat.items()})
  return {'params': tree.get('params', {}), 'batch_stats': tree.get('batch_stats', {})}, meta


def _checked_config(meta: dict, path: Path):
  """The packed config, read over the package's defaults and checked like any config."""
  from jfsr import config_loading
  if not isinstance(meta, dict) or not isinstance(meta.get('config'), dict) or \
      not isinstance(meta.get('step'), int):
    raise UnknownModelError(f'{path}: its record has no config or step')
  try:
    return config_loading.saved_config(meta['config'], str(path))
  except config_loading.SavedConfigError as error:
    raise UnknownModelError(str(error)) from None


def _check_shapes(declared: dict, config, manifest: dict | None, path: Path) -> None:
  """Refuses arrays the packed config's generator does not have, lacks, or has in another
  shape, and a manifest that disagrees with the headers."""
  import jax
  from jfsr import models
  shapes = jax.eval_shape(lambda: models.init_variables(config, jax.random.key(0)))['generator']
  expected = {'/'.join(str(getattr(k, 'key', k)) for k in keys): tuple(leaf.shape)
              for keys, leaf in jax.tree_util.tree_flatten_with_path(
                  {'params': shapes['params'], 'batch_stats': shapes['batch_stats']})[0]}
  missing = sorted(set(expected) - set(declared))
  extra = sorted(set(declared) - set(expected))
  reshaped = sorted(n for n in expected.keys() & declared.keys()
                    if declared[n][0] != expected[n] or declared[n][1].kind != 'f'
                    or declared[n][1].itemsize > 4)
  for kind, names in (('lacks', missing), ('has arrays its config does not build', extra),
                      ('has arrays of the wrong shape or type', reshaped)):
    if names:
      raise UnknownModelError(f'{path} {kind}: {", ".join(names[:3])}'
                              f'{", ..." if len(names) > 3 else ""}')
  if manifest is not None:
    listed = {name: (tuple(shape), np.dtype(dtype)) for name, (shape, dtype) in manifest.items()}
    if listed != declared:
      raise UnknownModelError(f'{path}: its arrays differ from its own manifest; the file was '
                              'altered')


def resolve(name_or_path: str) -> tuple[Path, str | None]:
  """A shipped model's file and hash by NAME, or a packed file's path (no hash)."""
  if name_or_path in SHIPPED:
    model = SHIPPED[name_or_path]
    return MODELS_DIR / model.filename, model.sha256
  path = Path(name_or_path).expanduser()
  if path.suffix == '.npz' and path.is_file():
    return path, None
  names = ', '.join(SHIPPED) or 'none yet'
  raise NoSuchModelError(f'no shipped model {name_or_path!r} (shipped: {names}; '
                          '`python -m jfsr.pretrained list`), nor a packed .npz file by that path')


def lineage(name_or_path: str) -> dict:
  """What a run that started from ``name_or_path`` (``model.generator_init``) started from:
  the model's name, the SHA-256 of its file and its own steps, counting those of any model
  it started from in turn (``steps_in_all``). Recorded when such a run is packed, so that the
  record survives the NAME being given to a newer file."""
  path, sha256 = resolve(name_or_path)
  _, meta = read(path, sha256)
  return {'model': name_or_path, 'sha256': sha256 or hashlib.sha256(path.read_bytes()).hexdigest(),
          'step': meta['step'], 'steps_in_all': meta.get('steps_in_all', meta['step'])}


def load(name_or_path: str):
  """``(config, variables, meta)`` of a shipped model (by NAME) or a packed file."""
  from jfsr import config_loading
  path, sha256 = resolve(name_or_path)
  variables, meta = read(path, sha256)
  config = config_loading.config_from_dict(meta['config'])
  return config, variables, meta
