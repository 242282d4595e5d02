"""End to end through ``python -m jfsr.main`` around one shared smoke run: train, evaluate,
export, pack, resume, survive a kill, refuse another model (runs of their own:
``test_main_processes.py``).

Each run is a real subprocess on the ``smoke`` config (4 simulated CPU devices
from conftest's XLA_FLAGS).
"""

import json
import signal
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp
import pytest
from PIL import Image

import jax
from main_runs import (REPO, SMOKE, all_gone, assert_trees_equal, child_pids, restored_here,
                       run_evaluate, run_main, saved_state)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """An uninterrupted 6-step run."""
  workdir = tmp_path_factory.mktemp('runs') / 'uninterrupted'
  result = run_main(workdir, '--config.eval.every_steps=3')
  return workdir, result


def test_train_writes_checkpoints_logs_and_samples(trained):
  workdir, result = trained
  steps = sorted(int(p.name) for p in (workdir / 'checkpoints').iterdir() if p.name.isdigit())
  assert steps == [2, 4, 6]
  assert list(workdir.glob('events.out.tfevents.*')), 'no TensorBoard event file'
  assert (workdir / 'samples' / 'step_0000006.png').is_file()
  assert 'parameters: generator 82,642' in result.stderr
  # Quiet by default: no orbax/clu INFO records, one progress line per log interval.
  assert 'checkpoint_manager.py' not in result.stderr and 'logging_writer.py' not in result.stderr
  progress = [line for line in result.stderr.splitlines() if 'step 6/6: g_loss' in line]
  assert len(progress) == 1 and 'ETA' in progress[0]
  assert '% of the time waiting for data), ETA' in progress[0]
  assert 'host allocator: ' in result.stderr
  state = saved_state(workdir, 6)
  assert int(state['step']) == 6
  assert set(state) >= {'generator', 'global_d', 'local_d', 'rng', 'step'}


def test_trainer_evaluates_periodically(trained):
  workdir, result = trained
  assert sorted(p.name for p in (workdir / 'eval').iterdir()) == ['3', '6']
  assert 'step 6, 8 test faces: PSNR' in result.stderr
  # Each evaluation redraws the learning curves over the steps evaluated so far.
  from jfsr import curves
  assert list(curves.read_history(workdir)) == [3, 6]
  curve = np.asarray(Image.open(workdir / 'curves.png'))
  assert curve.ndim == 3 and curve.shape[1] > 2 * curve.shape[0]  # one row of panels


def _skimage_psnr(targets, preds):
  from skimage.metrics import peak_signal_noise_ratio
  return float(np.mean([peak_signal_noise_ratio(t, p, data_range=255)
                        for t, p in zip(targets, preds)]))


def test_evaluation_writes_tables_that_match_an_independent_computation(trained, smoke_config):
  import jax.numpy as jnp
  from jfsr import grids, models
  from jfsr.data import pipeline

  workdir, _ = trained
  result = run_evaluate(workdir, '--steps=4,6')
  assert 'step 6, 8 test faces: PSNR' in result.stderr and 'evaluated step 6' in result.stderr
  record = json.loads((workdir / 'eval' / '6' / 'metrics.json').read_text())
  assert record['num_images'] == 8 and set(record['methods']) == {'bicubic', 'model'}
  table = (workdir / 'eval' / '6' / 'table.md').read_text()
  assert '| bicubic |' in table and '| model |' in table
  assert (workdir / 'eval' / '4' / 'table.csv').read_text().startswith('method,psnr,ssim')
  grid = np.asarray(Image.open(workdir / 'eval' / '6' / 'grid.png'))
  assert grid.shape[0] > 8 * 32 and grid.shape[1] > 4 * 32  # 8 faces, 4 columns

  # Independently: the test inputs, the trainer's full-state restore, skimage's PSNR.
  config = smoke_config
  batch = pipeline.make_eval_batch(config, 8)
  targets = grids.to_uint8(batch['hr'])
  bicubic = jax.image.resize(jnp.asarray(batch['lr']), (8, 32, 32, 3), 'bicubic')
  np.testing.assert_allclose(record['methods']['bicubic']['psnr'],
                             _skimage_psnr(targets, grids.to_uint8(bicubic)), atol=1e-3)
  state = restored_here(workdir, 6, config)
  outputs = models.build_generator(config).apply(
      {'params': state.generator.params, 'batch_stats': state.generator.batch_stats},
      jnp.asarray(batch['lr']), train=False, rngs={'noise': jax.random.key(0)})
  np.testing.assert_allclose(record['methods']['model']['psnr'],
                             _skimage_psnr(targets, grids.to_uint8(outputs['out_sharp'])),
                             atol=1e-3)


