"""ONNX export (``python -m jfsr.export --to onnx``) against jfsr's own generator, and
``jfsr.restore --onnx`` against the JAX path."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

onnxruntime = pytest.importorskip('onnxruntime', reason='the ONNX tests need onnxruntime (the '
                                  '[test] extra installs it)')

REPO = Path(__file__).resolve().parent.parent

# Runs `python -m jfsr.export ARGS` in a process where onnxruntime cannot be imported.
EXPORT_WITHOUT_ONNXRUNTIME = """
import runpy, sys


class NoOnnxruntime:
  def find_spec(self, name, path=None, target=None):
    if name.split('.')[0] == 'onnxruntime':
      raise ImportError('onnxruntime is blocked in this process')


sys.meta_path.insert(0, NoOnnxruntime())
sys.argv = ['jfsr.export', *sys.argv[1:]]
runpy.run_module('jfsr.export', run_name='__main__')
"""


def onnx_runtime(path_or_bytes):
  data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
  return onnxruntime.InferenceSession(data, providers=['CPUExecutionProvider'])


def jfsr_output(config, variables, lr):
  import jax
  from jfsr import inference
  return np.asarray(jax.jit(inference.make_sampler(config))(variables, lr)['out_sharp'])


def test_exported_shipped_model_passes_the_checker_and_matches_jfsr(tmp_path):
  """The CLI writes the shipped model without onnxruntime; onnx.checker accepts the file, and
  onnxruntime gives jfsr's output within 1e-4 for batches of 1 and 5 (a dynamic batch)."""
  import jax
  import onnx
  from jfsr import inference
  output = tmp_path / 'g.onnx'
  result = subprocess.run([sys.executable, '-c', EXPORT_WITHOUT_ONNXRUNTIME, '--model', 'cpu-x16',
                           '--to', 'onnx', '--output', output], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env={**os.environ, 'JFSR_ALLOCATOR': 'system'})
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'ONNX graph' in result.stdout
  model = onnx.load(output)
  onnx.checker.check_model(model, full_check=True)
  assert [i.name for i in model.graph.input] == ['lr']
  dims = model.graph.input[0].type.tensor_type.shape.dim
  assert [d.dim_param or d.dim_value for d in dims] == ['batch', 16, 16, 3]
  config, variables, _ = inference.load_generator(model='cpu-x16', device=jax.devices('cpu')[0])
  runtime = onnx_runtime(output)
  rng = np.random.default_rng(0)
  for n in (1, 5):
    lr = rng.uniform(-1, 1, (n, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(runtime.run(['sharp'], {'lr': lr})[0],
                               jfsr_output(config, variables, lr), atol=1e-4)


def _random_variables(config, seed=0):
  """Fresh parameters, and BatchNorm statistics far from (0, 1) so that using them matters."""
  import jax
  from jfsr import models
  size, channels = config.data.lr_size, 1 if config.data.grayscale_input else 3
  variables = jax.device_get(jax.jit(lambda key: models.build_generator(config).init(
      {'params': key, 'noise': jax.random.key(1)},
      np.zeros((1, size, size, channels), np.float32), train=False))(jax.random.key(seed)))
  rng = np.random.default_rng(seed)
  stats = jax.tree.map_with_path(
      lambda path, v: (rng.uniform(0.5, 2.0, v.shape) if path[-1].key == 'var'
                       else rng.normal(0, 0.3, v.shape)).astype(np.float32),
      variables['batch_stats'])
  return {'params': variables['params'], 'batch_stats': stats}


def test_default_size_model_matches_jfsr():
  """The paper's 32² -> 256² generator at full width (ngf 64, 54M parameters)."""
  from jfsr import config_defaults
  from jfsr.export import onnx as onnx_export
  config = config_defaults.base_config()
  variables = _random_variables(config)
  lr = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  ours = onnx_runtime(onnx_export.serialize(config, variables)).run(['sharp'], {'lr': lr})[0]
  assert ours.shape == (2, 256, 256, 3)
  np.testing.assert_allclose(ours, jfsr_output(config, variables, lr), atol=1e-4)


def test_noise_is_an_input_and_grey_input_models_export(smoke_config, monkeypatch):
  """The w/N generator's noise enters as one input per place it is added: fed the draws that
  jfsr makes (here forced to a constant) it gives jfsr's output; a grey-input model reads
  one channel."""
  import jax
  from jfsr.export import onnx as onnx_export
  config = smoke_config
  config.model.noise_std = 0.1
  config.data.grayscale_input = True
  variables = _random_variables(config)
  model = onnx_export.generator_graph(config, variables)
  runtime = onnx_runtime(model.SerializeToString())
  inputs = {i.name: i.shape for i in runtime.get_inputs()}
  assert inputs['lr'][1:] == [config.data.lr_size, config.data.lr_size, 1]
  num_levels = int(np.log2(config.data.hr_size))
  assert sorted(inputs) == sorted(
      ['lr', 'noise_lr', 'noise_upx', *[f'noise_enc{i}' for i in range(1, num_levels + 1)],
       *[f'noise_blur_dec{i}' for i in (1, 2, 3)],
       *[f'noise_sharp_dec{i}' for i in range(1, num_levels)]])
  lr = np.random.default_rng(2).uniform(-1, 1, (3, config.data.lr_size, config.data.lr_size, 1))
  lr = lr.astype(np.float32)
  monkeypatch.setattr(jax.random, 'normal', lambda key, shape, *a, **k: np.full(shape, 0.5))
  feed = {name: np.full([3, *shape[1:]], 0.5, np.float32) for name, shape in inputs.items()}
  feed['lr'] = lr
  np.testing.assert_allclose(runtime.run(['sharp'], feed)[0], jfsr_output(config, variables, lr),
                             atol=1e-4)
  # The noise really is used: other draws give another output.
  feed = {**feed, 'noise_enc1': np.zeros_like(feed['noise_enc1'])}
  assert np.abs(runtime.run(['sharp'], feed)[0] - jfsr_output(config, variables, lr)).max() > 1e-3


def test_model1_is_refused_in_one_line(smoke_config):
  from jfsr.export import onnx as onnx_export
  from jfsr.errors import JfsrError
  smoke_config.model.use_upsampler = False
  with pytest.raises(JfsrError, match='model1'):
    onnx_export.generator_graph(smoke_config, {'params': {}, 'batch_stats': {}})


def test_restore_with_the_onnx_file_gives_the_jax_paths_pixels(tmp_path):
  """``jfsr.restore --onnx`` runs detection, alignment and pasting as ever with the generator
  in onnxruntime: the restored photo is within 1/255 of ``--model``'s."""
  from skimage import data as skimage_data
  from jfsr import inference
  from jfsr.export import onnx as onnx_export
  import jax
  config, variables, step = inference.load_generator(model='cpu-x16',
                                                     device=jax.devices('cpu')[0])
  onnx_file = tmp_path / 'g.onnx'
  onnx_file.write_bytes(onnx_export.serialize(config, jax.device_get(variables), step))
  photo = tmp_path / 'in' / 'astronaut.png'
  photo.parent.mkdir()
  Image.fromarray(skimage_data.astronaut()).resize((96, 96), Image.Resampling.BICUBIC).save(photo)
  outputs = {}
  for name, source in (('jax', ['--model', 'cpu-x16']), ('onnx', ['--onnx', onnx_file])):
    result = subprocess.run(
        [sys.executable, '-m', 'jfsr.restore', *map(str, source), '--input', str(photo),
         '--output', str(tmp_path / name), '--detector', 'haar', '--force', '--upscale', '4'],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'faces restored 1' in result.stdout
    outputs[name] = np.asarray(Image.open(tmp_path / name / 'astronaut.png')).astype(int)
  assert outputs['onnx'].shape == (384, 384, 3)
  assert np.abs(outputs['onnx'] - outputs['jax']).max() <= 1
  assert not np.array_equal(outputs['onnx'], np.asarray(
      Image.open(photo).resize((384, 384), Image.Resampling.BICUBIC)))


def test_restore_refuses_a_file_that_is_not_a_jfsr_onnx_export(tmp_path):
  bad = tmp_path / 'g.onnx'
  bad.write_bytes(b'not a protobuf at all')
  Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / 'x.png')
  result = subprocess.run(
      [sys.executable, '-m', 'jfsr.restore', '--onnx', str(bad), '--input',
       str(tmp_path / 'x.png'), '--output', str(tmp_path / 'out')],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith('error: --onnx')
  assert 'Traceback' not in result.stderr
