r"""Restore faces in photos, folders and videos with a trained checkpoint or a shipped model.

  python -m jfsr.restore --checkpoint WORKDIR_OR_STEP_DIR --input PATH --output DIR
  python -m jfsr.restore --model NAME --input PATH --output DIR

PATH is an image, a folder of images, or a video (.mp4, .avi, .mov, .mkv,
.webm). Faces are found with OpenCV's Haar cascade, cropped as squares with a
margin, restored in batches and blended back into the frame, which is first
resized ``--upscale`` times (default: the checkpoint's factor, e.g. 8 for
32 -> 256; ``--upscale 1`` keeps the frame's size). ``--aligned`` treats every
input as one face crop and writes the restored face itself. Videos are written
as MP4 at the input's frame rate, without audio.

Unreadable files are skipped with a warning, frames without a face are copied
through (resized) and counted; a summary ends the run. Inputs are never
overwritten: the output folder must differ from the input's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from absl import app, flags, logging
from PIL import Image

IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff'}
VIDEO_SUFFIXES = {'.mp4', '.avi', '.mov', '.mkv', '.webm'}

FLAGS = flags.FLAGS
flags.DEFINE_string('checkpoint', None, 'a training --workdir, or one of its checkpoints/<step>')
flags.DEFINE_string('model', None, 'a shipped model by NAME (python -m jfsr.pretrained list) or a '
                    'packed .npz file, instead of --checkpoint')
flags.DEFINE_string('input', None, 'an image, a folder of images, or a video')
flags.DEFINE_string('output', None, 'folder for the results (created; not the input folder)')
flags.DEFINE_bool('aligned', False, 'inputs are face crops: restore each whole, any size')
flags.DEFINE_float('threshold', 0.0, 'minimum face-detector confidence (cascade level weight)')
flags.DEFINE_integer('min_face', 16, 'smallest face to detect, pixels', lower_bound=8)
flags.DEFINE_integer('upscale', None, 'resize frames this many times (default: the '
                     'checkpoint\'s factor); 1 keeps their size', lower_bound=1)
flags.DEFINE_integer('batch_size', 16, 'faces restored per accelerator call', lower_bound=1)
flags.DEFINE_integer('frames_per_chunk', 16, 'video frames read and restored together',
                     lower_bound=1)
flags.DEFINE_bool('compare', False, 'write input | bicubic | restored side by side')
flags.DEFINE_enum('device', 'auto', ['auto', 'cpu', 'gpu', 'tpu'], 'where the generator runs')
flags.DEFINE_enum('format', 'png', ['png', 'jpg'], 'image output format')
flags.DEFINE_integer('quality', 95, 'JPEG quality', lower_bound=1, upper_bound=100)


class Summary:
  def __init__(self):
    self.processed = self.skipped = self.faceless = self.faces = 0

  def add(self, faces_found: list) -> None:
    """One processed image or frame and the faces found in it."""
    self.processed += 1
    self.faces += len(faces_found)
    self.faceless += not faces_found

  def line(self) -> str:
    return (f'processed {self.processed}, skipped {self.skipped} (unreadable), '
            f'without a face {self.faceless}, faces restored {self.faces}')


def list_inputs(path: Path) -> tuple[list[Path], str]:
  """``(files, kind)`` with kind 'images' or 'video'; folders are read one level deep."""
  if not path.exists():
    raise FileNotFoundError(f'--input {path} does not exist')
  if path.is_dir():
    return sorted(p for p in path.iterdir() if p.is_file()), 'images'
  if path.suffix.lower() in VIDEO_SUFFIXES:
    return [path], 'video'
  return [path], 'images'


def check_output(input_path: Path, output: Path) -> None:
  in_dir = input_path.resolve() if input_path.is_dir() else input_path.resolve().parent
  if output.resolve() == in_dir:
    raise ValueError(f'--output {output} is the input folder; choose another folder so no '
                     'input is overwritten')


def side_by_side(before: np.ndarray, after: np.ndarray) -> np.ndarray:
  """The input at the output's size twice (nearest: its pixels; bicubic: the baseline),
  then the output."""
  h, w = after.shape[:2]
  image = Image.fromarray(before)
  panels = [np.asarray(image.resize((w, h), method))
            for method in (Image.Resampling.NEAREST, Image.Resampling.BICUBIC)]
  return np.concatenate([*panels, after], axis=1)


def save_image(image: np.ndarray, path: Path) -> None:
  if FLAGS.format == 'jpg':
    Image.fromarray(image).save(path.with_suffix('.jpg'), quality=FLAGS.quality)
  else:
    Image.fromarray(image).save(path.with_suffix('.png'))


def read_images(files: list[Path], summary: Summary, progress) -> list[tuple[Path, np.ndarray]]:
  """The readable ones among ``files``; the others are skipped, named and counted."""
  from jfsr.data.images import read_rgb
  readable = []
  for path in files:
    try:
      readable.append((path, read_rgb(path)))
    except Exception as error:  # PIL raises many types for bad files
      logging.warning('skipped %s: not a readable image (%s)', path, error)
      summary.skipped += 1
      progress.update(1)
  return readable


def restore_images(restorer, files: list[Path], output: Path, upscale: int,
                   summary: Summary) -> None:
  """Images in groups of ``--batch_size``, so their faces share accelerator batches."""
  from jfsr.video import Progress
  progress = Progress(len(files), 'images')
  for start in range(0, len(files), FLAGS.batch_size):
    group = read_images(files[start:start + FLAGS.batch_size], summary, progress)
    if not group:
      continue
    frames = [frame for _, frame in group]
    if FLAGS.aligned:
      results = [(face, [None]) for face in restorer.restore_crops(frames)]
    else:
      results = restorer.restore_frames(frames, upscale, min_size=FLAGS.min_face,
                                        threshold=FLAGS.threshold)
    for (path, frame), (result, found) in zip(group, results):
      summary.add(found)
      if not found:
        logging.info('no face found in %s: copied through', path)
      save_image(side_by_side(frame, result) if FLAGS.compare else result, output / path.stem)
    progress.update(len(group))
  progress.close()


def restore_video(restorer, path: Path, output: Path, upscale: int, summary: Summary) -> None:
  from jfsr import video
  capture, fps, count = video.open_video(path)
  writer = video.VideoWriter((output / path.stem).with_suffix('.mp4'), fps)
  progress = video.Progress(count, 'frames')
  try:
    for frames in video.frame_chunks(capture, FLAGS.frames_per_chunk):
      results = restorer.restore_frames(frames, upscale, min_size=FLAGS.min_face,
                                        threshold=FLAGS.threshold)
      for frame, (result, found) in zip(frames, results):
        writer.write(side_by_side(frame, result) if FLAGS.compare else result)
        summary.add(found)
      progress.update(len(frames))
  finally:
    progress.close()
    writer.close()
    capture.release()
  logging.info('wrote %s (%.2f frames/s, no audio)', writer.path, fps)


def pick_device(name: str):
  import jax
  if name == 'auto':
    return jax.devices()[0]
  try:
    return jax.devices(name)[0]
  except RuntimeError as error:
    raise ValueError(f'--device {name}: no such device here ({error})') from None


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  from jfsr import compile_cache
  from jfsr.errors import JfsrError
  from jfsr.restorer import Restorer
  compile_cache.enable()
  summary = Summary()
  try:
    input_path, output = Path(FLAGS.input).expanduser(), Path(FLAGS.output).expanduser()
    files, kind = list_inputs(input_path)
    check_output(input_path, output)
    if bool(FLAGS.checkpoint) == bool(FLAGS.model):
      raise JfsrError('give exactly one of --checkpoint (a training run) and --model (a shipped '
                      'model: python -m jfsr.pretrained list)')
    if FLAGS.model:
      restorer = Restorer.from_pretrained(FLAGS.model, device=pick_device(FLAGS.device),
                                          batch_size=FLAGS.batch_size)
    else:
      restorer = Restorer.from_checkpoint(FLAGS.checkpoint, device=pick_device(FLAGS.device),
                                          batch_size=FLAGS.batch_size)
    upscale = FLAGS.upscale or restorer.factor
    logging.info('%s step %d: %d² -> %d² faces, frames resized x%d',
                 FLAGS.model or 'checkpoint', restorer.step, restorer.lr_size, restorer.hr_size,
                 upscale)
    output.mkdir(parents=True, exist_ok=True)
    if kind == 'video':
      restore_video(restorer, files[0], output, upscale, summary)
    else:
      restore_images(restorer, files, output, upscale, summary)
  except (JfsrError, ValueError, FileNotFoundError) as error:  # incl. UnknownModelError
    logging.error('%s', error)
    sys.exit(f'error: {error}')
  print(summary.line())


def run() -> None:
  from jfsr import host_memory
  host_memory.restart_with_fast_allocator()
  flags.mark_flags_as_required(['input', 'output'])
  app.run(main)


if __name__ == '__main__':
  run()
