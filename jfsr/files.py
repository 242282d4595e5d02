"""Writing a user's files: the one way every command publishes what it writes.

A file is written under a short private name in a private folder beside its target, then
published in one step. Without ``overwrite`` the publishing is a hard link, which the
kernel refuses when the target exists, so a file that appeared meanwhile (another run
writing the same result) is never replaced; with ``overwrite`` it is a rename, which
replaces a link at the target and never follows it. A failure or a kill leaves at most
the private folder, named ``.jfsr-PID-N.partial``, which the next write into that folder
removes once its process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator

from jfsr.errors import UsageError

PRIVATE = re.compile(r'\.jfsr-(\d+)-\d+\.partial')
_counter = itertools.count()


class OutputExistsError(UsageError):
  """A target that is already there (or is a link), and no ``--overwrite``."""


def occupied(path: Path) -> bool:
  return path.exists() or path.is_symlink()


def check_new(path: Path | str, overwrite: bool, what: str = '') -> Path:
  """``path``, refused (:class:`OutputExistsError`) when something is there and
  ``overwrite`` is off, or when it is a folder; ``what`` names the flag in the message."""
  path = Path(path)
  name = f'{what} {path}' if what else str(path)
  if path.is_dir() and not path.is_symlink():
    raise OutputExistsError(f'{name} is a folder; give a file name')
  if occupied(path) and not overwrite:
    kind = 'a link' if path.is_symlink() else 'a file'
    raise OutputExistsError(f'{name} is already {kind} there; pass --overwrite to replace it, or '
                            'choose another name')
  return path


def remove_stale(folder: Path) -> None:
  """Removes the private folders that killed writers left in ``folder``."""
  try:
    entries = list(folder.iterdir())
  except OSError:
    return
  for entry in entries:
    found = PRIVATE.fullmatch(entry.name)
    if found and int(found.group(1)) != os.getpid() and not _alive(int(found.group(1))):
      shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


@contextlib.contextmanager
def private_folder(output: Path) -> Iterator[Path]:
  """A fresh private folder beside ``output`` (its parents created, stale private folders
  of killed writers removed), deleted with whatever is left in it on the way out."""
  output.parent.mkdir(parents=True, exist_ok=True)
  remove_stale(output.parent)
  private = output.parent / f'.jfsr-{os.getpid()}-{next(_counter)}.partial'
  private.mkdir()
  try:
    yield private
  finally:
    shutil.rmtree(private, ignore_errors=True)


def write_atomically(output: Path | str, write: Callable[[Path], None],
                     overwrite: bool = True) -> Path:
  """``write(path)`` into a private folder beside ``output``, under ``output``'s own name
  (formats such as torch's archive name their contents after the file), then published
  onto ``output`` (module docstring): all of it or nothing, never through a link, and
  without ``overwrite`` never over a file that is there by then
  (:class:`OutputExistsError`)."""
  output = Path(output)
  with private_folder(output) as private:
    written = private / output.name
    write(written)
    publish(written, output, overwrite)
  return output


def write_data(output, data: bytes, overwrite: bool = True) -> None:
  """``data`` written to ``output``: a bucket path (``gs://...``) as it is, a local path
  through :func:`write_atomically`."""
  if '://' in str(output):
    from etils import epath
    epath.Path(output).write_bytes(data)
  else:
    write_atomically(Path(output), lambda path: path.write_bytes(data), overwrite)


def encoded(image, format: str = 'PNG', **options) -> bytes:  # noqa: A002 (PIL's word)
  """A uint8 image array encoded by PIL (``format`` 'PNG', 'JPEG', ...; ``options`` such as
  ``quality``), in memory."""
  import io
  from PIL import Image
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format=format, **options)
  return buffer.getvalue()


def write_stream(destination: Path, blocks: Iterable[bytes]) -> Path:
  """``blocks`` written in turn to ``destination``, a file in a private folder (a download
  or an archive member on its way to :func:`publish`)."""
  with open(destination, 'wb') as out:
    for block in blocks:
      out.write(block)
  return destination


def publish(written: Path, output: Path, overwrite: bool) -> None:
  """Moves the finished file ``written`` onto ``output`` (see :func:`write_atomically`)."""
  if overwrite:
    os.replace(written, output)
    return
  try:
    os.link(written, output)
  except FileExistsError:
    raise OutputExistsError(f'{output} appeared while it was being written (another run?); '
                            'it was left as it is') from None
  except OSError as error:
    if error.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP,
                           errno.EMLINK):
      raise
    # No hard links here (some network and FUSE file systems): check, then rename.
    if occupied(output):
      raise OutputExistsError(f'{output} appeared while it was being written (another run?); '
                              'it was left as it is') from None
    os.replace(written, output)


class VideoWriter:
  """Writes RGB frames to an MP4 (``mp4v``) file, a file in a private folder on its way to
  :func:`publish` (read back first: :func:`jfsr.restoration.video.check_readable`); the
  size is fixed by the first frame. The codec takes even sides only (it would drop an odd
  last row or column): an odd side gets its edge pixels repeated once instead, so no pixel
  of the frame is lost."""

  def __init__(self, path: Path, fps: float):
    self.path, self.fps, self._writer = path, fps, None

  def write(self, rgb) -> None:
    import cv2
    import numpy as np
    height, width = rgb.shape[:2]
    if height % 2 or width % 2:
      rgb = np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode='edge')
    if self._writer is None:
      self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*'mp4v'), self.fps,
                                     (rgb.shape[1], rgb.shape[0]))
      if not self._writer.isOpened():
        raise OSError(f'OpenCV cannot write an mp4v video of {rgb.shape[1]}x{rgb.shape[0]} here')
    self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

  def close(self) -> None:
    if self._writer is not None:
      self._writer.release()
