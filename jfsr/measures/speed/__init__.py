r"""Benchmarks: ``python -m jfsr.measures.speed --config configs/celebahq.py[:VARIANT] [--what ...]``.

Prints one JSON object per measurement, then a short table:

* ``train``: the full train step (D and G updates, perceptual loss) at
  ``--batch``: compile time, the first (warm-up) step's time, step time (median
  and spread over ``--repeats``), images/s, XLA's FLOP count (cost analysis) and
  FLOP rate, the reference model's FLOP count where it is known (docs/benchmarks.md), peak
  memory, the host allocator (``jfsr.host_memory``) with its page faults and
  kernel time per step;
* ``perceptual``: the perceptual loss alone (forward on output and target, gradient to
  the output) in float32 and in ``perceptual.dtype``, and each layer shape of its network,
  forward and input gradient, as XLA's float32 convolution and in bfloat16 on matrix units
  (:mod:`jfsr.models.matrix_units`);
* ``generator``: eval-mode generator images/s for each of ``--infer_batches``;
* ``restore``: ``jfsr.restoration.Restorer`` faces/s (resize in, generator, uint8
  out) for each of ``--restore_batches``;
* ``video``: 640x480 frames with 1 and 4 small faces restored ``--video_chunk`` at a
  time, stage by stage (detection, alignment, generator, paste-back), with each face
  averaged over ``jfsr.restore``'s nudged alignments and mirror images and with one
  alignment alone: frames/s, ms per face, and what the stages around the generator cost
  relative to it;
* ``photo``: one 12 MP photo (4000x3000) with eight small faces, as ``jfsr.restore`` takes
  it: detection (tiled; with and without the second looks turned ±25°) and restoring the faces into
  the enlarged photo, in seconds;
* ``onnx``: the eval-mode generator exported to ONNX (:mod:`jfsr.export.onnx`) in
  onnxruntime against the same network jitted in JAX, timed in alternation on the same
  batch (each of ``--infer_batches``): images/s of each, their ratio, the largest output
  difference, and the ONNX file's size;
* ``blur``: the exact motion blur (docs/design.md, "Motion blur") alone, images/s at the config's
  HR size with 1 and 2 worker processes (each blurring its own faces);
* ``loader``: the grain pipeline's images/s for each of ``--loader_workers``
  (source, degradation, batching: everything but the step);
* ``fed``: the train step fed by the grain pipeline with ``data.num_workers``
  workers, as in training: images/s and the share of the time the host waited
  for the next batch (does the loader keep up?).

``--profile_dir DIR`` also records a profiler trace of a few train steps there.

The batch fed to the step (drawn faces) is made once beforehand, so the step
timing excludes data loading (``loader`` measures that separately).
"""

from __future__ import annotations

import json
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from jfsr import host_memory
from jfsr.measures import scenes

# Reference FLOPs per image of the full train step, counted on the authors'
# PyTorch model (docs/benchmarks.md), keyed by (hr_size, lr_size, ngf, perceptual network).
REFERENCE_STEP_FLOPS = {(256, 32, 64, 'vgg19'): 337e9}
# Dense tensor-core peak FLOP/s of known devices (datasheets) by compute dtype;
# XLA runs fp32 convolutions and matmuls on GPUs as TF32, so fp32 is held to the TF32 peak.
_HOPPER_PEAK = {'float32': 494.7e12, 'bfloat16': 989.4e12}
PEAK_FLOPS = {'NVIDIA H100 80GB HBM3': _HOPPER_PEAK, 'NVIDIA H200': _HOPPER_PEAK}


def emit(record: dict) -> dict:
  print(json.dumps(record), flush=True)
  return record


def peak_memory_bytes() -> int:
  device = jax.devices()[0]
  stats = device.memory_stats() if device.platform != 'cpu' else None
  if stats and 'peak_bytes_in_use' in stats:
    return int(stats['peak_bytes_in_use'])
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # host RSS, Linux reports KiB


def timed(fn, repeats: int) -> list[float]:
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return times


def spread(times: list[float]) -> dict:
  return {'median_s': statistics.median(times), 'min_s': min(times), 'max_s': max(times)}


