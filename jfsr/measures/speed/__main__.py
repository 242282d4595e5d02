"""The benchmark command, ``python -m jfsr.measures.speed``: the measurements of :mod:`jfsr.measures.speed`."""

from __future__ import annotations

import sys

from absl import flags
from ml_collections import config_flags

from jfsr import cli
from jfsr.measures.speed import (bench_blur, bench_fed, bench_generator, bench_loader, bench_onnx,
                                 bench_perceptual, bench_photo, bench_restore, bench_train,
                                 bench_video, table)

FLAGS = flags.FLAGS


def main(argv):
  del argv
  config = FLAGS.config
  if FLAGS.batch:
    config.train.batch_size = FLAGS.batch
  records = []
  if 'train' in FLAGS.what:
    records.append(bench_train(config, FLAGS.repeats, FLAGS.profile_dir))
  if 'fed' in FLAGS.what:
    records.append(bench_fed(config, FLAGS.fed_steps))
  if 'perceptual' in FLAGS.what:
    records += bench_perceptual(config, FLAGS.repeats)
  if 'generator' in FLAGS.what:
    for batch in FLAGS.infer_batches:
      records.append(bench_generator(config, int(batch), FLAGS.repeats))
  if 'restore' in FLAGS.what:
    for batch in FLAGS.restore_batches:
      records.append(bench_restore(config, int(batch), FLAGS.repeats))
  if 'video' in FLAGS.what:
    from jfsr.restoration import ensemble
    for faces in (1, 4):
      for alignments, flip_average in ((ensemble.ALIGNMENTS, True), (1, False)):
        records.append(bench_video(config, faces, FLAGS.video_chunk, FLAGS.repeats,
                                   alignments, flip_average))
  if 'photo' in FLAGS.what:
    records.append(bench_photo(config, 8, FLAGS.repeats))
  if 'onnx' in FLAGS.what:
    for batch in FLAGS.infer_batches:
      records.append(bench_onnx(config, int(batch), FLAGS.repeats))
  if 'blur' in FLAGS.what:
    for workers in (1, 2):
      records.append(bench_blur(config, workers, FLAGS.blur_images))
  if 'loader' in FLAGS.what:
    for workers in FLAGS.loader_workers:
      records.append(bench_loader(config, int(workers), FLAGS.loader_batches))
  print(table(records), file=sys.stderr)


def run() -> None:
  config_flags.DEFINE_config_file('config', 'configs/celebahq.py:smoke', 'config to benchmark')
  flags.DEFINE_list('what', ['train', 'generator', 'blur', 'loader'], 'which measurements: '
                    'train, fed, perceptual, generator, restore, video, photo, onnx, blur, '
                    'loader')
  flags.DEFINE_integer('batch', None, 'global train batch (default: the config\'s)')
  flags.DEFINE_integer('repeats', 5, 'timed repetitions after one warm-up')
  flags.DEFINE_list('infer_batches', ['1', '64'], 'generator batch sizes')
  flags.DEFINE_list('restore_batches', ['1', '32'], 'face batches for --what restore')
  flags.DEFINE_integer('video_chunk', 8, 'frames per chunk for --what video')
  flags.DEFINE_list('loader_workers', ['0', '1', '2'], 'grain worker counts')
  flags.DEFINE_integer('loader_batches', 8, 'batches timed per loader setting')
  flags.DEFINE_integer('blur_images', 40, 'images blurred per worker')
  flags.DEFINE_integer('fed_steps', 20, 'steps timed by --what fed')
  flags.DEFINE_string('profile_dir', None, 'record a jax.profiler trace of 3 train steps here')
  cli.run(main, __name__, accelerated=True)


if __name__ == '__main__':
  run()
