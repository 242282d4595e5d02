"""How faces are restored: one frozen set of options (its command-line flags, declared once
for every command that restores, are :mod:`jfsr.restoration.option_flags`)."""

from __future__ import annotations

import dataclasses

from jfsr.restoration import back_projection, ensemble

MAX_OUTPUT_PIXELS = 64_000_000  # the largest output frame, unless the options say otherwise
DETECTORS = ('auto', 'mtcnn', 'haar')
DEVICES = ('auto', 'cpu', 'gpu', 'tpu')


@dataclasses.dataclass(frozen=True)
class RestoreOptions:
  """``batch_size`` faces per generator call. Each face in a frame is restored under
  ``alignments`` nudged alignments (:mod:`jfsr.restoration.ensemble`), each also mirrored
  with ``flip_average``, the outputs averaged, and back-projected onto the frame
  ``back_projection_iterations`` times (``video_back_projection_iterations`` for video
  frames, whose flicker grows with each); ``fidelity`` moves the result from the one sharp
  pass (0) to that (1). Frames are enlarged to at most ``max_output_pixels``. Faces are
  found by ``detector`` (MTCNN where its weights are cached with 'auto') down to
  ``min_face`` pixels (default: half the model's input, at least 8; ``threshold``: Haar's
  minimum level weight), upright and, with ``turned_passes``, looking again turned as
  :data:`jfsr.faces.detection.TURNS` says (MTCNN's second look at the boxes it rejects
  upright: finds rolled and compressed small faces, at 1.1-2.4 times the upright time), their
  landmarks corrected by the shipped aligner with ``aligner`` (:mod:`jfsr.aligner`); the
  networks run on ``device``."""
  batch_size: int = 16
  alignments: int = ensemble.ALIGNMENTS
  flip_average: bool = True
  back_projection_iterations: int = back_projection.ITERATIONS
  video_back_projection_iterations: int = back_projection.VIDEO_ITERATIONS
  fidelity: float = 1.0
  max_output_pixels: int = MAX_OUTPUT_PIXELS
  detector: str = 'auto'
  min_face: int | None = None
  threshold: float = 0.0
  turned_passes: bool = True
  aligner: bool = True
  device: str = 'auto'

  @property
  def detector_turns(self) -> tuple[float, ...] | None:
    """The ``turns`` of :class:`jfsr.faces.detection.Detector` these options ask for: its
    default, or none (the upright pass alone)."""
    return None if self.turned_passes else ()

  def detector_aligner(self):
    """The ``aligner`` of :class:`jfsr.faces.detection.Detector` these options ask for: the
    shipped one (:mod:`jfsr.aligner.shipped`), or None."""
    from jfsr.aligner.shipped import load_aligner
    return load_aligner() if self.aligner else None

  def __post_init__(self):
    if not 1 <= self.alignments <= len(ensemble.NUDGES):
      raise ValueError(f'alignments must be 1 to {len(ensemble.NUDGES)}, got {self.alignments}')
    if not 0 <= self.fidelity <= 1:
      raise ValueError(f'fidelity must be in [0, 1], got {self.fidelity}')
    if self.batch_size < 1 or self.max_output_pixels < 1:
      raise ValueError('batch_size and max_output_pixels must be positive')
    if self.detector not in DETECTORS or self.device not in DEVICES:
      raise ValueError(f'detector must be one of {DETECTORS}, device one of {DEVICES}')