def _train_setup(config):
  """Mesh, replicated state and VGG parameters, and the step, as the trainer builds them."""
  from jfsr import train_step
  from jfsr.pretrained import vgg_weights
  from jfsr.train_state import create_train_state

  mesh = train_step.make_mesh()
  replicated = train_step.replicated(mesh)
  vgg = jax.device_put(vgg_weights.perceptual_params(config), replicated)
  state = jax.jit(lambda k: create_train_state(config, k), out_shardings=replicated)(
      jax.random.PRNGKey(0))
  step = train_step.make_train_step(config, mesh, use_local_d=config.model.use_local_d)
  return mesh, state, vgg, step


def _compute_dtype(config) -> str:
  from jfsr import config_loading
  return config_loading.compute_dtype(config, jax.default_backend()).name


def _perceptual_dtype(config) -> str:
  from jfsr import config_loading
  return config_loading.perceptual_dtype(config, jax.default_backend()).name


def bench_train(config, repeats: int, profile_dir: str | None = None) -> dict:
  from jfsr import train_step
  from jfsr.data import pipeline
  from jfsr.models import layers

  config.data.num_workers = 0
  config.data.source = 'synthetic'  # the step's speed does not depend on where faces come from
  mesh, state, vgg, step = _train_setup(config)
  batch = jax.device_put(next(iter(pipeline.make_train_dataset(config))),
                         train_step.batch_sharding(mesh))

  start = time.perf_counter()
  compiled = step.lower(state, batch, vgg).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  xla_flops = float(cost.get('flops', float('nan'))) if cost else float('nan')

  holder = {'state': state}

  def one_step():
    holder['state'], metrics = compiled(holder['state'], batch, vgg)
    return metrics

  (warmup_s,) = timed(one_step, 1)  # the first run also pays one-time runtime setup
  usage_before = resource.getrusage(resource.RUSAGE_SELF)
  times = timed(one_step, repeats)
  usage_after = resource.getrusage(resource.RUSAGE_SELF)
  if profile_dir:
    with jax.profiler.trace(profile_dir):
      timed(one_step, 3)
  median = statistics.median(times)
  n = config.train.batch_size
  key = (config.data.hr_size, config.data.lr_size, config.model.ngf, config.perceptual.network)
  model_flops = REFERENCE_STEP_FLOPS.get(key)
  dtype = _compute_dtype(config)
  record = {
      'what': 'train_step', 'variant': config.variant, 'batch': n,
      'devices': jax.device_count(), 'device_kind': jax.devices()[0].device_kind,
      'compute_dtype': dtype, 'perceptual_dtype': _perceptual_dtype(config),
      'convt_impl': layers.resolve_convt_impl(config.model.convt_impl),
      'compile_s': compile_s,
      'warmup_s': warmup_s, **spread(times), 'steps_timed': repeats, 'images_per_s': n / median,
      'xla_flops_per_step': xla_flops, 'xla_flop_per_s': xla_flops / median,
      'model_flops_per_step': model_flops * n if model_flops else None,
      'model_flop_per_s': model_flops * n / median if model_flops else None,
      'peak_memory_bytes': peak_memory_bytes(),
      # Host-side cost of memory management (see jfsr.host_memory), per timed step.
      'host_allocator': host_memory.describe_allocator(),
      'page_faults_per_step': (usage_after.ru_minflt - usage_before.ru_minflt) / repeats,
      'kernel_s_per_step': (usage_after.ru_stime - usage_before.ru_stime) / repeats,
  }
  peak = PEAK_FLOPS.get(jax.devices()[0].device_kind, {}).get(dtype)
  if peak:
    record['peak_flop_per_s'] = peak * jax.device_count()
    record['share_of_peak'] = ((record['model_flop_per_s'] or record['xla_flop_per_s'])
                               / record['peak_flop_per_s'])
  return emit(record)


