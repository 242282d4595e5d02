"""Bad input, as a table: every command against what a user (or an attacker) can hand it.

Each case prepares its files in a fresh folder, runs one command as a user would, and the
one test below checks the same contract for all of them: the exit status (2 when the
command line must change, 1 when the command ran and failed, 0 where the right answer is
to succeed without losing anything), exactly one ``error:`` line naming the problem, no
traceback, and every file that was there before still there with the same bytes (inputs,
models, checkpoints, results already in an output folder, the targets of links), with no
new file left behind by a command that failed (no partial output, no temporary).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

import packed_models
from jfsr.data.synthetic import draw_face

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ['--model', 'cpu-x16']


@dataclasses.dataclass
class Box:
  """One case's folder: ``in/`` for inputs, ``out/`` for results, and shared fixtures."""
  root: Path
  run: Path  # a smoke run with checkpoints of steps 2 and 4 (copy it before damaging it)

  @property
  def inputs(self) -> Path:
    return self.root / 'in'

  @property
  def output(self) -> Path:
    return self.root / 'out'

  def face(self, name: str = 'a.png', index: int = 0, folder: Path | None = None) -> Path:
    path = (folder or self.inputs) / name
    Image.fromarray(draw_face(index, 48)[0]).save(path)
    return path

  def write(self, name: str, data: bytes | str, folder: Path | None = None) -> Path:
    path = (folder or self.inputs) / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path

  def run_copy(self, damage: str | None = None) -> Path:
    """A copy of the smoke run, its step 4 damaged: 'truncated', 'zeroed' or 'no config'."""
    copy = self.root / 'run'
    shutil.copytree(self.run, copy)
    step = copy / 'checkpoints' / '4'
    for path in (p for p in (step / 'state').rglob('*') if p.is_file() and p.parent.name == 'd'):
      if damage == 'truncated':
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 3])
      elif damage == 'zeroed':
        path.write_bytes(bytes(path.stat().st_size))
    if damage == 'no config':
      shutil.rmtree(step / 'config')
    return copy

  def run_with_saved(self, field: str, value) -> Path:
    """A copy of the smoke run whose step 4 saved ``field`` (dotted) as ``value``."""
    import json
    copy = self.run_copy()
    record = copy / 'checkpoints' / '4' / 'config' / 'metadata'
    saved = json.loads(record.read_text())
    *parents, leaf = field.split('.')
    node = saved
    for part in parents:
      node = node[part]
    node[leaf] = value
    record.write_text(json.dumps(saved))
    return copy


@dataclasses.dataclass(frozen=True)
class Case:
  prepare: Callable[[Box], tuple[str, list]]  # -> (module, arguments)
  status: int
  words: str = ''  # in the error line
  new_files: tuple[str, ...] = ()  # relative to the box: what a successful case writes


CASES: dict[str, Case] = {}


def case(name: str, status: int, words: str = '', new_files: tuple[str, ...] = ()):
  def register(prepare):
    assert name not in CASES, name
    CASES[name] = Case(prepare, status, words, new_files)
    return prepare
  return register


def restore(box: Box, *args, model=SHIPPED, aligned=True) -> tuple[str, list]:
  return 'jfsr.restore', [*model, *(['--aligned'] if aligned else []), *args]


def restore_folder(box: Box, *extra, model=SHIPPED) -> tuple[str, list]:
  return restore(box, '--input', box.inputs, '--output', box.output, *extra, model=model)


# --- jfsr.restore: inputs --------------------------------------------------------------------

@case('restore: --input that does not exist', 2, 'does not exist')
def _(box):
  return restore(box, '--input', box.root / 'nowhere.png', '--output', box.output)


@case('restore: an empty folder', 1, 'nothing in --input')
def _(box):
  return restore_folder(box)


@case('restore: only a text file named .png', 1, 'nothing in --input')
def _(box):
  box.write('notes.png', 'not an image')
  return restore_folder(box)


@case('restore: a zero-byte image', 1, 'nothing in --input')
def _(box):
  box.write('empty.png', b'')
  return restore_folder(box)


