r"""Restore small faces in photos, folders and videos with a shipped model or a trained checkpoint.

  python -m jfsr.restore --model NAME --input PATH --output DIR
  python -m jfsr.restore --checkpoint WORKDIR_OR_STEP_DIR --input PATH --output DIR
  python -m jfsr.restore --onnx g.onnx --input PATH --output DIR   # generator in onnxruntime

PATH is an image, a folder of images, or a video (.mp4, .avi, .mov, .mkv, .webm).
Each face is found with its five landmarks (MTCNN, which looks again at the candidates
it rejects upright on crops turned 25° both ways, ``--turned_passes``; the Haar cascade
where the MTCNN weights are not cached), its alignment corrected by the shipped aligner
where the face is 10-30 px across (``--aligner``), warped onto the training faces'
template straight at the model's input size, restored (under ``--alignments`` nudged
alignments, each also mirrored, ``--flip_average``, and the outputs averaged), warped back
into the enlarged frame under a soft elliptical mask, and made to agree with the frame it came
from (``--back_projection`` iterations over the face's square; fewer for videos); every
pixel outside that square is the enlarged frame's.

The model restores *small* faces (its input is 16 or 32 pixels across). Faces
whose aligned crop is more than 1.5 times that are left as they were (``--force``
restores them anyway), and the frame is enlarged so that restored faces keep the
model's output resolution (at most its factor; ``--upscale`` sets it, ``1`` keeps
the frame's size). The summary counts faces restored, left as they were, and
frames without a face. ``--compare`` writes what the model saw (its input, pasted
back) | bicubic | restored. ``--aligned`` takes each input as one aligned face
crop and writes the restored face itself.

Videos: a face the upright pass finds keeps that detection in every frame (the turned
passes only add faces it missed), landmarks are smoothed over time per face
(``--smoothing``), the output scale is chosen from the first chunk's faces, and the
audio is copied back with ``ffmpeg`` when the system has it. Unreadable files are skipped
with a warning; inputs are never overwritten (the output folder must differ from the
input's).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
from absl import flags, logging
from PIL import Image

from jfsr import cli
from jfsr.errors import UsageError
from jfsr.files import OutputExistsError, encoded, private_folder, write_data
from jfsr.restoration import option_flags
from jfsr.restoration.jpeg_grid import JpegGrid
from jfsr.restoration.summary import Summary, describe_faces

VIDEO_SUFFIXES = {'.mp4', '.avi', '.mov', '.mkv', '.webm'}

FLAGS = flags.FLAGS


def list_inputs(path: Path) -> tuple[list[Path], str]:
  """``(files, kind)`` with kind 'images' or 'video'; folders are read one level deep."""
  if not path.exists():
    raise UsageError(f'--input {path} does not exist')
  if path.is_dir():
    return sorted(p for p in path.iterdir() if p.is_file()), 'images'
  if path.suffix.lower() in VIDEO_SUFFIXES:
    return [path], 'video'
  return [path], 'images'


def check_output(input_path: Path, output: Path) -> None:
  in_dir = input_path.resolve() if input_path.is_dir() else input_path.resolve().parent
  if output.resolve() == in_dir:
    raise UsageError(f'--output {output} is the input folder; choose another folder so no '
                     'input is overwritten')
  if output.exists() and not output.is_dir():
    raise UsageError(f'--output {output} is a file; give a folder for the results')


def plan_outputs(files: list[Path], output: Path, suffix: str, overwrite: bool
                 ) -> dict[Path, Path]:
  """Each input's result path in ``output``, decided before any work: ``NAME.SUFFIX``, or
  ``NAME_EXT.SUFFIX`` for inputs that share a name (``a.jpg`` and ``a.png`` give ``a_jpg`` and
  ``a_png``), so that no result replaces another. Refuses a result that would land on an
  input (symlinks resolved) and, without ``overwrite``, one that would replace a file (or a
  link) already there."""
  stems: dict[str, int] = {}
  for path in files:
    stems[path.stem] = stems.get(path.stem, 0) + 1
  planned = {path: output / (f'{path.stem}_{path.suffix.lstrip(".")}' if stems[path.stem] > 1
                             else path.stem) for path in files}
  planned = {path: target.with_name(target.name + suffix) for path, target in planned.items()}
  planned = distinct_names(planned)
  inputs = {path.resolve() for path in files}
  for path, target in planned.items():
    if target.resolve() in inputs:
      raise UsageError(f'the result of {path} would be written over an input ({target}); '
                       'choose an --output folder that holds no input')
    if (target.exists() or target.is_symlink()) and not overwrite:
      raise UsageError(f'{target} already exists; pass --overwrite to replace the results in '
                       f'{output}, or choose another --output')
  return planned


def distinct_names(planned: dict[Path, Path]) -> dict[Path, Path]:
  """``planned`` with a target that another input's already took (``a.png`` and ``a_png.png``
  beside ``a.jpg``) numbered ``NAME_2``, ``NAME_3``..., in input order."""
  taken: set[Path] = set()
  unique = {}
  for path, target in planned.items():
    candidate, number = target, 1
    while candidate in taken:
      number += 1
      candidate = target.with_name(f'{target.stem}_{number}{target.suffix}')
    taken.add(candidate)
    unique[path] = candidate
  return unique


def check_writable(output: Path) -> None:
  """Creates ``output`` and writes a file there, before any heavy work."""
  try:
    with private_folder(output / 'probe'):
      pass
  except OSError as error:
    raise ValueError(f'cannot write results to --output {output}: {error.strerror or error}') \
        from None


def save_image(image: np.ndarray, path: Path) -> None:
  """Publishes one result (:mod:`jfsr.files`: never over a file that appeared meanwhile,
  unless --overwrite)."""
  data = (encoded(image, 'JPEG', quality=FLAGS.quality) if FLAGS.format == 'jpg'
          else encoded(image, 'PNG'))
  write_data(path, data, FLAGS.overwrite)


def probe_images(files: list[Path], summary: Summary, max_output_mp: float) -> list[Path]:
  """The files whose header reads as an image within ``--max_output_mp``; the others are
  skipped, named and counted, before any model is loaded or any pixel decoded."""
  from jfsr.data.images import image_size
  usable = []
  for path in files:
    try:
      width, height = image_size(path)
    except Exception as error:  # PIL raises many types for what is not an image
      logging.warning('skipped %s: not a readable image (%s)', path, error)
      summary.skipped += 1
      continue
    if height * width > max_output_mp * 1e6:
      logging.warning('skipped %s: %dx%d (%.0f MP) is above --max_output_mp %g', path, width,
                      height, height * width / 1e6, max_output_mp)
      summary.skipped += 1
      continue
    usable.append(path)
  return usable


def read_images(files: list[Path], summary: Summary, progress, max_output_mp: float
                ) -> list[tuple[Path, np.ndarray, JpegGrid | None]]:
  """The decodable ones among ``files``, each with its JPEG grid (None if not a JPEG); the
  others (a truncated file, say) are skipped, named and counted."""
  from jfsr.data.images import read_rgb
  from jfsr.restoration.jpeg_grid import grid_of
  readable = []
  for path in files:
    try:
      frame, grid = read_rgb(path), grid_of(path)
    except Exception as error:  # PIL raises many types for bad files
      logging.warning('skipped %s: not a readable image (%s)', path, error)
      summary.skipped += 1
      progress.update(1)
      continue
    if frame.shape[0] * frame.shape[1] > max_output_mp * 1e6:  # replaced since probed
      logging.warning('skipped %s: %dx%d is above --max_output_mp %g', path, frame.shape[1],
                      frame.shape[0], max_output_mp)
      summary.skipped += 1
      progress.update(1)
      continue
    readable.append((path, frame, grid))
  return readable


def restore_aligned(restorer, frame: np.ndarray) -> np.ndarray:
  """An aligned crop restored whole (by the generator its size suits); with --compare: its
  model input (nearest) | restored."""
  generator = restorer.generator_for(frame.shape[1])
  model_input = restorer.model_input(frame, generator)
  restored = restorer.restore_inputs(model_input[None], generator)[0]
  if not FLAGS.compare:
    return restored
  seen = np.asarray(Image.fromarray(model_input).resize(restored.shape[1::-1],
                                                        Image.Resampling.NEAREST))
  return np.concatenate([seen, restored], axis=1)


def restore_images(restorer, files: list[Path], targets: dict[Path, Path],
                   summary: Summary) -> None:
  """Images in groups of ``--batch_size``, so their faces share generator batches; each
  result is counted once it is written whole."""
  from jfsr.restoration.video import Progress
  progress = Progress(len(files), 'images')
  try:
    for start in range(0, len(files), FLAGS.batch_size):
      group = read_images(files[start:start + FLAGS.batch_size], summary, progress,
                          FLAGS.max_output_mp)
      if group:
        restore_group(restorer, group, targets, summary)
        progress.update(len(group))
  finally:
    progress.close()  # the line ends even when stopped


def restore_group(restorer, group: list[tuple[Path, np.ndarray, JpegGrid | None]],
                  targets: dict[Path, Path], summary: Summary) -> None:
  """One group of decoded images restored, written and counted."""
  from jfsr.restoration.restorer import FrameResult
  frames = [frame for _, frame, _ in group]
  if FLAGS.aligned:
    results = (FrameResult(restore_aligned(restorer, f), restorer.factor, []) for f in frames)
  else:  # each enlarged result made after the one before it is written
    results = restorer.restore_frames_lazily(frames, upscale=FLAGS.upscale, force=FLAGS.force,
                                             compare=FLAGS.compare,
                                             jpeg_grids=[grid for _, _, grid in group])
  for (path, frame, _), result in zip(group, results):
    try:
      with interrupts_held():  # a result is written and counted, or neither
        save_image(result.compare if result.compare is not None else result.image,
                   targets[path])
        if FLAGS.aligned:
          summary.add_aligned(restorer.generator_for(frame.shape[1]), restorer.model_names())
        else:
          summary.add(result, restorer.model_names())
    except OutputExistsError as error:
      logging.warning('skipped %s: %s', path, error)
      summary.skipped += 1
      continue
    if FLAGS.aligned:
      continue
    logging.info('%s: %s', path.name, describe_faces(result, restorer.model_names()))
    if result.scale_wanted:
      logging.warning('%s: enlarged x%d instead of x%d, to stay within --max_output_mp %g',
                      path.name, result.scale, result.scale_wanted, FLAGS.max_output_mp)


def restore_video(restorer, path: Path, final: Path, summary: Summary) -> None:
  from jfsr.restoration import video
  wrote = video.restore_video(
      restorer, path, final, summary, smoothing=FLAGS.smoothing,
      output_smoothing=FLAGS.output_smoothing,
      frames_per_chunk=FLAGS.frames_per_chunk, upscale=FLAGS.upscale, force=FLAGS.force,
      compare=FLAGS.compare, overwrite=FLAGS.overwrite)
  if wrote.audio.startswith('without audio'):
    print(f'note: {final.name} was written {wrote.audio}')


def main(argv) -> None:
  if len(argv) > 1:
    cli.usage_error(f'unexpected arguments: {" ".join(argv[1:])}')
  from jfsr.errors import JfsrError
  summary = Summary()
  try:
    # What the command line asks for is checked before JAX and the model are loaded.
    input_path, output = Path(FLAGS.input).expanduser(), Path(FLAGS.output).expanduser()
    files, kind = list_inputs(input_path)
    check_output(input_path, output)
    suffix = '.mp4' if kind == 'video' else f'.{FLAGS.format}'
    targets = plan_outputs(files, output, suffix, FLAGS.overwrite)
    check_writable(output)
    if kind == 'images':
      files = probe_images(files, summary, FLAGS.max_output_mp)
      if not files:
        print(summary.line())
        cli.fail(f'nothing in --input {input_path} could be restored')
    from jfsr import inference
    from jfsr.restoration.restorer import Restorer
    chosen = option_flags.from_flags()
    restorer = Restorer.load(FLAGS.model, FLAGS.checkpoint, FLAGS.onnx,
                             device=inference.pick_device(chosen.device), options=chosen)
    logging.info('%s%s', ', '.join(
        f'{g.name or FLAGS.onnx or FLAGS.checkpoint} step {g.step}: {g.lr_size}² -> {g.hr_size}²'
        for g in restorer.generators),
        '' if FLAGS.aligned else f'; faces found by {restorer.detector.kind}')
    if kind == 'video':
      restore_video(restorer, files[0], targets[files[0]], summary)
    else:
      restore_images(restorer, files, targets, summary)
  except (JfsrError, ValueError, FileNotFoundError) as error:
    cli.fail(error)
  except OSError as error:  # the disk filled up, the folder went away, ...
    sys.exit(f'error: writing the results failed ({error.strerror or error}); before that, '
             f'{summary.line()}')
  except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (below): what was written is whole
    print(summary.line())
    cli.fail('interrupted: the results counted above were written whole, nothing else', 130)
  print(summary.line())
  if not summary.processed:
    cli.fail(f'nothing in --input {input_path} could be restored')


@contextlib.contextmanager
def interrupts_held():
  """Ctrl-C and SIGTERM that arrive inside wait until its end, then interrupt as usual."""
  import signal
  received = []
  kept = {sig: signal.signal(sig, lambda signum, frame: received.append(signum))
          for sig in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield
  finally:
    for sig, handler in kept.items():
      signal.signal(sig, handler)
  if received:
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> None:
  """SIGTERM ends a restore as Ctrl-C does: the summary, one line, status 130."""
  import signal

  def interrupt(signum, frame):
    raise KeyboardInterrupt
  signal.signal(signal.SIGTERM, interrupt)


def run() -> None:
  cli.define_model_flags(onnx=True)
  flags.adopt_module_key_flags(cli)  # listed in this command's --help
  flags.DEFINE_string('input', None, 'an image, a folder of images, or a video')
  flags.DEFINE_string('output', None, 'folder for the results (created; not the input folder)')
  flags.DEFINE_bool('aligned', False, 'inputs are aligned face crops: restore each whole')
  flags.DEFINE_bool('force', False, 'restore large faces too (they lose detail on the way in)')
  flags.DEFINE_integer('upscale', None, 'enlarge frames this many times (default: from the faces '
                       'found); 1 keeps their size', lower_bound=1)
  flags.DEFINE_float('smoothing', 0.6, 'video: weight of the previous frame\'s landmarks, 0 to <1',
                     lower_bound=0.0, upper_bound=0.99)
  flags.DEFINE_float('output_smoothing', 0.5, 'video: weight of each face\'s earlier restored '
                     'outputs in its output (an average over time in the face\'s own '
                     'coordinates, against flicker), 0 to <1', lower_bound=0.0, upper_bound=0.99)
  flags.DEFINE_integer('frames_per_chunk', 16, 'video frames detected and restored together',
                       lower_bound=1)
  flags.DEFINE_bool('compare', False, 'write model input | bicubic | restored side by side')
  flags.DEFINE_enum('format', 'png', ['png', 'jpg'], 'image output format')
  flags.DEFINE_integer('quality', 95, 'JPEG quality', lower_bound=1, upper_bound=100)
  flags.DEFINE_bool('overwrite', False, 'replace results already in --output (never an input)')
  option_flags.define_flags()
  flags.adopt_module_key_flags(option_flags)
  flags.mark_flags_as_required(['input', 'output'])
  interrupt_on_sigterm()
  cli.run(main, __name__, accelerated=True)


if __name__ == '__main__':
  run()
