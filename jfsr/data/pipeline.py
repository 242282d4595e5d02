"""The grain input pipeline: source -> shuffle -> repeat -> degrade -> batch -> host shard."""

from __future__ import annotations

import dataclasses

import grain
import ml_collections
import numpy as np

from jfsr.data import degrade, frames, sources
from jfsr.data.degrade import DegradationSpec
from jfsr.data.photo import PhotoSpec
from jfsr.data.synthetic import SyntheticFaces
from jfsr.errors import JfsrError


class DataConfigError(JfsrError, ValueError):
  """The data section of the config cannot be served."""


class Degrade(grain.transforms.RandomMap):
  """grain transform degrading each record with its own generator: the crop way
  (:func:`jfsr.data.degrade.degrade`), or with probability ``frame_share`` the frame way
  (:func:`jfsr.data.frames.degrade_frame`; that choice is the record's first draw); either
  way, with the spec's ``photo.share``, as photos degrade faces (:mod:`jfsr.data.photo`)."""

  def __init__(self, spec: DegradationSpec, frame_share: float = 0.0,
               frame_spec: frames.FrameSpec | None = None):
    self.spec, self.frame_share, self.frame_spec = spec, frame_share, frame_spec

  def random_map(self, element, rng: np.random.Generator):
    if self.frame_share > 0 and rng.random() < self.frame_share:
      return frames.degrade_frame(element['hr'], element['mask'], self.spec, self.frame_spec, rng)
    return degrade.degrade(element['hr'], element['mask'], self.spec, rng)


def split_range(config: ml_collections.ConfigDict, split: str) -> range:
  """Record numbers of a split: train [first, first + num_train), test right after it."""
  d = config.data
  if split == 'train':
    return range(d.first_index, d.first_index + d.num_train)
  return range(d.first_index + d.num_train, d.first_index + d.num_train + d.num_test)


def make_source(config: ml_collections.ConfigDict, split: str):
  """The random-access source of ``{'hr': uint8 HxWx3, 'mask': float32 HxW}`` records."""
  d = config.data
  records = split_range(config, split)
  if d.source == 'synthetic':
    return SyntheticFaces(len(records), d.hr_size, config.seed, offset=records.start)
  if not d.root and d.source in ('celebamask_hq', 'folder'):
    raise DataConfigError(f'data.source={d.source} needs data.root, the folder holding the data '
                          '(--config.data.root=PATH); configs/celebahq.py:demo needs no data')
  if d.source == 'celebamask_hq':
    return sources.CelebAMaskHQ(d.root, records, d.hr_size, d.face_parts, d.on_bad_record)
  if d.source == 'folder':
    return sources.FaceFolder(d.root, d.hr_size, records.start, len(records), d.on_bad_record)
  if d.source == 'tfds':
    from jfsr.data import tfds_source
    tfds_split = d.tfds_train_split if split == 'train' else d.tfds_test_split
    return tfds_source.TfdsFaces(d.tfds_name, tfds_split, d.tfds_data_dir, d.hr_size)
  raise DataConfigError(f"data.source must be 'celebamask_hq', 'folder', 'tfds' or 'synthetic', "
                        f'got {d.source!r}')


def train_records(config: ml_collections.ConfigDict) -> grain.MapDataset:
  """The endless, shuffled stream of training records: the training split, mixed (by grain's
  ``MapDataset.mix``) with a plain folder of aligned faces when ``data.extra_root`` is set,
  which then supplies a ``data.extra_weight`` share of the examples. The folder's images
  before ``data.extra_first_index`` (in name order) are held out: never read here.

  The extra folder is training data only: no record of it is ever a test record, and the
  test split of ``data.source`` is never read here.
  """
  d = config.data
  records = (grain.MapDataset.source(make_source(config, 'train'))
             .shuffle(seed=config.seed).repeat(None))
  if not d.extra_weight:
    return records
  if not d.extra_root:
    raise DataConfigError(f'data.extra_weight={d.extra_weight} needs data.extra_root, the folder '
                          'of extra training faces (--config.data.extra_root=PATH)')
  extra_faces = sources.FaceFolder(d.extra_root, d.hr_size, d.extra_first_index, None,
                                   d.on_bad_record)
  if not len(extra_faces):
    raise DataConfigError(f'data.extra_first_index={d.extra_first_index} holds out every image of '
                          f'data.extra_root={d.extra_root}: nothing of it is left to train on')
  extra = grain.MapDataset.source(extra_faces).shuffle(seed=config.seed + 2).repeat(None)
  return grain.MapDataset.mix([records, extra], weights=[1 - d.extra_weight, d.extra_weight])


