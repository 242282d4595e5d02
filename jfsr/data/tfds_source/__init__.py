"""CelebAMask-HQ as a TensorFlow Datasets dataset, read back without TensorFlow.

Prepare once (TensorFlow runs only here), from the official download:

    python -m jfsr.data.tfds_source --root /data/CelebAMask-HQ --data_dir ~/tensorflow_datasets

which writes array_record files of 256² faces with their face masks (splits:
``train`` = images 0..28799, ``test`` = 28800..29999, as far as they exist).
Training then reads them through ``tfds.data_source`` (random access, no
TensorFlow in the loop): ``--config.data.source=tfds --config.data.tfds_data_dir=...``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from jfsr.data import images, sources

NAME = 'celebamask_hq_faces'
STORED_SIZE = 256
PAPER_TRAIN = 28_800


@functools.cache
def _builder_class():
  import tensorflow_datasets as tfds

  class CelebamaskHqFaces(tfds.core.GeneratorBasedBuilder):
    """CelebA-HQ faces (256²) with face masks from the CelebAMask-HQ part annotations."""

    VERSION = tfds.core.Version('1.0.0')
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        'Point manual_dir at the extracted CelebAMask-HQ download, holding '
        'CelebA-HQ-img/ and CelebAMask-HQ-mask-anno/.')
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(
        name='face_parts', description='mask = skin and inner face parts (no hair, neck, cloth, hat)')]

    def _info(self):
      return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
          'image': tfds.features.Image(shape=(STORED_SIZE, STORED_SIZE, 3)),
          'mask': tfds.features.Image(shape=(STORED_SIZE, STORED_SIZE, 1)),
          'index': np.int32}))

    def _split_generators(self, dl_manager):
      root = Path(dl_manager.manual_dir)
      present = sorted(int(p.stem) for p in (root / 'CelebA-HQ-img').glob('*.jpg')
                       if p.stem.isdigit())
      splits = {'train': [i for i in present if i < PAPER_TRAIN],
                'test': [i for i in present if i >= PAPER_TRAIN]}
      return {name: self._generate_examples(root, indices)
              for name, indices in splits.items() if indices}

    def _generate_examples(self, root, indices):
      parts = ('skin', 'nose', 'eye_g', 'l_eye', 'r_eye', 'l_brow', 'r_brow', 'mouth', 'u_lip',
               'l_lip')
      reader = sources.CelebAMaskHQ(root, indices, STORED_SIZE, parts, on_bad_record='raise')
      for position, index in enumerate(indices):
        record = reader[position]
        mask = (record['mask'][..., None] * 255).astype(np.uint8)
        yield index, {'image': record['hr'], 'mask': mask, 'index': index}

  return CelebamaskHqFaces


def prepare(root: str | Path, data_dir: str | Path | None = None):
  """Builds the dataset from the official layout at ``root`` (array_record files); a root
  without that layout is a :class:`jfsr.data.sources.DataError` before TFDS starts."""
  import tensorflow_datasets as tfds
  root = Path(root).expanduser()
  sources.check_layout(root, '--root')
  builder = _builder_class()(data_dir=str(data_dir) if data_dir else None,
                             file_format='array_record')
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(root)))
  return builder


class TfdsFaces:
  """Random access to a prepared split: ``{'hr': uint8, 'mask': float32}`` at ``size``."""

  def __init__(self, name: str, split: str, data_dir: str, size: int):
    import tensorflow_datasets as tfds
    if name == NAME:
      _builder_class()  # registers the builder so TFDS can find it by name
    try:
      self._source = tfds.data_source(name, split=split, data_dir=data_dir or None)
    except Exception as error:  # TFDS raises several types for "not prepared"
      raise sources.DataError(
          f'TFDS dataset {name!r} (split {split!r}) is not prepared in '
          f'{data_dir or "the default TFDS folder"}: {error}. Prepare it with '
          f'python -m jfsr.data.tfds_source --root CELEBAMASK_HQ_DIR --data_dir DIR') from None
    self.size = size

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, position: int) -> dict[str, np.ndarray]:
    record = self._source[int(position)]
    mask = np.asarray(record['mask'])[..., 0] > 127
    return {'hr': images.resize_rgb(np.asarray(record['image']), self.size),
            'mask': images.resize_mask(mask, self.size)}
