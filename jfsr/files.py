"""Writing a user's files so that nothing is half-written or written through a link."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def write_atomically(output: Path, write: Callable[[Path], None]) -> None:
  """``write(path)`` into a private folder beside ``output``, under ``output``'s own name
  (formats such as torch's archive name their contents after the file), then renamed onto
  ``output``: a failure leaves no half-written file, and a link at ``output`` is replaced,
  never followed."""
  output = Path(output)
  output.parent.mkdir(parents=True, exist_ok=True)
  private = output.parent / f'.{output.name}.{os.getpid()}.partial'
  private.mkdir()
  try:
    write(private / output.name)
    os.replace(private / output.name, output)
  finally:
    (private / output.name).unlink(missing_ok=True)
    private.rmdir()
