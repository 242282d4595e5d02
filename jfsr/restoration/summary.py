"""What a restoration run did, in the words its last line and per-image lines use."""

from __future__ import annotations

import collections
from typing import Sequence


class Summary:
  """Counts for the last line: files, frames, and what happened to each face."""

  def __init__(self):
    self.processed = self.skipped = self.faceless = self.restored = self.left = 0
    self.restored_by = collections.Counter()  # faces restored, by the model that did

  def add(self, result, model_names: Sequence[str] = ()) -> None:
    """One processed image or frame (a ``FrameResult``); ``model_names``: the restorer's
    generators' names, by index."""
    self.processed += 1
    self.faceless += not result.faces
    self.restored += sum(f.restored for f in result.faces)
    self.left += sum(not f.restored for f in result.faces)
    if len(model_names) > 1:
      self.restored_by.update(model_names[f.generator] for f in result.faces if f.restored)

  def add_aligned(self, generator: int = 0, model_names: Sequence[str] = ()) -> None:
    """One ``--aligned`` crop: the whole image is the face, always restored (by
    ``model_names[generator]``, counted where several restore, as :meth:`add` counts)."""
    self.processed += 1
    self.restored += 1
    if len(model_names) > 1:
      self.restored_by[model_names[generator]] += 1

  def line(self) -> str:
    by = ', '.join(f'{count} by {name}' for name, count in sorted(self.restored_by.items()))
    return (f'processed {self.processed}, skipped {self.skipped} (unreadable or too large), '
            f'without a face {self.faceless}; faces restored {self.restored}'
            f'{f" ({by})" if by else ""}, left as they were '
            f'{self.left} (too large to gain; --force restores them)')


def describe_faces(result, model_names: Sequence[str] = ()) -> str:
  """One frame's faces: restored (and by which model, where several restore) or left."""
  if not result.faces:
    return f'no face found; x{result.scale}'
  several = len(model_names) > 1
  parts = [(f'restored by {model_names[f.generator]}' if f.restored and several else
            'restored' if f.restored else 'left as it was') + f' ({f.side:.0f} px)'
           for f in result.faces]
  return f'{", ".join(parts)}; x{result.scale}'
