"""The restore options' command-line flags, declared once for every command that restores
(``jfsr.restore``, ``jfsr.demo``, the in-frame benchmark and the flicker measure), and the
:class:`~jfsr.restoration.options.RestoreOptions` they give."""

from __future__ import annotations

from absl import flags

from jfsr.restoration import back_projection, ensemble
from jfsr.restoration.options import DETECTORS, DEVICES, MAX_OUTPUT_PIXELS, RestoreOptions


def define_flags(detection: bool = True, max_output_mp: float = MAX_OUTPUT_PIXELS / 1e6) -> None:
  """Declares the options' flags (``detection=False`` leaves out the detector's, for the
  measures that compare detectors themselves); ``max_output_mp`` is the command's default
  output bound."""
  flags.DEFINE_integer('batch_size', RestoreOptions.batch_size, 'faces restored per generator '
                       'call', lower_bound=1)
  flags.DEFINE_integer('alignments', RestoreOptions.alignments, 'restore each face in a frame '
                       'under this many alignments, nudged within its landmarks\' uncertainty, '
                       'and average the outputs (1: the landmarks\' own alone)', lower_bound=1,
                       upper_bound=len(ensemble.NUDGES))
  flags.DEFINE_bool('flip_average', RestoreOptions.flip_average, 'restore each face and its '
                    'mirror image and average the two (twice the generator\'s work)')
  flags.DEFINE_integer('back_projection', None, 'iterations of back-projection per restored '
                       'face: the enlarged face made to agree with the frame it came from '
                       '(a JPEG\'s with what its file stores: its quantized luma) '
                       f'(default: {back_projection.ITERATIONS} for photos, '
                       f'{back_projection.VIDEO_ITERATIONS} for videos, whose frames flicker '
                       'more with each iteration; 0: the generator\'s output as it is)',
                       lower_bound=0)
  flags.DEFINE_float('fidelity', RestoreOptions.fidelity, 'from 0 (the generator\'s one sharp '
                     'pass: one alignment, not mirrored, not back-projected; the most invented '
                     'detail) to 1 (averaged and back-projected: closest to the photo)')
  flags.register_validator('fidelity', lambda value: 0 <= value <= 1,
                           '--fidelity must be a number from 0 to 1')
  flags.DEFINE_float('max_output_mp', max_output_mp, 'largest output in megapixels: a frame is '
                     'enlarged less where the chosen enlargement would exceed it (said per '
                     'image), and an input already above it is skipped', lower_bound=0.01)
  flags.DEFINE_enum('device', 'auto', list(DEVICES), 'where the networks run')
  flags.DEFINE_bool('turned_passes', True, 'MTCNN looks again, on crops turned 25° both ways, '
                    'at the candidate faces it rejects upright: finds faces rolled 20-30° and '
                    'small compressed ones, at 1.1-2.4 times the upright detection time')
  flags.DEFINE_bool('aligner', True, 'correct the landmarks of faces of 10-30 px with the '
                    'shipped aligner (jfsr.aligner), trained on compressed, blurred small faces')
  if detection:
    flags.DEFINE_enum('detector', 'auto', list(DETECTORS), 'face detector: MTCNN (landmarks), '
                      'Haar (boxes), or auto (MTCNN when its weights are cached)')
    flags.DEFINE_integer('min_face', None, 'smallest face to find, detector box side in pixels '
                         '(default: half the model\'s input side, at least 8)', lower_bound=4)
    flags.DEFINE_float('threshold', 0.0, 'Haar only: minimum cascade level weight')


def from_flags() -> RestoreOptions:
  """The options the command line gave (:func:`define_flags`)."""
  values = flags.FLAGS
  options = dict(batch_size=values.batch_size, alignments=values.alignments,
                 flip_average=values.flip_average, fidelity=values.fidelity,
                 max_output_pixels=int(values.max_output_mp * 1e6), device=values.device,
                 turned_passes=values.turned_passes, aligner=values.aligner)
  if values.back_projection is not None:
    options.update(back_projection_iterations=values.back_projection,
                   video_back_projection_iterations=values.back_projection)
  if 'detector' in values:
    options.update(detector=values.detector, min_face=values.min_face,
                   threshold=values.threshold)
  return RestoreOptions(**options)