def test_generator_restores_alone_onto_one_device(trained, smoke_config):
  """A checkpoint written on 4 devices; only the generator, restored onto one device."""
  from jfsr import checkpointing
  workdir, _ = trained
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  generator = checkpointing.restore_generator(smoke_config, workdir, 6, sharding)
  assert {x.sharding for x in jax.tree.leaves(generator)} == {sharding}
  full = restored_here(workdir, 6, smoke_config)
  assert_trees_equal(generator, {'params': full.generator.params,
                                 'batch_stats': full.generator.batch_stats})


def test_eval_of_a_missing_step_or_another_model_is_refused(trained):
  workdir, _ = trained
  result = run_evaluate(workdir, '--steps=99', check=False)
  assert result.returncode != 0 and 'no checkpoint of step(s) [99]' in result.stderr
  result = run_evaluate(workdir, '--config.model.ngf=8', check=False)
  assert result.returncode != 0 and 'model.ngf: 4 saved, 8 now' in result.stderr
  assert 'Traceback' not in result.stderr


def test_export_writes_the_generator_under_the_authors_names(trained, tmp_path):
  """``python -m jfsr.export``: key names, layouts and the skip-connection swap, checked
  against the checkpoint's own arrays (test_torch_oracle loads such files into the authors'
  modules with torch)."""
  from jfsr.pretrained.torch_state_dict import load_state_dict
  workdir, _ = trained
  output = tmp_path / 'generator.pth'
  result = subprocess.run([sys.executable, '-m', 'jfsr.export', '--checkpoint',
                           str(workdir / 'checkpoints' / '6'), '--to', 'torch', '--output',
                           str(output)], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'wrote' in result.stdout
  exported = load_state_dict(output)
  params = saved_state(workdir, 6)['generator']['params']
  stats = saved_state(workdir, 6)['generator']['batch_stats']
  # smoke: 32² output -> 5 encoder levels, deconv5..1, the blur decoder's deconv4_0..1_0.
  expected_keys = ({f'upscale8.{i}.weight' for i in (0, 2, 5, 8, 11)} | {'conv1.weight', 'conv1.bias'}
                   | {f'{m}.1.{p}' for m in ['conv2', 'conv3', 'conv4', 'conv5', 'deconv5', 'deconv4',
                                            'deconv3', 'deconv2', 'deconv1', 'deconv4_0',
                                            'deconv3_0', 'deconv2_0', 'deconv1_0']
                      for p in ('weight', 'bias')})
  norms = ['conv2', 'conv3', 'conv4', 'conv5', 'deconv5', 'deconv4', 'deconv3', 'deconv2',
           'deconv4_0', 'deconv3_0', 'deconv2_0']
  expected_keys |= {f'{m}.2.{p}' for m in norms for p in ('weight', 'bias', 'running_mean',
                                                           'running_var', 'num_batches_tracked')}
  assert set(exported) == expected_keys
  np.testing.assert_array_equal(exported['conv3.1.weight'],
                                np.asarray(params['enc3']['kernel']).transpose(3, 2, 0, 1))
  np.testing.assert_array_equal(exported['conv3.2.running_var'], stats['enc3_bn']['var'])
  assert int(exported['conv3.2.num_batches_tracked']) == 6
  # deconv4 (sharp_dec2) reads cat(c4, d) in the authors' code, [d, c4] in jfsr: halves swap.
  kernel = np.asarray(params['sharp_dec2']['kernel']).transpose(2, 3, 0, 1)  # (in, out, ky, kx)
  half = kernel.shape[0] // 2
  np.testing.assert_array_equal(exported['deconv4.1.weight'][:half], kernel[half:])
  np.testing.assert_array_equal(exported['deconv4.1.weight'][half:], kernel[:half])
  # deconv5 (the innermost) reads no concatenation: unchanged.
  np.testing.assert_array_equal(exported['deconv5.1.weight'],
                                np.asarray(params['sharp_dec1']['kernel']).transpose(2, 3, 0, 1))
  missing = subprocess.run([sys.executable, '-m', 'jfsr.export', '--checkpoint',
                            str(tmp_path / 'nowhere'), '--to', 'torch', '--output',
                            str(tmp_path / 'x.pth')], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
  assert missing.returncode != 0 and 'holds no checkpoint' in missing.stderr
  assert 'Traceback' not in missing.stderr and not (tmp_path / 'x.pth').exists()


def test_a_packed_generator_restores_evaluates_exports_and_starts_training(trained, tmp_path):
  """``python -m jfsr.pretrained pack`` -> a shipped-model file that the Restorer, evaluation,
  export and ``model.generator_init`` all take like the checkpoint it came from."""
  from jfsr.pretrained import generators
  from jfsr.restoration import Restorer
  workdir, _ = trained
  packed = tmp_path / 'smoke-model.npz'
  result = subprocess.run([sys.executable, '-m', 'jfsr.pretrained', 'pack', '--checkpoint',
                           str(workdir), '--name', 'smoke-model', '--output', str(packed)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  sha256 = result.stdout.split("ShippedModel('smoke-model.npz', '")[1][:64]
  variables, meta = generators.read(packed, sha256)
  assert meta['step'] == 6 and meta['config']['variant'] == 'smoke'
  assert 'evaluation' in meta  # the run evaluated step 6: its table travels with the model
  # float16 storage: pack measures how far it moves the outputs, says it and records it.
  error = meta['float16_error']
  assert 0 < error['mean'] <= error['max'] <= 3 and error['inputs'] == 8
  assert f"at most {error['max']:.2f} of 255" in result.stdout
  with pytest.raises(generators.UnknownModelError, match='damaged'):
    generators.read(packed, '0' * 64)
  faces = np.random.default_rng(0).integers(0, 255, (3, 20, 20, 3), dtype=np.uint8)
  from_file = Restorer.from_pretrained(str(packed)).restore_crops(list(faces))
  from_checkpoint = Restorer.from_checkpoint(workdir).restore_crops(list(faces))
  # float16 parameters: a few levels of 255 at most.
  assert np.abs(from_file.astype(int) - from_checkpoint.astype(int)).max() <= 3
  # Evaluation and export take it by path like a NAME; evaluation on a set of faces of one's
  # own needs no training split (all of them the test split: data.num_train=0).
  out = tmp_path / 'eval-of-model'
  result = subprocess.run([sys.executable, '-m', 'jfsr.evaluate', '--model', str(packed),
                           '--workdir', str(out), '--config.data.num_train=0',
                           '--config.data.num_test', '5', '--config.eval.grid_images=2'],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads((out / 'eval' / '6' / 'metrics.json').read_text())['num_images'] == 5
  result = subprocess.run([sys.executable, '-m', 'jfsr.export', '--model', str(packed), '--to',
                           'torch', '--output', str(tmp_path / 'g.pth')], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0 and (tmp_path / 'g.pth').is_file(), result.stderr[-3000:]
  # A fresh run starts its generator from it (and only its generator).
  result = run_main(tmp_path / 'continued', f'--config.model.generator_init={packed}',
                    '--config.train.num_steps=1')
  assert f'generator from {packed} (its step 6)' in result.stderr
  # Packed in turn, it records where it started, by hash: the name may be given to a newer
  # file later. Its steps count the ones it started from.
  continued = tmp_path / 'continued.npz'
  result = subprocess.run([sys.executable, '-m', 'jfsr.pretrained', 'pack', '--checkpoint',
                           str(tmp_path / 'continued'), '--name', 'continued', '--output',
                           str(continued)], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'step 1 after 6 of {packed} (7 in all)' in result.stdout
  _, continued_meta = generators.read(continued)
  assert continued_meta['started_from'] == {'model': str(packed), 'sha256': sha256, 'step': 6,
                                            'steps_in_all': 6}
  assert continued_meta['steps_in_all'] == 7
  # Its golden figures (for tests/test_shipped.py) come from the maintainer's tool.
  assert f'tools/golden_output.py --model {continued}' in result.stdout
  figures = subprocess.run([sys.executable, 'tools/golden_output.py', '--model', str(continued)],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
  restorer = Restorer.from_pretrained(str(continued), flip_average=False)
  golden = restorer.restore_crops([generators.golden_input(restorer.lr_size)])[0]
  centre = restorer.hr_size // 2
  assert f'centre {golden[centre, centre].tolist()}' in figures.stdout, figures.stderr[-2000:]
  # With a moving average, the average starts at the packed generator too (step 0's decay:
  # the warm-up's (1 + 0) / (10 + 0) = 0.1, below the configured 0.5).
  result = run_main(tmp_path / 'continued-average', f'--config.model.generator_init={packed}',
                    '--config.train.num_steps=1', '--config.train.ema_decay=0.5')
  step1 = saved_state(tmp_path / 'continued-average', 1)
  jax.tree.map(lambda start, trained, average: np.testing.assert_allclose(
      average, 0.1 * start + 0.9 * trained, rtol=1e-6, atol=1e-6),
      variables, {'params': step1['generator']['params'],
                  'batch_stats': step1['generator']['batch_stats']}, step1['generator_ema'])
  with pytest.raises(generators.UnknownModelError, match="no shipped model 'no-such-model'"):
    generators.resolve('no-such-model')


def test_second_invocation_resumes_at_the_saved_step(trained, tmp_path):
  workdir, _ = trained
  result = run_main(workdir, '--config.train.num_steps=8')
  assert 'resumed from the checkpoint of step 6' in result.stderr
  assert 'step 7/8' in result.stderr and 'step 1/8' not in result.stderr
  assert int(saved_state(workdir, 8)['step']) == 8


def test_a_resumed_run_turns_its_moving_average_on_and_off(trained, tmp_path, smoke_config):
  """A run saved before ``train.ema_decay`` existed resumes with it: the average starts at the
  restored generator; evaluation and packing read the average (``train.ema_decay=0``: the
  generator itself); resumed with 0 again, the run drops it."""
  import shutil
  from jfsr import checkpointing
  workdir = tmp_path / 'run'
  shutil.copytree(trained[0], workdir)
  for later in (workdir / 'checkpoints').glob('*'):  # another test may have trained on to 8
    if later.name.isdigit() and int(later.name) > 6:
      shutil.rmtree(later)
  # Step 6 as an older jfsr wrote it: no generator_ema field at all.
  old_state = workdir / 'checkpoints' / '6' / 'state'
  fields = dict(saved_state(workdir, 6))
  assert fields.pop('generator_ema') is None
  shutil.rmtree(old_state)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(old_state, fields)
  assert 'generator_ema' not in saved_state(workdir, 6)
  # A large step, so that the average and the generator score apart.
  result = run_main(workdir, '--config.train.num_steps=7', '--config.train.ema_decay=0.25',
                    '--config.optimizer.learning_rate=0.02')
  assert 'moving average (train.ema_decay=0.25) starts at the restored generator of step 6' \
      in result.stderr
  step6, step7 = saved_state(workdir, 6), saved_state(workdir, 7)
  live = lambda saved: {'params': saved['generator']['params'],
                        'batch_stats': saved['generator']['batch_stats']}
  expected = jax.tree.map(lambda g6, g7: 0.25 * g6 + 0.75 * g7, live(step6), live(step7))
  jax.tree.map(lambda want, got: np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6),
               expected, step7['generator_ema'])

  config = checkpointing.saved_config(workdir, 7)
  assert config.train.ema_decay == 0.25
  cpu = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  assert_trees_equal(checkpointing.restore_generator(config, workdir, 7, cpu),
                     step7['generator_ema'])
  config.train.ema_decay = 0.0
  assert_trees_equal(checkpointing.restore_generator(config, workdir, 7, cpu), live(step7))
  # jfsr.evaluate scores the average, writing where --out says and nothing in the run.
  out = tmp_path / 'elsewhere'
  result = subprocess.run([sys.executable, '-m', 'jfsr.evaluate', '--workdir', str(workdir),
                           '--steps', '7', '--out', str(out)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert not (workdir / 'eval' / '7').exists()
  record = json.loads((out / 'eval' / '7' / 'metrics.json').read_text())
  assert record['generator'] == 'average'
  import jax.numpy as jnp
  from jfsr import grids, models
  from jfsr.data import pipeline
  batch = pipeline.make_eval_batch(smoke_config, 8)
  psnr = lambda variables: _skimage_psnr(grids.to_uint8(batch['hr']), grids.to_uint8(
      models.build_generator(smoke_config).apply(variables, jnp.asarray(batch['lr']), train=False,
                                                 rngs={'noise': jax.random.key(0)})['out_sharp']))
  np.testing.assert_allclose(record['methods']['model']['psnr'], psnr(step7['generator_ema']),
                             atol=1e-3)
  assert abs(record['methods']['model']['psnr'] - psnr(live(step7))) > 1e-2  # not the live one
  # pretrained pack writes the average, or with --trained the generator itself (float16 params).
  from jfsr import packing
  from jfsr.pretrained import generators
  as_packed = lambda v: {'params': jax.tree.map(lambda x: np.float16(x).astype(np.float32),
                                                v['params']), 'batch_stats': v['batch_stats']}
  for trained, expected, kind in ((False, step7['generator_ema'], 'average'),
                                  (True, live(step7), 'trained')):
    packed = tmp_path / f'{kind}.npz'
    packing.pack_checkpoint(str(workdir), kind, trained=trained, output=str(packed))
    variables, meta = generators.read(packed)
    assert (meta['step'], meta['generator']) == (7, kind)
    assert_trees_equal(variables, as_packed(expected))

  result = run_main(workdir, '--config.train.num_steps=8')
  assert 'the saved moving average of the generator is dropped' in result.stderr
  assert saved_state(workdir, 8).get('generator_ema') is None


def test_killed_run_resumes_to_the_same_parameters(trained, tmp_path):
  """SIGKILL mid-run (with a data worker process, which must not outlive the trainer), then the
  same command: the parameters end as the uninterrupted run's (which had no worker)."""
  reference_workdir, _ = trained
  workdir = tmp_path / 'killed'
  command = [sys.executable, '-m', 'jfsr.main', *SMOKE, '--workdir', str(workdir),
             '--config.data.num_workers=1']
  process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
  killed, workers = False, set()
  for line in process.stderr:
    if 'step 3/6' in line:  # the checkpoint of step 2 exists, the one of step 4 does not yet
      workers = child_pids(process.pid)
      process.send_signal(signal.SIGKILL)
      killed = True
      break
  process.wait(timeout=600)
  assert killed and process.returncode == -signal.SIGKILL
  assert workers and all_gone(workers), 'a data worker outlived the killed trainer'
  result = run_main(workdir)
  assert 'resumed from the checkpoint of step' in result.stderr
  assert_trees_equal(saved_state(workdir, 6), saved_state(reference_workdir, 6))


def test_incompatible_checkpoint_is_refused(trained):
  workdir, _ = trained
  files_before = sorted(p for p in workdir.rglob('*') if p.is_file())
  result = run_main(workdir, '--config.model.ngf=8', check=False)
  assert result.returncode != 0
  assert "model.ngf: 4 saved, 8 now" in result.stderr
  assert 'Traceback' not in result.stderr
  # Refused before it wrote anything (no new TensorBoard event file beside the run's).
  assert sorted(p for p in workdir.rglob('*') if p.is_file()) == files_before


def test_resume_with_another_worker_count_repositions_by_step(trained, tmp_path):
  reference_workdir, _ = trained
  workdir = tmp_path / 'workers'
  run_main(workdir, '--config.train.num_steps=2', '--config.data.num_workers=0')
  result = run_main(workdir, '--config.data.num_workers=2')
  assert 'repositioning the data by step' in result.stderr
  assert_trees_equal(saved_state(workdir, 6), saved_state(reference_workdir, 6))