def bench_perceptual(config, repeats: int) -> list[dict]:
  """The perceptual loss as the train step takes it (the network on the output and on the
  target, the gradient to the output) in float32 and in ``perceptual.dtype``, timed in
  alternation; then each of the network's layer shapes alone, forward and input gradient
  (and the forward's FLOP rate), as XLA's float32 convolution and as
  :mod:`jfsr.models.matrix_units`' bfloat16 form."""
  from jfsr import config_loading, losses, models
  from jfsr.models import layers, matrix_units
  from jfsr.pretrained import vgg_weights

  n, size = config.train.batch_size, config.data.hr_size
  params = vgg_weights.perceptual_params(config)
  rng = np.random.default_rng(0)
  output, target = (jnp.asarray(rng.uniform(-1, 1, (n, size, size, 3)), jnp.float32)
                    for _ in range(2))
  weights = losses.TAP_WEIGHTS[config.perceptual.taps]
  steps = {}
  for dtype in (jnp.dtype('float32'),
                config_loading.perceptual_dtype(config, jax.default_backend())):
    network = models.build_vgg(config, dtype)
    loss = lambda o, t, network=network: losses.perceptual(
        network.apply(params, o), network.apply(params, t), network.taps, weights)
    steps[dtype.name] = jax.jit(jax.value_and_grad(loss))
    jax.block_until_ready(steps[dtype.name](output, target))
  times = {name: [] for name in steps}
  for _ in range(repeats):
    for name, step in steps.items():
      times[name] += timed(lambda step=step: step(output, target), 1)
  records = [emit({'what': 'perceptual', 'network': config.perceptual.network, 'batch': n,
                   'dtype': name, 'matrix_units': matrix_units.in_use(), **spread(t),
                   'images_per_s': n / statistics.median(t)}) for name, t in times.items()]

  forms = {'xla float32': lambda x, k: layers.xla_conv(x, k, 1, 1),
           'matrix units bfloat16': lambda x, k: matrix_units.conv3x3(x.astype(jnp.bfloat16), k)}
  shapes = jax.eval_shape(models.build_vgg(config).init, jax.random.key(0),
                          jnp.zeros((1, size, size, 3)))['params']
  seen = set()
  for name, conv in shapes.items():  # conv{block}_{index}, in the network's order
    _, _, cin, cout = conv['kernel'].shape
    side = size >> (int(name[4]) - 1)
    if (side, cin, cout) in seen:
      continue
    seen.add((side, cin, cout))
    x = jnp.asarray(rng.normal(size=(n, side, side, cin)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 3, cin, cout)) / np.sqrt(9 * cin), jnp.float32)
    for form, fn in forms.items():
      forward = jax.jit(fn)
      backward = jax.jit(lambda x, k, fn=fn: jax.grad(lambda x_: jnp.sum(fn(x_, k)))(x))
      jax.block_until_ready((forward(x, kernel), backward(x, kernel)))
      forward_s = statistics.median(timed(lambda: forward(x, kernel), repeats))
      backward_s = statistics.median(timed(lambda: backward(x, kernel), repeats))
      records.append(emit({'what': 'perceptual_layer', 'layer': name, 'side': side, 'in': cin,
                           'out': cout, 'form': form, 'batch': n, 'forward_s': forward_s,
                           'input_gradient_s': backward_s, 'median_s': forward_s + backward_s,
                           'images_per_s': n / (forward_s + backward_s),
                           'model_flop_per_s': 2 * 9 * n * side * side * cin * cout / forward_s}))
  return records


def bench_fed(config, num_steps: int) -> dict:
  """The step fed by the real pipeline: how long the host waits for each batch."""
  from jfsr import train_step
  from jfsr.data import pipeline

  config.data.source = 'synthetic'
  mesh, state, vgg, step = _train_setup(config)
  sharding = train_step.batch_sharding(mesh)
  iterator = iter(pipeline.make_train_dataset(config))
  for _ in range(2):  # compile, and let the workers fill their buffers
    state, metrics = step(state, jax.device_put(next(iterator), sharding), vgg)
  jax.block_until_ready(metrics)
  waited = 0.0
  start = time.perf_counter()
  for _ in range(num_steps):
    before = time.perf_counter()
    local_batch = next(iterator)
    waited += time.perf_counter() - before
    state, metrics = step(state, jax.device_put(local_batch, sharding), vgg)
  jax.block_until_ready(metrics)
  elapsed = time.perf_counter() - start
  n = config.train.batch_size
  return emit({'what': 'fed_train', 'variant': config.variant, 'batch': n,
               'workers': config.data.num_workers, 'compute_dtype': _compute_dtype(config),
               'perceptual_dtype': _perceptual_dtype(config),
               'steps_timed': num_steps, 'median_s': elapsed / num_steps,
               'images_per_s': n * num_steps / elapsed, 'host_wait_share': waited / elapsed})