@case('restore: a truncated PNG', 1, 'nothing in --input')
def _(box):
  data = box.face('whole.png').read_bytes()
  (box.inputs / 'whole.png').unlink()
  box.write('cut.png', data[:len(data) // 2])
  return restore_folder(box)


@case('restore: a decompression bomb', 1, 'nothing in --input')
def _(box):
  Image.new('1', (20_000, 20_000)).save(box.inputs / 'bomb.png')  # 400 MP in a few KB
  return restore_folder(box)


@case('restore: an image above --max_output_mp', 1, 'nothing in --input')
def _(box):
  Image.fromarray(draw_face(0, 128)[0]).save(box.inputs / 'a.png')  # 0.016 MP
  return restore_folder(box, '--max_output_mp', '0.01')


@case('restore: a video file of garbage', 1, 'cannot read this video')
def _(box):
  return restore(box, '--input', box.write('clip.mp4', os.urandom(4096)), '--output',
                 box.output, aligned=False)


@case('restore: a zero-byte video', 1, 'cannot read this video')
def _(box):
  return restore(box, '--input', box.write('clip.mp4', b''), '--output', box.output,
                 aligned=False)


# --- jfsr.restore: outputs (nothing a user has is lost) -----------------------------------------

@case('restore: --output is an existing file', 2, 'is a file')
def _(box):
  box.face()
  return restore(box, '--input', box.inputs, '--output', box.write('taken', 'a file'))


@case('restore: --output is the input folder', 2, 'input folder')
def _(box):
  box.face()
  return restore(box, '--input', box.inputs, '--output', box.inputs)


@case('restore: a result of that name is already there', 2, '--overwrite')
def _(box):
  box.face()
  box.write('a.png', 'a file of the user', box.output)
  return restore_folder(box)


@case('restore: a link in the output folder where a result goes', 2, 'already exists')
def _(box):
  box.face()
  (box.output / 'a.png').symlink_to(box.write('precious.png', 'not to be touched', box.root))
  return restore_folder(box)


@case('restore: an input linked from the output folder, even with --overwrite', 2,
      'over an input')
def _(box):
  (box.inputs / 'a.png').symlink_to(box.face('a.png', folder=box.output))
  return restore_folder(box, '--overwrite')


@case('restore: --output under a file', 1, 'cannot write results')
def _(box):
  box.face()
  return restore(box, '--input', box.inputs, '--output', box.write('file', 'x', box.root) / 'sub')


@case('restore: a.jpg and a.png in one folder', 0,
      new_files=('out/a_jpg.png', 'out/a_png.png'))
def _(box):
  box.face('a.png', 0)
  Image.fromarray(draw_face(1, 48)[0]).save(box.inputs / 'a.jpg', quality=95)
  return restore_folder(box)


@case('restore: a.jpg, a.png and a_png.png in one folder', 0,
      new_files=('out/a_jpg.png', 'out/a_png.png', 'out/a_png_2.png'))
def _(box):
  box.face('a.png', 0)
  box.face('a_png.png', 2)
  Image.fromarray(draw_face(1, 48)[0]).save(box.inputs / 'a.jpg', quality=95)
  return restore_folder(box)


LONG_NAME = '顔' * 78  # 234 bytes of UTF-8: with its suffix, near the 255-byte limit


@case('restore: a file name of 238 bytes', 0, new_files=(f'out/{LONG_NAME}.png',))
def _(box):
  box.face(f'{LONG_NAME}.png')
  return restore_folder(box)


@case('restore: --upscale 1000 on a photo', 0, new_files=('out/a.png',))
def _(box):
  box.face()
  return restore(box, '--input', box.inputs, '--output', box.output, '--upscale', '1000',
                 '--max_output_mp', '1', '--detector', 'haar', aligned=False)


# --- jfsr.restore: models -------------------------------------------------------------------

@case('restore: --model of no shipped name', 2, 'no shipped model')
def _(box):
  box.face()
  return restore_folder(box, model=['--model', 'cpu-x99'])


for _damage in packed_models.CASES:
  @case(f'restore: a packed model with {_damage}', 1, 'model.npz')
  def _(box, damage=_damage):
    box.face()
    return restore_folder(box, model=['--model', packed_models.damaged(box.root / 'model.npz',
                                                                       damage)])


@case('restore: both --model and --checkpoint', 2, 'give exactly one of')
def _(box):
  box.face()
  return restore_folder(box, model=[*SHIPPED, '--checkpoint', box.run])


@case('restore: no model named: the default one', 0, new_files=('out/a.png',))
def _(box):
  box.face()
  return restore_folder(box, model=[])


@case('restore: --checkpoint of a folder without checkpoints', 1, 'holds no checkpoint')
def _(box):
  box.face()
  (box.root / 'empty_run').mkdir()
  return restore_folder(box, model=['--checkpoint', box.root / 'empty_run'])


for _damage in ('truncated', 'zeroed', 'no config'):
  @case(f'restore: --checkpoint whose latest step is {_damage}', 1, 'step 4')
  def _(box, damage=_damage):
    box.face()
    return restore_folder(box, model=['--checkpoint', box.run_copy(damage)])


@case('restore: --onnx of a file that is not ONNX', 1, 'not a readable ONNX file')
def _(box):
  box.face()
  return restore_folder(box, model=['--onnx', box.write('g.onnx', 'not a protobuf', box.root)])


@case('restore: --onnx that does not exist', 2, 'no such file')
def _(box):
  box.face()
  return restore_folder(box, model=['--onnx', box.root / 'g.onnx'])


def onnx_with_config(path: Path, config: dict) -> Path:
  """A valid ONNX graph (lr -> sharp, an identity) whose jfsr metadata holds ``config``."""
  import json
  import onnx
  from onnx import TensorProto, helper
  graph = helper.make_graph(
      [helper.make_node('Identity', ['lr'], ['sharp'])], 'g',
      [helper.make_tensor_value_info('lr', TensorProto.FLOAT, ['n', 16, 16, 3])],
      [helper.make_tensor_value_info('sharp', TensorProto.FLOAT, ['n', 16, 16, 3])])
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], ir_version=8)
  helper.set_model_props(model, {'jfsr.config': json.dumps(config), 'jfsr.step': '1'})
  onnx.save(model, str(path))
  return path


