"""What a restoration run did, in the words its last line and per-image lines use."""

from __future__ import annotations


class Summary:
  """Counts for the last line: files, frames, and what happened to each face."""

  def __init__(self):
    self.processed = self.skipped = self.faceless = self.restored = self.left = 0

  def add(self, result) -> None:
    """One processed image or frame (a ``FrameResult``)."""
    self.processed += 1
    self.faceless += not result.faces
    self.restored += sum(f.restored for f in result.faces)
    self.left += sum(not f.restored for f in result.faces)

  def add_aligned(self) -> None:
    """One ``--aligned`` crop: the whole image is the face, always restored."""
    self.processed += 1
    self.restored += 1

  def line(self) -> str:
    return (f'processed {self.processed}, skipped {self.skipped} (unreadable or too large), '
            f'without a face {self.faceless}; faces restored {self.restored}, left as they were '
            f'{self.left} (too large to gain; --force restores them)')


def describe(result) -> str:
  if not result.faces:
    return f'no face found; x{result.scale}'
  parts = [f'{"restored" if f.restored else "left as it was"} ({f.side:.0f} px)'
           for f in result.faces]
  return f'{", ".join(parts)}; x{result.scale}'