def bench_generator(config, batch: int, repeats: int) -> dict:
  from jfsr import models, train_step
  generator = models.build_generator(config, dtype=train_step.activation_dtype(config))
  channels = models.input_channels(config)
  lr = jnp.zeros((batch, config.data.lr_size, config.data.lr_size, channels))
  variables = jax.jit(lambda k: generator.init({'params': k, 'noise': k}, lr[:1], train=False))(
      jax.random.key(0))
  apply = jax.jit(lambda v, x: generator.apply(v, x, train=False,
                                               rngs={'noise': jax.random.key(1)})['out_sharp'])
  start = time.perf_counter()
  compiled = apply.lower(variables, lr).compile()
  compile_s = time.perf_counter() - start
  compiled(variables, lr).block_until_ready()
  times = timed(lambda: compiled(variables, lr), repeats)
  return emit({'what': 'generator', 'variant': config.variant, 'batch': batch,
               'device_kind': jax.devices()[0].device_kind, 'compute_dtype': _compute_dtype(config),
               'compile_s': compile_s,
               **spread(times), 'images_per_s': batch / statistics.median(times)})


def bench_onnx(config, batch: int, repeats: int) -> dict:
  """onnxruntime vs jitted JAX, float32, the same untrained generator and input, paired."""
  import onnxruntime
  from jfsr import inference, models
  from jfsr.export import onnx
  variables = jax.device_get(_untrained_generator(config))
  data = onnx.serialize(config, variables)
  runtime = onnxruntime.InferenceSession(data, providers=['CPUExecutionProvider'])
  size, channels = config.data.lr_size, models.input_channels(config)
  lr = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, channels)).astype(np.float32)
  sample = inference.make_sampler(config)
  apply = jax.jit(lambda v, x: sample(v, x)['out_sharp'])
  on_device = jax.device_put(variables)
  run_jax = lambda: np.asarray(apply(on_device, lr))
  run_onnx = lambda: runtime.run(['sharp'], {'lr': lr})[0]
  difference = float(np.abs(run_jax() - run_onnx()).max())  # also the warm-up of each
  jax_times, onnx_times = [], []
  for _ in range(repeats):
    for fn, times in ((run_jax, jax_times), (run_onnx, onnx_times)):
      start = time.perf_counter()
      fn()
      times.append(time.perf_counter() - start)
  jax_rate = batch / statistics.median(jax_times)
  onnx_rate = batch / statistics.median(onnx_times)
  return emit({'what': 'onnx', 'variant': config.variant, 'batch': batch,
               'lr_size': size, 'hr_size': config.data.hr_size, 'onnx_mb': len(data) / 1e6,
               'onnxruntime': onnxruntime.__version__, **spread(onnx_times),
               'images_per_s': onnx_rate, 'jax_median_s': statistics.median(jax_times),
               'jax_images_per_s': jax_rate, 'onnx_over_jax': onnx_rate / jax_rate,
               'max_abs_difference': difference})


def _untrained_generator(config) -> dict:
  """The config's generator as initialised (key 0): its parameters and BatchNorm statistics."""
  from jfsr import models
  variables = jax.jit(lambda k: models.init_variables(config, k)['generator'])(
      jax.random.key(0))
  return {'params': variables['params'], 'batch_stats': variables['batch_stats']}


def _untrained_restorer(config, batch: int, detector=None, **changes):
  from jfsr.restoration import Restorer
  return Restorer(config, _untrained_generator(config), batch_size=batch, detector=detector,
                  **changes)


def bench_restore(config, batch: int, repeats: int) -> dict:
  """``Restorer.restore_crops``: resize, generator, back to uint8, ``batch`` face crops."""
  restorer = _untrained_restorer(config, batch)
  crops = list(np.random.default_rng(0).integers(0, 256, (batch, 96, 96, 3), dtype=np.uint8))
  start = time.perf_counter()
  restorer.restore_crops(crops)  # compiles
  compile_s = time.perf_counter() - start
  times = timed(lambda: restorer.restore_crops(crops), repeats)
  return emit({'what': 'restore', 'variant': config.variant, 'batch': batch,
               'device_kind': jax.devices()[0].device_kind, 'compile_s': compile_s,
               **spread(times), 'images_per_s': batch / statistics.median(times)})


def _restore_detectors(config):
  """The detector ``jfsr.restore`` makes for ``config``'s model (with its second looks turned
  ±25° and the aligner) and the same looking upright alone."""
  from jfsr.faces.detection import Detector, default_min_face
  from jfsr.restoration.options import RestoreOptions
  aligner = RestoreOptions().detector_aligner()
  detector = Detector('auto', min_face=default_min_face(config.data.lr_size), aligner=aligner)
  return detector, Detector('auto', min_face=detector.min_face, turns=(), aligner=aligner)


