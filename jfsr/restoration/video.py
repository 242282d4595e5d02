"""Video in and out: OpenCV frames in chunks, a writer at the same frame rate, the input's audio
copied back with ``ffmpeg`` where the system has it, a progress line, and a whole video
restored (:func:`restore_video`)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from absl import logging


class VideoError(ValueError):
  """A video that cannot be read or written."""


def open_video(path: Path):
  import cv2
  capture = cv2.VideoCapture(str(path))
  if not capture.isOpened():
    raise VideoError(f'{path}: OpenCV cannot read this video')
  fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
  count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
  return capture, fps, max(count, 0)


def count_frames(path: Path, limit: int) -> int:
  """The frames of the video at ``path`` counted by decoding them, stopping past ``limit``
  (so the answer is at most ``limit + 1``): a streamed WebM or Matroska file, as browsers
  record them, has no frame count in its header, which OpenCV then reports as 0 or less."""
  capture, _, _ = open_video(path)
  try:
    count = 0
    while count <= limit and capture.grab():
      count += 1
    return count
  finally:
    capture.release()


def frame_chunks(capture, chunk: int) -> Iterator[list[np.ndarray]]:
  """RGB frames, ``chunk`` at a time (the last chunk may be shorter)."""
  import cv2
  frames = []
  while True:
    ok, bgr = capture.read()
    if not ok:
      break
    frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if len(frames) == chunk:
      yield frames
      frames = []
  if frames:
    yield frames


def add_audio(video_only: Path, source: Path, output: Path) -> str:
  """Writes ``output``: the frames of ``video_only`` with the audio of ``source`` (if it has
  any), using the system's ``ffmpeg``; without it, ``video_only`` becomes ``output`` as it
  is. Returns what happened, for the log."""
  ffmpeg = shutil.which('ffmpeg')
  if ffmpeg is None:
    video_only.replace(output)
    return 'without audio: ffmpeg is not installed here (it copies the input\'s audio track)'
  # Muxed into a temporary file renamed onto ``output``: a failure leaves no half-written
  # video, and a link at ``output`` is replaced, never written through.
  muxed = video_only.with_name(video_only.name + '.muxed.mp4')
  command = [ffmpeg, '-nostdin', '-y', '-loglevel', 'error', '-i', str(video_only),
             '-i', str(source), '-map', '0:v:0', '-map', '1:a:0?', '-c:v', 'copy',
             '-c:a', 'aac', '-shortest', str(muxed)]
  done = subprocess.run(command, capture_output=True, text=True)
  if done.returncode != 0:
    muxed.unlink(missing_ok=True)
    video_only.replace(output)
    return f'without audio: ffmpeg failed ({done.stderr.strip()[-300:]})'
  muxed.replace(output)
  video_only.unlink()
  return 'with the input\'s audio (if it had any), muxed by ffmpeg'


class Progress:
  """A one-line progress report on stderr: done/total, items per second, ETA.

  The rate is measured from the first update on, so the first batch's compile
  does not drag down the rate and the ETA of the rest.
  """

  def __init__(self, total: int, unit: str, stream=sys.stderr):
    self.total, self.unit, self.stream = total, unit, stream
    self.done = 0
    self._first: tuple[float, int] | None = None  # (time, done) at the first update

  def update(self, count: int) -> None:
    self.done += count
    now = time.perf_counter()
    if self._first is None:
      self._first = (now, self.done)
    since, done_then = self._first
    rate = (self.done - done_then) / (now - since) if now > since else 0.0
    line = f'{self.done}/{self.total or "?"} {self.unit}'
    if rate > 0:
      line += f', {rate:.2f} {self.unit}/s'
      if self.total:
        remaining = (self.total - self.done) / rate
        line += f', ETA {int(remaining // 60)}m{int(remaining % 60):02d}s'
    self.stream.write('\r' + line)
    self.stream.flush()

  def close(self) -> None:
    self.stream.write('\n')


@dataclasses.dataclass
class RestoredVideo:
  """What :func:`restore_video` wrote: the frames' scale, the first frame's result (a
  preview), and how the audio went (for the log)."""
  scale: int
  first: object  # the first frame's FrameResult
  audio: str


def restore_video(restorer, path: Path, output: Path, summary, *, smoothing: float = 0.6,
                  output_smoothing: float = 0.5, frames_per_chunk: int = 16,
                  upscale: int | None = None, force: bool = False,
                  compare: bool = False, overwrite: bool = False) -> RestoredVideo:
  """Restores every frame of the video at ``path`` into ``output`` (an .mp4 with the input's
  audio where ffmpeg is there), counting frames and faces into ``summary``. Landmarks are
  smoothed per face over time (``smoothing``), and so are the restored faces
  (``output_smoothing``, 0 for none); the first chunk's faces set the scale of every frame.
  The file is written privately, read back, and published whole or not at all
  (:mod:`jfsr.files`; without ``overwrite`` never over a file that is there)."""
  from jfsr import files
  from jfsr.faces.tracking import LandmarkSmoother, OutputSmoother
  capture, fps, count = open_video(path)
  smoother = LandmarkSmoother(smoothing)
  outputs = OutputSmoother(output_smoothing) if output_smoothing else None
  progress = Progress(count, 'frames')
  scale = first = None
  written = 0
  with files.private_folder(output) as private:
    writer = files.VideoWriter(private / 'frames.mp4', fps)
    try:
      for frames in frame_chunks(capture, frames_per_chunk):
        detected = restorer.detector.detect(frames, upright_first=True)
        found = [smoother.update(faces) for faces in detected]
        if scale is None:  # the first chunk's faces set the whole video's scale
          plans = [restorer.plan(face, force) for faces in found for face in faces]
          scale, wanted = restorer.output_scale([p for p in plans if p.restored],
                                                frames[0].shape, upscale, compare)
          scale = writable_scale(frames[0].shape, scale, compare)
          logging.info('%s: frames enlarged x%d%s', path.name, scale,
                       f' (not x{wanted}: above the output size bound)' if scale < wanted else '')
        for result in restorer.restore_frames_lazily(frames, found, upscale=scale, force=force,
                                                     compare=compare, smoother=outputs,
                                                     video=True):
          first = first or result
          writer.write(result.compare if result.compare is not None else result.image)
          summary.add(result, restorer.model_names())
          written += 1
        progress.update(len(frames))
    finally:
      progress.close()
      writer.close()
      capture.release()
    if first is None:
      raise VideoError(f'{path}: no frame could be read')
    final = private / 'restored.mp4'
    audio = add_audio(writer.path, path, final)
    check_readable(final, written, output)
    files.publish(final, output, overwrite)
  logging.info('wrote %s (%.2f frames/s) %s', output, fps, audio)
  return RestoredVideo(scale, first, audio)


# The widest (and tallest) frame OpenCV's MPEG-4 writer opens for: 13 bits.
MAX_VIDEO_SIDE = 8191


def writable_scale(shape: tuple[int, ...], scale: int, compare: bool) -> int:
  """``scale`` lowered until the written frames (three panels with ``compare``) fit the
  video writer; frames that do not fit even at 1 are refused."""
  panels = 3 if compare else 1
  fits = MAX_VIDEO_SIDE // max(shape[0], shape[1] * panels)
  if fits < 1:
    raise VideoError(f'frames of {shape[1] * panels}x{shape[0]} are larger than a video can be '
                     f'written ({MAX_VIDEO_SIDE} px a side)' + (': drop --compare' if compare
                                                              else ''))
  return min(scale, fits)


def check_readable(video: Path, frames: int, output: Path) -> None:
  """Reads ``video`` back: it must open and hold ``frames`` frames (a full disk, say, leaves
  OpenCV's writer with frames it only logged as failed)."""
  try:
    whole = count_frames(video, frames) == frames
  except VideoError:  # not even readable
    whole = False
  if not whole:
    raise VideoError(f'{output} could not be written whole (the disk full?); nothing was '
                     'published')
