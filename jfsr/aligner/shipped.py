"""The aligner that ships in the package: ``jfsr/pretrained/models/aligner.npz``, its SHA-256
checked at every load (``python -m jfsr.aligner`` writes such files; docs/restoration.md
has how the shipped one was trained and chosen)."""

from __future__ import annotations

from pathlib import Path

from jfsr.aligner.model import Aligner
from jfsr.pretrained.generators import MODELS_DIR

SHIPPED_FILE = MODELS_DIR / 'aligner.npz'
# python -m jfsr.aligner --config configs/aligner.py (6,000 steps; its meta holds the config).
SHIPPED_SHA256 = 'c493818a3e060dba4bb7a78b98ac4edd8605adb00ba6da5d5ea21ee1db50bafa'


def load_aligner(path: str | Path | None = None, **options) -> Aligner:
  """The aligner at ``path`` (default: the shipped one, its hash checked); ``options`` as
  :class:`jfsr.aligner.model.Aligner` takes them (``iterations``)."""
  if path is None:
    return Aligner.from_file(SHIPPED_FILE, SHIPPED_SHA256, **options)
  return Aligner.from_file(path, **options)
