"""The ``jfsr-export`` command (also ``python -m jfsr.export``): :func:`jfsr.export.export`
with its flags."""

from __future__ import annotations

from absl import flags

from jfsr import cli
from jfsr.export import FORMATS, export

FLAGS = flags.FLAGS


def main(argv) -> None:
  del argv
  from jfsr.errors import JfsrError
  try:
    print(export(FLAGS.to, FLAGS.output, FLAGS.checkpoint, FLAGS.model, FLAGS.discriminators,
                 FLAGS.overwrite))
  except (JfsrError, ValueError, OSError) as error:
    cli.fail(error)


def run() -> None:
  cli.define_model_flags()
  flags.adopt_module_key_flags(cli)  # listed in this command's --help
  flags.DEFINE_enum('to', 'torch', list(FORMATS), 'the format to write: ' + '; '.join(
      f'{name}: {form.holds} ({form.suffix})' for name, form in FORMATS.items()))
  flags.DEFINE_string('output', None, 'the file to write ('
                      + ', '.join(form.suffix for form in FORMATS.values()) + ')', required=True)
  flags.DEFINE_bool('overwrite', False, 'replace --output if it exists')
  flags.DEFINE_bool('discriminators', False, 'also write both discriminators (--to '
                    + ', '.join(n for n, f in FORMATS.items() if f.discriminators)
                    + '): the file then holds {"generator": ..., "global_d": ..., "local_d": ...}')
  cli.run(main, __name__)


if __name__ == '__main__':
  run()