@case('restore: --onnx whose metadata holds lr_size 0', 1, 'saved config is not valid')
def _(box):
  box.face()
  return restore_folder(box, model=['--onnx', onnx_with_config(box.root / 'g.onnx',
                                                               {'data': {'lr_size': 0}})])


@case('restore: --onnx whose metadata holds hr_size "big"', 1, 'saved config is not valid')
def _(box):
  box.face()
  return restore_folder(box, model=['--onnx', onnx_with_config(box.root / 'g.onnx',
                                                               {'data': {'hr_size': 'big'}})])


for _value in ('1.5', '-0.1', 'nan'):
  @case(f'restore: --fidelity {_value}', 2, 'fidelity')
  def _(box, value=_value):
    box.face()
    return restore_folder(box, '--fidelity', value)


@case('restore: a video wider than the video writer takes at x8', 0,
      new_files=('out/wide.mp4',))
def _(box):
  import cv2
  writer = cv2.VideoWriter(str(box.inputs / 'wide.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 5,
                           (1100, 32))
  for _ in range(2):
    writer.write(np.full((32, 1100, 3), 120, np.uint8))
  writer.release()
  return restore(box, '--input', box.inputs / 'wide.mp4', '--output', box.output, '--upscale',
                 '8', '--detector', 'haar', aligned=False)


# --- jfsr.restore: flags ----------------------------------------------------------------------

for _name, _flags, _words in (
    ('an unknown flag', ['--sharpen'], "Unknown command line flag 'sharpen'"),
    ('--upscale 0', ['--upscale', '0'], 'upscale'),
    ('--smoothing 1.5', ['--smoothing', '1.5'], 'smoothing'),
    ('--format gif', ['--format', 'gif'], 'format'),
    ('--device tpu where there is none', ['--device', 'tpu'], '--device tpu'),
    ('a stray argument', ['photo.png'], 'unexpected arguments')):
  @case(f'restore: {_name}', 2, _words)
  def _(box, extra=_flags):
    box.face()
    return restore_folder(box, *extra)


for _field, _value in (('data.lr_size', 0), ('model.ngf', -3), ('data.hr_size', 'big')):
  @case(f'restore: a checkpoint that saved {_field}={_value!r}', 1, 'saved config is not valid')
  def _(box, field=_field, value=_value):
    box.face()
    return restore_folder(box, model=['--checkpoint', box.run_with_saved(field, value)])


@case('evaluate: a checkpoint that saved model.ngf=-3', 1, 'saved config is not valid')
def _(box):
  return 'jfsr.evaluate', ['--workdir', box.run_with_saved('model.ngf', -3), '--out',
                           box.root / 'scores']


# --- jfsr.main ----------------------------------------------------------------------------------

def train(box: Box, *args, config='configs/celebahq.py:smoke') -> tuple[str, list]:
  return 'jfsr.main', ['--config', config, '--workdir', box.root / 'train', *args]


@case('train: --config file that does not exist', 2, 'cannot be loaded')
def _(box):
  return train(box, config=str(box.root / 'nowhere.py'))


@case('train: --config file with a syntax error', 2, 'cannot be loaded')
def _(box):
  return train(box, config=str(box.write('broken.py', 'def get_config(:\n', box.root)))


@case('train: an unknown config field', 2, 'no field')
def _(box):
  return train(box, '--config.train.speed=3')


@case('train: a config value of the wrong type', 2, 'batch_size')
def _(box):
  return train(box, '--config.train.batch_size=many')


@case('train: a negative step count', 2, 'train.num_steps=-5')
def _(box):
  return train(box, '--config.train.num_steps=-5')


@case('train: an unknown variant', 2, "unknown variant 'nonesuch'")
def _(box):
  return train(box, config='configs/celebahq.py:nonesuch')


@case('train: 3-pixel inputs', 2, 'lr_size')
def _(box):
  return train(box, '--config.data.lr_size=3')


for _override, _field in (('--config.data.photo.share=1.5', 'data.photo.share'),
                          ('--config.data.photo.jpeg_quality=(90, 30)', 'data.photo.jpeg_quality'),
                          ("--config.data.photo.kernels=('lanczos',)", 'data.photo.kernels'),
                          ('--config.data.photo.blur_scale=(-1.0, 1.0)', 'data.photo.blur_scale')):
  @case(f'train: {_override}', 2, _field)
  def _(box, override=_override):
    return train(box, override)


@case('evaluate: --steps that are not steps', 2, '--steps')
def _(box):
  return 'jfsr.evaluate', ['--workdir', box.run, '--steps', 'last']


@case('train: --workdir under a file', 1, 'is a file')
def _(box):
  return 'jfsr.main', ['--config', 'configs/celebahq.py:smoke', '--workdir',
                       box.write('notes', 'a file', box.root) / 'run']


@case('train: --workdir that is a file', 1, 'not a directory')
def _(box):
  return 'jfsr.main', ['--config', 'configs/celebahq.py:smoke', '--workdir',
                       box.write('run', 'a file', box.root)]


@case('train: a stray argument', 2, 'unexpected arguments')
def _(box):
  return train(box, 'now')


# --- jfsr.evaluate ----------------------------------------------------------------------------

@case('evaluate: a folder without checkpoints', 1, 'holds no checkpoint')
def _(box):
  (box.root / 'empty_run').mkdir()
  return 'jfsr.evaluate', ['--workdir', box.root / 'empty_run']


@case('evaluate: --out that is a file', 2, 'is a file')
def _(box):
  return 'jfsr.evaluate', ['--workdir', box.run, '--out', box.write('out.txt', 'x', box.root)]


@case('evaluate: an unknown config field', 2, 'no field')
def _(box):
  return 'jfsr.evaluate', ['--workdir', box.run, '--config.data.speed=3', '--out',
                           box.root / 'eval']


@case('evaluate: a zeroed checkpoint', 1, 'step 4')
def _(box):
  return 'jfsr.evaluate', ['--workdir', box.run_copy('zeroed'), '--steps', '4']


# --- jfsr.export --------------------------------------------------------------------------------

def model_copy(box: Box) -> Path:
  return packed_models.write_npz(box.root / 'model.npz', *packed_models.shipped_arrays()[1:])


@case('export: --output that exists', 2, '--overwrite')
def _(box):
  return 'jfsr.export', ['--model', model_copy(box), '--output',
                         box.write('g.pth', "the user's file", box.root)]


@case('export: --output that is the model', 2, 'over the model')
def _(box):
  model = model_copy(box)
  return 'jfsr.export', ['--model', model, '--output', model, '--overwrite']


@case('export: --output that is a folder', 2, 'is a folder')
def _(box):
  (box.root / 'folder').mkdir()
  return 'jfsr.export', ['--model', 'cpu-x16', '--output', box.root / 'folder', '--overwrite']


@case('export: StableHLO with the discriminators', 2, 'drop --discriminators')
def _(box):
  return 'jfsr.export', ['--model', 'cpu-x16', '--to', 'stablehlo', '--discriminators',
                         '--output', box.root / 'g.stablehlo']


@case('export: a shipped model with the discriminators', 2, 'needs a --checkpoint')
def _(box):
  return 'jfsr.export', ['--model', 'cpu-x16', '--discriminators', '--output',
                         box.root / 'g.pth']


@case('export: an unknown format', 2, 'to')
def _(box):
  return 'jfsr.export', ['--model', 'cpu-x16', '--to', 'tflite', '--output', box.root / 'g']


@case('export: a damaged packed model', 1, 'model.npz')
def _(box):
  return 'jfsr.export', ['--model', packed_models.damaged(box.root / 'model.npz',
                                                          'a flipped byte'),
                         '--to', 'onnx', '--output', box.root / 'g.onnx']


# --- the other commands ---------------------------------------------------------------------

@case('tfds_source: a --root without the CelebAMask-HQ layout', 1, 'CelebA-HQ-img is missing: --root')
def _(box):
  return 'jfsr.data.tfds_source', ['--root', str(box.root)]


@case('pretrained: no action', 2, 'list | fetch | pack')
def _(box):
  return 'jfsr.pretrained', []


@case('pretrained: fetch of an unknown network', 2, "invalid choice: 'nonesuch'")
def _(box):
  return 'jfsr.pretrained', ['fetch', 'nonesuch']


@case('curves: no --workdir', 2, 'give --workdir')
def _(box):
  return 'jfsr.curves', []


@case('curves: a run without evaluations', 1, 'has no evaluations')
def _(box):
  (box.root / 'empty_run').mkdir()
  return 'jfsr.curves', ['--workdir', box.root / 'empty_run']


def evaluated_run(box: Box) -> Path:
  """A folder with one evaluation record, as jfsr.evaluate writes them."""
  import json
  record = box.root / 'evaluated' / 'eval' / '10' / 'metrics.json'
  record.parent.mkdir(parents=True)
  scores = {'psnr': 20.0, 'ssim': 0.5}
  record.write_text(json.dumps({'step': 10, 'methods': {'model': scores, 'bicubic': scores}}))
  return record.parent.parent.parent


@case('curves: --out that is a photo already there', 2, '--overwrite')
def _(box):
  photo = box.face('holiday.jpg', folder=box.root)
  return 'jfsr.curves', ['--workdir', evaluated_run(box), '--out', photo]


@case('curves: --out that is a link to a photo', 2, 'a link')
def _(box):
  (box.root / 'plot.png').symlink_to(box.face('holiday.png', folder=box.root))
  return 'jfsr.curves', ['--workdir', evaluated_run(box), '--out', box.root / 'plot.png']


@case('curves: --gains onto a file already there', 2, '--overwrite')
def _(box):
  run = evaluated_run(box)
  return 'jfsr.curves', ['--gains', f'test={run}', '--out', box.write('g.png', 'x', box.root)]


@case('curves: --out that is a folder', 2, 'is a folder')
def _(box):
  return 'jfsr.curves', ['--workdir', evaluated_run(box), '--out', box.output]


@case('pretrained: pack --output that is a folder', 2, 'is a folder')
def _(box):
  return 'jfsr.pretrained', ['pack', '--checkpoint', box.run, '--name', 'x', '--output',
                             box.output]


@case('benchmark: an unknown --conditions name', 2, 'conditions')
def _(box):
  return 'jfsr.measures.in_frames', ['--model', 'cpu-x16', '--folder', box.inputs,
                                        '--conditions', 'png,fog']


@case('detection measure: an unknown --detectors name', 2, 'detectors')
def _(box):
  return 'jfsr.measures.detection', ['--folder', box.inputs, '--detectors', 'mtcnn,yolo']


@case('detection measure: --json that is already there', 2, '--overwrite')
def _(box):
  return 'jfsr.measures.detection', ['--folder', box.inputs,
                                     '--json', box.write('d.json', '{}', box.root)]


@case('pretrained: pack --output onto a photo already there', 2, '--overwrite')
def _(box):
  return 'jfsr.pretrained', ['pack', '--checkpoint', box.run, '--name', 'x',
                             '--output', box.face('portrait.jpg', folder=box.root)]


@case('pretrained: pack without --output under a shipped model\'s name', 2, '--overwrite')
def _(box):
  return 'jfsr.pretrained', ['pack', '--checkpoint', box.run, '--name', 'cpu-x16']


@case('contact sheet: --out that is already there', 2, '--overwrite')
def _(box):
  return 'jfsr.measures.contact_sheet', ['--config', 'configs/celebahq.py:smoke', '--out',
                                     box.face('sheet.png', folder=box.root)]


@case('benchmark: --json that is already there', 2, '--overwrite')
def _(box):
  return 'jfsr.measures.in_frames', ['--model', 'cpu-x16', '--folder', box.inputs,
                                        '--json', box.write('r.json', '{}', box.root)]


@case('demo: a port out of range', 2, 'port')
def _(box):
  return 'jfsr.demo', ['--port', '70000']


@case('demo: a model of no shipped name', 2, 'no shipped model')
def _(box):
  return 'jfsr.demo', ['--model', 'cpu-x99', '--port', '0']


# --- the test ---------------------------------------------------------------------------------

def snapshot(root: Path) -> dict[str, str]:
  """Every file under ``root`` (links not followed) -> its bytes' hash, or the link's target."""
  found = {}
  for path in sorted(root.rglob('*')):
    if path.is_symlink():
      found[str(path.relative_to(root))] = 'link -> ' + os.readlink(path)
    elif path.is_file():
      found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
  return found


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory) -> Path:
  """A smoke run with checkpoints of steps 2 and 4, saved in-process (no training needed)."""
  import jax
  from jfsr import checkpointing, config_loading
  from jfsr.data import pipeline
  from jfsr.train_state import create_train_state
  config = config_loading.load_config('smoke')
  workdir = tmp_path_factory.mktemp('bad_inputs') / 'run'
  state = jax.jit(lambda key: create_train_state(config, key))(jax.random.PRNGKey(0))
  mngr = checkpointing.manager(workdir, 4)
  for step in (2, 4):
    checkpointing.save(mngr, step, state, iter(pipeline.make_train_dataset(config)), config)
  mngr.wait_until_finished()
  return workdir


def test_the_table_is_large_enough():
  assert len(CASES) >= 50, len(CASES)


@pytest.mark.parametrize('name', list(CASES))
def test_bad_input(name, tmp_path, smoke_run):
  spec = CASES[name]
  box = Box(tmp_path / 'box', smoke_run)
  box.inputs.mkdir(parents=True)
  box.output.mkdir()
  module, args = spec.prepare(box)
  run_before = snapshot(smoke_run)
  before = snapshot(box.root)
  result = subprocess.run([sys.executable, '-m', module, *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, 'JFSR_ALLOCATOR': 'system'})
  report = f'exit {result.returncode}\n{result.stderr[-4000:]}'
  assert result.returncode == spec.status, report
  assert 'Traceback' not in result.stderr, report
  errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  if spec.status:
    assert len(errors) == 1 and spec.words in errors[0], report
  else:
    assert not errors, report
  after = snapshot(box.root)
  assert {path: after.get(path) for path in before} == before  # nothing changed or removed
  assert sorted(set(after) - set(before)) == sorted(spec.new_files)  # nothing half-written
  assert snapshot(smoke_run) == run_before
