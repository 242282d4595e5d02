r"""Command line: ``python -m jfsr.main --config configs/celebahq.py[:VARIANT] --workdir DIR``.

Overrides go after the config: ``--config.train.batch_size=16``. ``--mode train``
(the default) trains and resumes from the latest checkpoint in ``--workdir``.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from jfsr.errors import JfsrError
from jfsr.pretrained.cache import MissingWeightsError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'config file, optionally with :VARIANT',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'directory for checkpoints, logs and samples')
flags.DEFINE_enum('mode', 'train', ['train', 'eval'], 'what to run')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  from jfsr import train  # Heavy imports only once the flags are known to be good.
  try:
    if FLAGS.mode == 'eval':
      raise JfsrError('--mode eval is reserved for checkpoint evaluation, which is not built yet')
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except (JfsrError, MissingWeightsError) as error:
    logging.error('%s', error)
    sys.exit(f'error: {error}')


def run() -> None:
  app.run(main)


if __name__ == '__main__':
  run()
