"""What the restoration measures' commands share (``python -m jfsr.measures.in_frames``,
``.flicker`` and ``.detection``): their flags and how they report."""

from __future__ import annotations

import dataclasses
import json

from absl import flags

from jfsr import cli
from jfsr.restoration import option_flags

FLAGS = flags.FLAGS


def define_flags(faces: int, faces_help: str) -> None:
  """The flags this command and :mod:`jfsr.measures.flicker` share: the model, where the
  held-out faces come from, how many, the seed, how faces are restored (as
  ``jfsr.restore``'s flags), and a JSON copy of the results."""
  cli.define_model_flags()
  flags.adopt_module_key_flags(cli)  # listed in the command's --help
  define_source_flags(faces, faces_help)
  option_flags.define_flags(detection=False)
  flags.adopt_module_key_flags(option_flags)


def define_source_flags(faces: int, faces_help: str) -> None:
  """Where the held-out faces come from, how many, the seed, and a JSON copy of the
  results (every measure's; :mod:`jfsr.measures.detection` has no restore options)."""
  flags.DEFINE_string('root', None, 'CelebAMask-HQ root: its test split (the model\'s config) '
                      'gives the faces')
  flags.DEFINE_string('folder', None, 'instead of --root: a folder of aligned faces')
  flags.DEFINE_integer('first', 0, '--folder: the first image used (name order)')
  flags.DEFINE_integer('faces', faces, faces_help)
  flags.DEFINE_integer('seed', 0, 'for the placements, backgrounds and blurs')
  flags.DEFINE_string('json', None, 'also write the results here')
  flags.DEFINE_bool('overwrite', False, 'replace a file already at --json')


def define_photo_flags() -> None:
  """Which photos the in-frame and detection measures make: ``--conditions`` and ``--kinds``
  (:mod:`jfsr.measures.scenes`)."""
  from jfsr.measures.in_frames import condition_in_words
  from jfsr.measures.scenes import CONDITIONS, KINDS
  flags.DEFINE_list('conditions', ['png'], 'comma-separated, how the scenes are degraded '
                    'besides the placement: ' + ', '.join(
                        f'{name} ({condition_in_words(dataclasses.asdict(c))})'
                        for name, c in CONDITIONS.items()) + ', or all')
  flags.register_validator('conditions', lambda names: set(names) <= {*CONDITIONS, 'all'},
                           f'--conditions: choose from {", ".join(CONDITIONS)} or all')
  flags.DEFINE_list('kinds', ['portrait'], 'comma-separated, the kinds of photo: portrait (one '
                    'whole picture in a frame), group (up to 12 in one photo, one motion), '
                    'border (one cut by the frame\'s edge)')
  flags.register_validator('kinds', lambda names: bool(names) and set(names) <= set(KINDS),
                           f'--kinds: choose from {", ".join(KINDS)}')


def conditions() -> tuple[str, ...]:
  """``--conditions`` as names (``all``: every one)."""
  from jfsr.measures.scenes import CONDITIONS
  return tuple(CONDITIONS) if 'all' in FLAGS.conditions else tuple(FLAGS.conditions)


def report(measure, markdown_of) -> None:
  """Runs ``measure()`` (a missing file is one line), writes ``--json`` (refused up front
  when a file is there, unless ``--overwrite``) and prints the table."""
  from jfsr import files
  if FLAGS.json:
    files.check_new(FLAGS.json, FLAGS.overwrite, '--json')
  try:
    result = measure()
  except FileNotFoundError as error:
    cli.fail(error)
  if FLAGS.json:
    text = json.dumps(result, indent=2)
    files.write_data(FLAGS.json, text.encode(), FLAGS.overwrite)
  print(markdown_of(result))