def make_train_dataset(config: ml_collections.ConfigDict, process_index: int = 0,
                       process_count: int = 1, start_batch: int = 0) -> grain.IterDataset:
  """This host's infinite stream of local batches, each a dict of stacked arrays.

  Global batch j is the concatenation of host 0's, host 1's, ... local batch j;
  every element's randomness depends only on ``config.seed`` and its position in
  the global stream, so ``start_batch=k`` yields exactly what the stream yields
  after k batches.
  """
  global_batch = config.train.batch_size
  if global_batch % process_count:
    raise DataConfigError(f'train.batch_size={global_batch} does not split over '
                          f'{process_count} processes')
  local_batch = global_batch // process_count
  degradation = Degrade(DegradationSpec.from_config(config), config.data.frame_share,
                        frames.FrameSpec.from_config(config))
  dataset = (train_records(config)
             .random_map(degradation, seed=config.seed + 1)
             .batch(local_batch, drop_remainder=True))
  dataset = dataset.slice(slice(process_index + start_batch * process_count, None, process_count))
  iter_dataset = dataset.to_iter_dataset(
      grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
  if config.data.num_workers > 0:
    iter_dataset = iter_dataset.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=config.data.num_workers,
        per_worker_buffer_size=config.data.prefetch_buffer), worker_init_fn=die_with_parent)
  return iter_dataset


def die_with_parent(worker_index: int, worker_count: int) -> None:
  """grain worker start-up: ask Linux to SIGKILL this worker when its parent dies, so no
  worker outlives a trainer that was killed (SIGKILL leaves it no chance to stop them),
  and leave SIGTERM to the parent: a SIGTERM sent to the whole process group must not
  kill the workers before the trainer has saved its checkpoint (it then stops them).
  ``prctl`` is Linux's; elsewhere only the second part applies."""
  del worker_index, worker_count
  import ctypes
  import signal
  signal.signal(signal.SIGTERM, signal.SIG_IGN)
  try:
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
  except (OSError, AttributeError):
    pass


EVAL_SEED = 12345  # every evaluation degrades the test faces with this seed: same inputs each time


def eval_degradation(config: ml_collections.ConfigDict) -> DegradationSpec:
  """The test set's degradation: the training one without its augmentations.

  Every test face is motion-blurred (no sharp share), none is flipped and none is
  degraded the photo way, as in the authors' fixed test set.
  """
  return dataclasses.replace(DegradationSpec.from_config(config), hflip=False, sharp_fraction=0.0,
                             photo=PhotoSpec.default())


def make_eval_dataset(config: ml_collections.ConfigDict, batch_size: int,
                      count: int | None = None) -> grain.MapDataset:
  """The first ``count`` (default: all) test examples, degraded with a fixed seed, in batches.

  Each face's degradation depends only on :data:`EVAL_SEED` and its index in the
  test split, so the inputs are the same on any number of devices or processes.
  The last batch may be smaller. Asking for more examples than the test split
  holds is an error, not a quiet truncation.
  """
  source = make_source(config, 'test')
  count = len(source) if count is None else count
  if count > len(source):
    raise DataConfigError(f'asked for {count} test faces but the test split holds only '
                          f'{len(source)} (data.num_test={config.data.num_test})')
  return (grain.MapDataset.source(source)[:count]
          .random_map(Degrade(eval_degradation(config)), seed=EVAL_SEED)
          .batch(batch_size, drop_remainder=False))


def make_eval_batch(config: ml_collections.ConfigDict, count: int):
  """The first ``count`` test examples with the evaluation's degradation (for image grids)."""
  return make_eval_dataset(config, count, count)[0]