def _median_stages(run_stages, repeats: int) -> dict:
  """Each of ``run_stages()``'s timings, median over ``repeats`` runs after one that compiles
  the generator and the detector's networks."""
  run_stages()
  runs = [run_stages() for _ in range(repeats)]
  return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def bench_video(config, faces: int, chunk: int, repeats: int, alignments: int,
                flip_average: bool) -> dict:
  """Restoring 640x480 video frames with ``faces`` small faces each, ``chunk`` frames at a
  time, stage by stage: detection (the MTCNN cascade where cached, else Haar, batched over
  the chunk), alignment (similarity fit and the warp to the model's input), the generator
  (each face under ``alignments`` nudged alignments, and mirrored with ``flip_average``),
  and paste-back (enlarging the frame, blending each face under its mask and
  back-projecting it). The restored faces are the drawn ones (their landmarks known),
  whatever the detector finds. Detection is timed as restoring runs it (with its second
  looks at rejected boxes, turned) and upright alone (``detect_upright_s``)."""
  detector, upright = _restore_detectors(config)
  restorer = _untrained_restorer(config, max(1, faces * chunk), detector,
                                 alignments=alignments, flip_average=flip_average)
  frames, found = scenes.video_frames(chunk, faces, config.data.lr_size)
  scale = restorer.factor

  def run_stages():
    times = {}
    start = time.perf_counter()
    detected = detector.detect(frames)
    times['detect_s'] = time.perf_counter() - start
    start = time.perf_counter()
    upright.detect(frames)
    times['detect_upright_s'] = time.perf_counter() - start
    start = time.perf_counter()
    plans = restorer.prepare(frames, found, force=True)
    times['align_s'] = time.perf_counter() - start
    start = time.perf_counter()
    todo = [(frame, p) for frame, frame_plans in zip(frames, plans) for p in frame_plans]
    for (_, p), output in zip(todo, restorer.restore_aligned(todo)):
      p.output = output
    times['generator_s'] = time.perf_counter() - start
    start = time.perf_counter()
    for frame, frame_plans in zip(frames, plans):
      restorer.paste_faces(frame, frame_plans, scale)
    times['paste_s'] = time.perf_counter() - start
    times['detected'] = sum(len(d) for d in detected)
    return times

  median = _median_stages(run_stages, repeats)
  total = sum(median[k] for k in ('detect_s', 'align_s', 'generator_s', 'paste_s'))
  around = median['detect_s'] + median['align_s'] + median['paste_s']
  return emit({'what': 'video', 'variant': config.variant, 'batch': chunk, 'faces': faces,
               'alignments': alignments, 'flip_average': flip_average,
               'detector': detector.kind, 'device_kind': jax.devices()[0].device_kind,
               'frame': '640x480', 'upscale': scale, **median, 'median_s': total,
               'images_per_s': chunk / total,
               'ms_per_face': {k[:-2]: 1e3 * median[k] / (faces * chunk)
                               for k in ('detect_s', 'align_s', 'generator_s', 'paste_s')},
               'around_over_generator': around / median['generator_s'],
               'detect_ms_per_frame': 1e3 * median['detect_s'] / chunk,
               'detect_upright_ms_per_frame': 1e3 * median['detect_upright_s'] / chunk,
               'detected_per_frame': median['detected'] / chunk})


def bench_photo(config, faces: int, repeats: int) -> dict:
  """Restoring one 12 MP photo (4000x3000) holding ``faces`` small drawn faces, as
  ``jfsr.restore`` does: detection (tiled, as a frame that large is; with its second looks
  turned, and upright alone for comparison), then the drawn faces restored and pasted into
  the enlarged photo (its enlargement bounded by restore's 64 MP)."""
  detector, upright = _restore_detectors(config)
  restorer = _untrained_restorer(config, faces, detector)
  frame, found = scenes.large_photo(faces, config.data.lr_size)

  def run_stages():
    times = {}
    start = time.perf_counter()
    detected = detector.detect([frame])[0]
    times['detect_s'] = time.perf_counter() - start
    start = time.perf_counter()
    upright.detect([frame])
    times['detect_upright_s'] = time.perf_counter() - start
    start = time.perf_counter()
    restorer.restore_frames([frame], [found], force=True)
    times['restore_s'] = time.perf_counter() - start
    times['found'] = sum(any(np.linalg.norm(d.landmarks.mean(0) - face.landmarks.mean(0))
                             < 0.25 * face.width for d in detected) for face in found)
    return times

  median = _median_stages(run_stages, repeats)
  return emit({'what': 'photo', 'variant': config.variant, 'batch': 1, 'faces': faces,
               'detector': detector.kind, 'device_kind': jax.devices()[0].device_kind,
               'frame': '4000x3000', **median,
               'median_s': median['detect_s'] + median['restore_s'],
               'images_per_s': 1 / (median['detect_s'] + median['restore_s'])})


