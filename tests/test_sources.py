"""Data sources on layouts the tests write themselves: CelebAMask-HQ, a plain folder, TFDS."""

import warnings

import numpy as np
import pytest
from PIL import Image

from jfsr.data import sources, synthetic
from jfsr.data.pipeline import DataConfigError, make_source, make_train_dataset

PARTS = ('skin', 'nose', 'l_eye', 'r_eye', 'mouth')


def write_celebamask_layout(root, count, size=64, mask_size=32, skip_parts=()):
  """A miniature official layout: drawn faces, and per-part masks (smaller than the images)."""
  (root / 'CelebA-HQ-img').mkdir(parents=True)
  for i in range(count):
    image, mask = synthetic.draw_face(i, size)
    Image.fromarray(image).save(root / 'CelebA-HQ-img' / f'{i}.jpg', quality=95)
    folder = root / 'CelebAMask-HQ-mask-anno' / str(i // 2000)
    folder.mkdir(parents=True, exist_ok=True)
    small = np.asarray(Image.fromarray((mask * 255).astype(np.uint8)).resize((mask_size,) * 2))
    # skin holds the whole face; 'hair' (not a face part) covers the rest of the image.
    Image.fromarray(small).save(folder / f'{i:05d}_skin.png')
    Image.fromarray(255 - small).save(folder / f'{i:05d}_hair.png')
  return root


def test_celebamask_reader_builds_the_face_mask_from_parts(tmp_path):
  root = write_celebamask_layout(tmp_path / 'celeba', 3)
  source = sources.CelebAMaskHQ(root, range(3), 32, PARTS)
  record = source[1]
  assert record['hr'].shape == (32, 32, 3) and record['hr'].dtype == np.uint8
  _, drawn = synthetic.draw_face(1, 64)
  expected = np.asarray(Image.fromarray(drawn).resize((32, 32), Image.Resampling.BILINEAR)) >= 0.5
  assert np.mean(record["mask"] == expected) > 0.93  # edges differ: the part files are 32², resampled twice
  # Adding 'hair' to the parts covers the whole image.
  everything = sources.CelebAMaskHQ(root, range(3), 32, PARTS + ('hair',))[1]
  assert everything['mask'].mean() > 0.95


def test_celebamask_structural_errors_name_the_path(tmp_path):
  with pytest.raises(sources.DataError, match='CelebA-HQ-img'):
    sources.CelebAMaskHQ(tmp_path, range(2), 32, PARTS)
  root = write_celebamask_layout(tmp_path / 'celeba', 2)
  with pytest.raises(sources.DataError, match='of the 5 images of this split are missing'):
    sources.CelebAMaskHQ(root, range(5), 32, PARTS)
  with pytest.raises(sources.DataError, match='unknown CelebAMask-HQ parts'):
    sources.CelebAMaskHQ(root, range(2), 32, ('skin', 'beard'))
  for path in (root / 'CelebAMask-HQ-mask-anno' / '0').iterdir():
    path.unlink()
  with pytest.raises(sources.DataError, match='mask folder does not match'):
    sources.CelebAMaskHQ(root, range(2), 32, PARTS)


def test_corrupt_record_is_skipped_and_counted_or_raised(tmp_path):
  root = write_celebamask_layout(tmp_path / 'celeba', 3)
  (root / 'CelebA-HQ-img' / '1.jpg').write_bytes(b'not a jpeg')
  source = sources.CelebAMaskHQ(root, range(3), 32, PARTS)
  replaced = source[1]
  np.testing.assert_array_equal(replaced['hr'], source[2]['hr'])
  assert source.skipped == 1
  strict = sources.CelebAMaskHQ(root, range(3), 32, PARTS, on_bad_record='raise')
  with pytest.raises(sources.DataError, match='1.jpg'):
    strict[1]


def test_a_decompression_bomb_is_a_bad_record_too(tmp_path, monkeypatch):
  """An image past PIL's pixel limit (twice MAX_IMAGE_PIXELS raises) is skipped and counted
  like a corrupt file, not a crash of the loader."""
  root = write_celebamask_layout(tmp_path / 'celeba', 3)
  monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 1000)  # the drawn 64x64 faces: 4,096 pixels
  Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(root / 'CelebA-HQ-img' / '1.jpg')
  monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 2040)  # 4,096 > 2 x 2,040: a bomb
  source = sources.CelebAMaskHQ(root, range(3), 32, PARTS)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', Image.DecompressionBombWarning)
    with pytest.raises(sources.DataError, match='consecutive unreadable'):
      source[0]  # every record is a bomb at this limit
  monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 10_000)
  (root / 'CelebA-HQ-img' / '1.jpg').write_bytes(
      (root / 'CelebA-HQ-img' / '0.jpg').read_bytes())
  big = Image.fromarray(np.zeros((200, 200, 3), np.uint8))  # 40,000 > 2 x 10,000
  big.save(root / 'CelebA-HQ-img' / '1.jpg')
  source = sources.CelebAMaskHQ(root, range(3), 32, PARTS)
  np.testing.assert_array_equal(source[1]['hr'], source[2]['hr'])
  assert source.skipped == 1


