r"""Evaluating checkpoints like the paper's Table 1: the generator against bicubic.

``python -m jfsr.evaluate --workdir DIR`` evaluates the latest checkpoint of a training
run (``--steps=2000,4000`` picks others); the trainer runs the same evaluation every
``eval.every_steps``. Only the
generator's parameters and statistics are restored (no optimizer, no
discriminator), onto whatever devices this run has. The test split is degraded
with a fixed seed, so every evaluation sees the same inputs. For each step it
writes ``DIR/eval/<step>/``:

* ``metrics.json``: per method (``bicubic``, ``model``) the means over the test
  faces of PSNR and SSIM the standard way (RGB, range 255, Gaussian 11x11) and on
  the luma channel (``psnr_y``, ``ssim_y``), and the paper's protocol
  (``paper_psnr``, ``paper_ssim``; ``jfsr.metrics.fidelity``);
* ``table.md`` and ``table.csv``: the same as a table, a row per method;
* ``grid.png``: LR | bicubic | output | target for the first ``eval.grid_images``;
* with ``eval.lpips``, ``lpips``: the mean LPIPS distance to the targets (AlexNet,
  ``jfsr.metrics.lpips``; lower is closer);
* with ``eval.fid``, ``fid``: the Fréchet Inception Distance of each method's
  outputs to the test targets (TF-Inception pool3, ``jfsr.metrics.fid``);
* with ``eval.identity``, face-recognition accuracy after the paper's Table 2
  (``id_distance``, ``id_rank1``, ``id_acc_d60`` ... (distance below 0.6); MTCNN detection and
  alignment or Haar detection, then FaceNet,
  ``jfsr.metrics.identity``), and ``gallery_missed``, the test faces whose
  ground truth had no detected face and were left out of these figures.

The scalars also go to the run's TensorBoard log (``eval/model/psnr``, ...), so
evaluations line up with training steps.

Standalone, with the config the run saved beside its checkpoints:
``python -m jfsr.evaluate --workdir DIR [--steps 2000,4000] [--config.data.root=PATH]``
(``--out OUT`` writes ``OUT/eval/<step>/`` instead, e.g. for another set of faces, leaving
the run's own evaluations as they are); a shipped generator with the config it was
trained with: ``python -m jfsr.evaluate --model NAME --workdir OUT --config.data.root=PATH``.
A run that kept a moving average of its generator (``train.ema_decay``) is evaluated on
the average; ``--config.train.ema_decay=0`` evaluates the trained generator itself.
``--config.FIELD=VALUE`` changes a field of the saved config, as ``jfsr.main`` takes it.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from etils import epath

from jfsr import checkpointing, files, grids, inference, models, train_step
from jfsr.data import pipeline
from jfsr.errors import ConfigError, UsageError
from jfsr.metrics import fidelity, identity

METHODS = ('bicubic', 'model')
METRICS = ('psnr', 'ssim', 'psnr_y', 'ssim_y', 'paper_psnr', 'paper_ssim')


def _mean(values: list[np.ndarray]) -> float:
  return float(np.mean(np.concatenate(values)))


class Evaluator:
  """Runs the generator on the fixed test inputs and measures it against bicubic."""

  def __init__(self, config: ml_collections.ConfigDict, sharding):
    self.config = config
    self.sharding = sharding
    count = None if config.eval.num_images == -1 else config.eval.num_images
    self.dataset = pipeline.make_eval_dataset(config, config.eval.batch_size, count)
    sample = inference.make_sampler(config)
    size = config.data.hr_size

    @jax.jit
    def restore_batch(variables, lr):
      outputs = sample(variables, lr)
      bicubic = jax.image.resize(lr, (lr.shape[0], size, size, lr.shape[-1]), 'bicubic')
      return outputs['out_sharp'], bicubic

    @jax.jit
    def measure(target, pred):
      standard = fidelity.standard_metrics(target, pred, crop_border=config.eval.crop_border)
      luma = fidelity.standard_metrics(target, pred, y_channel=True,
                                       crop_border=config.eval.crop_border)
      paper = fidelity.paper_metrics(target, pred)
      return {'psnr': standard['psnr'], 'ssim': standard['ssim'], 'psnr_y': luma['psnr'],
              'ssim_y': luma['ssim'], 'paper_psnr': paper['psnr'], 'paper_ssim': paper['ssim']}

    self._restore_batch, self._measure = restore_batch, measure
    self._embed = self._embed_identity = self._lpips = None
    if config.eval.lpips:
      from jfsr.metrics.lpips import lpips_distance
      self._lpips = lpips_distance()
    if config.eval.identity:
      from jfsr.pretrained import facenet_weights
      network, facenet_variables = facenet_weights.load_facenet()
      facenet_variables = jax.device_put(facenet_variables, sharding)
      self._find_face = identity.face_finder(config.eval.face_detector)
      self._embed_identity = identity.jitted_embed(network, facenet_variables)
    if config.eval.fid:
      from jfsr.metrics import fid
      from jfsr.models.inception import FIDInception
      from jfsr.pretrained import fid_weights
      inception_variables = jax.device_put(fid_weights.load_inception(), sharding)
      self._embed = models.jit_with_weights(functools.partial(fid.embed, FIDInception()),
                                            inception_variables)

  def run(self, variables: dict) -> tuple[dict, np.ndarray | None]:
    """Returns ``({method: {metric: mean}}, grid image or None)`` over the test faces."""
    per_image = {m: {k: [] for k in METRICS} for m in METHODS}
    features = {name: [] for name in ('target', *METHODS)}
    identities = {name: ([], []) for name in ('target', *METHODS)}  # embeddings, found
    grid_columns, count = [], 0
    start = last_report = time.perf_counter()
    for batch in self.dataset:
      lr = jax.make_array_from_process_local_data(self.sharding, np.asarray(batch['lr']))
      output, bicubic = self._restore_batch(variables, lr)
      target = grids.to_uint8(jnp.asarray(batch['hr']))
      predictions = {'bicubic': grids.to_uint8(bicubic), 'model': grids.to_uint8(output)}
      for method, pred in predictions.items():
        for name, values in jax.device_get(self._measure(target, pred)).items():
          per_image[method][name].append(np.asarray(values))
        if self._lpips is not None:
          per_image[method].setdefault('lpips', []).append(
              self._lpips(*(np.asarray(jax.device_get(x)) for x in (target, pred))))
      for name, images_ in (('target', target), *predictions.items()):
        if self._embed is not None:
          features[name].append(np.asarray(jax.device_get(self._embed(images_))))
        if self._embed_identity is not None:
          self._add_identities(identities[name], np.asarray(jax.device_get(images_)))
      if count < self.config.eval.grid_images:
        take = self.config.eval.grid_images - count
        size = self.config.data.hr_size
        grid_columns.append([grids.upscale_nearest(grids.to_uint8(batch['lr'][:take]), size),
                             *(np.asarray(jax.device_get(x[:take]))
                               for x in (predictions['bicubic'], predictions['model'], target))])
      count += len(batch['lr'])
      if time.perf_counter() - last_report > 30:  # progress for long evaluations
        last_report = time.perf_counter()
        logging.info('evaluating: %d test faces done, %.2f faces/s', count,
                     count / (last_report - start))
    results = {m: {k: _mean(v) for k, v in per_image[m].items()} for m in METHODS}
    if self._embed is not None:
      from jfsr.metrics import fid
      target_features = np.concatenate(features['target'])
      for method in METHODS:
        results[method]['fid'] = fid.fid(np.concatenate(features[method]), target_features)
    if self._embed_identity is not None:
      gallery, gallery_found = (np.concatenate(x) for x in identities['target'])
      for method in METHODS:
        results[method].update(identity.identity_scores(
            *(np.concatenate(x) for x in identities[method]), gallery, gallery_found,
            self.config.eval.identity_distance))
      results['gallery_missed'] = int((~gallery_found).sum())
    results['num_images'] = count
    grid = None
    if grid_columns:
      grid = grids.grid([np.concatenate(col) for col in zip(*grid_columns)])
    return results, grid

  def _add_identities(self, store: tuple[list, list], images_uint8: np.ndarray) -> None:
    crops, found = identity.face_crops(images_uint8, self._find_face)
    store[0].append(np.asarray(jax.device_get(self._embed_identity(crops))))
    store[1].append(found)


def table_rows(results: dict) -> list[list[str]]:
  names = [k for k in (*METRICS, 'lpips', 'fid', *identity.METRICS) if k in results[METHODS[0]]]
  rows = [['method', *names]]
  for method in METHODS:
    rows.append([method, *(f'{results[method][k]:.0f}' if k == 'id_missed' else
                            f'{results[method][k]:.4f}' for k in names)])
  return rows


def write_outputs(out_dir: epath.Path, step: int, results: dict, grid, config,
                  generator: str = 'trained') -> None:
  """``generator``: which weights were scored, 'trained' or 'average' (its moving average)."""
  out_dir.mkdir(parents=True, exist_ok=True)
  record = {'step': step, 'variant': config.variant, 'generator': generator,
            'num_images': results['num_images'],
            'degradation_seed': pipeline.EVAL_SEED,
            **({'gallery_missed': results['gallery_missed']} if 'gallery_missed' in results
               else {}),
            'methods': {m: results[m] for m in METHODS}}
  files.write_data(out_dir / 'metrics.json', (json.dumps(record, indent=2) + '\n').encode())
  rows = table_rows(results)
  text = io.StringIO()
  csv.writer(text).writerows(rows)
  files.write_data(out_dir / 'table.csv', text.getvalue().encode())
  heading = f'step {step}, {results["num_images"]} test faces'
  if generator == 'average':
    heading += f', the moving average of the generator (decay {config.train.ema_decay:g})'
  if 'gallery_missed' in results:
    heading += (f'; face recognition over the {results["num_images"] - results["gallery_missed"]}'
                ' whose ground truth had a detected face')
  markdown = [heading, '',
              '| ' + ' | '.join(rows[0]) + ' |', '|' + '---|' * len(rows[0])]
  markdown += ['| ' + ' | '.join(row) + ' |' for row in rows[1:]]
  files.write_data(out_dir / 'table.md', ('\n'.join(markdown) + '\n').encode())
  if grid is not None:
    files.write_data(out_dir / 'grid.png', files.encoded(grid))


def scalars(results: dict) -> dict[str, float]:
  return {f'eval/{m}/{k}': v for m in METHODS for k, v in results[m].items()}


def report(writer, workdir: epath.Path, step: int, results: dict, grid, config,
           generator: str = 'trained', margin_reader=None) -> None:
  """TensorBoard scalars (every process's writer), files under ``workdir/eval/<step>``
  (process 0) and a log line. ``margin_reader`` (a training run's
  :class:`jfsr.gan_balance.MarginReader`) spares the curves rereading every event file."""
  writer.write_scalars(step, scalars(results))
  if jax.process_index() == 0:
    write_outputs(workdir / 'eval' / str(step), step, results, grid, config, generator)
    from jfsr import curves
    # The learning curves over every step evaluated so far.
    curves.draw(workdir, margin_reader=margin_reader)
  logging.info('step %d, %d test faces: PSNR %.2f SSIM %.4f (bicubic %.2f / %.4f)', step,
               results['num_images'], results['model']['psnr'], results['model']['ssim'],
               results['bicubic']['psnr'], results['bicubic']['ssim'])


def tensorboard_writer(workdir):
  """clu's metric writer of scalars and images into TensorBoard event files, on process 0
  only (elsewhere one that writes nothing); the log gets one
  line per interval from the caller instead of clu's line per metric."""
  from clu import metric_writers  # TensorFlow-backed; only evaluation and training need it
  if jax.process_index() != 0:
    return metric_writers.MultiWriter([])
  return metric_writers.AsyncMultiWriter([metric_writers.SummaryWriter(str(workdir))])


def evaluate_checkpoints(config: ml_collections.ConfigDict, workdir: str,
                         steps: list[int] | None = None, model: str | None = None,
                         out: str | None = None) -> dict[int, dict]:
  """Evaluates checkpoints ``steps`` (default: the latest) of ``workdir``, or,
  with ``model``, that shipped generator (NAME or packed file), writing under ``out``
  (default: ``workdir``)."""
  from jfsr import config_loading

  config_loading.validate(config, jax.device_count(), training=False)
  workdir = epath.Path(workdir)
  out = epath.Path(out) if out else workdir
  if out.exists() and not out.is_dir():
    raise UsageError(f'--out {out} is a file; give a folder for the evaluation')
  sharding = train_step.replicated(train_step.make_mesh())
  if model:
    from jfsr.pretrained import generators
    packed_config, variables, meta = generators.load(model)
    sources = {meta['step']: lambda: jax.device_put(variables, sharding)}
    generator = {meta['step']: 'average' if packed_config.train.ema_decay > 0 else 'trained'}
  else:
    steps = checkpointing.resolve_steps(workdir, steps)
    sources = {step: functools.partial(checkpointing.restore_generator, config, workdir, step, sharding)
               for step in steps}
    generator = {step: 'average' if checkpointing.reads_average(config, workdir, step) else 'trained'
                 for step in steps}
  evaluator = Evaluator(config, sharding)
  all_results = {}
  writer = None  # made once a checkpoint has loaded: a broken one leaves nothing behind
  for step, load in sources.items():
    start = time.perf_counter()
    variables = load()
    if writer is None:
      out.mkdir(parents=True, exist_ok=True)
      writer = tensorboard_writer(out)
    results, grid = evaluator.run(variables)
    report(writer, out, step, results, grid, config, generator[step])
    logging.info('evaluated step %d in %.1f s -> %s', step, time.perf_counter() - start,
                 out / 'eval' / str(step))
    all_results[step] = results
  writer.flush()  # there is at least one step, so a writer
  return all_results


def apply_overrides(config: ml_collections.ConfigDict, overrides: list[str]) -> None:
  """``field.path=value`` pairs; values are Python literals, else strings."""
  import ast
  for item in overrides:
    field, sep, text = item.partition('=')
    if not sep:
      raise ConfigError(f'--config.{item}: expected --config.FIELD=VALUE, e.g. '
                        '--config.data.root=/data/celeba')
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    *parents, leaf = field.split('.')
    node = config
    for part in parents:
      node = node.get(part) if isinstance(node, ml_collections.ConfigDict) else None
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
      raise ConfigError(f'--config.{item}: the saved config has no field {field}')
    node[leaf] = value