def _blur_images(args) -> float:
  """Blurs ``count`` random faces with Gong flows; returns the seconds spent blurring."""
  size, count, seed = args
  from jfsr.data import blur
  rng = np.random.default_rng(seed)
  image = rng.uniform(size=(size, size, 3)).astype(np.float32)
  blur.motion_blur(image, *blur.motion_flow(size, size, rng))  # compile / load the cache
  start = time.perf_counter()
  for _ in range(count):
    blur.motion_blur(image, *blur.motion_flow(size, size, rng))
  return time.perf_counter() - start


def bench_blur(config, workers: int, count: int) -> dict:
  import multiprocessing
  size = config.data.hr_size
  jobs = [(size, count, seed) for seed in range(workers)]
  with multiprocessing.get_context('spawn').Pool(workers) as pool:
    pool.map(_blur_images, [(size, 1, 99)] * workers)  # start-up and compilation not timed
    start = time.perf_counter()
    pool.map(_blur_images, jobs)
    elapsed = time.perf_counter() - start
  return emit({'what': 'blur', 'size': size, 'workers': workers, 'batch': count,
               'images_per_s': workers * count / elapsed,
               'images_per_s_per_worker': count / elapsed, 'ms_per_image': 1e3 * elapsed / count})


def bench_loader(config, workers: int, num_batches: int) -> dict:
  from jfsr.data import pipeline
  config.data.num_workers = workers
  iterator = iter(pipeline.make_train_dataset(config))
  next(iterator)  # start-up (worker processes) is not timed
  start = time.perf_counter()
  for _ in range(num_batches):
    next(iterator)
  elapsed = time.perf_counter() - start
  images = num_batches * config.train.batch_size
  return emit({'what': 'loader', 'variant': config.variant, 'workers': workers,
               'batch': config.train.batch_size, 'batches_per_s': num_batches / elapsed,
               'images_per_s': images / elapsed,
               'images_per_s_per_worker': images / elapsed / max(workers, 1)})


def table(records: list[dict]) -> str:
  rows = ['| what | setting | median s | images/s | GFLOP/s (XLA) | GFLOP/s (model) |',
          '|---|---|---|---|---|---|']
  for r in records:
    setting = (f"{r['batch']} images" if r['what'] == 'blur' else
               f"{r['batch']} frames, {r['faces']} faces each; detection "
               f"{r['detect_ms_per_frame']:.0f} ms/frame ({r['detect_upright_ms_per_frame']:.0f} "
               f"upright only)" if r['what'] == 'video' else
               f"12 MP, {r['faces']} faces; detection {r['detect_s']:.1f} s "
               f"({r['detect_upright_s']:.1f} upright only), restoring {r['restore_s']:.1f} s"
               if r['what'] == 'photo' else
               f"batch {r['batch']}, {r['lr_size']}² in; JAX {r['jax_images_per_s']:.2f} "
               f"images/s, ONNX x{r['onnx_over_jax']:.2f}" if r['what'] == 'onnx' else
               f"batch {r['batch']}, {r['network']} in {r['dtype']}" if r['what'] == 'perceptual'
               else f"{r['layer']} ({r['side']}², {r['in']} -> {r['out']}), {r['form']}: "
               f"forward {1e3 * r['forward_s']:.0f} ms, input gradient "
               f"{1e3 * r['input_gradient_s']:.0f} ms" if r['what'] == 'perceptual_layer' else
               f"batch {r['batch']}") + (
        f", {r['workers']} workers" if 'workers' in r else '')
    gflops = lambda v: f'{v / 1e9:.1f}' if v else '-'
    rows.append(f"| {r['what']} | {setting} | {r.get('median_s', float('nan')):.3f} | "
                f"{r['images_per_s']:.2f} | {gflops(r.get('xla_flop_per_s'))} | "
                f"{gflops(r.get('model_flop_per_s'))} |")
  return '\n'.join(rows)