@pytest.mark.parametrize('mode', ['L', 'RGBA', 'CMYK', 'I;16', 'P'])
def test_odd_colour_modes_are_converted(tmp_path, mode):
  image, _ = synthetic.draw_face(0, 32)
  picture = Image.fromarray(image)
  if mode == 'I;16':
    picture = Image.fromarray((np.asarray(picture.convert('L')).astype(np.uint16) * 257))
  else:
    picture = picture.convert(mode)
  folder = tmp_path / 'faces'
  folder.mkdir()
  picture.save(folder / ('face.png' if mode != 'CMYK' else 'face.jpg'))
  record = sources.FaceFolder(folder, 32, 0, 1)[0]
  assert record['hr'].shape == (32, 32, 3) and record['hr'].dtype == np.uint8
  if mode in ('L', 'I;16'):
    gray = np.asarray(Image.fromarray(image).convert('L')).astype(int)
    assert np.abs(record['hr'][..., 0].astype(int) - gray).max() <= 2


def test_exif_rotation_is_applied(tmp_path):
  folder = tmp_path / 'faces'
  folder.mkdir()
  image = np.zeros((20, 40, 3), np.uint8)
  image[:, :20] = 255  # left half white
  exif = Image.Exif()
  exif[0x0112] = 6  # rotate 90 degrees clockwise on display
  Image.fromarray(image).save(folder / 'rotated.jpg', exif=exif)
  from jfsr.data import images
  upright = images.read_rgb(folder / 'rotated.jpg')
  assert upright.shape == (40, 20, 3)
  assert upright[:10].mean() > 200 and upright[-10:].mean() < 50  # white now on top


def test_face_folder_estimates_a_real_mask(tmp_path):
  folder = tmp_path / 'faces'
  folder.mkdir()
  for i in range(3):
    Image.fromarray(synthetic.draw_face(i, 64)[0]).save(folder / f'{i:03d}.png')
  (folder / 'notes.txt').write_text('not an image')
  source = sources.FaceFolder(folder, 64, 0, 3)
  assert len(source) == 3
  mask = source[0]['mask']
  assert 0.05 < mask.mean() < 0.6  # neither empty nor everything
  assert mask[32, 32] == 1 and mask[0, 0] == 0  # centre of the face in, corner out
  with pytest.raises(sources.DataError, match='holds no images'):
    sources.FaceFolder(tmp_path, 64, 0, 1)
  with pytest.raises(sources.DataError, match='holds 3 images'):
    sources.FaceFolder(folder, 64, 2, 5)


def test_trainer_sources_from_config(tmp_path, smoke_config):
  root = write_celebamask_layout(tmp_path / 'celeba', 10)
  smoke_config.data.source = 'celebamask_hq'
  smoke_config.data.root = str(root)
  smoke_config.data.face_parts = PARTS
  smoke_config.data.num_train, smoke_config.data.num_test = 8, 2
  assert len(make_source(smoke_config, 'test')) == 2
  batch = next(iter(make_train_dataset(smoke_config)))
  assert batch['lr'].shape == (4, 4, 4, 3) and batch['hr'].shape == (4, 32, 32, 3)
  smoke_config.data.root = ''
  with pytest.raises(DataConfigError, match='needs data.root'):
    make_source(smoke_config, 'train')


def test_tfds_prepared_dataset_reads_back_without_tensorflow_in_the_loop(tmp_path, smoke_config):
  import json
  import subprocess
  import sys
  from pathlib import Path
  pytest.importorskip('tensorflow_datasets')
  from jfsr.data import tfds_source
  root = write_celebamask_layout(tmp_path / 'celeba', 4, size=64)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    builder = tfds_source.prepare(root, tmp_path / 'tfds')
  assert builder.info.splits['train'].num_examples == 4
  # Read it back in a process where TensorFlow cannot be imported at all: records and a
  # batch of the training pipeline (which degrades them) must come without it.
  script = f"""
import importlib.machinery, json, sys

class WithoutTensorFlow(importlib.machinery.PathFinder):  # as if TensorFlow were not installed
  @classmethod
  def find_spec(cls, name, path=None, target=None):
    if name == 'tensorflow' or name.startswith('tensorflow.'):
      return None
    return importlib.machinery.PathFinder.find_spec(name, path, target)
sys.meta_path = [WithoutTensorFlow if f is importlib.machinery.PathFinder else f
                 for f in sys.meta_path]
from absl import flags; flags.FLAGS.mark_as_parsed()
import numpy as np
from jfsr import config_loading
from jfsr.data.pipeline import make_source, make_train_dataset
config = config_loading.load_config('smoke')
config.data.source, config.data.tfds_data_dir = 'tfds', {str(tmp_path / 'tfds')!r}
config.data.tfds_train_split = 'train[:3]'
config.train.batch_size = 2
source = make_source(config, 'train')
batch = next(iter(make_train_dataset(config)))
np.save({str(tmp_path / 'record.npy')!r}, source[0]['hr'])
np.save({str(tmp_path / 'mask.npy')!r}, source[0]['mask'])
print(json.dumps({{'count': len(source), 'batch': list(batch['lr'].shape),
                  'tensorflow': 'tensorflow' in sys.modules}}))
"""
  result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parent.parent)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report == {'count': 3, 'batch': [2, 4, 4, 3], 'tensorflow': False}
  record, mask = np.load(tmp_path / 'record.npy'), np.load(tmp_path / 'mask.npy')
  direct = sources.CelebAMaskHQ(root, [0], 32, ('skin',))[0]
  assert record.shape == (32, 32, 3) and mask.shape == (32, 32)
  assert np.abs(record.astype(int) - direct['hr'].astype(int)).mean() < 8
  # The stored mask is the same face mask (resized through the stored 256² copy).
  assert np.abs(mask - direct['mask']).mean() < 0.05 and direct['mask'].mean() > 0.1


def test_contact_sheet_command_writes_a_png(tmp_path):
  import subprocess
  import sys
  from pathlib import Path
  repo = Path(__file__).resolve().parent.parent
  out = tmp_path / 'sheet.png'
  result = subprocess.run(
      [sys.executable, '-m', 'jfsr.measures.contact_sheet', '--config', 'configs/celebahq.py:smoke',
       '--config.data.hr_size=64', '--config.data.lr_size=8', '--count', '3', '--out', str(out)],
      cwd=repo, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  sheet = np.asarray(Image.open(out))
  assert sheet.shape == (3 * 66 + 2, 5 * 66 + 2, 3)
  assert 'longest blur' in result.stdout


def test_training_mixes_an_extra_folder_by_weight_and_never_reads_the_test_split(tmp_path,
                                                                                  smoke_config):
  from jfsr.data.pipeline import train_records
  root = write_celebamask_layout(tmp_path / 'celeba', 10, size=32)
  extra = tmp_path / 'extra'
  extra.mkdir()
  for i in range(5):  # recognisable: solid colours no drawn face has
    Image.fromarray(np.full((40, 40, 3), (0, 250, 10 * i), np.uint8)).save(extra / f'{i}.png')
  config = smoke_config
  config.data.source, config.data.root = 'celebamask_hq', str(root)
  config.data.num_train, config.data.num_test = 6, 4
  config.data.extra_root, config.data.extra_weight = str(extra), 0.3
  config.data.extra_first_index = 2  # images 0 and 1 of the folder are held out
  records = [train_records(config)[i]['hr'] for i in range(400)]
  from_extra = [r for r in records if (r[..., 1] > 240).all() and (r[..., 0] < 5).all()]
  assert 0.22 < len(from_extra) / len(records) < 0.38
  assert {int(r[0, 0, 2]) for r in from_extra} == {20, 30, 40}
  test_images = [make_source(config, 'test')[i]['hr'] for i in range(4)]
  train_images = [make_source(config, 'train')[i]['hr'] for i in range(6)]
  others = [r for r in records if not any(r is e for e in from_extra)]
  for record in others:
    assert any(np.array_equal(record, t) for t in train_images)
    assert not any(np.array_equal(record, t) for t in test_images)


def test_an_extra_share_without_its_folder_or_with_nothing_left_to_train_on_is_refused(
    tmp_path, smoke_config):
  from jfsr.data.pipeline import train_records
  config = smoke_config
  config.data.extra_weight = 0.2
  with pytest.raises(DataConfigError, match='needs data.extra_root'):
    train_records(config)
  extra = tmp_path / 'extra'
  extra.mkdir()
  for i in range(3):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(extra / f'{i}.png')
  config.data.extra_root, config.data.extra_first_index = str(extra), 3
  with pytest.raises(DataConfigError, match='holds out every image'):
    train_records(config)
